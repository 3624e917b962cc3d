//===- KernelLibrary.h - load a bundle's CPU kernels ------------*- C++ -*-===//
//
// Loads the KERNELS shared object of a cpu bundle from memory (memfd_create +
// dlopen("/proc/self/fd/N"); a private temporary file where memfd is not
// available) and resolves kernel symbols. Each load is a library of its own,
// never one already loaded under the same name.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_CORE_KERNELLIBRARY_H
#define MOERT_CORE_KERNELLIBRARY_H

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace moert {

class KernelLibrary {
public:
  ~KernelLibrary();
  KernelLibrary(const KernelLibrary &) = delete;
  KernelLibrary &operator=(const KernelLibrary &) = delete;

  /// Loads `image`; null with `error` set on failure.
  static std::unique_ptr<KernelLibrary> load(const std::vector<uint8_t> &image,
                                             std::string &error);

  /// The address of `symbol`, or null with `error` set.
  void *lookup(const std::string &symbol, std::string &error) const;

private:
  KernelLibrary(void *handle, int fd) : handle(handle), fd(fd) {}
  void *handle;
  /// The memfd the library was loaded from, kept open while it is loaded
  /// (its /proc/self/fd/N name must stay unique); -1 for none.
  int fd;
};

} // namespace moert

#endif // MOERT_CORE_KERNELLIBRARY_H
