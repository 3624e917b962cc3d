//===- CudaBackend.cpp - run cuda-sm_* bundles on a CUDA device -----------===//
//
// A session on CUDA device N: the driver (loaded at run time), the device's
// primary context (shared with the CUDA runtime, PyTorch, ...), a stream (the
// session's own, or the caller's), and the bundle's KERNELS object loaded
// into the process with the session's CallContext current, so that its
// constructor's mgpuModuleLoad loads the device code into that context.
//
//===----------------------------------------------------------------------===//

#include "Backend.h"
#include "CallContext.h"
#include "CudaDriver.h"
#include "DeviceMemory.h"
#include "HostTier.h"
#include "KernelLibrary.h"
#include "MemoryPool.h"
#include "MgpuAbi.h"
#include "TensorMapCache.h"

#include "Comm.h"
#ifdef MOERT_HAVE_NCCL
#include "Nccl.h"
#endif

#include <atomic>
#include <dlfcn.h>

namespace moert {

namespace {

using cuda::CallContext;
using cuda::CudaDriver;
using cuda::DeviceScope;

/// "9.0" for 90.
std::string capability(unsigned sm) {
  return std::to_string(sm / 10) + "." + std::to_string(sm % 10);
}

/// Device bytes the program of `function` holds at least: its allocated
/// buffers (inputs are copied into those; host-tier ones stay on the host)
/// and its outputs (kernel results).
uint64_t deviceBytes(const Bundle &bundle, size_t function) {
  uint64_t bytes = 0;
  const Program &program = bundle.programs[function];
  for (const Command &command : program.commands)
    if (command.kind == MOERT_BUNDLE_COMMAND_ALLOCATE &&
        !program.isHostTier(command.buffer))
      bytes += program.buffers[command.buffer].byteSize;
  for (const TensorInfo &output : bundle.functions[function].outputs)
    bytes += output.type.byteSize;
  return bytes;
}

/// Makes the runtime's mgpu* functions visible to objects loaded later (a
/// libmoert.so opened RTLD_LOCAL, e.g. by Python's ctypes, is promoted to
/// the global scope) and checks that each resolves to the runtime's own.
bool exposeAbi(std::string &error) {
  Dl_info self{};
  if (::dladdr(reinterpret_cast<void *>(&mgpuModuleLoad), &self) &&
      self.dli_fname && self.dli_fname[0])
    if (void *handle =
            ::dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL))
      ::dlclose(handle); // the promotion stays
  const std::string hint =
      " (a program linking the static moert must export it: link with "
      "-rdynamic, CMake ENABLE_EXPORTS, or use libmoert.so)";
#define MOERT_CHECK_EXPORTED(name)                                             \
  {                                                                            \
    void *found = ::dlsym(RTLD_DEFAULT, #name);                                \
    if (!found) {                                                              \
      error = "the runtime's " #name                                           \
              " is not visible to the bundle's kernels" +                      \
              hint;                                                            \
      return false;                                                            \
    }                                                                          \
    if (found != reinterpret_cast<void *>(&name)) {                            \
      Dl_info other{};                                                         \
      ::dladdr(found, &other);                                                 \
      error =                                                                  \
          std::string("the bundle's kernels would call the " #name " of ") +   \
          (other.dli_fname ? other.dli_fname : "another library") +            \
          " instead of the runtime's (is MLIR's CUDA runtime library "         \
          "loaded in this process?)";                                          \
      return false;                                                            \
    }                                                                          \
  }
  MOERT_BUNDLE_CUDA_ABI(MOERT_CHECK_EXPORTED)
#undef MOERT_CHECK_EXPORTED
  return true;
}

class CudaBackend final : public Backend {
public:
  CudaBackend(const CudaDriver *driver, int ordinal, CUdevice cuDevice)
      : driver(driver), ordinal(ordinal), cuDevice(cuDevice) {}

  ~CudaBackend() override {
    if (!context)
      return;
    {
      CallContext call = callContext();
      DeviceScope scope(call);
#ifdef MOERT_HAVE_NCCL
      nccl.reset(); // its communicators, in the session's context
#endif
      library.reset(); // its destructor unloads the device code
      // The tier cache's buffers, on the session's own stream (earlier runs
      // synchronized theirs), then its mirrors.
      if (ownStream) {
        cuda::DeviceCacheMemory memory(call, ownStream);
        tierCache.clear(memory);
      }
      mirrors.reset();
      if (ownStream) {
        driver->streamSynchronize(ownStream);
        driver->streamDestroy(ownStream);
      }
      if (copyStream) {
        driver->streamSynchronize(copyStream);
        driver->streamDestroy(copyStream);
      }
      pinned.reset();
      tensorMaps.reset(); // no kernel reads them: the streams are synchronized
      // Last: every allocation of the session is freed by now (runs free
      // theirs, the tier cache is cleared) and the frees are done (the
      // streams are synchronized); the last session on the device destroys
      // the pool.
      memoryPool.reset();
    }
    driver->devicePrimaryCtxRelease(cuDevice);
  }

  moert_device_t device() const override { return MOERT_DEVICE_CUDA; }
  int deviceId() const override { return ordinal; }

  /// The context of a load or a run: the session's, with its stream now.
  CallContext callContext() {
    CallContext call;
    call.driver = driver;
    call.context = context;
    call.stream = stream.load();
    call.device = ordinal;
    call.streamOrderedAllocation = streamOrderedAllocation;
    call.pool = memoryPool ? memoryPool->handle() : nullptr;
    call.names = &names;
    call.account = &account;
    call.tierCache = &tierCache;
    call.tensorMaps = tensorMaps.get();
    return call;
  }

  bool open(const Bundle &bundle, unsigned sm, bool archSpecific,
            Failure &failure);

  bool run(const Bundle &bundle, size_t function,
           const std::vector<TensorData> &inputs,
           const std::vector<TensorData> &outputs, Failure &failure,
           double *time) override;

  bool prepareCollectives(comm::Communicator &communicator,
                          Failure &failure) override {
#ifdef MOERT_HAVE_NCCL
    std::string error;
    const nccl::NcclLibrary *library = nccl::loadNccl(error);
    if (!library) {
      failure = {MOERT_ERROR_UNSUPPORTED, error};
      return false;
    }
    nccl = std::make_unique<nccl::NcclCollectives>(*library, communicator);
    return true;
#else
    (void)communicator;
    failure = {MOERT_ERROR_UNSUPPORTED,
               "multi-rank CUDA runs need NCCL, and this runtime is built "
               "without it (nccl.h was not found at build time)"};
    return false;
#endif
  }

  bool setDeviceMemoryLimit(uint64_t bytes, Failure &) override {
    account.setLimit(bytes);
    return true;
  }

  bool setTierCache(uint64_t bytes, Failure &failure) override {
    return withCacheMemory(failure, [&](cuda::DeviceCacheMemory &memory) {
      tierCache.setCapacity(bytes, memory);
      if (!bytes && mirrors)
        mirrors->clear();
    });
  }

  bool clearTierCache(Failure &failure) override {
    return withCacheMemory(failure, [&](cuda::DeviceCacheMemory &memory) {
      tierCache.clear(memory);
      if (mirrors)
        mirrors->clear();
    });
  }

  /// Runs `body` with the tier cache's device memory on the session's
  /// device and stream.
  template <typename Body>
  bool withCacheMemory(Failure &failure, Body body) {
    CallContext call = callContext();
    DeviceScope scope(call);
    if (call.failed()) {
      failure = {MOERT_ERROR_INTERNAL, call.failure};
      return false;
    }
    cuda::DeviceCacheMemory memory(call, call.stream);
    body(memory);
    return true;
  }

  bool setStream(void *callerStream, bool own, Failure &) override {
    stream.store(own ? ownStream : static_cast<CUstream>(callerStream));
    return true;
  }

private:
  /// Whether `result` is success; else `failure` is `code` with
  /// "<call>: <driver error>".
  bool check(CUresult result, const std::string &call, moert_status_code_t code,
             Failure &failure) const {
    if (result == CUDA_SUCCESS)
      return true;
    failure = {code, call + ": " + driver->describe(result)};
    return false;
  }

  const CudaDriver *driver;
  int ordinal;
  CUdevice cuDevice;
  CUcontext context = nullptr;
  CUstream ownStream = nullptr;
  /// Where moert_tier_fetch copies run, beside the kernels.
  CUstream copyStream = nullptr;
  std::unique_ptr<cuda::PinnedPool> pinned;
  /// The TMA descriptors the kernels' launches encoded, uploaded once each.
  cuda::MemoryAccount account;
  /// Its slabs count in `account`; reset before the members are destroyed.
  std::unique_ptr<cuda::TensorMapCache> tensorMaps =
      std::make_unique<cuda::TensorMapCache>(driver, &account);
  /// Fetched host-tier buffers kept in device memory across runs (capacity 0:
  /// off), and the page-locked mirrors of host-tier inputs it reads then.
  tier::TierCache tierCache;
  std::unique_ptr<cuda::HostMirrors> mirrors;
  std::atomic<CUstream> stream{nullptr};
  bool streamOrderedAllocation = false;
  /// The runtime's pool of the device, shared with the process's other
  /// sessions on it: freed memory stays mapped from run to run (MemoryPool.h).
  /// Null, or without a handle: allocations come from the device's current
  /// pool.
  std::unique_ptr<cuda::DeviceMemoryPool> memoryPool;
  cuda::KernelNames names;
  std::unique_ptr<KernelLibrary> library;
  std::vector<void *> entries;
#ifdef MOERT_HAVE_NCCL
  /// A multi-rank session's collectives (prepareCollectives).
  std::unique_ptr<nccl::NcclCollectives> nccl;
#endif
};

bool CudaBackend::open(const Bundle &bundle, unsigned sm, bool archSpecific,
                       Failure &failure) {
  std::string name = "CUDA device " + std::to_string(ordinal);
  char deviceName[256] = {0};
  if (driver->deviceGetName(deviceName, sizeof(deviceName) - 1, cuDevice) ==
      CUDA_SUCCESS)
    name += " (" + std::string(deviceName) + ")";
  int major = 0, minor = 0, pools = 0;
  if (!check(
          driver->deviceGetAttribute(
              &major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, cuDevice),
          "cuDeviceGetAttribute", MOERT_ERROR_INTERNAL, failure) ||
      !check(
          driver->deviceGetAttribute(
              &minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, cuDevice),
          "cuDeviceGetAttribute", MOERT_ERROR_INTERNAL, failure))
    return false;
  unsigned deviceSm = unsigned(major * 10 + minor);
  if (archSpecific ? deviceSm != sm : deviceSm < sm) {
    failure = {
        MOERT_ERROR_UNSUPPORTED,
        "this bundle is compiled for sm_" + std::to_string(sm) +
            (archSpecific
                 ? "a (compute capability " + capability(sm) + " exactly)"
                 : " (compute capability " + capability(sm) + " or later)") +
            "; " + name + " has compute capability " + capability(deviceSm)};
    return false;
  }
  streamOrderedAllocation =
      driver->memAllocAsync && driver->memFreeAsync &&
      driver->deviceGetAttribute(&pools,
                                 CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED,
                                 cuDevice) == CUDA_SUCCESS &&
      pools;
  if (!check(driver->devicePrimaryCtxRetain(&context, cuDevice),
             "cuDevicePrimaryCtxRetain", MOERT_ERROR_UNSUPPORTED, failure))
    return false;

  CallContext call = callContext();
  DeviceScope scope(call);
  if (call.failed()) {
    failure = {MOERT_ERROR_INTERNAL, call.failure};
    return false;
  }
  // Stream-ordered allocations come from the runtime's own pool, not the
  // device's default one, whose release threshold of 0 would give a run's
  // memory back to the OS at its end (MemoryPool.h). Without one (an old
  // driver, a failure), from the current pool as before.
  if (streamOrderedAllocation) {
    memoryPool = std::make_unique<cuda::DeviceMemoryPool>(driver, cuDevice);
    call.pool = memoryPool->handle();
  }
  if (!check(driver->streamCreate(&ownStream, CU_STREAM_NON_BLOCKING),
             "cuStreamCreate", MOERT_ERROR_INTERNAL, failure))
    return false;
  stream.store(ownStream);
  call.stream = ownStream;
  if (!check(driver->streamCreate(&copyStream, CU_STREAM_NON_BLOCKING),
             "cuStreamCreate", MOERT_ERROR_INTERNAL, failure))
    return false;
  pinned = std::make_unique<cuda::PinnedPool>(driver);
  mirrors = std::make_unique<cuda::HostMirrors>(*pinned);

  // Free memory against the largest program's buffers and outputs.
  size_t freeBytes = 0, totalBytes = 0;
  if (!check(driver->memGetInfo(&freeBytes, &totalBytes), "cuMemGetInfo",
             MOERT_ERROR_INTERNAL, failure))
    return false;
  // What the pool keeps mapped from the device's other sessions is free for
  // this one's allocations too.
  if (memoryPool)
    freeBytes += memoryPool->idleBytes();
  for (size_t f = 0; f < bundle.functions.size(); ++f) {
    uint64_t needed = deviceBytes(bundle, f);
    if (needed > freeBytes) {
      failure = {MOERT_ERROR_OUT_OF_MEMORY,
                 "function \"" + bundle.functions[f].name + "\" needs " +
                     std::to_string(needed) +
                     " bytes of device memory for its buffers and outputs; " +
                     name + " has " + std::to_string(freeBytes) +
                     " bytes free (of " + std::to_string(totalBytes) + ")"};
      return false;
    }
  }

  // The kernels: loading runs their constructors, which load the device
  // code through mgpuModuleLoad in `call`.
  std::string error;
  if (!exposeAbi(error)) {
    failure = {MOERT_ERROR_KERNEL, error};
    return false;
  }
  comm::exposeCommAbi();
  library = KernelLibrary::load(bundle.kernelImage, error);
  if (!library) {
    failure = {MOERT_ERROR_KERNEL, error};
    return false;
  }
  if (call.failed()) {
    failure = {MOERT_ERROR_KERNEL, "cannot load the bundle's device code on " +
                                       name + ": " + call.failure};
    return false;
  }
  for (const Kernel &kernel : bundle.kernels) {
    void *entry = library->lookup(kernel.symbol, error);
    if (!entry) {
      failure = {MOERT_ERROR_KERNEL, error};
      return false;
    }
    entries.push_back(entry);
  }
  return true;
}

bool CudaBackend::run(const Bundle &bundle, size_t function,
                      const std::vector<TensorData> &inputs,
                      const std::vector<TensorData> &outputs, Failure &failure,
                      double *time) {
  if (time)
    *time = -1;
  CallContext call = callContext();
  DeviceScope scope(call);
  if (call.failed()) {
    failure = {MOERT_ERROR_INTERNAL, call.failure};
    return false;
  }
  // Device time of the layer: events around its kernel calls (not the input
  // and output copies, which a caller holding device tensors does not pay;
  // not while capturing).
  CUevent start = nullptr, end = nullptr;
  bool timing = time && !call.capturing(call.stream) &&
                driver->eventCreate(&start, CU_EVENT_DEFAULT) == CUDA_SUCCESS &&
                driver->eventCreate(&end, CU_EVENT_DEFAULT) == CUDA_SUCCESS;

  lastRun = {};
  account.startRun();
  cuda::DeviceMemory memory(call, *pinned);
  if (timing)
    memory.timeCalls(start, end);
  // The tier cache, when on and not capturing (a graph would keep pointers
  // to buffers a later eviction frees): host-tier inputs are used in place
  // and read through their mirrors, fetched buffers stay for later runs.
  bool caching = tierCache.capacity() != 0 && !call.capturing(call.stream);
  if (!caching)
    call.tierCache = nullptr;
  mirrors->beginRun();
  if (caching)
    memory.mirrorHostTier(mirrors.get());
  // Copies of host-tier weights (moert_tier_fetch_*) on the copy stream; its
  // events live until the end of the run, after the synchronizations.
  cuda::StreamCopier copier(call, copyStream, caching ? &tierCache : nullptr,
                            caching ? mirrors.get() : nullptr);
  // A multi-rank run's collectives move device memory over NCCL, on this
  // run's stream.
  comm::RunContext *collectives = comm::currentRun();
#ifdef MOERT_HAVE_NCCL
  if (collectives && nccl) {
    nccl->bind(&call);
    collectives->setDevice(nccl.get());
    memory.beforeFirstCall([this] { nccl->alignRanks(); });
  }
#endif
  failure.code = MOERT_ERROR_INTERNAL;
  bool ok = runWithTierFetches(copier, lastRun, failure, [&] {
    return runProgram(bundle, bundle.programs[function], entries, inputs,
                      outputs, memory, failure.message, &failure.code);
  });
  if (collectives) {
    collectives->setDevice(nullptr);
#ifdef MOERT_HAVE_NCCL
    if (nccl)
      nccl->bind(nullptr);
#endif
  }
  timing = timing && memory.callsTimed();

  // Outputs must be complete, and asynchronous faults surface here.
  if (!call.capturing(call.stream)) {
    CUresult synced = driver->streamSynchronize(call.stream);
    if (ok && synced != CUDA_SUCCESS) {
      failure = {MOERT_ERROR_KERNEL, "after the run: cuStreamSynchronize" +
                                         call.afterLastLaunch() + ": " +
                                         driver->describe(synced)};
      ok = false;
    }
  }
  if (ok && call.failed()) { // e.g. a free after the last call
    failure = {MOERT_ERROR_KERNEL, call.failure};
    ok = false;
  }
  // A failed run may leave copies that no kernel waited for: the host-tier
  // blocks they read go back to the pool only once they are done.
  if (!call.capturing(call.stream))
    driver->streamSynchronize(copyStream);
  lastRun.peakDeviceBytes = account.peak();
  lastRun.tierCachedBytes = tierCache.residentBytes();
  float milliseconds = 0;
  if (ok && timing &&
      driver->eventElapsedTime(&milliseconds, start, end) == CUDA_SUCCESS)
    *time = milliseconds;
  for (CUevent event : {start, end})
    if (event)
      driver->eventDestroy(event);
  return ok;
}

} // namespace

std::unique_ptr<Backend> createCudaBackend(const Bundle &bundle, int deviceId,
                                           Failure &failure) {
  unsigned sm = 0;
  int archSpecific = 0;
  if (!moert_bundle_target_parse_cuda(bundle.target.c_str(), &sm,
                                      &archSpecific)) {
    failure = {MOERT_ERROR_UNSUPPORTED,
               "this bundle targets " + bundle.target +
                   ", which the cuda device does not run"};
    return nullptr;
  }
  std::string error;
  const CudaDriver *driver = cuda::loadCudaDriver(error);
  if (!driver) {
    failure = {MOERT_ERROR_UNSUPPORTED, error};
    return nullptr;
  }
  CUresult result = driver->init(0);
  if (result != CUDA_SUCCESS) {
    failure = {MOERT_ERROR_UNSUPPORTED, "cuInit: " + driver->describe(result)};
    return nullptr;
  }
  int count = 0;
  result = driver->deviceGetCount(&count);
  if (result != CUDA_SUCCESS) {
    failure = {MOERT_ERROR_UNSUPPORTED,
               "cuDeviceGetCount: " + driver->describe(result)};
    return nullptr;
  }
  if (deviceId < 0 || deviceId >= count) {
    failure = {MOERT_ERROR_INVALID_ARGUMENT,
               "no CUDA device " + std::to_string(deviceId) +
                   " (this host has " + std::to_string(count) + ")"};
    return nullptr;
  }
  CUdevice device = 0;
  result = driver->deviceGet(&device, deviceId);
  if (result != CUDA_SUCCESS) {
    failure = {MOERT_ERROR_UNSUPPORTED, "cuDeviceGet(" +
                                            std::to_string(deviceId) +
                                            "): " + driver->describe(result)};
    return nullptr;
  }
  auto backend = std::make_unique<CudaBackend>(driver, deviceId, device);
  if (!backend->open(bundle, sm, archSpecific != 0, failure))
    return nullptr;
  return backend;
}

} // namespace moert
