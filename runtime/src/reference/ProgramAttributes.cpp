//===- ProgramAttributes.cpp - op attributes of a reference program -------===//

#include "ProgramAttributes.h"

#include <utility>
#include <vector>

namespace moert::reference {

using nlohmann::json;

/// The value at `key`, or null when `object` lacks it.
static const json *find(const json &object, const char *key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null())
    return nullptr;
  return &*it;
}

bool readOptionalInt(const json &attributes, const char *key,
                     std::optional<int64_t> &value, std::string &error) {
  value.reset();
  const json *entry = find(attributes, key);
  if (!entry)
    return true;
  if (entry->is_number_integer() &&
      !(entry->is_number_unsigned() &&
        entry->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))) {
    value = entry->get<int64_t>();
    return true;
  }
  error = std::string("attribute '") + key + "' must be an integer (int64)";
  return false;
}

bool readInt(const json &attributes, const char *key, int64_t &value,
             std::string &error) {
  std::optional<int64_t> read;
  if (!readOptionalInt(attributes, key, read, error))
    return false;
  if (!read) {
    error = std::string("missing attribute '") + key + "'";
    return false;
  }
  value = *read;
  return true;
}

bool readOptionalDouble(const json &attributes, const char *key,
                        std::optional<double> &value, std::string &error) {
  value.reset();
  const json *entry = find(attributes, key);
  if (!entry)
    return true;
  if (!entry->is_number()) {
    error = std::string("attribute '") + key + "' must be a number";
    return false;
  }
  value = entry->get<double>();
  return true;
}

/// Reads string attribute `key` as one of `choices`; `required` says whether
/// absence is an error (else `value` keeps its default).
template <typename Enum>
static bool readEnum(const json &attributes, const char *key,
                     const std::vector<std::pair<const char *, Enum>> &choices,
                     bool required, Enum &value, std::string &error) {
  const json *entry = find(attributes, key);
  if (!entry) {
    if (required)
      error = std::string("missing attribute '") + key + "'";
    return !required;
  }
  std::string expected;
  for (const auto &[name, choice] : choices) {
    if (entry->is_string() && entry->get<std::string>() == name) {
      value = choice;
      return true;
    }
    expected += std::string(expected.empty() ? "" : ", ") + name;
  }
  error = std::string("attribute '") + key + "' must be one of " + expected +
          ", got " + entry->dump();
  return false;
}

bool readRouting(const json &attributes, Routing &routing,
                 std::string &error) {
  const json *entry = find(attributes, "routing");
  if (!entry || !entry->is_object()) {
    error = "attribute 'routing' must be an object";
    return false;
  }
  const json &object = *entry;
  static const char *const kKeys[] = {
      "scoring",     "top_k",       "renormalize",  "scaling_factor",
      "num_groups",  "kept_groups", "group_score",  "top_p",
      "zero_experts", "copy_experts", "constant_experts"};
  for (const auto &item : object.items()) {
    bool known = false;
    for (const char *key : kKeys)
      known = known || item.key() == key;
    if (!known) {
      error = "routing: unknown parameter '" + item.key() + "'";
      return false;
    }
  }
  routing = Routing();
  std::optional<double> scale;
  std::optional<int64_t> groups, zero, copy, constant;
  auto fail = [&] {
    error = "routing: " + error;
    return false;
  };
  if (!readEnum<Scoring>(object, "scoring",
                         {{"softmax", Scoring::softmax},
                          {"sigmoid", Scoring::sigmoid}},
                         /*required=*/true, routing.scoring, error) ||
      !readInt(object, "top_k", routing.topK, error) ||
      !readOptionalDouble(object, "scaling_factor", scale, error) ||
      !readOptionalInt(object, "num_groups", groups, error) ||
      !readOptionalInt(object, "kept_groups", routing.keptGroups, error) ||
      !readEnum<GroupScore>(object, "group_score",
                            {{"top2_sum", GroupScore::top2Sum},
                             {"max", GroupScore::max}},
                            /*required=*/false, routing.groupScore, error) ||
      !readOptionalDouble(object, "top_p", routing.topP, error) ||
      !readOptionalInt(object, "zero_experts", zero, error) ||
      !readOptionalInt(object, "copy_experts", copy, error) ||
      !readOptionalInt(object, "constant_experts", constant, error))
    return fail();
  if (const json *renormalize = find(object, "renormalize")) {
    if (!renormalize->is_boolean()) {
      error = "attribute 'renormalize' must be a boolean";
      return fail();
    }
    routing.renormalize = renormalize->get<bool>();
  }
  routing.scalingFactor = scale.value_or(1.0);
  routing.numGroups = groups.value_or(1);
  routing.zeroExperts = zero.value_or(0);
  routing.copyExperts = copy.value_or(0);
  routing.constantExperts = constant.value_or(0);
  return true;
}

bool readActivation(const json &attributes, Activation &activation,
                    std::string &error) {
  return readEnum<Activation>(attributes, "activation",
                              {{"silu", Activation::silu},
                               {"gelu", Activation::gelu},
                               {"gelu_tanh", Activation::geluTanh},
                               {"relu", Activation::relu}},
                              /*required=*/true, activation, error);
}

bool readLayout(const json &attributes, WeightLayout &layout,
                std::string &error) {
  return readEnum<WeightLayout>(attributes, "layout",
                                {{"in_out", WeightLayout::inOut},
                                 {"out_in", WeightLayout::outIn}},
                                /*required=*/true, layout, error);
}

bool readCapacityMode(const json &attributes,
                      std::optional<CapacityMode> &capacity,
                      std::string &error) {
  capacity.reset();
  std::optional<int64_t> count;
  if (!readOptionalInt(attributes, "capacity", count, error))
    return false;
  bool hasPolicy = find(attributes, "drop_policy") != nullptr;
  if (count.has_value() != hasPolicy) {
    error = count ? "capacity mode needs a 'drop_policy' (position|score)"
                  : "a 'drop_policy' is given without a 'capacity'";
    return false;
  }
  if (!count)
    return true;
  CapacityMode mode{*count, DropPolicy::position};
  if (!readEnum<DropPolicy>(attributes, "drop_policy",
                            {{"position", DropPolicy::position},
                             {"score", DropPolicy::score}},
                            /*required=*/true, mode.policy, error))
    return false;
  capacity = mode;
  return true;
}

} // namespace moert::reference
