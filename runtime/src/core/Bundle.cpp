//===- Bundle.cpp - bundle parsing and validation -------------------------===//

#include "Bundle.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <sstream>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the bundle loader reads little-endian integers in place"
#endif

using json = nlohmann::json;

namespace moert {

std::string TensorType::str() const {
  std::ostringstream os;
  const char *name = moert_dtype_name(dtype);
  os << (name ? name : "?") << "[";
  for (size_t i = 0; i < shape.size(); ++i)
    os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

namespace {

/// Deepest JSON nesting accepted (parsing and printing recurse).
constexpr int kMaxJsonDepth = 64;

/// Collects the first error and its JSON path.
class Validator {
public:
  explicit Validator(std::string &error) : error(error) {}

  bool fail(const std::string &path, const std::string &message) {
    if (error.empty())
      error = path.empty() ? message : path + ": " + message;
    return false;
  }

  const json *member(const json &object, const char *key,
                     const std::string &path, bool required = true) {
    auto it = object.find(key);
    if (it == object.end()) {
      if (required)
        fail(path, std::string("missing \"") + key + "\"");
      return nullptr;
    }
    return &*it;
  }

  bool getObject(const json &value, const std::string &path) {
    if (!value.is_object())
      return fail(path, "expected an object");
    return true;
  }

  const json *getArray(const json &object, const char *key,
                       const std::string &path, size_t maxSize) {
    const json *value = member(object, key, path);
    if (!value)
      return nullptr;
    std::string at = path + "." + key;
    if (!value->is_array()) {
      fail(at, "expected an array");
      return nullptr;
    }
    if (value->size() > maxSize) {
      fail(at, "has " + std::to_string(value->size()) +
                   " entries, more than the limit of " +
                   std::to_string(maxSize));
      return nullptr;
    }
    return value;
  }

  bool getString(const json &object, const char *key, const std::string &path,
                 std::string &out) {
    const json *value = member(object, key, path);
    if (!value)
      return false;
    if (!value->is_string())
      return fail(path + "." + key, "expected a string");
    out = value->get<std::string>();
    if (out.empty() || out.size() > MOERT_BUNDLE_MAX_NAME)
      return fail(path + "." + key,
                  "expected 1 to " + std::to_string(MOERT_BUNDLE_MAX_NAME) +
                      " characters");
    for (unsigned char c : out)
      if (c < 0x20 || c == 0x7f)
        return fail(path + "." + key, "contains a control character");
    return true;
  }

  bool getIndex(const json &value, const std::string &path, uint64_t bound,
                uint32_t &out) {
    if (!value.is_number_integer())
      return fail(path, "expected a non-negative integer");
    if (value.is_number_unsigned()) {
      uint64_t v = value.get<uint64_t>();
      if (v >= bound)
        return fail(path, std::to_string(v) + " is out of range (" +
                              std::to_string(bound) + " available)");
      out = static_cast<uint32_t>(v);
      return true;
    }
    int64_t v = value.get<int64_t>();
    if (v < 0 || static_cast<uint64_t>(v) >= bound)
      return fail(path, std::to_string(v) + " is out of range (" +
                            std::to_string(bound) + " available)");
    out = static_cast<uint32_t>(v);
    return true;
  }

  bool getMemberIndex(const json &object, const char *key,
                      const std::string &path, uint64_t bound,
                      uint32_t &out) {
    const json *value = member(object, key, path);
    return value && getIndex(*value, path + "." + key, bound, out);
  }

  bool getTensorType(const json &object, const std::string &path,
                     TensorType &out) {
    if (!getObject(object, path))
      return false;
    std::string dtype;
    if (!getString(object, "dtype", path, dtype))
      return false;
    out.dtype = moert_dtype_parse(dtype.c_str());
    if (out.dtype == MOERT_DTYPE_INVALID)
      return fail(path + ".dtype", "unknown dtype \"" + dtype + "\"");
    const json *shape = getArray(object, "shape", path, MOERT_BUNDLE_MAX_RANK);
    if (!shape)
      return false;
    out.shape.clear();
    uint64_t count = 1;
    for (size_t i = 0; i < shape->size(); ++i) {
      const json &dim = (*shape)[i];
      std::string at = path + ".shape[" + std::to_string(i) + "]";
      if (!dim.is_number_integer() ||
          (!dim.is_number_unsigned() && dim.get<int64_t>() < 0))
        return fail(at, "expected a non-negative integer (static shapes only)");
      if (dim.is_number_unsigned() &&
          dim.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
        return fail(at, "dimension too large");
      int64_t d = dim.get<int64_t>();
      out.shape.push_back(d);
      if (__builtin_mul_overflow(count, static_cast<uint64_t>(d), &count))
        return fail(path + ".shape", "element count overflows");
    }
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(count, moert_dtype_size(out.dtype), &bytes) ||
        bytes > MOERT_BUNDLE_MAX_BUFFER_BYTES)
      return fail(path + ".shape", "tensor of " + std::to_string(count) +
                                       " elements is larger than the limit");
    out.elementCount = static_cast<size_t>(count);
    out.byteSize = static_cast<size_t>(bytes);
    return true;
  }

  bool getTensorTypes(const json &object, const char *key,
                      const std::string &path, size_t maxSize,
                      std::vector<TensorType> &out) {
    const json *list = getArray(object, key, path, maxSize);
    if (!list)
      return false;
    out.resize(list->size());
    for (size_t i = 0; i < list->size(); ++i)
      if (!getTensorType((*list)[i],
                         path + "." + key + "[" + std::to_string(i) + "]",
                         out[i]))
        return false;
    return true;
  }

private:
  std::string &error;
};

/// Rejects JSON nested deeper than kMaxJsonDepth (brackets outside strings).
bool checkJsonDepth(const char *text, size_t size, std::string &error) {
  int depth = 0;
  bool inString = false, escaped = false;
  for (size_t i = 0; i < size; ++i) {
    char c = text[i];
    if (inString) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        inString = false;
      continue;
    }
    if (c == '"') {
      inString = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        error = "nested deeper than " + std::to_string(kMaxJsonDepth) +
                " levels";
        return false;
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

bool parseJsonSection(const uint8_t *data, const moert_bundle_section_t &entry,
                      json &out, std::string &error) {
  const char *name = moert_bundle_section_kind_name(entry.kind);
  if (entry.size > MOERT_BUNDLE_MAX_JSON_BYTES) {
    error = std::string(name) + " section is larger than the limit of " +
            std::to_string(MOERT_BUNDLE_MAX_JSON_BYTES) + " bytes";
    return false;
  }
  const char *text = reinterpret_cast<const char *>(data + entry.offset);
  size_t size = static_cast<size_t>(entry.size);
  std::string depthError;
  if (!checkJsonDepth(text, size, depthError)) {
    error = std::string(name) + " section: JSON " + depthError;
    return false;
  }
  out = json::parse(text, text + size, nullptr, /*allow_exceptions=*/false);
  if (out.is_discarded()) {
    error = std::string(name) + " section is not valid JSON";
    return false;
  }
  if (!out.is_object()) {
    error = std::string(name) + " section: expected a JSON object";
    return false;
  }
  return true;
}

/// The manifest's "grid" (optional): 1 to MOERT_BUNDLE_MAX_GRID_RANK axes of
/// positive sizes whose product is at most MOERT_BUNDLE_MAX_WORLD_SIZE.
bool parseGrid(const json &manifest, Bundle &bundle, Validator &v) {
  const json *grid = v.member(manifest, "grid", "MANIFEST", /*required=*/false);
  if (!grid)
    return true;
  const std::string path = "MANIFEST.grid";
  if (!grid->is_array())
    return v.fail(path, "expected an array of axis sizes");
  if (grid->empty() || grid->size() > MOERT_BUNDLE_MAX_GRID_RANK)
    return v.fail(path, "has " + std::to_string(grid->size()) +
                            " axes, expected 1 to " +
                            std::to_string(MOERT_BUNDLE_MAX_GRID_RANK));
  int64_t world = 1;
  for (size_t a = 0; a < grid->size(); ++a) {
    const json &size = (*grid)[a];
    std::string at = path + "[" + std::to_string(a) + "]";
    if (!size.is_number_integer() ||
        (size.is_number_unsigned()
             ? size.get<uint64_t>() > MOERT_BUNDLE_MAX_WORLD_SIZE ||
                   size.get<uint64_t>() == 0
             : size.get<int64_t>() < 1))
      return v.fail(at, "expected a positive axis size (at most " +
                            std::to_string(MOERT_BUNDLE_MAX_WORLD_SIZE) + ")");
    int64_t n = size.get<int64_t>();
    if (n > int64_t(MOERT_BUNDLE_MAX_WORLD_SIZE) ||
        (world *= n) > int64_t(MOERT_BUNDLE_MAX_WORLD_SIZE))
      return v.fail(path, "the grid has more than " +
                              std::to_string(MOERT_BUNDLE_MAX_WORLD_SIZE) +
                              " ranks");
    bundle.grid.push_back(n);
  }
  bundle.worldSize = world;
  return true;
}

/// A tensor's "split_axes", "full_shape" and "expert_permutation" (all
/// optional; they need the manifest's grid).
bool parseSplit(const json &entry, const std::string &path,
                const Bundle &bundle, TensorInfo &info, Validator &v) {
  const json *split = v.member(entry, "split_axes", path, false);
  const json *full = v.member(entry, "full_shape", path, false);
  const json *permutation = v.member(entry, "expert_permutation", path, false);
  if (!split && !full && !permutation)
    return true;
  const char *first = split ? "split_axes"
                      : full ? "full_shape"
                             : "expert_permutation";
  if (bundle.grid.empty())
    return v.fail(path + "." + first,
                  "a sharded tensor needs the manifest's \"grid\"");
  const std::vector<int64_t> &shape = info.type.shape;
  size_t rank = shape.size();
  info.splitAxes.assign(rank, 0);
  uint32_t used = 0;
  if (split) {
    std::string at = path + ".split_axes";
    if (!split->is_array())
      return v.fail(at, "expected an array of axis lists, one per dimension");
    if (split->size() != rank)
      return v.fail(at, "has " + std::to_string(split->size()) +
                            " entries for a tensor of rank " +
                            std::to_string(rank));
    for (size_t d = 0; d < rank; ++d) {
      const json &axes = (*split)[d];
      std::string dimAt = at + "[" + std::to_string(d) + "]";
      if (!axes.is_array())
        return v.fail(dimAt, "expected an array of grid axes");
      int64_t previous = -1;
      for (size_t k = 0; k < axes.size(); ++k) {
        const json &axis = axes[k];
        std::string axisAt = dimAt + "[" + std::to_string(k) + "]";
        if (!axis.is_number_integer() ||
            (!axis.is_number_unsigned() && axis.get<int64_t>() < 0) ||
            (axis.is_number_unsigned() &&
             axis.get<uint64_t>() >= bundle.grid.size()))
          return v.fail(axisAt, "expected a grid axis in [0, " +
                                    std::to_string(bundle.grid.size()) + ")");
        int64_t a = axis.get<int64_t>();
        if (a <= previous)
          return v.fail(dimAt, "axes must be ascending, without repeats");
        if (used & (1u << a))
          return v.fail(axisAt, "grid axis " + std::to_string(a) +
                                    " splits two dimensions");
        previous = a;
        used |= 1u << a;
        info.splitAxes[d] |= 1u << a;
      }
    }
  }
  info.fullShape.assign(shape.begin(), shape.end());
  uint64_t fullCount = 1;
  for (size_t d = 0; d < rank; ++d) {
    int64_t factor = 1;
    for (size_t a = 0; a < bundle.grid.size(); ++a)
      if (info.splitAxes[d] & (1u << a))
        factor *= bundle.grid[a];
    if (__builtin_mul_overflow(shape[d], factor, &info.fullShape[d]) ||
        __builtin_mul_overflow(fullCount, uint64_t(info.fullShape[d]),
                               &fullCount))
      return v.fail(path, "the full tensor's size overflows");
  }
  uint64_t fullBytes = 0;
  if (__builtin_mul_overflow(fullCount, moert_dtype_size(info.type.dtype),
                             &fullBytes) ||
      fullBytes > MOERT_BUNDLE_MAX_BUFFER_BYTES)
    return v.fail(path, "the full tensor of " + std::to_string(fullCount) +
                            " elements is larger than the limit");
  if (full) {
    std::string at = path + ".full_shape";
    if (!full->is_array())
      return v.fail(at, "expected an array of dimensions");
    if (full->size() != rank)
      return v.fail(at, "has " + std::to_string(full->size()) +
                            " dimensions for a tensor of rank " +
                            std::to_string(rank));
    for (size_t d = 0; d < rank; ++d) {
      const json &dim = (*full)[d];
      if (!dim.is_number_integer() ||
          !(dim.is_number_unsigned()
                ? dim.get<uint64_t>() == uint64_t(info.fullShape[d])
                : dim.get<int64_t>() == info.fullShape[d]))
        return v.fail(at + "[" + std::to_string(d) + "]",
                      (dim.is_number_integer() ? dim.dump() : "not an integer") +
                          ", but shape[" + std::to_string(d) + "] * the grid "
                          "axes splitting it = " +
                          std::to_string(info.fullShape[d]));
    }
  }
  if (permutation) {
    std::string at = path + ".expert_permutation";
    if (!permutation->is_array())
      return v.fail(at, "expected an array of indices");
    if (rank == 0)
      return v.fail(at, "a scalar has no dimension 0 to permute");
    if (permutation->size() != uint64_t(info.fullShape[0]))
      return v.fail(at, "has " + std::to_string(permutation->size()) +
                            " entries, the full dimension 0 has " +
                            std::to_string(info.fullShape[0]));
    std::vector<bool> seen(permutation->size(), false);
    for (size_t i = 0; i < permutation->size(); ++i) {
      uint32_t index = 0;
      if (!v.getIndex((*permutation)[i], at + "[" + std::to_string(i) + "]",
                      permutation->size(), index))
        return false;
      if (seen[index])
        return v.fail(at + "[" + std::to_string(i) + "]",
                      std::to_string(index) + " appears twice (not a "
                      "permutation)");
      seen[index] = true;
      info.expertPermutation.push_back(index);
    }
  }
  return true;
}

/// The per-request type of `type` [R, ...]: its shape without the leading
/// request dimension.
TensorType requestType(const TensorType &type) {
  TensorType request;
  request.dtype = type.dtype;
  request.shape.assign(type.shape.begin() + 1, type.shape.end());
  uint64_t count = 1;
  for (int64_t d : request.shape)
    if (__builtin_mul_overflow(count, static_cast<uint64_t>(d), &count))
      count = UINT64_MAX;
  request.elementCount = static_cast<size_t>(count);
  request.byteSize = request.elementCount * moert_dtype_size(type.dtype);
  return request;
}

/// The "composition" of `function` (docs/composition.md): its selector and
/// requests inputs, and per model the function that runs it and which of the
/// composition's inputs it takes. Every type is checked here, so that the
/// runner slices and forwards tensors without further checks.
bool parseComposition(const json &entry, const std::string &path,
                      const std::map<std::string, size_t> &names,
                      const Bundle &bundle, Function &function, Validator &v) {
  Composition &c = function.composition;
  size_t inputs = function.inputs.size();
  if (!v.getObject(entry, path) ||
      !v.getMemberIndex(entry, "selector", path, inputs, c.selector) ||
      !v.getMemberIndex(entry, "requests", path, inputs, c.requests))
    return false;
  if (!bundle.grid.empty())
    return v.fail(path, "a composition runs on one rank; this bundle has a "
                        "grid");
  const TensorType &selector = function.inputs[c.selector].type;
  const TensorType &requests = function.inputs[c.requests].type;
  if (c.selector == c.requests)
    return v.fail(path, "the selector and the requests are the same input");
  if ((selector.dtype != MOERT_DTYPE_F32 && selector.dtype != MOERT_DTYPE_BF16 &&
       selector.dtype != MOERT_DTYPE_F16) ||
      selector.shape.size() != 2)
    return v.fail(path + ".selector",
                  "the selector must be a float [R, M] tensor, input " +
                      std::to_string(c.selector) + " is " + selector.str());
  int64_t numRequests = selector.shape[0];
  if (requests.shape.empty() || requests.shape[0] != numRequests)
    return v.fail(path + ".requests",
                  "the requests input is " + requests.str() + "; expected " +
                      std::to_string(numRequests) +
                      " requests (the selector's rows) in dimension 0");
  if (function.outputs.size() != 1 || function.outputs[0].type.shape.empty() ||
      function.outputs[0].type.shape[0] != numRequests)
    return v.fail(path, "a composition has one output with the " +
                            std::to_string(numRequests) +
                            " requests in dimension 0");
  const json *models =
      v.getArray(entry, "models", path, MOERT_BUNDLE_MAX_FUNCTIONS);
  if (!models)
    return false;
  if (models->empty() ||
      static_cast<int64_t>(models->size()) != selector.shape[1])
    return v.fail(path + ".models",
                  std::to_string(models->size()) +
                      " models for a selector of " +
                      std::to_string(selector.shape[1]) + " columns");
  TensorType request = requestType(requests);
  TensorType result = requestType(function.outputs[0].type);
  for (size_t m = 0; m < models->size(); ++m) {
    const json &model = (*models)[m];
    std::string at = path + ".models[" + std::to_string(m) + "]";
    std::string name;
    if (!v.getObject(model, at) || !v.getString(model, "function", at, name))
      return false;
    auto found = names.find(name);
    if (found == names.end())
      return v.fail(at + ".function", "no manifest function \"" + name + "\"");
    const Function &callee = bundle.functions[found->second];
    if (callee.isComposition)
      return v.fail(at + ".function", "\"" + name +
                                          "\" is a composition; a model is "
                                          "a compiled function");
    Composition::Model parsed;
    parsed.function = found->second;
    const json *bound = v.getArray(model, "inputs", at, MOERT_BUNDLE_MAX_TENSORS);
    if (!bound)
      return false;
    if (bound->size() != callee.inputs.size())
      return v.fail(at + ".inputs",
                    std::to_string(bound->size()) + " inputs for \"" + name +
                        "\", which takes " +
                        std::to_string(callee.inputs.size()));
    for (size_t j = 0; j < bound->size(); ++j) {
      std::string jAt = at + ".inputs[" + std::to_string(j) + "]";
      uint32_t index = 0;
      if (!v.getIndex((*bound)[j], jAt, inputs, index))
        return false;
      if ((j == 0) != (index == c.requests))
        return v.fail(jAt, j == 0 ? "a model's first input is the request"
                                  : "only a model's first input takes the "
                                    "requests");
      if (index == c.selector)
        return v.fail(jAt, "a model does not take the selector");
      const TensorType &expected =
          j == 0 ? request : function.inputs[index].type;
      if (callee.inputs[j].type != expected)
        return v.fail(jAt, "\"" + name + "\" input " + std::to_string(j) +
                               " is " + callee.inputs[j].type.str() +
                               " but it is given " + expected.str());
      parsed.inputs.push_back(index);
    }
    if (callee.outputs.size() != 1 || callee.outputs[0].type != result)
      return v.fail(at + ".function",
                    "\"" + name + "\" must return one " + result.str() +
                        " (a request's result)");
    c.models.push_back(std::move(parsed));
  }
  return true;
}

bool parseManifest(const json &manifest, const std::string &headerTarget,
                   Bundle &bundle, std::string &error) {
  Validator v(error);
  std::string target;
  if (!v.getString(manifest, "target", "MANIFEST", target))
    return false;
  if (target != headerTarget)
    return v.fail("MANIFEST.target", "\"" + target +
                                         "\" disagrees with the header's \"" +
                                         headerTarget + "\"");
  if (!parseGrid(manifest, bundle, v))
    return false;
  const json *functions =
      v.getArray(manifest, "functions", "MANIFEST", MOERT_BUNDLE_MAX_FUNCTIONS);
  if (!functions)
    return false;
  if (functions->empty())
    return v.fail("MANIFEST.functions", "the bundle has no function");
  std::map<std::string, size_t> names;
  for (size_t f = 0; f < functions->size(); ++f) {
    const json &entry = (*functions)[f];
    std::string path = "MANIFEST.functions[" + std::to_string(f) + "]";
    Function function;
    // A composition has no kernel, hence no symbol (checked below, once
    // every function is known).
    function.isComposition = entry.is_object() && entry.contains("composition");
    if (!v.getObject(entry, path) ||
        !v.getString(entry, "name", path, function.name) ||
        (!function.isComposition &&
         !v.getString(entry, "symbol", path, function.symbol)))
      return false;
    if (!names.emplace(function.name, f).second)
      return v.fail(path + ".name",
                    "duplicate function \"" + function.name + "\"");
    for (auto [key, list] :
         {std::pair<const char *, std::vector<TensorInfo> *>{
              "inputs", &function.inputs},
          {"outputs", &function.outputs}}) {
      const json *tensors =
          v.getArray(entry, key, path, MOERT_BUNDLE_MAX_TENSORS);
      if (!tensors)
        return false;
      std::map<std::string, size_t> tensorNames;
      for (size_t i = 0; i < tensors->size(); ++i) {
        std::string at = path + "." + key + "[" + std::to_string(i) + "]";
        TensorInfo info;
        if (!v.getTensorType((*tensors)[i], at, info.type) ||
            !v.getString((*tensors)[i], "name", at, info.name) ||
            !parseSplit((*tensors)[i], at, bundle, info, v))
          return false;
        if (!tensorNames.emplace(info.name, i).second)
          return v.fail(at + ".name", "duplicate name \"" + info.name + "\"");
        list->push_back(std::move(info));
      }
    }
    bundle.functions.push_back(std::move(function));
  }
  for (size_t f = 0; f < functions->size(); ++f)
    if (bundle.functions[f].isComposition &&
        !parseComposition((*functions)[f]["composition"],
                          "MANIFEST.functions[" + std::to_string(f) +
                              "].composition",
                          names, bundle, bundle.functions[f], v))
      return false;
  return true;
}

bool parseSchedule(const json &schedule, Bundle &bundle, std::string &error) {
  Validator v(error);
  const json *kernels = v.getArray(schedule, "kernels", "SCHEDULE",
                                   MOERT_BUNDLE_MAX_FUNCTIONS);
  if (!kernels)
    return false;
  for (size_t k = 0; k < kernels->size(); ++k) {
    const json &entry = (*kernels)[k];
    std::string path = "SCHEDULE.kernels[" + std::to_string(k) + "]";
    Kernel kernel;
    if (!v.getObject(entry, path) ||
        !v.getString(entry, "symbol", path, kernel.symbol) ||
        !v.getTensorTypes(entry, "arguments", path,
                          MOERT_BUNDLE_MAX_KERNEL_ARGS, kernel.arguments) ||
        !v.getTensorTypes(entry, "results", path, MOERT_BUNDLE_MAX_KERNEL_ARGS,
                          kernel.results))
      return false;
    if (kernel.arguments.size() + kernel.results.size() >
        MOERT_BUNDLE_MAX_KERNEL_ARGS)
      return v.fail(path, "more than " +
                              std::to_string(MOERT_BUNDLE_MAX_KERNEL_ARGS) +
                              " arguments and results");
    bundle.kernels.push_back(std::move(kernel));
  }

  const json *programs = v.getArray(schedule, "programs", "SCHEDULE",
                                    MOERT_BUNDLE_MAX_FUNCTIONS);
  if (!programs)
    return false;
  if (programs->size() != bundle.functions.size())
    return v.fail("SCHEDULE.programs",
                  std::to_string(programs->size()) + " programs for " +
                      std::to_string(bundle.functions.size()) +
                      " manifest functions");
  for (size_t p = 0; p < programs->size(); ++p) {
    const json &entry = (*programs)[p];
    const Function &function = bundle.functions[p];
    std::string path = "SCHEDULE.programs[" + std::to_string(p) + "]";
    Program program;
    std::string name;
    if (!v.getObject(entry, path) ||
        !v.getString(entry, "function", path, name))
      return false;
    if (name != function.name)
      return v.fail(path + ".function",
                    "\"" + name + "\" but manifest function " +
                        std::to_string(p) + " is \"" + function.name + "\"");
    if (!v.getTensorTypes(entry, "buffers", path, MOERT_BUNDLE_MAX_BUFFERS,
                          program.buffers))
      return false;
    // The runtime runs a composition's models (their own programs): its
    // program is empty.
    if (function.isComposition) {
      const json *commands =
          v.getArray(entry, "commands", path, MOERT_BUNDLE_MAX_COMMANDS);
      if (!commands)
        return false;
      if (!program.buffers.empty() || !commands->empty())
        return v.fail(path, "the program of composition \"" + function.name +
                                "\" must have no buffers and no commands");
      bundle.programs.push_back(std::move(program));
      continue;
    }
    // Optional memory tier of each buffer: "hbm" (the default, the device's
    // memory) or "host".
    program.hostTier.assign(program.buffers.size(), false);
    for (size_t b = 0; b < program.buffers.size(); ++b) {
      const json &buffer = entry["buffers"][b];
      if (!buffer.contains("tier"))
        continue;
      std::string at = path + ".buffers[" + std::to_string(b) + "]";
      std::string tier;
      if (!v.getString(buffer, "tier", at, tier))
        return false;
      if (tier != "host" && tier != "hbm")
        return v.fail(at + ".tier", "unknown memory tier \"" + tier +
                                        "\" (expected \"host\" or \"hbm\")");
      program.hostTier[b] = tier == "host";
    }
    const json *commands =
        v.getArray(entry, "commands", path, MOERT_BUNDLE_MAX_COMMANDS);
    if (!commands)
      return false;

    // Dataflow: each buffer defined once before use; inputs bound and
    // outputs written exactly once.
    enum class State { Undefined, Allocated, KernelResult };
    std::vector<State> state(program.buffers.size(), State::Undefined);
    std::vector<bool> bound(function.inputs.size(), false);
    std::vector<bool> written(function.outputs.size(), false);
    size_t bufferCount = program.buffers.size();

    auto checkDefined = [&](uint32_t buffer, const std::string &at) {
      if (state[buffer] == State::Undefined)
        return v.fail(at, "buffer " + std::to_string(buffer) +
                              " is used before it is defined");
      return true;
    };
    auto checkType = [&](uint32_t buffer, const TensorType &expected,
                         const std::string &at, const std::string &what) {
      const TensorType &actual = program.buffers[buffer];
      if (actual != expected)
        return v.fail(at, "buffer " + std::to_string(buffer) + " is " +
                              actual.str() + " but " + what + " is " +
                              expected.str());
      return true;
    };

    for (size_t c = 0; c < commands->size(); ++c) {
      const json &cmd = (*commands)[c];
      std::string at = path + ".commands[" + std::to_string(c) + "]";
      std::string kindName;
      if (!v.getObject(cmd, at) || !v.getString(cmd, "command", at, kindName))
        return false;
      uint32_t kind = moert_bundle_command_kind_parse(kindName.c_str());
      if (kind == 0)
        return v.fail(at + ".command", "unknown command \"" + kindName + "\"");
      Command command;
      command.kind = static_cast<moert_bundle_command_kind_t>(kind);
      switch (command.kind) {
      case MOERT_BUNDLE_COMMAND_ALLOCATE:
        if (!v.getMemberIndex(cmd, "buffer", at, bufferCount, command.buffer))
          return false;
        if (state[command.buffer] != State::Undefined)
          return v.fail(at, "buffer " + std::to_string(command.buffer) +
                                " is defined twice");
        state[command.buffer] = State::Allocated;
        break;
      case MOERT_BUNDLE_COMMAND_BIND_INPUT:
        if (!v.getMemberIndex(cmd, "input", at, function.inputs.size(),
                              command.index) ||
            !v.getMemberIndex(cmd, "buffer", at, bufferCount, command.buffer))
          return false;
        if (state[command.buffer] != State::Allocated)
          return v.fail(at, "bind_input needs an allocated buffer, buffer " +
                                std::to_string(command.buffer) + " is not");
        if (bound[command.index])
          return v.fail(at, "input " + std::to_string(command.index) +
                                " is bound twice");
        bound[command.index] = true;
        if (!checkType(command.buffer, function.inputs[command.index].type, at,
                       "input \"" + function.inputs[command.index].name + "\""))
          return false;
        break;
      case MOERT_BUNDLE_COMMAND_OUTPUT:
        if (!v.getMemberIndex(cmd, "output", at, function.outputs.size(),
                              command.index) ||
            !v.getMemberIndex(cmd, "buffer", at, bufferCount, command.buffer) ||
            !checkDefined(command.buffer, at))
          return false;
        if (program.hostTier[command.buffer])
          return v.fail(at, "buffer " + std::to_string(command.buffer) +
                                " lives in host memory (tier \"host\") and "
                                "cannot be an output");
        if (written[command.index])
          return v.fail(at, "output " + std::to_string(command.index) +
                                " is written twice");
        written[command.index] = true;
        if (!checkType(command.buffer, function.outputs[command.index].type,
                       at,
                       "output \"" + function.outputs[command.index].name +
                           "\""))
          return false;
        break;
      case MOERT_BUNDLE_COMMAND_CALL: {
        if (!v.getMemberIndex(cmd, "kernel", at, bundle.kernels.size(),
                              command.index))
          return false;
        const Kernel &kernel = bundle.kernels[command.index];
        for (auto [key, list, types] :
             {std::tuple<const char *, std::vector<uint32_t> *,
                         const std::vector<TensorType> *>{
                  "arguments", &command.arguments, &kernel.arguments},
              {"results", &command.results, &kernel.results}}) {
          const json *ids =
              v.getArray(cmd, key, at, MOERT_BUNDLE_MAX_KERNEL_ARGS);
          if (!ids)
            return false;
          if (ids->size() != types->size())
            return v.fail(at + "." + key,
                          std::to_string(ids->size()) + " buffers but kernel " +
                              kernel.symbol + " has " +
                              std::to_string(types->size()) + " " + key);
          for (size_t i = 0; i < ids->size(); ++i) {
            std::string idAt = at + "." + key + "[" + std::to_string(i) + "]";
            uint32_t id = 0;
            if (!v.getIndex((*ids)[i], idAt, bufferCount, id) ||
                !checkType(id, (*types)[i], idAt,
                           std::string(key == std::string("arguments")
                                           ? "argument "
                                           : "result ") +
                               std::to_string(i) + " of " + kernel.symbol))
              return false;
            list->push_back(id);
          }
        }
        for (uint32_t id : command.arguments)
          if (!checkDefined(id, at + ".arguments"))
            return false;
        for (uint32_t id : command.results) {
          if (state[id] != State::Undefined)
            return v.fail(at + ".results", "buffer " + std::to_string(id) +
                                               " is defined twice");
          if (program.hostTier[id])
            return v.fail(at + ".results",
                          "buffer " + std::to_string(id) +
                              " lives in host memory (tier \"host\") and "
                              "cannot hold a kernel result");
          state[id] = State::KernelResult;
        }
        break;
      }
      }
      program.commands.push_back(std::move(command));
    }
    for (size_t i = 0; i < bound.size(); ++i)
      if (!bound[i])
        return v.fail(path, "input " + std::to_string(i) + " (\"" +
                                function.inputs[i].name + "\") is never bound");
    for (size_t i = 0; i < written.size(); ++i)
      if (!written[i])
        return v.fail(path, "output " + std::to_string(i) + " (\"" +
                                function.outputs[i].name +
                                "\") is never written");
    bundle.programs.push_back(std::move(program));
  }
  return true;
}

bool parseReference(const json &reference, Bundle &bundle,
                    std::string &error) {
  Validator v(error);
  const json *programs = v.getArray(reference, "programs", "REFERENCE",
                                    MOERT_BUNDLE_MAX_FUNCTIONS);
  if (!programs)
    return false;
  for (size_t p = 0; p < programs->size(); ++p) {
    const json &program = (*programs)[p];
    std::string path = "REFERENCE.programs[" + std::to_string(p) + "]";
    std::string name;
    if (!v.getObject(program, path) ||
        !v.getString(program, "function", path, name))
      return false;
    auto it = std::find_if(bundle.functions.begin(), bundle.functions.end(),
                           [&](const Function &f) { return f.name == name; });
    if (it == bundle.functions.end())
      return v.fail(path + ".function",
                    "no manifest function \"" + name + "\"");
    if (!it->reference.empty())
      return v.fail(path + ".function",
                    "a second program for \"" + name + "\"");
    it->reference = program.dump();
  }
  return true;
}

/// Reads a little-endian integer of type T at `offset` of `image` (in bounds).
template <typename T>
T readInteger(const std::vector<uint8_t> &image, uint64_t offset) {
  T value;
  std::memcpy(&value, image.data() + offset, sizeof(T));
  return value;
}

/// Checks that the program header table and every segment's file bytes lie
/// inside the image. The dynamic loader maps segments straight from the file
/// and reads them without checking the file's size, so a truncated or
/// corrupted image would otherwise end the process with SIGBUS inside dlopen
/// instead of giving an error.
bool checkElfLayout(const std::vector<uint8_t> &image, std::string &error) {
  const uint64_t size = image.size();
  const uint64_t phoff = readInteger<uint64_t>(image, 32);
  const uint16_t phentsize = readInteger<uint16_t>(image, 54);
  const uint16_t phnum = readInteger<uint16_t>(image, 56);
  const uint64_t kPhdrSize = 56; // sizeof(Elf64_Phdr)
  if (phnum == 0)
    return true; // nothing to map: dlopen reports it
  if (phentsize != kPhdrSize || phoff > size ||
      uint64_t(phnum) * kPhdrSize > size - phoff) {
    error = "KERNELS section is a truncated or corrupt ELF shared object: "
            "its program header table [" +
            std::to_string(phoff) + ", +" +
            std::to_string(uint64_t(phnum) * phentsize) +
            ") lies outside the " + std::to_string(size) + "-byte image";
    return false;
  }
  for (uint16_t i = 0; i < phnum; ++i) {
    uint64_t entry = phoff + uint64_t(i) * kPhdrSize;
    uint64_t offset = readInteger<uint64_t>(image, entry + 8);
    uint64_t fileSize = readInteger<uint64_t>(image, entry + 32);
    if (offset > size || fileSize > size - offset) {
      error = "KERNELS section is a truncated or corrupt ELF shared object: "
              "segment " +
              std::to_string(i) + " [" + std::to_string(offset) + ", +" +
              std::to_string(fileSize) + ") lies outside the " +
              std::to_string(size) + "-byte image";
      return false;
    }
  }
  return true;
}

/// Checks that the KERNELS image is an x86-64 little-endian ELF shared object
/// whose segments lie inside it (cpu kernels, or the host code of CUDA ones).
bool checkHostKernelImage(const std::vector<uint8_t> &image,
                         std::string &error) {
  // e_ident (16) + e_type (2) + e_machine (2).
  if (image.size() < 64 || std::memcmp(image.data(), "\x7f" "ELF", 4) != 0) {
    error = "KERNELS section is not an ELF shared object";
    return false;
  }
  uint16_t type = 0, machine = 0;
  std::memcpy(&type, image.data() + 16, 2);
  std::memcpy(&machine, image.data() + 18, 2);
  if (image[4] != 2 /*ELFCLASS64*/ || image[5] != 1 /*ELFDATA2LSB*/ ||
      machine != 62 /*EM_X86_64*/ || type != 3 /*ET_DYN*/) {
    error = "KERNELS section is not an x86-64 ELF shared object";
    return false;
  }
  return checkElfLayout(image, error);
}

} // namespace

bool parseBundle(const uint8_t *data, size_t size, Bundle &bundle,
                 std::string &error) {
  bundle = Bundle();
  if (size == 0) {
    error = "empty (not a bundle)";
    return false;
  }
  if (!data) {
    error = "no data";
    return false;
  }
  if (size < MOERT_BUNDLE_MAGIC_SIZE ||
      std::memcmp(data, MOERT_BUNDLE_MAGIC, MOERT_BUNDLE_MAGIC_SIZE) != 0) {
    error = "not a bundle (wrong magic; expected \"" MOERT_BUNDLE_MAGIC "\")";
    return false;
  }
  if (size < MOERT_BUNDLE_HEADER_SIZE) {
    error = "truncated: " + std::to_string(size) +
            " bytes, shorter than the " +
            std::to_string(MOERT_BUNDLE_HEADER_SIZE) + "-byte header";
    return false;
  }
  moert_bundle_header_t header;
  std::memcpy(&header, data, sizeof(header));
  if (header.version != MOERT_BUNDLE_FORMAT_VERSION) {
    error = "format version " + std::to_string(header.version) +
            ", this runtime reads version " +
            std::to_string(MOERT_BUNDLE_FORMAT_VERSION);
    return false;
  }
  if (header.file_size != size) {
    error = header.file_size > size
                ? "truncated: " + std::to_string(size) + " of " +
                      std::to_string(header.file_size) + " bytes"
                : "size mismatch: the header says " +
                      std::to_string(header.file_size) + " bytes, got " +
                      std::to_string(size);
    return false;
  }
  if (header.flags != 0 || header.reserved != 0) {
    error = "reserved header fields are not zero";
    return false;
  }
  const char *targetEnd = static_cast<const char *>(
      std::memchr(header.target, 0, MOERT_BUNDLE_TARGET_SIZE));
  if (!targetEnd || targetEnd == header.target) {
    error = "the header's target is empty or not zero-terminated";
    return false;
  }
  bundle.target.assign(static_cast<const char *>(header.target), targetEnd);
  for (unsigned char c : bundle.target)
    if (c <= 0x20 || c >= 0x7f) {
      error = "the header's target has a non-printable character";
      return false;
    }
  if (header.section_count == 0 ||
      header.section_count > MOERT_BUNDLE_MAX_SECTIONS) {
    error = "section count " + std::to_string(header.section_count) +
            " is not between 1 and " +
            std::to_string(MOERT_BUNDLE_MAX_SECTIONS);
    return false;
  }
  uint64_t tableEnd = MOERT_BUNDLE_HEADER_SIZE +
                      uint64_t(header.section_count) *
                          MOERT_BUNDLE_SECTION_ENTRY_SIZE;
  if (tableEnd > size) {
    error = "the section table runs past the end of the bundle";
    return false;
  }

  // Section table: known kinds, each once, inside the file, disjoint.
  std::vector<moert_bundle_section_t> sections(header.section_count);
  const moert_bundle_section_t *byKind[MOERT_BUNDLE_SECTION_REFERENCE + 1] = {};
  for (uint32_t i = 0; i < header.section_count; ++i) {
    moert_bundle_section_t &entry = sections[i];
    std::memcpy(&entry,
                data + MOERT_BUNDLE_HEADER_SIZE +
                    size_t(i) * MOERT_BUNDLE_SECTION_ENTRY_SIZE,
                sizeof(entry));
    std::string at = "section " + std::to_string(i);
    const char *name = moert_bundle_section_kind_name(entry.kind);
    if (!name) {
      error = at + " has unknown kind " + std::to_string(entry.kind);
      return false;
    }
    at += " (" + std::string(name) + ")";
    if (entry.reserved != 0) {
      error = at + ": reserved field is not zero";
      return false;
    }
    uint64_t end = 0;
    if (entry.offset < tableEnd ||
        __builtin_add_overflow(entry.offset, entry.size, &end) || end > size) {
      error = at + " [" + std::to_string(entry.offset) + ", +" +
              std::to_string(entry.size) +
              ") lies outside the bundle's data (" + std::to_string(tableEnd) +
              " to " + std::to_string(size) + ")";
      return false;
    }
    if (byKind[entry.kind]) {
      error = "two " + std::string(name) + " sections";
      return false;
    }
    byKind[entry.kind] = &entry;
  }
  std::vector<const moert_bundle_section_t *> ordered;
  for (const moert_bundle_section_t &entry : sections)
    ordered.push_back(&entry);
  std::sort(ordered.begin(), ordered.end(),
            [](auto *a, auto *b) { return a->offset < b->offset; });
  for (size_t i = 1; i < ordered.size(); ++i)
    if (ordered[i - 1]->offset + ordered[i - 1]->size > ordered[i]->offset) {
      error = std::string("sections ") +
              moert_bundle_section_kind_name(ordered[i - 1]->kind) + " and " +
              moert_bundle_section_kind_name(ordered[i]->kind) + " overlap";
      return false;
    }
  for (uint32_t kind : {MOERT_BUNDLE_SECTION_MANIFEST,
                        MOERT_BUNDLE_SECTION_KERNELS,
                        MOERT_BUNDLE_SECTION_SCHEDULE})
    if (!byKind[kind]) {
      error = std::string("no ") + moert_bundle_section_kind_name(kind) +
              " section";
      return false;
    }

  const moert_bundle_section_t &kernels = *byKind[MOERT_BUNDLE_SECTION_KERNELS];
  if (kernels.size > MOERT_BUNDLE_MAX_KERNELS_BYTES) {
    error = "KERNELS section is larger than the limit";
    return false;
  }

  try {
    json manifest, schedule, reference;
    if (!parseJsonSection(data, *byKind[MOERT_BUNDLE_SECTION_MANIFEST],
                          manifest, error) ||
        !parseManifest(manifest, bundle.target, bundle, error) ||
        !parseJsonSection(data, *byKind[MOERT_BUNDLE_SECTION_SCHEDULE],
                          schedule, error) ||
        !parseSchedule(schedule, bundle, error))
      return false;
    if (const moert_bundle_section_t *entry =
            byKind[MOERT_BUNDLE_SECTION_REFERENCE])
      if (!parseJsonSection(data, *entry, reference, error) ||
          !parseReference(reference, bundle, error))
        return false;
  } catch (const std::exception &e) {
    error = std::string("malformed JSON content: ") + e.what();
    return false;
  }

  bool cudaTarget =
      bundle.target.rfind(MOERT_BUNDLE_TARGET_CUDA_PREFIX, 0) == 0;
  unsigned sm = 0;
  int archSpecific = 0;
  if (cudaTarget && !moert_bundle_target_parse_cuda(bundle.target.c_str(), &sm,
                                                    &archSpecific)) {
    error = "target \"" + bundle.target +
            "\" is no CUDA target of the form cuda-sm_<NN>[a] (e.g. "
            "cuda-sm_90a)";
    return false;
  }
  bundle.kernelImage.assign(data + kernels.offset,
                            data + kernels.offset + kernels.size);
  if ((cudaTarget || bundle.target == MOERT_BUNDLE_TARGET_CPU_X86_64) &&
      !checkHostKernelImage(bundle.kernelImage, error))
    return false;
  // Only the ranks of a multi-rank world compare fingerprints: a
  // single-rank load does not pay for hashing the file.
  if (bundle.worldSize > 1) {
    uint64_t hash = 0xcbf29ce484222325ull; // FNV-1a, 64 bits
    for (size_t i = 0; i < size; ++i)
      hash = (hash ^ data[i]) * 0x100000001b3ull;
    bundle.fingerprint = hash;
  }
  return true;
}

} // namespace moert
