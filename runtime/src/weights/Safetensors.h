//===- Safetensors.h - Reading and writing safetensors files ----*- C++ -*-===//
//
// The safetensors format: an 8-byte little-endian header length N, N bytes of
// UTF-8 JSON
//
//   {"<tensor name>": {"dtype": "F32", "shape": [2, 3],
//                      "data_offsets": [begin, end]},
//    ...,
//    "__metadata__": {"<key>": "<string value>", ...}}      (optional)
//
// then the data section; `data_offsets` are byte offsets into the data section
// (relative to its start, end exclusive), tensors are dense row-major,
// little-endian.
//
// Tensors may come in any order and leave gaps in the data section (the
// reference implementation insists on packed offsets; this reader only
// rejects overlap), and zero-sized tensors may share an offset.
//
// The reader maps the file read-only and validates the whole header before
// anything can be read: every error is reported as a message naming the file
// (and the tensor), never as an exception, an assert or an out-of-bounds read.
// One thing no check can prevent: another process truncating the file while
// it is mapped (reads of the lost pages then fault), as with every mmap reader.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_WEIGHTS_SAFETENSORS_H
#define MOERT_WEIGHTS_SAFETENSORS_H

#include "DType.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace moert {

/// Largest JSON header the reader accepts (as the reference implementation).
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100000000;

/// One tensor of an opened file, as validated from its header entry.
struct SafetensorsTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  /// Product of `shape` (1 for a scalar, 0 when a dimension is 0).
  uint64_t numElements = 0;
  /// Offset of the first byte from the start of the data section.
  uint64_t dataBegin = 0;
  /// numElements * dtypeSize(dtype).
  uint64_t byteSize = 0;
};

/// An opened, validated safetensors file, mapped read-only until destroyed.
/// Not copyable; safe to read from several threads at once.
class SafetensorsFile {
public:
  /// Opens, maps and validates `path`. On failure returns nullptr and sets
  /// `error` to a message starting with the path.
  static std::unique_ptr<SafetensorsFile> open(const std::string &path,
                                               std::string &error);

  /// Validates the `size` bytes at `data` (copied; the caller keeps `data`)
  /// exactly as open() validates a file; `name` stands for the path in
  /// path() and in messages. For loaders that get the bytes from elsewhere,
  /// and for the fuzzer.
  static std::unique_ptr<SafetensorsFile>
  openFromMemory(const void *data, size_t size, const std::string &name,
                 std::string &error);

  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile &) = delete;
  SafetensorsFile &operator=(const SafetensorsFile &) = delete;

  /// The path the file was opened with (openFromMemory: its `name`).
  const std::string &path() const { return path_; }

  /// Every tensor, sorted by name.
  const std::vector<SafetensorsTensor> &tensors() const { return tensors_; }

  /// The tensor named `name`, or nullptr.
  const SafetensorsTensor *find(std::string_view name) const;

  /// The "__metadata__" entries (empty when the file has none).
  const std::map<std::string, std::string> &metadata() const {
    return metadata_;
  }

  /// The tensor's `byteSize` bytes, inside the mapping (valid while this
  /// object lives). The pointer may be unaligned: copy elements with memcpy or
  /// convertElements rather than dereferencing typed pointers.
  const void *data(const SafetensorsTensor &tensor) const;

  /// Size of the whole file in bytes.
  uint64_t fileSize() const { return fileSize_; }

private:
  SafetensorsFile() = default;

  /// Validates the header of the `fileSize_` bytes at `mapping_`.
  bool parse(std::string &error);

  std::string path_;
  std::vector<SafetensorsTensor> tensors_;
  std::map<std::string, std::string> metadata_;
  const unsigned char *mapping_ = nullptr;
  /// True when mapping_ is an mmap of the file; false when it points into
  /// owned_ (openFromMemory).
  bool mapped_ = false;
  std::vector<unsigned char> owned_;
  uint64_t fileSize_ = 0;
  uint64_t dataStart_ = 0; // 8 + N
};

/// A tensor to write: `data` holds product(shape) * dtypeSize(dtype) bytes,
/// dense row-major (may be null when that is 0). Borrowed, not copied.
struct SafetensorsTensorRef {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void *data = nullptr;
};

/// Writes `tensors` (in the given order, packed) and `metadata` to `path` in
/// the layout the reference safetensors implementation reads: compact JSON
/// header padded with spaces to a multiple of 8 bytes, data offsets contiguous
/// from 0. Writes a temporary file beside `path` and renames it over `path`,
/// so a failed write leaves no partial file. Rejects duplicate or reserved
/// ("__metadata__") names, names or metadata that are not valid UTF-8,
/// negative dimensions, size overflow and null data.
/// On failure returns false with `error` naming the path (and the tensor).
[[nodiscard]] bool
writeSafetensors(const std::string &path,
                 const std::vector<SafetensorsTensorRef> &tensors,
                 const std::map<std::string, std::string> &metadata,
                 std::string &error);

} // namespace moert

#endif // MOERT_WEIGHTS_SAFETENSORS_H
