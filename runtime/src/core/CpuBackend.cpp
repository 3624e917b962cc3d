//===- CpuBackend.cpp - run cpu-x86_64 bundles in this process ------------===//

#include "Backend.h"
#include "Comm.h"
#include "KernelLibrary.h"

#include <chrono>

namespace moert {

namespace {

class CpuBackend final : public Backend {
public:
  explicit CpuBackend(std::unique_ptr<KernelLibrary> library)
      : library(std::move(library)) {}

  moert_device_t device() const override { return MOERT_DEVICE_CPU; }

  bool run(const Bundle &bundle, size_t function,
           const std::vector<TensorData> &inputs,
           const std::vector<TensorData> &outputs, Failure &failure,
           double *time) override {
    auto start = std::chrono::steady_clock::now();
    failure.code = MOERT_ERROR_INTERNAL;
    lastRun = {};
    // Host and "device" memory are one here: a fetch is a copy into a heap
    // buffer that the kernels own and free (no tier cache on the cpu).
    tier::HeapCopier copier;
    if (!runWithTierFetches(copier, lastRun, failure, [&] {
          return runProgram(bundle, bundle.programs[function], entries,
                            inputs, outputs, hostMemory(), failure.message,
                            &failure.code);
        }))
      return false;
    if (time)
      *time = std::chrono::duration<double, std::milli>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    return true;
  }

  std::unique_ptr<KernelLibrary> library;
  /// entries[k]: the address of bundle.kernels[k].
  std::vector<void *> entries;
};

} // namespace

std::unique_ptr<Backend> createCpuBackend(const Bundle &bundle,
                                          Failure &failure) {
  if (bundle.target != MOERT_BUNDLE_TARGET_CPU_X86_64) {
    failure = {MOERT_ERROR_UNSUPPORTED,
               "this bundle targets " + bundle.target +
                   ", which the cpu device does not run" +
                   (bundle.target.rfind(MOERT_BUNDLE_TARGET_CUDA_PREFIX, 0) == 0
                        ? ": run it on the cuda device"
                        : "")};
    return nullptr;
  }
#if !defined(__x86_64__)
  failure = {MOERT_ERROR_UNSUPPORTED, "this bundle targets " + bundle.target +
                                          " and this host is not x86-64"};
  return nullptr;
#endif
  std::string error;
  comm::exposeCommAbi();
  std::unique_ptr<KernelLibrary> library =
      KernelLibrary::load(bundle.kernelImage, error);
  if (!library) {
    if (error.find("undefined symbol: moert_comm_") != std::string::npos ||
        error.find("undefined symbol: moert_tier_") != std::string::npos ||
        error.find("undefined symbol: _mlir_ciface_moert_tier_") !=
            std::string::npos)
      error += " (the kernels call the runtime's collectives or tier "
               "copies: a program linking the static moert must export them: "
               "link with -rdynamic, CMake ENABLE_EXPORTS, or use "
               "libmoert.so)";
    failure = {MOERT_ERROR_KERNEL, error};
    return nullptr;
  }
  auto backend = std::make_unique<CpuBackend>(std::move(library));
  for (const Kernel &kernel : bundle.kernels) {
    void *entry = backend->library->lookup(kernel.symbol, error);
    if (!entry) {
      failure = {MOERT_ERROR_KERNEL, error};
      return nullptr;
    }
    backend->entries.push_back(entry);
  }
  return backend;
}

} // namespace moert
