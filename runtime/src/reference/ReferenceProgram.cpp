//===- ReferenceProgram.cpp - interpreter of JSON reference programs ------===//
//
// Validates everything before use: the program comes from a bundle, which may
// be corrupt or hostile, so every id, name, dtype and shape is checked and
// every nlohmann exception is turned into an error message.
//
//===----------------------------------------------------------------------===//

#include "ReferenceProgram.h"
#include "ProgramOps.h"

#include <nlohmann/json.hpp>

#include <optional>

namespace moert::reference {

using nlohmann::json;

namespace {
/// A value's declared type.
struct ValueType {
  std::string dtype;
  std::vector<int64_t> shape;
};

/// Declared values bigger than this are refused (2^31 elements, 16 GiB of
/// doubles): no test or check needs more, and a hostile program must not
/// make us try.
constexpr int64_t kMaxElements = int64_t(1) << 31;

/// Interprets one program; methods return false with `error` set.
class Interpreter {
public:
  explicit Interpreter(std::string &error) : error(error) {}

  bool run(const json &program, const std::vector<HostTensor> &arguments,
           std::vector<HostTensor> &results);

private:
  bool fail(std::string message) {
    error = std::move(message);
    return false;
  }
  bool readValues(const json &values);
  bool readValueId(const json &id, const std::string &where, size_t &value);
  bool findArguments(const json &ops);
  bool bindArguments(const std::vector<HostTensor> &arguments);
  bool runOp(const json &op, size_t index);

  std::string &error;
  std::vector<ValueType> types;
  std::vector<std::optional<HostTensor>> values;
  size_t numArguments = 0;
};
} // namespace

bool Interpreter::readValues(const json &list) {
  if (!list.is_array())
    return fail("'values' must be an array");
  for (size_t i = 0; i < list.size(); ++i) {
    const json &entry = list[i];
    std::string where = "value " + std::to_string(i);
    if (!entry.is_object() || !entry.contains("dtype") ||
        !entry.contains("shape") || !entry["dtype"].is_string() ||
        !entry["shape"].is_array())
      return fail(where + ": expected {\"dtype\": string, \"shape\": [int]}");
    ValueType type{entry["dtype"].get<std::string>(), {}};
    if (!isFloatDtype(type.dtype) && !isIndexDtype(type.dtype))
      return fail(where + ": unknown dtype '" + type.dtype +
                  "' (f32, bf16, f16, i32, i64)");
    for (const json &dim : entry["shape"]) {
      if (!dim.is_number_integer() || dim.get<int64_t>() < 0 ||
          (dim.is_number_unsigned() &&
           dim.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)))
        return fail(where + ": dimensions must be non-negative integers");
      type.shape.push_back(dim.get<int64_t>());
    }
    int64_t count = elementCount(type.shape);
    if (count < 0 || count > kMaxElements)
      return fail(where + ": shape " + shapeToString(type.shape) +
                  " has too many elements");
    types.push_back(std::move(type));
  }
  values.resize(types.size());
  return true;
}

bool Interpreter::readValueId(const json &id, const std::string &where,
                              size_t &value) {
  if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
      (id.is_number_unsigned() && id.get<uint64_t>() >= types.size()) ||
      static_cast<uint64_t>(id.get<int64_t>()) >= types.size())
    return fail(where + ": value id " + id.dump() + " is out of range (" +
                std::to_string(types.size()) + " values)");
  value = static_cast<size_t>(id.get<int64_t>());
  return true;
}

bool Interpreter::findArguments(const json &ops) {
  // Arguments are the values no op defines; they must be ids 0..N-1.
  std::vector<bool> defined(types.size(), false);
  for (size_t i = 0; i < ops.size(); ++i) {
    const json &op = ops[i];
    std::string where = "op " + std::to_string(i);
    if (!op.is_object() || !op.contains("results") ||
        !op["results"].is_array())
      return fail(where + ": expected an object with a \"results\" array");
    for (const json &id : op["results"]) {
      size_t value;
      if (!readValueId(id, where, value))
        return false;
      if (defined[value])
        return fail(where + ": value " + std::to_string(value) +
                    " is defined twice");
      defined[value] = true;
    }
  }
  while (numArguments < types.size() && !defined[numArguments])
    ++numArguments;
  for (size_t id = numArguments; id < types.size(); ++id)
    if (!defined[id])
      return fail("value " + std::to_string(id) +
                  " is neither defined by an op nor an argument (arguments "
                  "come first: values 0.." +
                  std::to_string(numArguments) + ")");
  return true;
}

bool Interpreter::bindArguments(const std::vector<HostTensor> &arguments) {
  if (arguments.size() != numArguments)
    return fail("the program takes " + std::to_string(numArguments) +
                " arguments, got " + std::to_string(arguments.size()));
  for (size_t i = 0; i < numArguments; ++i) {
    const HostTensor &argument = arguments[i];
    const ValueType &type = types[i];
    std::string where = "argument " + std::to_string(i);
    if (argument.dtype != type.dtype || argument.shape != type.shape)
      return fail(where + " is " + argument.dtype + " " +
                  shapeToString(argument.shape) + ", the program declares " +
                  type.dtype + " " + shapeToString(type.shape));
    if (argument.data.size() != static_cast<size_t>(elementCount(type.shape)))
      return fail(where + " holds " + std::to_string(argument.data.size()) +
                  " elements for shape " + shapeToString(type.shape));
    values[i] = argument;
  }
  return true;
}

bool Interpreter::runOp(const json &op, size_t index) {
  std::string where = "op " + std::to_string(index);
  if (!op.contains("op") || !op["op"].is_string())
    return fail(where + ": missing \"op\" name");
  std::string name = op["op"].get<std::string>();
  const OpDefinition *definition = findOpDefinition(name);
  if (!definition)
    return fail(where + ": unknown op '" + name + "'");
  where += " (" + name + ")";

  json noAttributes = json::object();
  const json &attributes =
      op.contains("attributes") ? op["attributes"] : noAttributes;
  if (!attributes.is_object())
    return fail(where + ": \"attributes\" must be an object");
  if (!op.contains("operands") || !op["operands"].is_object())
    return fail(where + ": \"operands\" must be an object");

  OpOperands operands;
  // The defined value of id `id` (of operand `operandName`), or null.
  auto definedValue = [&](const json &id, const std::string &operandName,
                          const HostTensor *&tensor) {
    size_t value;
    if (!readValueId(id, where + " operand '" + operandName + "'", value))
      return false;
    if (!values[value])
      return fail(where + ": operand '" + operandName + "' uses value " +
                  std::to_string(value) + " before it is defined");
    tensor = &*values[value];
    return true;
  };
  for (const auto &item : op["operands"].items()) {
    const std::string &operandName = item.key();
    auto named = [&](const std::vector<std::string> &names) {
      for (const std::string &known : names)
        if (known == operandName)
          return true;
      return false;
    };
    if (named(definition->variadicOperands)) {
      // A variadic operand: an array of value ids.
      if (!item.value().is_array())
        return fail(where + ": operand '" + operandName +
                    "' must be an array of value ids");
      std::vector<const HostTensor *> &list = operands.variadic[operandName];
      for (const json &id : item.value()) {
        const HostTensor *tensor;
        if (!definedValue(id, operandName, tensor))
          return false;
        list.push_back(tensor);
      }
      continue;
    }
    if (!named(definition->requiredOperands) &&
        !named(definition->optionalOperands))
      return fail(where + ": unknown operand '" + operandName + "'");
    const HostTensor *tensor;
    if (!definedValue(item.value(), operandName, tensor))
      return false;
    operands.single[operandName] = tensor;
  }
  for (const std::string &required : definition->requiredOperands)
    if (!operands.single.count(required))
      return fail(where + ": missing operand '" + required + "'");

  const json &resultIds = op["results"];
  std::string kinds = definition->resultKinds;
  if (resultIds.size() != kinds.size())
    return fail(where + ": has " + std::to_string(kinds.size()) +
                " results, the program lists " +
                std::to_string(resultIds.size()));
  std::vector<size_t> ids;
  std::vector<std::vector<int64_t>> declared;
  for (const json &id : resultIds) {
    ids.push_back(id.get<size_t>()); // range-checked by findArguments
    declared.push_back(types[ids.back()].shape);
  }

  std::vector<HostTensor> results;
  if (!definition->run(operands, attributes, declared, results, error))
    return fail(where + ": " + error);
  for (size_t r = 0; r < ids.size(); ++r) {
    const ValueType &type = types[ids[r]];
    bool indexResult = kinds[r] == 'i';
    if (indexResult ? !isIndexDtype(type.dtype) : !isFloatDtype(type.dtype))
      return fail(where + ": result " + std::to_string(r) + " (value " +
                  std::to_string(ids[r]) + ") is declared " + type.dtype +
                  ", expected " + (indexResult ? "i32 or i64" : "a float type"));
    if (results[r].shape != type.shape)
      return fail(where + ": result " + std::to_string(r) + " (value " +
                  std::to_string(ids[r]) + ") has shape " +
                  shapeToString(results[r].shape) + ", declared " +
                  shapeToString(type.shape));
    results[r].dtype = type.dtype;
    values[ids[r]] = std::move(results[r]);
  }
  return true;
}

bool Interpreter::run(const json &program,
                      const std::vector<HostTensor> &arguments,
                      std::vector<HostTensor> &results) {
  if (!program.is_object())
    return fail("a reference program must be a JSON object");
  for (const char *key : {"values", "ops", "returns"})
    if (!program.contains(key) || !program[key].is_array())
      return fail(std::string("a reference program needs a \"") + key +
                  "\" array");
  if (!readValues(program["values"]) || !findArguments(program["ops"]) ||
      !bindArguments(arguments))
    return false;
  const json &ops = program["ops"];
  for (size_t i = 0; i < ops.size(); ++i)
    if (!runOp(ops[i], i))
      return false;
  std::vector<HostTensor> returned;
  for (const json &id : program["returns"]) {
    size_t value;
    if (!readValueId(id, "returns", value))
      return false;
    if (!values[value])
      return fail("returns: value " + std::to_string(value) +
                  " is never defined");
    returned.push_back(*values[value]);
  }
  results = std::move(returned);
  return true;
}

namespace {
/// How many programs are running on this thread, nested in one another.
thread_local int runningPrograms = 0;

/// Counts a program as running for its lifetime (exceptions included).
struct RunningProgram {
  RunningProgram() { ++runningPrograms; }
  ~RunningProgram() { --runningPrograms; }
};
} // namespace

bool runNestedProgram(const json &program,
                      const std::vector<HostTensor> &arguments,
                      std::vector<HostTensor> &results, std::string &error) {
  results.clear();
  if (runningPrograms >= kMaxProgramNesting) {
    error = "programs nest more than " + std::to_string(kMaxProgramNesting) +
            " deep";
    return false;
  }
  RunningProgram running;
  std::string message;
  Interpreter interpreter(message);
  if (interpreter.run(program, arguments, results))
    return true;
  results.clear();
  error = message;
  return false;
}

bool runProgram(const std::string &programJson,
                const std::vector<HostTensor> &arguments,
                std::vector<HostTensor> &results, std::string &error) {
  results.clear();
  std::string message;
  try {
    json program = json::parse(programJson);
    RunningProgram running;
    Interpreter interpreter(message);
    if (interpreter.run(program, arguments, results))
      return true;
  } catch (const std::exception &exception) {
    // json::parse errors, and nlohmann type errors a check above missed;
    // also std::bad_alloc on absurd but declared-valid sizes.
    message = exception.what();
  }
  results.clear();
  error = "reference program: " + message;
  return false;
}

} // namespace moert::reference
