//===- WeightsTestUtil.h - Helpers shared by the weights unit tests -*- C++ -*-===//

#ifndef MOERT_WEIGHTS_WEIGHTSTESTUTIL_H
#define MOERT_WEIGHTS_WEIGHTSTESTUTIL_H

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <dirent.h>
#include <unistd.h>

namespace moert::testing {

/// A fresh directory under $TMPDIR for one test, removed (with its plain
/// files) at the end.
class TempDir {
public:
  TempDir() {
    const char *base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") +
                          "/moert-weights-XXXXXX";
    if (::mkdtemp(pattern.data()))
      path_ = pattern;
  }
  ~TempDir() {
    if (path_.empty())
      return;
    if (DIR *dir = ::opendir(path_.c_str())) {
      while (dirent *entry = ::readdir(dir)) {
        std::string name = entry->d_name;
        if (name != "." && name != "..")
          ::unlink((path_ + "/" + name).c_str());
      }
      ::closedir(dir);
    }
    ::rmdir(path_.c_str());
  }
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;

  bool ok() const { return !path_.empty(); }
  std::string file(const std::string &name) const { return path_ + "/" + name; }

private:
  std::string path_;
};

/// Replaces `path` with `bytes`. Unlinks first: truncating an existing file
/// makes ext4 flush it on close, which is slow when done thousands of times.
inline void writeBytes(const std::string &path, const std::string &bytes) {
  ::unlink(path.c_str());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

inline std::string readBytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

/// The 8-byte little-endian length prefix.
inline std::string lengthPrefix(uint64_t n) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[i] = char((n >> (8 * i)) & 0xff);
  return out;
}

/// A safetensors file from a header text and a data section.
inline std::string safetensorsBytes(const std::string &header,
                                    const std::string &data) {
  return lengthPrefix(header.size()) + header + data;
}

/// Raw bytes of a vector of trivially copyable values.
template <typename T> std::string rawBytes(const std::vector<T> &values) {
  return std::string(reinterpret_cast<const char *>(values.data()),
                     values.size() * sizeof(T));
}

} // namespace moert::testing

#endif // MOERT_WEIGHTS_WEIGHTSTESTUTIL_H
