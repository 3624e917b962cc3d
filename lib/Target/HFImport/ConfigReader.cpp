//===- ConfigReader.cpp - typed, diagnosed access to a config.json --------===//

#include "ConfigReader.h"

#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Regex.h"

#include <cmath>

using namespace mlir;
using namespace mlir::moe::hf;
namespace json = llvm::json;

/// Byte offsets of the keys of the top-level object of `text`, which must be
/// valid JSON. Keys written with escapes are recorded as written. Sets
/// `duplicate` to the offset of the first key written twice, if any.
static llvm::StringMap<size_t>
findTopLevelKeys(StringRef text, std::optional<size_t> *duplicate = nullptr) {
  llvm::StringMap<size_t> offsets;
  int depth = 0;
  bool expectKey = false;
  for (size_t i = 0, e = text.size(); i < e; ++i) {
    char c = text[i];
    if (c == '"') {
      size_t start = i++;
      while (i < e && text[i] != '"')
        i += text[i] == '\\' ? 2 : 1;
      if (depth == 1 && expectKey &&
          !offsets.try_emplace(text.slice(start + 1, std::min(i, e)), start)
               .second &&
          duplicate && !*duplicate)
        *duplicate = start;
      expectKey = false;
      continue;
    }
    if (c == '{' || c == '[') {
      ++depth;
      expectKey = depth == 1 && c == '{';
    } else if (c == '}' || c == ']') {
      --depth;
    } else if (c == ',' && depth == 1) {
      expectKey = true;
    }
  }
  return offsets;
}

/// The deepest nesting of arrays and objects in `text` (which need not be
/// valid JSON), or the offset where it first exceeds `limit`.
static std::optional<size_t> findTooDeepNesting(StringRef text, int limit) {
  int depth = 0;
  for (size_t i = 0, e = text.size(); i < e; ++i) {
    char c = text[i];
    if (c == '"') {
      for (++i; i < e && text[i] != '"';)
        i += text[i] == '\\' ? 2 : 1;
    } else if (c == '{' || c == '[') {
      if (++depth > limit)
        return i;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return std::nullopt;
}

/// How a JSON value reads in a message: short values verbatim, containers by
/// kind.
static std::string describe(const json::Value &value) {
  switch (value.kind()) {
  case json::Value::Null:
    return "null";
  case json::Value::Array:
    return "an array";
  case json::Value::Object:
    return "an object";
  case json::Value::String: {
    StringRef string = *value.getAsString();
    if (string.size() > 40)
      return "a string";
    return llvm::formatv("{0}", value).str();
  }
  case json::Value::Boolean:
  case json::Value::Number:
    return llvm::formatv("{0}", value).str();
  }
  return "a value";
}

ConfigReader::ConfigReader(MLIRContext *context, StringRef fileName,
                           StringRef text, json::Object object)
    : context(context), fileName(fileName.str()), text(text),
      object(std::move(object)), keyOffsets(findTopLevelKeys(text)) {}

std::optional<ConfigReader> ConfigReader::parse(MLIRContext *context,
                                                StringRef fileName,
                                                StringRef text) {
  // llvm::json parses recursively: refuse nesting that could exhaust the
  // stack (real configs nest a few levels).
  constexpr int kMaxNesting = 64;
  if (std::optional<size_t> offset = findTooDeepNesting(text, kMaxNesting)) {
    ConfigReader reader(context, fileName, text, json::Object());
    mlir::emitError(reader.offsetLoc(*offset))
        << "malformed JSON in Hugging Face config: arrays and objects nest "
           "deeper than "
        << kMaxNesting << " levels";
    return std::nullopt;
  }
  llvm::Expected<json::Value> parsed = json::parse(text);
  if (!parsed) {
    std::string message = llvm::toString(parsed.takeError());
    // json::ParseError prints "[line:column, byte=offset]: message", where
    // the offset is just past the character the parser stumbled on.
    llvm::Regex format("^\\[[0-9]+:[0-9]+, byte=([0-9]+)\\]: (.*)$");
    SmallVector<StringRef, 3> groups;
    size_t offset = 0;
    if (format.match(message, &groups)) {
      if (groups[1].getAsInteger(10, offset) || offset > text.size())
        offset = 0;
      offset -= offset > 0;
      message = groups[2].str();
    }
    ConfigReader reader(context, fileName, text, json::Object());
    mlir::emitError(reader.offsetLoc(offset))
        << "malformed JSON in Hugging Face config: " << message;
    return std::nullopt;
  }
  json::Object *object = parsed->getAsObject();
  if (!object) {
    ConfigReader reader(context, fileName, text, json::Object());
    mlir::emitError(reader.fileLoc())
        << "a Hugging Face config must be a JSON object, got "
        << describe(*parsed);
    return std::nullopt;
  }
  // llvm::json keeps one of two equal keys and Python's json the last: a
  // config that says two things is an error, not a guess.
  std::optional<size_t> duplicate;
  findTopLevelKeys(text, &duplicate);
  ConfigReader reader(context, fileName, text, std::move(*object));
  if (duplicate) {
    StringRef key = text.drop_front(*duplicate + 1).take_until(
        [](char c) { return c == '"'; });
    mlir::emitError(reader.offsetLoc(*duplicate))
        << "config key '" << key << "' is given twice";
    return std::nullopt;
  }
  return reader;
}

Location ConfigReader::offsetLoc(size_t offset) const {
  StringRef before = text.take_front(offset);
  unsigned line = 1 + before.count('\n');
  size_t lineStart = before.rfind('\n');
  unsigned column =
      1 + (lineStart == StringRef::npos ? offset : offset - lineStart - 1);
  return FileLineColLoc::get(context, fileName, line, column);
}

Location ConfigReader::fileLoc() const { return offsetLoc(0); }

Location ConfigReader::optionLoc() const {
  return FileLineColLoc::get(context, fileName, 0, 0);
}

Location ConfigReader::keyLoc(StringRef key) const {
  auto it = keyOffsets.find(key);
  if (it == keyOffsets.end())
    return fileLoc();
  return offsetLoc(it->second);
}

bool ConfigReader::has(StringRef key) const {
  const json::Value *value = object.get(key);
  return value && value->kind() != json::Value::Null;
}

FailureOr<const json::Value *> ConfigReader::lookup(StringRef key,
                                                    bool required) {
  understood.insert(key);
  const json::Value *value = object.get(key);
  if (value && value->kind() != json::Value::Null)
    return value;
  if (!required)
    return static_cast<const json::Value *>(nullptr);
  if (value)
    return emitError(key) << "config key '" << key
                          << "' is required but is null";
  return emitError(key) << "missing required config key '" << key << "'";
}

LogicalResult ConfigReader::typeError(StringRef key, StringRef expected,
                                      const json::Value &value) const {
  return emitError(key) << "config key '" << key << "' must be " << expected
                        << ", got " << describe(value);
}

LogicalResult ConfigReader::readInteger(StringRef key, int64_t &value,
                                        bool required, int64_t minimum) {
  FailureOr<const json::Value *> found = lookup(key, required);
  if (failed(found))
    return failure();
  if (!*found)
    return success();
  StringRef expected =
      minimum > 0 ? "a positive integer" : "a non-negative integer";
  std::optional<int64_t> integer = (*found)->getAsInteger();
  if (!integer || (*found)->kind() != json::Value::Number)
    return typeError(key, expected, **found);
  if (*integer < minimum)
    return typeError(key, expected, **found);
  if (*integer > kMaxSize)
    return emitError(key) << "config key '" << key << "' is too large: "
                          << *integer << " (at most " << kMaxSize << ")";
  value = *integer;
  return success();
}

LogicalResult ConfigReader::readSize(StringRef key, int64_t &value,
                                     bool required) {
  return readInteger(key, value, required, /*minimum=*/1);
}

LogicalResult ConfigReader::readCount(StringRef key, int64_t &value,
                                      bool required) {
  return readInteger(key, value, required, /*minimum=*/0);
}

LogicalResult ConfigReader::readBool(StringRef key, bool &value) {
  FailureOr<const json::Value *> found = lookup(key, /*required=*/false);
  if (failed(found))
    return failure();
  if (!*found)
    return success();
  std::optional<bool> boolean = (*found)->getAsBoolean();
  if (!boolean)
    return typeError(key, "a boolean", **found);
  value = *boolean;
  return success();
}

LogicalResult ConfigReader::readNumber(StringRef key, double &value) {
  FailureOr<const json::Value *> found = lookup(key, /*required=*/false);
  if (failed(found))
    return failure();
  if (!*found)
    return success();
  std::optional<double> number = (*found)->getAsNumber();
  if (!number)
    return typeError(key, "a number", **found);
  if (!std::isfinite(*number))
    return typeError(key, "a finite number", **found);
  value = *number;
  return success();
}

LogicalResult ConfigReader::readString(StringRef key, std::string &value,
                                       bool required) {
  FailureOr<const json::Value *> found = lookup(key, required);
  if (failed(found))
    return failure();
  if (!*found)
    return success();
  std::optional<StringRef> string = (*found)->getAsString();
  if (!string)
    return typeError(key, "a string", **found);
  value = string->str();
  return success();
}

LogicalResult ConfigReader::readIndexList(StringRef key,
                                          SmallVectorImpl<int64_t> &value) {
  FailureOr<const json::Value *> found = lookup(key, /*required=*/false);
  if (failed(found))
    return failure();
  if (!*found)
    return success();
  const json::Array *array = (*found)->getAsArray();
  if (!array)
    return typeError(key, "an array of non-negative integers", **found);
  SmallVector<int64_t> indices;
  for (const json::Value &element : *array) {
    std::optional<int64_t> index = element.getAsInteger();
    if (!index || *index < 0 || *index > kMaxSize)
      return emitError(key) << "config key '" << key
                            << "' must be an array of non-negative integers, "
                               "got an element "
                            << describe(element);
    indices.push_back(*index);
  }
  value.assign(indices.begin(), indices.end());
  return success();
}

void ConfigReader::warnAboutIgnoredKeys() const {
  SmallVector<std::string> ignored;
  for (const auto &entry : object)
    if (!understood.contains(StringRef(entry.first)))
      ignored.push_back(StringRef(entry.first).str());
  if (ignored.empty())
    return;
  llvm::sort(ignored);
  mlir::emitWarning(fileLoc())
      << "ignored config keys: " << llvm::join(ignored, ", ");
}
