//===- ProgramOps.h - the ops a reference program may use -------*- C++ -*-===//
//
// One entry per executable moe op (plus arith.addf for residual sums and
// arith.constant for float tensor constants): its ODS name, operand names,
// result kinds, and how to run it on the reference from named operands and
// JSON attributes.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_REFERENCE_PROGRAMOPS_H
#define MOERT_REFERENCE_PROGRAMOPS_H

#include "HostTensor.h"

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

namespace moert::reference {

/// An op's operands by ODS name: `single` has one tensor per operand (an
/// absent optional operand is missing), `variadic` a list per variadic operand
/// (an absent one is missing or empty).
struct OpOperands {
  std::map<std::string, const HostTensor *> single;
  std::map<std::string, std::vector<const HostTensor *>> variadic;
};

struct OpDefinition {
  const char *name; ///< "moe.router"
  std::vector<std::string> requiredOperands;
  std::vector<std::string> optionalOperands;
  /// One character per result, in ODS order: 'f' float, 'i' index.
  const char *resultKinds;
  /// Runs the op. `declaredResults` are the result shapes the program
  /// declares, for ops whose result sizes come from attributes (checked
  /// before allocating); `results` receives one tensor per result.
  bool (*run)(const OpOperands &operands, const nlohmann::json &attributes,
              const std::vector<std::vector<int64_t>> &declaredResults,
              std::vector<HostTensor> &results, std::string &error);
  /// Variadic operands, each an array of value ids in the program (optional:
  /// a missing one is empty).
  std::vector<std::string> variadicOperands = {};
};

/// The definition of op `name`, or null when no such op is executable.
const OpDefinition *findOpDefinition(const std::string &name);

/// Runs `program` (a JSON object, e.g. a model of a moe.composition) as
/// runProgram does, from inside an op of an enclosing program. Programs nest at
/// most kMaxProgramNesting deep (hostile JSON must not exhaust the stack).
bool runNestedProgram(const nlohmann::json &program,
                      const std::vector<HostTensor> &arguments,
                      std::vector<HostTensor> &results, std::string &error);
constexpr int kMaxProgramNesting = 8;

} // namespace moert::reference

#endif // MOERT_REFERENCE_PROGRAMOPS_H
