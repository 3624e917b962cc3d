//===- ProgramAttributes.h - op attributes of a reference program -*- C++ -*-===//
//
// Reads the "attributes" object of a reference-program op into the
// reference's attribute types. Keys and enum spellings are the ODS ones
// (`top_k`, `drop_policy`, "gelu_tanh", "out_in", ...). A key that is absent
// or JSON null takes the attribute's default; a key of the wrong JSON type is
// an error, never an exception.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_REFERENCE_PROGRAMATTRIBUTES_H
#define MOERT_REFERENCE_PROGRAMATTRIBUTES_H

#include "Reference.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace moert::reference {

/// An optional integer attribute: absent/null leaves `value` empty.
bool readOptionalInt(const nlohmann::json &attributes, const char *key,
                     std::optional<int64_t> &value, std::string &error);
/// A required integer attribute.
bool readInt(const nlohmann::json &attributes, const char *key,
             int64_t &value, std::string &error);
/// An optional number attribute: absent/null leaves `value` empty.
bool readOptionalDouble(const nlohmann::json &attributes, const char *key,
                        std::optional<double> &value, std::string &error);

/// "routing": the #moe.routing parameters (`scoring` and `top_k` required).
bool readRouting(const nlohmann::json &attributes, Routing &routing,
                 std::string &error);
/// "activation": silu | gelu | gelu_tanh | relu.
bool readActivation(const nlohmann::json &attributes, Activation &activation,
                    std::string &error);
/// "layout": in_out | out_in.
bool readLayout(const nlohmann::json &attributes, WeightLayout &layout,
                std::string &error);
/// "capacity" and "drop_policy" (position | score): both or neither.
bool readCapacityMode(const nlohmann::json &attributes,
                      std::optional<CapacityMode> &capacity,
                      std::string &error);

} // namespace moert::reference

#endif // MOERT_REFERENCE_PROGRAMATTRIBUTES_H
