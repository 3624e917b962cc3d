//===- TestTensors.h - tensor builders for the reference's tests -*- C++ -*-===//

#ifndef MOERT_REFERENCE_TESTTENSORS_H
#define MOERT_REFERENCE_TESTTENSORS_H

#include "HostTensor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace moert::reference::testing {

inline HostTensor f32(std::vector<int64_t> shape, std::vector<double> data) {
  return HostTensor{"f32", std::move(shape), std::move(data)};
}

inline HostTensor i32(std::vector<int64_t> shape, std::vector<double> data) {
  return HostTensor{"i32", std::move(shape), std::move(data)};
}

/// Uniform [-scale, scale) values from `rng`.
inline HostTensor randomF32(std::vector<int64_t> shape, std::mt19937_64 &rng,
                            double scale = 1.0) {
  std::uniform_real_distribution<double> uniform(-scale, scale);
  HostTensor tensor = zeroTensor("f32", std::move(shape));
  for (double &value : tensor.data)
    value = uniform(rng);
  return tensor;
}

/// [R, C] -> [C, R] (the other weight layout of a matrix).
inline HostTensor transpose2(const HostTensor &m) {
  int64_t rows = m.shape[0], cols = m.shape[1];
  HostTensor t = zeroTensor(m.dtype, {cols, rows});
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      t.data[c * rows + r] = m.data[r * cols + c];
  return t;
}

/// [E, R, C] -> [E, C, R].
inline HostTensor transposeLast2(const HostTensor &m) {
  int64_t batch = m.shape[0], rows = m.shape[1], cols = m.shape[2];
  HostTensor t = zeroTensor(m.dtype, {batch, cols, rows});
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c)
        t.data[(b * cols + c) * rows + r] = m.data[(b * rows + r) * cols + c];
  return t;
}

/// The logit whose sigmoid is p.
inline double logit(double p) { return std::log(p / (1.0 - p)); }

inline void expectNear(const std::vector<double> &actual,
                       const std::vector<double> &expected,
                       double tolerance = 1e-12) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i)
    EXPECT_NEAR(actual[i], expected[i], tolerance) << "at element " << i;
}

} // namespace moert::reference::testing

#endif // MOERT_REFERENCE_TESTTENSORS_H
