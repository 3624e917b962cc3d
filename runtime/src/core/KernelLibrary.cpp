//===- KernelLibrary.cpp - load a bundle's CPU kernels --------------------===//

#include "KernelLibrary.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace moert {

/// Writes all of `image` to `fd`.
static bool writeAll(int fd, const std::vector<uint8_t> &image,
                     std::string &error) {
  size_t done = 0;
  while (done < image.size()) {
    ssize_t n = ::write(fd, image.data() + done, image.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      error = std::string("cannot write the kernel image: ") +
              std::strerror(errno);
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

static void *openPath(const std::string &path, std::string &error) {
  // The dynamic loader hands back an already loaded object of the same name
  // instead of reading the file: a different bundle's kernels, once a path
  // such as /proc/self/fd/N is reused. Never reuse one.
  if (void *loaded = ::dlopen(path.c_str(), RTLD_LAZY | RTLD_NOLOAD)) {
    ::dlclose(loaded);
    error = "cannot load the bundle's kernels: a library named " + path +
            " is already loaded";
    return nullptr;
  }
  void *handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *reason = ::dlerror();
    error = std::string("cannot load the bundle's kernels: ") +
            (reason ? reason : "unknown dlopen error");
  }
  return handle;
}

/// memfd_create + dlopen of /proc/self/fd/N; null on failure, with `tried`
/// false when memfd itself is unavailable. On success `fd` stays open until
/// the library is closed, so that no other library loaded meanwhile gets the
/// same /proc/self/fd/N name (openPath).
static void *loadFromMemfd(const std::vector<uint8_t> &image, bool &tried,
                           int &fd, std::string &error) {
  tried = false;
#if defined(__linux__) && defined(MFD_CLOEXEC)
  fd = ::memfd_create("moert-kernels", MFD_CLOEXEC);
  if (fd < 0)
    return nullptr;
  tried = true;
  void *handle = nullptr;
  if (writeAll(fd, image, error))
    handle = openPath("/proc/self/fd/" + std::to_string(fd), error);
  if (!handle) {
    ::close(fd);
    fd = -1;
  }
  return handle;
#else
  fd = -1;
  (void)image;
  (void)error;
  return nullptr;
#endif
}

/// A private (0600) temporary file, unlinked as soon as it is loaded.
static void *loadFromTempFile(const std::vector<uint8_t> &image,
                              std::string &error) {
  const char *dir = std::getenv("TMPDIR");
  std::string path =
      std::string(dir && *dir ? dir : "/tmp") + "/moert-kernels-XXXXXX.so";
  std::vector<char> name(path.begin(), path.end());
  name.push_back('\0');
  int fd = ::mkstemps(name.data(), 3);
  if (fd < 0) {
    error = std::string("cannot create a temporary file for the kernels: ") +
            std::strerror(errno);
    return nullptr;
  }
  void *handle = nullptr;
  if (writeAll(fd, image, error))
    handle = openPath(name.data(), error);
  ::close(fd);
  ::unlink(name.data());
  return handle;
}

std::unique_ptr<KernelLibrary>
KernelLibrary::load(const std::vector<uint8_t> &image, std::string &error) {
  // Where memfd is missing or its files may not be mapped executable
  // (vm.memfd_noexec), a private temporary file still works.
  bool tried = false;
  int fd = -1;
  std::string memfdError;
  void *handle = loadFromMemfd(image, tried, fd, memfdError);
  if (!handle)
    handle = loadFromTempFile(image, error);
  if (!handle && tried && !memfdError.empty() && error != memfdError)
    error = memfdError + "; from a temporary file: " + error;
  if (!handle)
    return nullptr;
  return std::unique_ptr<KernelLibrary>(new KernelLibrary(handle, fd));
}

KernelLibrary::~KernelLibrary() {
  if (handle)
    ::dlclose(handle);
  if (fd >= 0)
    ::close(fd);
}

void *KernelLibrary::lookup(const std::string &symbol,
                            std::string &error) const {
  ::dlerror();
  void *address = ::dlsym(handle, symbol.c_str());
  if (!address)
    error = "kernel symbol \"" + symbol + "\" is not in the bundle's kernels";
  return address;
}

} // namespace moert
