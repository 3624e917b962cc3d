//===- ConfigReader.h - typed access to a config.json -----------*- C++ -*-===//
//
// Reads the top-level keys of a Hugging Face config.json with the type each
// key must have. Every problem (malformed JSON, a missing key, a wrong type, a
// value out of range) becomes an error at the key's line and column in the
// file; nothing asserts. The reader remembers which keys were understood, so
// the rest can be reported instead of silently dropped.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_TARGET_HFIMPORT_CONFIGREADER_H
#define MOE_LIB_TARGET_HFIMPORT_CONFIGREADER_H

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/JSON.h"

#include <cstdint>
#include <optional>
#include <string>

namespace mlir::moe::hf {

/// The largest size, count or index a key or option may hold. Keeps every
/// product of two sizes inside int64.
inline constexpr int64_t kMaxSize = (int64_t{1} << 31) - 1;

class ConfigReader {
public:
  /// Parses `text` (the contents of `fileName`). Returns std::nullopt after an
  /// error diagnostic when the text is not JSON or not a JSON object.
  static std::optional<ConfigReader> parse(MLIRContext *context,
                                           StringRef fileName, StringRef text);

  /// The start of the file, for problems of the whole config.
  Location fileLoc() const;
  /// The file without a line, for problems of the options it is read with.
  Location optionLoc() const;
  /// Where `key` is written (its opening quote), or the start of the file.
  Location keyLoc(StringRef key) const;
  InFlightDiagnostic emitError(StringRef key) const {
    return mlir::emitError(keyLoc(key));
  }

  /// Whether `key` is present with a non-null value.
  bool has(StringRef key) const;

  // Readers. Each one marks `key` as understood. An absent or null optional
  // key leaves `value` unchanged (holding its default); a required one is an
  // error.

  /// An integer in [1, kMaxSize].
  LogicalResult readSize(StringRef key, int64_t &value, bool required);
  /// An integer in [0, kMaxSize].
  LogicalResult readCount(StringRef key, int64_t &value, bool required);
  LogicalResult readBool(StringRef key, bool &value);
  /// A finite number.
  LogicalResult readNumber(StringRef key, double &value);
  LogicalResult readString(StringRef key, std::string &value, bool required);
  /// An array of integers in [0, kMaxSize].
  LogicalResult readIndexList(StringRef key, SmallVectorImpl<int64_t> &value);

  /// Marks `key` as understood without reading it (known, but irrelevant to
  /// the MoE block).
  void markKnown(StringRef key) { understood.insert(key); }

  /// Emits one warning listing the keys nobody marked as understood, sorted;
  /// nothing when every key was understood.
  void warnAboutIgnoredKeys() const;

private:
  ConfigReader(MLIRContext *context, StringRef fileName, StringRef text,
               llvm::json::Object object);
  /// Line and column (1-based) of byte `offset` of the text.
  Location offsetLoc(size_t offset) const;
  /// The value of `key`, or null when it is absent or JSON null; reports a
  /// missing required key.
  FailureOr<const llvm::json::Value *> lookup(StringRef key, bool required);
  /// Emits "config key 'key' must be <expected>, got <what value is>".
  LogicalResult typeError(StringRef key, StringRef expected,
                          const llvm::json::Value &value) const;
  LogicalResult readInteger(StringRef key, int64_t &value, bool required,
                            int64_t minimum);

  MLIRContext *context;
  std::string fileName;
  StringRef text;
  llvm::json::Object object;
  /// Byte offset of each top-level key's opening quote.
  llvm::StringMap<size_t> keyOffsets;
  llvm::StringSet<> understood;
};

} // namespace mlir::moe::hf

#endif // MOE_LIB_TARGET_HFIMPORT_CONFIGREADER_H
