//===- Serve.h - moe-run on a composition of experts ------------*- C++ -*-===//
//
// A composition (moe.composition) is served by the runtime one request at a
// time; moe-run can choose each request's model (--route, which writes the
// selector) and reports what each request cost: its latency, whether its
// model differs from the previous request's (a switch), and the weights it
// brought up from host memory.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TOOLS_MOE_RUN_SERVE_H
#define MOE_TOOLS_MOE_RUN_SERVE_H

#include "moert/moert.h"

#include <string>
#include <vector>

namespace moe_run {

/// The model of each request from `route` ("0,2,chat,...": model columns or
/// model function names, one per request) written as one-hot rows into the
/// selector `bytes` of type `selector`. False with `error`.
bool routeSelector(const moert_bundle_t *bundle, size_t function,
                   const std::string &route,
                   const moert_tensor_info_t &selector,
                   std::vector<unsigned char> &bytes, std::string &error);

/// Prints one line per request of the session's last run and a summary.
void printRequests(const moert_bundle_t *bundle, size_t function,
                   const moert_session_t *session);

} // namespace moe_run

#endif // MOE_TOOLS_MOE_RUN_SERVE_H
