//===- Numerics.h - scalar and ranking helpers of the reference --*- C++ -*-===//

#ifndef MOERT_REFERENCE_NUMERICS_H
#define MOERT_REFERENCE_NUMERICS_H

#include <cstdint>
#include <vector>

namespace moert::reference {

double sigmoid(double x);

/// Softmax of values[0..count) in place (max subtracted first).
void softmaxInPlace(double *values, int64_t count);

/// 0..n-1 ordered by descending value, ties to the lower index. NaN ranks
/// below everything, so the order is total and sorting is well defined.
std::vector<int64_t> orderDescending(const std::vector<double> &values);

/// The indices of the `count` largest values (ties to the lower index),
/// returned in ascending index order. count is clamped to values.size().
std::vector<int64_t> topCountAscending(const std::vector<double> &values,
                                       int64_t count);

} // namespace moert::reference

#endif // MOERT_REFERENCE_NUMERICS_H
