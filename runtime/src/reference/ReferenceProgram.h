//===- ReferenceProgram.h - interpreter of JSON reference programs -*- C++ -*-===//
//
// A reference program is the bundle writer's description of a function in
// moe ops, for `moe-run --check` to recompute with the reference:
//
//   {"function": "mixtral_moe",
//    "values":  [{"dtype": "f32", "shape": [16, 128]}, ...],
//    "ops":     [{"op": "moe.layer",
//                 "operands": {"tokens": 0, "router_weight": 1, ...},
//                 "results": [5],
//                 "attributes": {"routing": {...}, "activation": "silu",
//                                "layout": "out_in"}}],
//    "returns": [5]}
//
// Value ids index "values". The function's arguments are the values no op
// defines, and they must come first (ids 0..N-1, in argument order). Op names,
// operand names (absent optional operands omitted) and attribute names are the
// ODS ones of MoEOps.td (a variadic operand is an array of value ids, omitted
// when empty); results follow the ODS result order. Besides moe
// ops, "arith.addf" (residual sums) and "arith.constant" (a float tensor
// constant: attribute "value" is one element, a splat, or all of them in
// row-major order; an element is a number or "nan", "inf", "-inf"). A
// "moe.composition" carries its models as programs in attribute "models",
// model i taking one request and then weights_per_model[i] of its "weights"
// operands (attribute "weights_per_model", one count per model; absent when
// no model takes weights), and returning its result.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_REFERENCE_REFERENCEPROGRAM_H
#define MOERT_REFERENCE_REFERENCEPROGRAM_H

#include "HostTensor.h"

#include <string>
#include <vector>

namespace moert::reference {

/// Validates `programJson`, checks `arguments` against its declared argument
/// values, runs its ops with the reference and returns the values it names in
/// "returns". On any problem (malformed or hostile JSON, unknown op or operand,
/// a value id out of range or used before its definition, a dtype or shape
/// disagreeing with "values", an op's own error) returns false with a message
/// in `error`; `results` is then left empty.
bool runProgram(const std::string &programJson,
                const std::vector<HostTensor> &arguments,
                std::vector<HostTensor> &results, std::string &error);

} // namespace moert::reference

#endif // MOERT_REFERENCE_REFERENCEPROGRAM_H
