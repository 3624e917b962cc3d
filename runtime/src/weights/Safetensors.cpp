//===- Safetensors.cpp - Reading and writing safetensors files ------------===//

#include "Safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace moert {

using nlohmann::json;

/// `text` quoted for a message, with control and non-ASCII bytes escaped and
/// long names shortened, so hostile names cannot garble the output.
static std::string quote(std::string_view text) {
  static const char kHex[] = "0123456789abcdef";
  constexpr size_t kMaxShown = 200;
  std::string out = "'";
  for (size_t i = 0; i < text.size() && i < kMaxShown; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out += char(c);
      continue;
    }
    out += "\\x";
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  if (text.size() > kMaxShown)
    out += "...";
  return out + "'";
}

static std::string systemError(int err) { return std::strerror(err); }

//===----------------------------------------------------------------------===//
// Reader
//===----------------------------------------------------------------------===//

namespace {
/// Thrown from the parse callback (and caught in parseHeader) to stop parsing.
struct HeaderShapeError {
  std::string message;
};

/// Tracks object keys while nlohmann parses, to reject duplicate keys (which
/// nlohmann would silently collapse) and absurd nesting.
class DuplicateKeyCheck {
public:
  bool operator()(int depth, json::parse_event_t event, json &parsed) {
    constexpr int kMaxDepth = 8; // the format needs 3
    if (depth > kMaxDepth)
      throw HeaderShapeError{"JSON nested deeper than " +
                             std::to_string(kMaxDepth) + " levels"};
    switch (event) {
    case json::parse_event_t::object_start:
      keys_.emplace_back();
      break;
    case json::parse_event_t::object_end:
      if (!keys_.empty())
        keys_.pop_back();
      break;
    case json::parse_event_t::key: {
      const auto *key = parsed.get_ptr<const std::string *>();
      if (key && !keys_.empty() && !keys_.back().insert(*key).second)
        throw HeaderShapeError{
            keys_.size() == 1 ? "duplicate tensor name " + quote(*key)
                              : "duplicate key " + quote(*key) +
                                    " inside an entry"};
      break;
    }
    default:
      break;
    }
    return true;
  }

private:
  std::vector<std::set<std::string>> keys_;
};
} // namespace

/// A JSON value as a non-negative integer that fits int64.
static bool asNonNegative(const json &value, uint64_t &out) {
  if (value.is_number_unsigned()) {
    out = value.get<uint64_t>();
    return out <= uint64_t(std::numeric_limits<int64_t>::max());
  }
  if (value.is_number_integer()) {
    int64_t signedValue = value.get<int64_t>();
    out = uint64_t(signedValue);
    return signedValue >= 0;
  }
  return false;
}

/// Validates one tensor entry; `prefix` is "<path>: tensor '<name>'".
static bool parseTensorEntry(const std::string &prefix, const json &entry,
                             uint64_t dataSize, SafetensorsTensor &tensor,
                             std::string &error) {
  if (!entry.is_object()) {
    error = prefix + ": entry is a JSON " + entry.type_name() +
            ", expected an object with dtype, shape and data_offsets";
    return false;
  }
  for (const char *key : {"dtype", "shape", "data_offsets"}) {
    if (!entry.contains(key)) {
      error = prefix + ": entry has no \"" + key + "\"";
      return false;
    }
  }

  const json &dtype = entry["dtype"];
  if (!dtype.is_string()) {
    error = prefix + ": \"dtype\" is a JSON " + dtype.type_name() +
            ", expected a string";
    return false;
  }
  const auto &dtypeName = dtype.get_ref<const std::string &>();
  if (!parseSafetensorsDType(dtypeName, tensor.dtype)) {
    error = prefix + ": unsupported dtype " + quote(dtypeName) +
            " (supported: F32, F64, BF16, F16, I32, I64, I8, U8, BOOL)";
    return false;
  }

  const json &shape = entry["shape"];
  if (!shape.is_array()) {
    error = prefix + ": \"shape\" is a JSON " + shape.type_name() +
            ", expected a list of non-negative integers";
    return false;
  }
  uint64_t numElements = 1;
  bool overflow = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    uint64_t dim;
    if (!asNonNegative(shape[i], dim)) {
      error = prefix + ": shape[" + std::to_string(i) + "] = " +
              shape[i].dump() + " is not a non-negative integer";
      return false;
    }
    tensor.shape.push_back(int64_t(dim));
    if (dim != 0 && numElements > std::numeric_limits<uint64_t>::max() / dim)
      overflow = true; // keep checking: a later 0 does not excuse it
    numElements *= dim;
  }
  const uint64_t elementSize = dtypeSize(tensor.dtype);
  if (overflow || (numElements != 0 &&
                   numElements > std::numeric_limits<uint64_t>::max() / elementSize)) {
    error = prefix + ": shape " + shape.dump() + " has more bytes than fit 64 bits";
    return false;
  }
  tensor.numElements = numElements;
  tensor.byteSize = numElements * elementSize;

  const json &offsets = entry["data_offsets"];
  uint64_t begin, end;
  if (!offsets.is_array() || offsets.size() != 2 ||
      !asNonNegative(offsets[0], begin) || !asNonNegative(offsets[1], end)) {
    error = prefix + ": \"data_offsets\" = " + offsets.dump() +
            ", expected [begin, end] with non-negative integers";
    return false;
  }
  if (begin > end) {
    error = prefix + ": data_offsets [" + std::to_string(begin) + ", " +
            std::to_string(end) + "] begin after end";
    return false;
  }
  if (end > dataSize) {
    error = prefix + ": data_offsets [" + std::to_string(begin) + ", " +
            std::to_string(end) + "] run past the data section (" +
            std::to_string(dataSize) + " bytes; is the file truncated?)";
    return false;
  }
  if (end - begin != tensor.byteSize) {
    error = prefix + ": data_offsets [" + std::to_string(begin) + ", " +
            std::to_string(end) + "] span " + std::to_string(end - begin) +
            " bytes, but shape " + shape.dump() + " of " + dtypeName +
            " needs " + std::to_string(tensor.byteSize);
    return false;
  }
  tensor.dataBegin = begin;
  return true;
}

static bool parseMetadata(const std::string &prefix, const json &value,
                          std::map<std::string, std::string> &metadata,
                          std::string &error) {
  if (!value.is_object()) {
    error = prefix + ": \"__metadata__\" is a JSON " + value.type_name() +
            ", expected an object of strings";
    return false;
  }
  for (const auto &[key, item] : value.items()) {
    if (!item.is_string()) {
      error = prefix + ": \"__metadata__\" entry " + quote(key) + " is a JSON " +
              item.type_name() + ", expected a string";
      return false;
    }
    metadata.emplace(key, item.get<std::string>());
  }
  return true;
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string &path,
                                                       std::string &error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = path + ": cannot open: " + systemError(errno);
    return nullptr;
  }
  struct stat info;
  if (::fstat(fd, &info) != 0) {
    error = path + ": cannot stat: " + systemError(errno);
    ::close(fd);
    return nullptr;
  }
  if (!S_ISREG(info.st_mode)) {
    error = path + ": not a regular file";
    ::close(fd);
    return nullptr;
  }
  const uint64_t fileSize = uint64_t(info.st_size);
  if (fileSize < 8) {
    error = path + ": file is " + std::to_string(fileSize) +
            " bytes, too short for the 8-byte header length of a safetensors file";
    ::close(fd);
    return nullptr;
  }
  if (fileSize > uint64_t(std::numeric_limits<size_t>::max())) {
    error = path + ": file too large to map";
    ::close(fd);
    return nullptr;
  }
  void *mapping = ::mmap(nullptr, size_t(fileSize), PROT_READ, MAP_PRIVATE, fd, 0);
  int mapErrno = errno;
  ::close(fd);
  if (mapping == MAP_FAILED) {
    error = path + ": cannot map: " + systemError(mapErrno);
    return nullptr;
  }

  // From here the destructor unmaps on every early return.
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->mapping_ = static_cast<const unsigned char *>(mapping);
  file->mapped_ = true;
  file->fileSize_ = fileSize;
  if (!file->parse(error))
    return nullptr;
  return file;
}

std::unique_ptr<SafetensorsFile>
SafetensorsFile::openFromMemory(const void *data, size_t size,
                                const std::string &name, std::string &error) {
  if (!data && size) {
    error = name + ": no data";
    return nullptr;
  }
  if (size < 8) {
    error = name + ": file is " + std::to_string(size) +
            " bytes, too short for the 8-byte header length of a safetensors file";
    return nullptr;
  }
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = name;
  try {
    const auto *bytes = static_cast<const unsigned char *>(data);
    file->owned_.assign(bytes, bytes + size);
  } catch (const std::exception &e) { // std::bad_alloc
    error = name + ": cannot copy " + std::to_string(size) + " bytes: " + e.what();
    return nullptr;
  }
  file->mapping_ = file->owned_.data();
  file->fileSize_ = size;
  if (!file->parse(error))
    return nullptr;
  return file;
}

bool SafetensorsFile::parse(std::string &error) {
  const std::string &path = path_;
  const uint64_t fileSize = fileSize_;

  uint64_t headerSize = 0;
  for (int i = 7; i >= 0; --i)
    headerSize = (headerSize << 8) | mapping_[i];
  if (headerSize > kSafetensorsMaxHeaderBytes) {
    error = path + ": header length " + std::to_string(headerSize) +
            " exceeds the limit of " + std::to_string(kSafetensorsMaxHeaderBytes) +
            " bytes (not a safetensors file?)";
    return false;
  }
  if (headerSize > fileSize - 8) {
    error = path + ": header length " + std::to_string(headerSize) +
            " runs past the end of the file (" + std::to_string(fileSize) +
            " bytes; truncated?)";
    return false;
  }
  if (headerSize == 0 || mapping_[8] != '{') {
    error = path + ": header does not start with '{' (not a safetensors file?)";
    return false;
  }
  dataStart_ = 8 + headerSize;
  const uint64_t dataSize = fileSize - dataStart_;

  json header;
  try {
    const char *begin = reinterpret_cast<const char *>(mapping_ + 8);
    header = json::parse(begin, begin + headerSize, DuplicateKeyCheck());
  } catch (const HeaderShapeError &e) {
    error = path + ": bad header: " + e.message;
    return false;
  } catch (const json::exception &e) {
    error = path + ": header is not valid JSON: " + e.what();
    return false;
  } catch (const std::exception &e) { // e.g. std::bad_alloc
    error = path + ": cannot parse header: " + e.what();
    return false;
  }
  if (!header.is_object()) {
    error = path + ": header is a JSON " + std::string(header.type_name()) +
            ", expected an object";
    return false;
  }

  try {
    for (const auto &[name, entry] : header.items()) {
      if (name == "__metadata__") {
        if (!parseMetadata(path, entry, metadata_, error))
          return false;
        continue;
      }
      SafetensorsTensor tensor;
      tensor.name = name;
      if (!parseTensorEntry(path + ": tensor " + quote(name), entry, dataSize,
                            tensor, error))
        return false;
      tensors_.push_back(std::move(tensor));
    }
  } catch (const std::exception &e) { // only bad_alloc is expected here
    error = path + ": cannot read header: " + e.what();
    return false;
  }
  // nlohmann::json objects iterate in key order, so tensors_ is sorted by name.

  // No two non-empty byte ranges may overlap.
  std::vector<const SafetensorsTensor *> byOffset;
  for (const auto &tensor : tensors_)
    if (tensor.byteSize)
      byOffset.push_back(&tensor);
  std::sort(byOffset.begin(), byOffset.end(), [](const auto *a, const auto *b) {
    return a->dataBegin < b->dataBegin;
  });
  for (size_t i = 1; i < byOffset.size(); ++i) {
    const SafetensorsTensor &prev = *byOffset[i - 1], &cur = *byOffset[i];
    if (cur.dataBegin < prev.dataBegin + prev.byteSize) {
      error = path + ": tensor " + quote(cur.name) + " (bytes " +
              std::to_string(cur.dataBegin) + ".." +
              std::to_string(cur.dataBegin + cur.byteSize) +
              ") overlaps tensor " + quote(prev.name) + " (bytes " +
              std::to_string(prev.dataBegin) + ".." +
              std::to_string(prev.dataBegin + prev.byteSize) + ")";
      return false;
    }
  }
  return true;
}

SafetensorsFile::~SafetensorsFile() {
  if (mapped_)
    ::munmap(const_cast<unsigned char *>(mapping_), size_t(fileSize_));
}

const SafetensorsTensor *SafetensorsFile::find(std::string_view name) const {
  auto it = std::lower_bound(
      tensors_.begin(), tensors_.end(), name,
      [](const SafetensorsTensor &t, std::string_view n) { return t.name < n; });
  if (it == tensors_.end() || it->name != name)
    return nullptr;
  return &*it;
}

const void *SafetensorsFile::data(const SafetensorsTensor &tensor) const {
  return mapping_ + dataStart_ + tensor.dataBegin;
}

//===----------------------------------------------------------------------===//
// Writer
//===----------------------------------------------------------------------===//

static bool writeAll(int fd, const void *data, uint64_t size) {
  const auto *bytes = static_cast<const unsigned char *>(data);
  while (size) {
    size_t chunk = size_t(std::min<uint64_t>(size, uint64_t(1) << 30));
    ssize_t written = ::write(fd, bytes, chunk);
    if (written < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    bytes += written;
    size -= uint64_t(written);
  }
  return true;
}

bool writeSafetensors(const std::string &path,
                      const std::vector<SafetensorsTensorRef> &tensors,
                      const std::map<std::string, std::string> &metadata,
                      std::string &error) {
  std::string header;
  std::vector<uint64_t> sizes;
  try {
    nlohmann::ordered_json doc = nlohmann::ordered_json::object();
    if (!metadata.empty()) {
      auto &meta = doc["__metadata__"] = nlohmann::ordered_json::object();
      for (const auto &[key, value] : metadata)
        meta[key] = value;
    }
    std::set<std::string_view> names;
    uint64_t offset = 0;
    for (const auto &tensor : tensors) {
      std::string prefix = path + ": tensor " + quote(tensor.name);
      if (tensor.name == "__metadata__") {
        error = prefix + ": the name is reserved for metadata";
        return false;
      }
      if (!names.insert(tensor.name).second) {
        error = prefix + ": duplicate tensor name";
        return false;
      }
      if (!isValidDType(tensor.dtype)) {
        error = prefix + ": invalid dtype";
        return false;
      }
      uint64_t bytes = dtypeSize(tensor.dtype);
      for (int64_t dim : tensor.shape) {
        if (dim < 0) {
          error = prefix + ": negative dimension " + std::to_string(dim);
          return false;
        }
        if (dim != 0 && bytes > std::numeric_limits<uint64_t>::max() / uint64_t(dim)) {
          error = prefix + ": size overflows 64 bits";
          return false;
        }
        bytes *= uint64_t(dim);
      }
      if (bytes && !tensor.data) {
        error = prefix + ": no data";
        return false;
      }
      if (offset > std::numeric_limits<uint64_t>::max() - bytes) {
        error = prefix + ": file size overflows 64 bits";
        return false;
      }
      auto &entry = doc[tensor.name];
      entry["dtype"] = std::string(dtypeSafetensorsName(tensor.dtype));
      entry["shape"] = tensor.shape;
      entry["data_offsets"] = {offset, offset + bytes};
      offset += bytes;
      sizes.push_back(bytes);
    }
    header = doc.dump();
  } catch (const nlohmann::json::type_error &e) {
    error = path + ": a tensor name or metadata entry is not valid UTF-8 (" +
            e.what() + ")";
    return false;
  } catch (const std::exception &e) {
    error = path + ": cannot build the header: " + e.what();
    return false;
  }
  header.append((8 - header.size() % 8) % 8, ' ');
  unsigned char length[8];
  for (int i = 0; i < 8; ++i)
    length[i] = (uint64_t(header.size()) >> (8 * i)) & 0xff;

  std::string tempPath = path + ".XXXXXX";
  int fd = ::mkstemp(tempPath.data());
  if (fd < 0) {
    error = path + ": cannot create a temporary file beside it: " +
            systemError(errno);
    return false;
  }
  auto fail = [&](const std::string &what) {
    error = path + ": " + what + ": " + systemError(errno);
    ::close(fd);
    ::unlink(tempPath.c_str());
    return false;
  };
  (void)::fchmod(fd, 0644); // mkstemp creates 0600
  if (!writeAll(fd, length, 8) || !writeAll(fd, header.data(), header.size()))
    return fail("cannot write");
  for (size_t i = 0; i < tensors.size(); ++i)
    if (sizes[i] && !writeAll(fd, tensors[i].data, sizes[i]))
      return fail("cannot write tensor " + quote(tensors[i].name));
  if (::close(fd) != 0) {
    error = path + ": cannot write: " + systemError(errno);
    ::unlink(tempPath.c_str());
    return false;
  }
  if (::rename(tempPath.c_str(), path.c_str()) != 0) {
    error = path + ": cannot rename the temporary file into place: " +
            systemError(errno);
    ::unlink(tempPath.c_str());
    return false;
  }
  return true;
}

} // namespace moert
