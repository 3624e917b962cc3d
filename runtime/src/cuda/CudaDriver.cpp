//===- CudaDriver.cpp - the CUDA driver, loaded at run time ---------------===//

#include "CudaDriver.h"

#include <cstdlib>
#include <dlfcn.h>
#include <mutex>

namespace moert::cuda {

namespace {

/// The address of the first of `names` that `library` defines.
void *resolve(void *library, std::initializer_list<const char *> names) {
  for (const char *name : names)
    if (void *address = ::dlsym(library, name))
      return address;
  return nullptr;
}

struct Loaded {
  CudaDriver driver;
  std::string error;
  bool ok = false;
};

Loaded load() {
  Loaded loaded;
  std::string name = cudaDriverLibraryName();
  // Never closed: the driver stays for the life of the process, like the
  // contexts and modules made through it.
  void *library = ::dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    const char *reason = ::dlerror();
    loaded.error = "CUDA driver library " + name + " could not be loaded: " +
                   (reason ? reason : "unknown dlopen error") +
                   "; is an NVIDIA driver installed?";
    return loaded;
  }
  CudaDriver &driver = loaded.driver;
#define MOERT_CUDA_DRIVER_RESOLVE(member, declaration, ...)                    \
  driver.member = reinterpret_cast<decltype(driver.member)>(                   \
      resolve(library, {__VA_ARGS__}));
  MOERT_CUDA_DRIVER_REQUIRED(MOERT_CUDA_DRIVER_RESOLVE)
  MOERT_CUDA_DRIVER_OPTIONAL(MOERT_CUDA_DRIVER_RESOLVE)
#undef MOERT_CUDA_DRIVER_RESOLVE
  std::string missing;
#define MOERT_CUDA_DRIVER_CHECK(member, declaration, symbol, ...)              \
  if (!driver.member)                                                          \
    missing += (missing.empty() ? "" : ", ") + std::string(symbol);
  MOERT_CUDA_DRIVER_REQUIRED(MOERT_CUDA_DRIVER_CHECK)
#undef MOERT_CUDA_DRIVER_CHECK
  if (!missing.empty()) {
    loaded.error = "CUDA driver library " + name + " lacks " + missing +
                   " (is it an NVIDIA driver, and recent enough?)";
    return loaded;
  }
  loaded.ok = true;
  return loaded;
}

} // namespace

std::string cudaDriverLibraryName() {
  const char *name = std::getenv("MOERT_CUDA_DRIVER_LIBRARY");
  return name && *name ? name : "libcuda.so.1";
}

const CudaDriver *loadCudaDriver(std::string &error) {
  static Loaded *loaded = nullptr;
  static std::once_flag once;
  std::call_once(once, [] { loaded = new Loaded(load()); });
  if (!loaded->ok) {
    error = loaded->error;
    return nullptr;
  }
  return &loaded->driver;
}

std::string CudaDriver::describe(CUresult result) const {
  const char *name = nullptr, *text = nullptr;
  if (getErrorName(result, &name) != CUDA_SUCCESS || !name)
    return "CUDA error " + std::to_string(static_cast<int>(result));
  std::string out = name;
  if (getErrorString(result, &text) == CUDA_SUCCESS && text)
    out += std::string(" (") + text + ")";
  return out;
}

} // namespace moert::cuda
