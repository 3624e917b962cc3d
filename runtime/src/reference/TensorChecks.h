//===- TensorChecks.h - operand validation for the reference ops -*- C++ -*-===//
//
// Every reference op checks its operands before reading them: the inputs come
// from tests, from `moe-run --check` and from hostile JSON programs, so a bad
// shape must become an error message, never an out-of-bounds read. Messages
// name the operand as the ODS does ("'logits' must have rank 2 ([T, E])").
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_REFERENCE_TENSORCHECKS_H
#define MOERT_REFERENCE_TENSORCHECKS_H

#include "HostTensor.h"

#include <cstdint>
#include <string>

namespace moert::reference {

/// `tensor` is well formed (data size = element count), of float dtype and of
/// rank `rank`; `hint` names the expected shape ("[T, E]").
bool checkFloat(const HostTensor &tensor, const char *name, size_t rank,
                const char *hint, std::string &error);

/// Same for an index tensor (i32/i64); also checks every element is an
/// integer (a double holding 1.5 cannot be an index).
bool checkIndex(const HostTensor &tensor, const char *name, size_t rank,
                const char *hint, std::string &error);

/// Dimension `dim` of `tensor` equals `expected` (`what` says where the
/// expectation comes from).
bool checkDim(const HostTensor &tensor, const char *name, size_t dim,
              int64_t expected, const char *what, std::string &error);

/// Every element of `tensor` is finite (selection cannot rank NaN).
bool checkFinite(const HostTensor &tensor, const char *name,
                 std::string &error);

} // namespace moert::reference

#endif // MOERT_REFERENCE_TENSORCHECKS_H
