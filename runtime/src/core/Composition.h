//===- Composition.h - serve a composition of experts -----------*- C++ -*-===//
//
// A bundle function that is a composition of experts (bundle_format.h,
// docs/composition.md) has no kernel: per request the runtime picks the model
// from the request's selector row and runs that model's compiled function on
// the request. Running the requests one by one is what lets a server see
// each request's latency and what its model's weights cost to bring up.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_CORE_COMPOSITION_H
#define MOERT_CORE_COMPOSITION_H

#include "Backend.h"

#include <vector>

namespace moert {

/// What one request of a composition run did.
struct RequestStats {
  /// The model the selector chose (its column).
  uint32_t model = 0;
  /// Host wall-clock time of the request: from the start of its model's run
  /// to its result in the caller's memory.
  double milliseconds = 0;
  /// The model run's own statistics (its host-tier fetches among them).
  RunStats run;
};

/// The model of each row of the [R, M] selector at `data` (dtype `dtype`):
/// the first column of the largest value by a strict > scan, so ties go to
/// the lower column and a NaN wins only in column 0 (as moe.composition's
/// lowering does).
std::vector<uint32_t> chooseModels(const void *data, moert_dtype_t dtype,
                                   int64_t requests, int64_t models);

/// Runs composition `function` of `bundle` (inputs and outputs already
/// checked against the manifest) on `backend`, request by request; fills
/// `requests`. `time` (when given) is the sum of the requests' times.
bool runComposition(Backend &backend, const Bundle &bundle, size_t function,
                    const std::vector<TensorData> &inputs,
                    const std::vector<TensorData> &outputs,
                    std::vector<RequestStats> &requests, Failure &failure,
                    double *time = nullptr);

} // namespace moert

#endif // MOERT_CORE_COMPOSITION_H
