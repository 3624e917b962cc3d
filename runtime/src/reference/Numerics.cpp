//===- Numerics.cpp - scalar and ranking helpers of the reference ---------===//

#include "Numerics.h"
#include "Reference.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace moert::reference {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

void softmaxInPlace(double *values, int64_t count) {
  double largest = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < count; ++i)
    largest = std::max(largest, values[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < count; ++i)
    sum += values[i] = std::exp(values[i] - largest);
  for (int64_t i = 0; i < count; ++i)
    values[i] /= sum;
}

std::vector<int64_t> orderDescending(const std::vector<double> &values) {
  auto key = [&](int64_t i) {
    return std::isnan(values[i]) ? -std::numeric_limits<double>::infinity()
                                 : values[i];
  };
  std::vector<int64_t> order(values.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = static_cast<int64_t>(i);
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    double ka = key(a), kb = key(b);
    return ka != kb ? ka > kb : a < b;
  });
  return order;
}

std::vector<int64_t> topCountAscending(const std::vector<double> &values,
                                       int64_t count) {
  std::vector<int64_t> order = orderDescending(values);
  order.resize(static_cast<size_t>(
      std::clamp<int64_t>(count, 0, static_cast<int64_t>(order.size()))));
  std::sort(order.begin(), order.end());
  return order;
}

double activate(Activation activation, double x) {
  switch (activation) {
  case Activation::silu:
    return x * sigmoid(x);
  case Activation::gelu:
    return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
  case Activation::geluTanh: {
    const double kSqrtTwoOverPi = 0.7978845608028654;
    return 0.5 * x *
           (1.0 + std::tanh(kSqrtTwoOverPi * (x + 0.044715 * x * x * x)));
  }
  case Activation::relu:
    return x > 0.0 ? x : 0.0;
  }
  return x;
}

} // namespace moert::reference
