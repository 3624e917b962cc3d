//===- CudaAbiTest.cpp - the mgpu* ABI without a GPU ----------------------===//
//
// What can be checked on any machine: the CUDA target strings, that every
// function of MOERT_BUNDLE_CUDA_ABI is exported (by libmoert.so and by an
// executable linking moert_static with ENABLE_EXPORTS), that the functions do
// nothing outside a run, and each function's work against a fake driver: the
// driver calls it makes, the session stream it uses, the first failure it
// records (with the call's arguments), and that later calls do no work except
// releasing memory; and the runtime's own pool of device memory that every
// allocation comes from (MemoryPool.h), and the fallback without one.
//
//===----------------------------------------------------------------------===//

#include "CallContext.h"
#include "DeviceMemory.h"
#include "HostTier.h"
#include "MemoryPool.h"
#include "MgpuAbi.h"
#include "TensorMapCache.h"
#include "Tier.h"
#include "TierCache.h"
#include "moert/bundle_format.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <string>
#include <tuple>
#include <vector>

#ifndef MOERT_SHARED_LIBRARY
#error "MOERT_SHARED_LIBRARY must name libmoert.so"
#endif

namespace {

using moert::cuda::CallContext;
using moert::cuda::CudaDriver;
using moert::cuda::DeviceMemoryPool;
using moert::cuda::DeviceScope;
using moert::cuda::KernelNames;
using moert::cuda::TensorMapCache;

TEST(CudaTarget, ParsesChipAndArchSpecificSuffix) {
  unsigned sm = 0;
  int archSpecific = -1;
  EXPECT_TRUE(
      moert_bundle_target_parse_cuda("cuda-sm_90a", &sm, &archSpecific));
  EXPECT_EQ(sm, 90u);
  EXPECT_EQ(archSpecific, 1);
  EXPECT_TRUE(moert_bundle_target_parse_cuda("cuda-sm_80", &sm, &archSpecific));
  EXPECT_EQ(sm, 80u);
  EXPECT_EQ(archSpecific, 0);
  EXPECT_TRUE(
      moert_bundle_target_parse_cuda("cuda-sm_100a", &sm, &archSpecific));
  EXPECT_EQ(sm, 100u);
  for (const char *bad :
       {"cuda-sm_9", "cuda-sm_90b", "cuda-sm_", "cuda-90a", "cpu-x86_64",
        "cuda-sm_90a1", "cuda-sm_12345", "cuda-sm_90aa", "cuda-sm_-90", ""})
    EXPECT_FALSE(moert_bundle_target_parse_cuda(bad, &sm, &archSpecific))
        << bad;
}

TEST(CudaAbi, EveryFunctionIsExported) {
  // This executable links moert_static with ENABLE_EXPORTS.
#define MOERT_EXPECT_GLOBAL(name)                                              \
  EXPECT_EQ(::dlsym(RTLD_DEFAULT, #name), reinterpret_cast<void *>(&name))     \
      << #name;
  MOERT_BUNDLE_CUDA_ABI(MOERT_EXPECT_GLOBAL)
#undef MOERT_EXPECT_GLOBAL
  void *shared = ::dlopen(MOERT_SHARED_LIBRARY, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(shared, nullptr) << ::dlerror();
#define MOERT_EXPECT_EXPORTED(name)                                            \
  EXPECT_NE(::dlsym(shared, #name), nullptr) << #name " in libmoert.so";
  MOERT_BUNDLE_CUDA_ABI(MOERT_EXPECT_EXPORTED)
#undef MOERT_EXPECT_EXPORTED
  ::dlclose(shared);
}

// Tests that libmoert.so exports the memory-tier ABI the kernels call
// (TierAbi.h), and not the `moert_tier_fetch_wait` wrapper that the kernels'
// object defines itself (llvm.emit_c_interface): one exported by the runtime
// could be called instead of the kernels' own.
TEST(CudaAbi, TierFunctionsAreExported) {
  void *shared = ::dlopen(MOERT_SHARED_LIBRARY, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(shared, nullptr) << ::dlerror();
  for (const char *name :
       {"moert_tier_fetch_start", "_mlir_ciface_moert_tier_fetch_wait",
        "moert_tier_fetch_release", "moert_tier_fetch_experts_start",
        "_mlir_ciface_moert_tier_fetch_experts_wait"})
    EXPECT_NE(::dlsym(shared, name), nullptr) << name;
  EXPECT_EQ(::dlsym(shared, "moert_tier_fetch_wait"), nullptr);
  EXPECT_EQ(::dlsym(shared, "moert_tier_fetch_experts_wait"), nullptr);
  ::dlclose(shared);
}

TEST(CudaAbi, DoesNothingOutsideARun) {
  ASSERT_EQ(moert::cuda::currentCallContext(), nullptr);
  EXPECT_EQ(mgpuStreamCreate(), nullptr);
  EXPECT_EQ(mgpuMemAlloc(64, nullptr, false), nullptr);
  EXPECT_EQ(mgpuModuleLoad(nullptr, 0), nullptr);
  mgpuLaunchKernel(nullptr, 1, 1, 1, 1, 1, 1, 0, nullptr, nullptr, nullptr, 0);
  mgpuMemFree(reinterpret_cast<void *>(0x1000), nullptr);
  mgpuStreamSynchronize(nullptr);
}

/// What the fake driver saw.
struct Seen {
  std::vector<std::string> calls;
  CUstream stream = nullptr;
  CUresult launchResult = CUDA_SUCCESS;
  CUstreamCaptureStatus capture = CU_STREAM_CAPTURE_STATUS_NONE;
  size_t allocated = 0;
  unsigned block[3] = {0, 0, 0};
  cuuint64_t globalDim[5] = {}, globalStrides[5] = {};
  cuuint32_t boxDim[5] = {}, rank = 0;
  void *address = nullptr;
  int sharedMemoryAttribute = 0;
  /// Device addresses handed out, one 64 KiB apart.
  uintptr_t nextAllocation = 0x100000;
  /// The stream of each free, by name.
  std::vector<std::string> freedOn;
  /// The host address the last upload read.
  const void *uploadSource = nullptr;
  /// Every upload: its device destination, host source and bytes.
  std::vector<std::tuple<CUdeviceptr, const void *, size_t>> uploads;
  /// The pool of each stream-ordered allocation, in order (null: the
  /// device's current pool, cuMemAllocAsync).
  std::vector<CUmemoryPool> allocatedFrom;
  /// What allocations and frees answer.
  CUresult allocationResult = CUDA_SUCCESS, freeResult = CUDA_SUCCESS;
  /// Memory pools: the properties of the last one created, the release
  /// threshold last set, those destroyed.
  int poolsCreated = 0;
  CUmemPoolProps poolProps = {};
  cuuint64_t releaseThreshold = 0;
  std::vector<CUmemoryPool> poolsDestroyed;
};
Seen *seen = nullptr;

/// The run's stream of the FakeRun fixture and the copy stream of the tier
/// tests, by name.
const CUstream kRunStream = reinterpret_cast<CUstream>(0x5000);
const CUstream kCopyStream = reinterpret_cast<CUstream>(0x6000);
std::string streamName(CUstream stream) {
  return stream == kRunStream    ? "run"
         : stream == kCopyStream ? "copy"
                                 : "other";
}

/// A stream-ordered allocation from `pool` (null: the current one).
CUresult allocateFrom(CUmemoryPool pool, CUdeviceptr *p, size_t bytes,
                      CUstream) {
  seen->calls.push_back("alloc " + std::to_string(bytes));
  seen->allocatedFrom.push_back(pool);
  if (seen->allocationResult != CUDA_SUCCESS)
    return seen->allocationResult;
  seen->allocated += bytes;
  *p = seen->nextAllocation;
  seen->nextAllocation += 0x10000;
  return CUDA_SUCCESS;
}

CudaDriver fakeDriver() {
  CudaDriver d;
  d.getErrorName = [](CUresult r, const char **name) -> CUresult {
    *name = r == CUDA_ERROR_INVALID_VALUE ? "CUDA_ERROR_INVALID_VALUE"
                                          : "CUDA_ERROR_UNKNOWN";
    return CUDA_SUCCESS;
  };
  d.getErrorString = [](CUresult r, const char **text) -> CUresult {
    *text = r == CUDA_ERROR_INVALID_VALUE ? "invalid argument" : "unknown";
    return CUDA_SUCCESS;
  };
  d.ctxPushCurrent = [](CUcontext) -> CUresult {
    seen->calls.push_back("push");
    return CUDA_SUCCESS;
  };
  d.ctxPopCurrent = [](CUcontext *) -> CUresult {
    seen->calls.push_back("pop");
    return CUDA_SUCCESS;
  };
  d.moduleGetFunction = [](CUfunction *f, CUmodule, const char *) -> CUresult {
    *f = reinterpret_cast<CUfunction>(0x1234);
    return CUDA_SUCCESS;
  };
  d.funcSetAttribute = [](CUfunction, CUfunction_attribute a,
                          int value) -> CUresult {
    if (a == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES)
      seen->sharedMemoryAttribute = value;
    return CUDA_SUCCESS;
  };
  d.launchKernel = [](CUfunction, unsigned, unsigned, unsigned, unsigned bx,
                      unsigned by, unsigned bz, unsigned, CUstream stream,
                      void **, void **) -> CUresult {
    seen->calls.push_back("launch");
    seen->stream = stream;
    seen->block[0] = bx;
    seen->block[1] = by;
    seen->block[2] = bz;
    return seen->launchResult;
  };
  d.memAllocAsync = [](CUdeviceptr *p, size_t bytes,
                       CUstream stream) -> CUresult {
    return allocateFrom(nullptr, p, bytes, stream);
  };
  d.memAllocFromPoolAsync = [](CUdeviceptr *p, size_t bytes, CUmemoryPool pool,
                               CUstream stream) -> CUresult {
    return allocateFrom(pool, p, bytes, stream);
  };
  d.memAlloc = [](CUdeviceptr *p, size_t bytes) -> CUresult {
    seen->calls.push_back("plain alloc " + std::to_string(bytes));
    *p = seen->nextAllocation;
    seen->nextAllocation += 0x10000;
    return CUDA_SUCCESS;
  };
  d.memFree = [](CUdeviceptr) -> CUresult {
    seen->calls.push_back("plain free");
    return CUDA_SUCCESS;
  };
  d.memAllocHost = [](void **p, size_t bytes) -> CUresult {
    seen->calls.push_back("host alloc " + std::to_string(bytes));
    *p = std::malloc(bytes);
    return *p ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
  };
  d.memFreeHost = [](void *p) -> CUresult {
    seen->calls.push_back("host free");
    std::free(p);
    return CUDA_SUCCESS;
  };
  d.memFreeAsync = [](CUdeviceptr, CUstream stream) -> CUresult {
    seen->calls.push_back("free");
    seen->freedOn.push_back(streamName(stream));
    return seen->freeResult;
  };
  d.memPoolCreate = [](CUmemoryPool *pool,
                       const CUmemPoolProps *props) -> CUresult {
    seen->poolProps = *props;
    *pool = reinterpret_cast<CUmemoryPool>(
        uintptr_t(0x7000 + 0x100 * seen->poolsCreated++));
    return CUDA_SUCCESS;
  };
  d.memPoolDestroy = [](CUmemoryPool pool) -> CUresult {
    seen->poolsDestroyed.push_back(pool);
    return CUDA_SUCCESS;
  };
  d.memPoolSetAttribute = [](CUmemoryPool, CUmemPool_attribute attribute,
                             void *value) -> CUresult {
    if (attribute == CU_MEMPOOL_ATTR_RELEASE_THRESHOLD)
      seen->releaseThreshold = *static_cast<cuuint64_t *>(value);
    return CUDA_SUCCESS;
  };
  d.memcpyHtoDAsync = [](CUdeviceptr destination, const void *source,
                         size_t bytes, CUstream stream) -> CUresult {
    seen->calls.push_back("upload " + std::to_string(bytes) +
                          (stream == kCopyStream ? " on copy" : ""));
    seen->uploadSource = source;
    seen->uploads.emplace_back(destination, source, bytes);
    return CUDA_SUCCESS;
  };
  // "Device memory" here is host memory: a copy down reads it.
  d.memcpyDtoHAsync = [](void *destination, CUdeviceptr source, size_t bytes,
                         CUstream stream) -> CUresult {
    seen->calls.push_back("download " + std::to_string(bytes) + " on " +
                          streamName(stream));
    std::memcpy(destination, reinterpret_cast<const void *>(source), bytes);
    return CUDA_SUCCESS;
  };
  d.eventCreate = [](CUevent *event, unsigned) -> CUresult {
    static uintptr_t next = 0xe000;
    *event = reinterpret_cast<CUevent>(next++);
    return CUDA_SUCCESS;
  };
  d.eventDestroy = [](CUevent) -> CUresult { return CUDA_SUCCESS; };
  d.eventRecord = [](CUevent, CUstream stream) -> CUresult {
    seen->calls.push_back("record on " + streamName(stream));
    return CUDA_SUCCESS;
  };
  d.streamWaitEvent = [](CUstream stream, CUevent, unsigned) -> CUresult {
    seen->calls.push_back(streamName(stream) + " waits");
    return CUDA_SUCCESS;
  };
  d.streamIsCapturing = [](CUstream, CUstreamCaptureStatus *s) -> CUresult {
    *s = seen->capture;
    return CUDA_SUCCESS;
  };
  d.streamSynchronize = [](CUstream) -> CUresult {
    seen->calls.push_back("sync");
    return CUDA_SUCCESS;
  };
  d.tensorMapEncodeTiled =
      [](CUtensorMap *map, CUtensorMapDataType, cuuint32_t rank, void *address,
         const cuuint64_t *globalDim, const cuuint64_t *globalStrides,
         const cuuint32_t *boxDim, const cuuint32_t *, CUtensorMapInterleave,
         CUtensorMapSwizzle, CUtensorMapL2promotion,
         CUtensorMapFloatOOBfill) -> CUresult {
    seen->rank = rank;
    seen->address = address;
    std::memcpy(seen->globalDim, globalDim, rank * sizeof(cuuint64_t));
    std::memcpy(seen->globalStrides, globalStrides,
                (rank - 1) * sizeof(cuuint64_t));
    std::memcpy(seen->boxDim, boxDim, rank * sizeof(cuuint32_t));
    // Not the real encoding: its address and box, so that maps differ.
    uint64_t words[16] = {uint64_t(uintptr_t(address))};
    for (cuuint32_t i = 0; i < rank; ++i)
      words[1 + i] = boxDim[i];
    std::memcpy(map, words, sizeof(words));
    return CUDA_SUCCESS;
  };
  return d;
}

/// A run's context on the fake driver, current for the fixture's life, with
/// the runtime's pool of device 0 as a session has it.
class FakeRun : public ::testing::Test {
protected:
  FakeRun() : driver(fakeDriver()) {
    seen = &state;
    context.driver = &driver;
    context.stream = kRunStream;
    context.names = &names;
    tensorMaps = std::make_unique<TensorMapCache>(&driver);
    context.tensorMaps = tensorMaps.get();
    pool = std::make_unique<DeviceMemoryPool>(&driver, 0);
    context.pool = pool->handle();
    scope = std::make_unique<DeviceScope>(context);
  }
  ~FakeRun() override {
    tensorMaps.reset();
    scope.reset();
    pool.reset();
    seen = nullptr;
  }

  Seen state;
  CudaDriver driver;
  KernelNames names;
  CallContext context;
  std::unique_ptr<TensorMapCache> tensorMaps;
  std::unique_ptr<DeviceMemoryPool> pool;
  std::unique_ptr<DeviceScope> scope;
};

TEST_F(FakeRun, ScopeMakesTheContextCurrent) {
  EXPECT_EQ(moert::cuda::currentCallContext(), &context);
  EXPECT_EQ(state.calls, std::vector<std::string>{"push"});
  scope.reset();
  EXPECT_EQ(moert::cuda::currentCallContext(), nullptr);
  EXPECT_EQ(state.calls, (std::vector<std::string>{"push", "pop"}));
}

TEST_F(FakeRun, StreamsAreTheSessionStream) {
  void *stream = mgpuStreamCreate();
  EXPECT_EQ(stream, context.stream);
  mgpuStreamDestroy(stream); // the session's: nothing happens
  void *f = mgpuModuleGetFunction(reinterpret_cast<void *>(0x1), "k");
  mgpuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, /*stream=*/nullptr, nullptr,
                   nullptr, 0);
  EXPECT_EQ(state.stream, context.stream);
  EXPECT_FALSE(context.failed()) << context.failure;
}

TEST_F(FakeRun, FirstFailureIsKeptAndLaterCallsOnlyRelease) {
  void *f =
      mgpuModuleGetFunction(reinterpret_cast<void *>(0x1), "moe_kernel_3");
  state.launchResult = CUDA_ERROR_INVALID_VALUE;
  mgpuLaunchKernel(f, 64, 1, 1, 256, 1, 1, 0, context.stream, nullptr, nullptr,
                   0);
  EXPECT_EQ(context.failure,
            "cuLaunchKernel(moe_kernel_3, grid 64x1x1, block 256x1x1, smem "
            "0): CUDA_ERROR_INVALID_VALUE (invalid argument)");
  state.calls.clear();
  mgpuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, nullptr, nullptr, nullptr, 0);
  EXPECT_EQ(mgpuMemAlloc(64, nullptr, false), nullptr);
  mgpuStreamSynchronize(nullptr);
  mgpuMemFree(reinterpret_cast<void *>(0x100000), nullptr);
  EXPECT_EQ(state.calls, std::vector<std::string>{"free"});
  EXPECT_NE(context.failure.find("moe_kernel_3"), std::string::npos);
}

TEST_F(FakeRun, LaunchChecksDimensionsAndAllowsLargeSharedMemory) {
  void *f = mgpuModuleGetFunction(reinterpret_cast<void *>(0x1), "big");
  mgpuLaunchKernel(f, 1, 1, 1, 128, 1, 1, 100 * 1024, nullptr, nullptr, nullptr,
                   0);
  EXPECT_EQ(state.sharedMemoryAttribute, 100 * 1024);
  EXPECT_FALSE(context.failed()) << context.failure;
  mgpuLaunchKernel(f, 0, 1, 1, 128, 1, 1, 0, nullptr, nullptr, nullptr, 0);
  EXPECT_EQ(context.failure, "cuLaunchKernel(big, grid 0x1x1, block 128x1x1, "
                             "smem 0): invalid launch dimensions or shared "
                             "memory size");
}

TEST_F(FakeRun, SynchronizeIsSkippedWhileCapturing) {
  mgpuStreamSynchronize(nullptr);
  state.capture = CU_STREAM_CAPTURE_STATUS_ACTIVE;
  mgpuStreamSynchronize(nullptr);
  EXPECT_EQ(state.calls, (std::vector<std::string>{"push", "sync"}));
}

TEST_F(FakeRun, AllocationsAreStreamOrdered) {
  EXPECT_EQ(mgpuMemAlloc(0, nullptr, false), nullptr);
  void *p = mgpuMemAlloc(4096, nullptr, false);
  EXPECT_EQ(p, reinterpret_cast<void *>(0x100000));
  mgpuMemFree(p, nullptr);
  EXPECT_EQ(state.calls,
            (std::vector<std::string>{"push", "alloc 4096", "free"}));
  EXPECT_EQ(mgpuMemAlloc(64, nullptr, /*isHostShared=*/true), nullptr);
  EXPECT_EQ(context.failure,
            "mgpuMemAlloc(64 bytes, host-shared): host-shared (managed) "
            "memory is not supported; allocate device memory");
}

// Tests the runtime's own pool of device memory: made for the session's
// device (pinned device memory), its release threshold UINT64_MAX (what a run
// frees stays mapped for the next one), every allocation taken from it with
// cuMemAllocFromPoolAsync (the kernels' mgpuMemAlloc, a run's buffers, the
// tier cache's) and named so in failures, each freed with cuMemFreeAsync, and
// the pool destroyed with its last reference.
TEST_F(FakeRun, AllocationsComeFromTheRuntimesPool) {
  ASSERT_NE(pool->handle(), nullptr) << pool->unavailable();
  EXPECT_EQ(pool->unavailable(), "");
  EXPECT_EQ(context.pool, pool->handle());
  EXPECT_EQ(state.poolsCreated, 1);
  EXPECT_EQ(state.poolProps.allocType, CU_MEM_ALLOCATION_TYPE_PINNED);
  EXPECT_EQ(state.poolProps.handleTypes, CU_MEM_HANDLE_TYPE_NONE);
  EXPECT_EQ(state.poolProps.location.type, CU_MEM_LOCATION_TYPE_DEVICE);
  EXPECT_EQ(state.poolProps.location.id, 0);
  EXPECT_EQ(state.releaseThreshold, UINT64_MAX);
  EXPECT_STREQ(context.allocateName(), "cuMemAllocFromPoolAsync");
  EXPECT_STREQ(context.releaseName(), "cuMemFreeAsync");

  void *kernel = mgpuMemAlloc(4096, nullptr, false);
  ASSERT_NE(kernel, nullptr) << context.failure;
  moert::cuda::PinnedPool pinned(&driver);
  moert::cuda::DeviceMemory memory(context, pinned);
  void *buffer = nullptr;
  std::string error;
  ASSERT_EQ(memory.allocate(256, buffer, error), MOERT_OK) << error;
  moert::cuda::DeviceCacheMemory cacheMemory(context, context.stream);
  void *cached = nullptr;
  ASSERT_TRUE(cacheMemory.allocate(64, cached, error)) << error;
  EXPECT_EQ(state.allocatedFrom, std::vector<CUmemoryPool>(3, pool->handle()));
  mgpuMemFree(kernel, nullptr);
  memory.free(buffer);
  cacheMemory.free(cached);
  EXPECT_EQ(state.freedOn, std::vector<std::string>(3, "run"));
  EXPECT_FALSE(context.failed()) << context.failure;

  // Failures name the calls made.
  state.allocationResult = CUDA_ERROR_INVALID_VALUE;
  EXPECT_EQ(memory.allocate(512, buffer, error), MOERT_ERROR_INTERNAL);
  EXPECT_EQ(error, "cuMemAllocFromPoolAsync: CUDA_ERROR_INVALID_VALUE "
                   "(invalid argument)");
  EXPECT_FALSE(cacheMemory.allocate(64, cached, error));
  EXPECT_EQ(error, "cuMemAllocFromPoolAsync(64 bytes): "
                   "CUDA_ERROR_INVALID_VALUE (invalid argument)");
  EXPECT_EQ(mgpuMemAlloc(1024, nullptr, false), nullptr);
  EXPECT_EQ(context.failure, "cuMemAllocFromPoolAsync(1024 bytes): "
                             "CUDA_ERROR_INVALID_VALUE (invalid argument)");
  context.failure.clear();
  state.freeResult = CUDA_ERROR_INVALID_VALUE;
  mgpuMemFree(reinterpret_cast<void *>(0x100000), nullptr);
  EXPECT_NE(context.failure.find("cuMemFreeAsync(0x100000): "),
            std::string::npos)
      << context.failure;
  context.failure.clear();

  CUmemoryPool handle = pool->handle();
  pool.reset();
  EXPECT_EQ(state.poolsDestroyed, std::vector<CUmemoryPool>{handle});
}

// Tests that the sessions of a device share its pool (as they would share
// the default one), created once and destroyed with the last of them, and
// that another device has its own.
TEST_F(FakeRun, SessionsOfADeviceShareItsPool) {
  CUmemoryPool first = pool->handle();
  ASSERT_NE(first, nullptr);
  {
    DeviceMemoryPool second(&driver, 0);
    EXPECT_EQ(second.handle(), first);
    EXPECT_EQ(state.poolsCreated, 1);
    DeviceMemoryPool other(&driver, 1);
    EXPECT_NE(other.handle(), nullptr);
    EXPECT_NE(other.handle(), first);
    EXPECT_EQ(state.poolsCreated, 2);
    EXPECT_EQ(state.poolProps.location.id, 1);
    pool.reset(); // `second` still holds device 0's
    EXPECT_TRUE(state.poolsDestroyed.empty());
  }
  EXPECT_EQ(state.poolsDestroyed.size(), 2u);
  EXPECT_NE(std::find(state.poolsDestroyed.begin(), state.poolsDestroyed.end(),
                      first),
            state.poolsDestroyed.end());
  // A new session makes a new one.
  DeviceMemoryPool again(&driver, 0);
  EXPECT_NE(again.handle(), nullptr);
  EXPECT_EQ(state.poolsCreated, 3);
}

// Tests the fallback to the device's current pool (cuMemAllocAsync, named so
// in failures) where there can be no pool of the runtime's own: a driver
// without cuMemPoolCreate (older than CUDA 11.2), a pool the driver refuses
// to make, a release threshold it refuses to set (that pool is destroyed),
// and MOERT_CUDA_MEMORY_POOL=0. None is a failure.
TEST_F(FakeRun, FallsBackToTheCurrentPoolWithoutOne) {
  CudaDriver old = fakeDriver();
  old.memPoolCreate = nullptr;
  DeviceMemoryPool none(&old, 0);
  EXPECT_EQ(none.handle(), nullptr);
  EXPECT_NE(none.unavailable().find("lacks cuMemPoolCreate"), std::string::npos)
      << none.unavailable();
  EXPECT_EQ(none.idleBytes(), 0u);

  context.driver = &old;
  context.pool = none.handle();
  EXPECT_STREQ(context.allocateName(), "cuMemAllocAsync");
  void *p = mgpuMemAlloc(4096, nullptr, false);
  EXPECT_EQ(p, reinterpret_cast<void *>(0x100000)) << context.failure;
  mgpuMemFree(p, nullptr);
  EXPECT_EQ(state.allocatedFrom, std::vector<CUmemoryPool>{nullptr});
  EXPECT_EQ(state.calls,
            (std::vector<std::string>{"push", "alloc 4096", "free"}));
  state.allocationResult = CUDA_ERROR_INVALID_VALUE;
  EXPECT_EQ(mgpuMemAlloc(64, nullptr, false), nullptr);
  EXPECT_EQ(context.failure, "cuMemAllocAsync(64 bytes): "
                             "CUDA_ERROR_INVALID_VALUE (invalid argument)");
  context.failure.clear();
  context.driver = &driver;

  CudaDriver refusing = fakeDriver();
  refusing.memPoolCreate = [](CUmemoryPool *,
                              const CUmemPoolProps *) -> CUresult {
    return CUDA_ERROR_INVALID_VALUE;
  };
  DeviceMemoryPool refused(&refusing, 0);
  EXPECT_EQ(refused.handle(), nullptr);
  EXPECT_EQ(refused.unavailable(),
            "cuMemPoolCreate: CUDA_ERROR_INVALID_VALUE (invalid argument)");

  CudaDriver noThreshold = fakeDriver();
  noThreshold.memPoolSetAttribute = [](CUmemoryPool, CUmemPool_attribute,
                                       void *) -> CUresult {
    return CUDA_ERROR_INVALID_VALUE;
  };
  int created = state.poolsCreated;
  DeviceMemoryPool unusable(&noThreshold, 0);
  EXPECT_EQ(unusable.handle(), nullptr);
  EXPECT_EQ(state.poolsCreated, created + 1);
  EXPECT_EQ(state.poolsDestroyed.size(), 1u);
  EXPECT_NE(unusable.unavailable().find("RELEASE_THRESHOLD"), std::string::npos)
      << unusable.unavailable();

  CudaDriver other = fakeDriver();
  ::setenv("MOERT_CUDA_MEMORY_POOL", "0", 1);
  DeviceMemoryPool off(&other, 0);
  ::unsetenv("MOERT_CUDA_MEMORY_POOL");
  EXPECT_EQ(off.handle(), nullptr);
  EXPECT_EQ(off.unavailable(), "MOERT_CUDA_MEMORY_POOL=0");
  EXPECT_EQ(state.poolsCreated, created + 1);
}

// Tests the pool's idle memory, which a new session counts as free: what it
// keeps mapped less what allocations use; 0 where the driver cannot say.
TEST_F(FakeRun, IdleBytesAreReservedLessUsed) {
  EXPECT_EQ(pool->idleBytes(), 0u); // no cuMemPoolGetAttribute
  CudaDriver counting = fakeDriver();
  counting.memPoolGetAttribute = [](CUmemoryPool, CUmemPool_attribute a,
                                    void *value) -> CUresult {
    *static_cast<cuuint64_t *>(value) =
        a == CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT ? 96 << 20
        : a == CU_MEMPOOL_ATTR_USED_MEM_CURRENT   ? 32 << 20
                                                  : 0;
    return CUDA_SUCCESS;
  };
  DeviceMemoryPool counted(&counting, 0);
  ASSERT_NE(counted.handle(), nullptr);
  EXPECT_EQ(counted.idleBytes(), uint64_t(64) << 20);
}

// Tests that a fetch of host-tier weights allocates its buffer on the run's
// stream, waits for the run's stream on the copy stream, copies there, that
// its wait orders the run's stream after the copy, without a host
// synchronization, and that its release frees the buffer on the run's
// stream.
TEST_F(FakeRun, TierFetchesCopyOnTheCopyStream) {
  {
    moert::cuda::StreamCopier copier(context, kCopyStream);
    uint64_t token = 0;
    bool hit = true;
    std::string error;
    char host[64] = {0};
    ASSERT_TRUE(copier.start(host, 64, token, hit, error)) << error;
    EXPECT_FALSE(hit);
    EXPECT_EQ(state.uploadSource, host);
    void *buffer = nullptr;
    ASSERT_TRUE(copier.wait(token, buffer, error)) << error;
    EXPECT_EQ(buffer, reinterpret_cast<void *>(0x100000));
    EXPECT_FALSE(copier.wait(token + 1, buffer, error));
    EXPECT_EQ(error, "unknown copy");
    ASSERT_TRUE(copier.release(token, /*waited=*/true, error)) << error;
  }
  EXPECT_EQ(state.calls,
            (std::vector<std::string>{"push", "alloc 64", "record on run",
                                      "copy waits", "upload 64 on copy",
                                      "record on copy", "run waits",
                                      "free"}));
  EXPECT_EQ(state.freedOn, std::vector<std::string>{"run"});
}

/// One run's fetches on the fake driver: a tier::Run over a StreamCopier of
/// `cache` and `mirrors` (null: the cache is off), the host-tier input
/// `weights` noted as used in place when mirrored.
struct FakeTierRun {
  FakeTierRun(CallContext &context, moert::tier::TierCache *cache,
              moert::cuda::HostMirrors *mirrors, const void *weights,
              size_t bytes)
      : copier(context, kCopyStream, cache, mirrors), run(copier) {
    if (mirrors) {
      mirrors->beginRun();
      mirrors->noteInput(weights, bytes);
    }
  }
  /// Fetches `bytes` from `source`, waits, releases; the buffer.
  void *fetch(const void *source, int64_t bytes) {
    int64_t handle = run.start(source, bytes);
    EXPECT_GT(handle, 0);
    int64_t size = 0;
    void *buffer = run.wait(handle, size);
    run.release(handle);
    return buffer;
  }
  moert::cuda::StreamCopier copier;
  moert::tier::Run run;
};

// Tests the tier cache across two runs: the first copies (from the
// page-locked mirror of the input, not the caller's memory) and keeps the
// buffer; the second gets it without an allocation, a copy or a wait, and
// frees nothing. With the cache off, each run allocates, copies and frees.
TEST_F(FakeRun, TierCacheHitsAcrossRunsWithoutACopy) {
  context.streamOrderedAllocation = true;
  std::vector<char> weights(256, 7);
  moert::cuda::PinnedPool pool(&driver); // the heap: no cuMemAllocHost
  moert::cuda::HostMirrors mirrors(pool);
  moert::tier::TierCache cache;
  moert::cuda::DeviceCacheMemory memory(context, context.stream);
  cache.setCapacity(1 << 20, memory);
  std::string error;
  void *first = nullptr;
  {
    FakeTierRun one(context, &cache, &mirrors, weights.data(), 256);
    first = one.fetch(weights.data() + 128, 128);
    EXPECT_TRUE(one.run.finish(error)) << error;
    EXPECT_EQ(one.run.stats().misses, 1u);
    EXPECT_EQ(one.run.stats().bytes, 128u);
  }
  ASSERT_NE(state.uploadSource, nullptr);
  EXPECT_NE(state.uploadSource, weights.data() + 128);
  EXPECT_EQ(std::memcmp(state.uploadSource, weights.data() + 128, 128), 0);
  EXPECT_EQ(mirrors.count(), 1u);
  EXPECT_EQ(mirrors.bytes(), 256u);
  EXPECT_EQ(cache.residentBytes(), 128u);
  EXPECT_TRUE(state.freedOn.empty());

  state.calls.clear();
  {
    FakeTierRun two(context, &cache, &mirrors, weights.data(), 256);
    EXPECT_EQ(two.fetch(weights.data() + 128, 128), first);
    EXPECT_TRUE(two.run.finish(error)) << error;
    EXPECT_EQ(two.run.stats().hits, 1u);
    EXPECT_EQ(two.run.stats().misses, 0u);
    EXPECT_EQ(two.run.stats().bytes, 0u);
  }
  EXPECT_TRUE(state.calls.empty()) << state.calls.front();

  // A second fetch of the same weight in one run after a miss waits for the
  // copy the first one issued.
  cache.clear(memory);
  EXPECT_EQ(state.freedOn, std::vector<std::string>{"run"});
  state.calls.clear();
  {
    FakeTierRun three(context, &cache, &mirrors, weights.data(), 256);
    int64_t a = three.run.start(weights.data(), 64);
    int64_t b = three.run.start(weights.data(), 64);
    int64_t size = 0;
    void *bufferA = three.run.wait(a, size);
    void *bufferB = three.run.wait(b, size);
    EXPECT_EQ(bufferA, bufferB);
    EXPECT_TRUE(three.run.finish(error)) << error;
    EXPECT_EQ(three.run.stats().hits, 1u);
  }
  EXPECT_EQ(state.calls,
            (std::vector<std::string>{"alloc 64", "record on run",
                                      "copy waits", "upload 64 on copy",
                                      "record on copy", "run waits",
                                      "run waits"}));
  cache.clear(memory);

  // Off: every run copies from the source it is given and frees its buffer.
  state.calls.clear();
  state.freedOn.clear();
  for (int r = 0; r < 2; ++r) {
    FakeTierRun off(context, nullptr, nullptr, nullptr, 0);
    off.fetch(weights.data(), 128);
    EXPECT_TRUE(off.run.finish(error)) << error;
    EXPECT_EQ(off.run.stats().misses, 1u);
    EXPECT_EQ(state.uploadSource, weights.data());
  }
  EXPECT_EQ(std::count(state.calls.begin(), state.calls.end(),
                       "upload 128 on copy"),
            2);
  EXPECT_EQ(state.freedOn, (std::vector<std::string>{"run", "run"}));
}

// Tests that a fetch never waited (a failed run) is released by the runtime
// at the end of the run: the run's stream first waits for its copy, then
// frees the buffer on the run's stream.
TEST_F(FakeRun, UnwaitedFetchIsFreedAfterItsCopy) {
  context.streamOrderedAllocation = true;
  char host[32] = {0};
  std::string error;
  {
    moert::cuda::StreamCopier copier(context, kCopyStream);
    moert::tier::Run run(copier);
    EXPECT_EQ(run.start(host, 32), 1);
    state.calls.clear();
    EXPECT_FALSE(run.finish(error));
  }
  EXPECT_EQ(state.calls, (std::vector<std::string>{"run waits", "free"}));
  EXPECT_EQ(state.freedOn, std::vector<std::string>{"run"});
}

using Upload = std::tuple<CUdeviceptr, const void *, size_t>;

// Tests an expert fetch on the fake driver: the start copies the predicted
// indices down behind the run's stream and synchronizes it, allocates the
// whole buffer on the run's stream and copies only the predicted slices
// (experts 1 and 2 in one copy; 7 is no expert of 4) on the copy stream
// after the run's stream; the wait reads the routed indices the same way,
// copies the miss (expert 0) and makes the run's stream wait for the last
// copy, without a host synchronization for that; the release frees the
// buffer on the run's stream.
TEST_F(FakeRun, ExpertFetchCopiesPredictedThenMisses) {
  context.streamOrderedAllocation = true;
  char host[256] = {0}; // 4 experts of 64 bytes
  // Run memory on CUDA is device memory: here host memory that the fake
  // driver's copies down read.
  int32_t predicted[] = {1, 2, 7}, routed[] = {0, 2, -1};
  const CUdeviceptr buffer = 0x100000;
  std::string error;
  {
    moert::cuda::StreamCopier copier(context, kCopyStream);
    moert::tier::Run run(copier);
    state.calls.clear();
    int64_t handle = run.startExperts(host, 256, 4, predicted, 3);
    EXPECT_EQ(handle, 1);
    EXPECT_EQ(state.calls,
              (std::vector<std::string>{
                  "download 12 on run", "sync", "alloc 256", "record on run",
                  "copy waits", "upload 128 on copy", "record on copy"}));
    state.calls.clear();
    int64_t bytes = 0;
    void *fetched = run.waitExperts(handle, routed, 3, bytes);
    EXPECT_EQ(fetched, reinterpret_cast<void *>(buffer));
    EXPECT_EQ(bytes, 256);
    EXPECT_EQ(state.calls,
              (std::vector<std::string>{
                  "download 12 on run", "sync", "record on run",
                  "copy waits", "upload 64 on copy", "record on copy",
                  "run waits"}));
    run.release(handle);
    EXPECT_TRUE(run.finish(error)) << error;
    const moert::tier::Stats &stats = run.stats();
    EXPECT_EQ(stats.fetches, 1u);
    EXPECT_EQ(stats.misses, 1u);
    EXPECT_EQ(stats.bytes, 192u);
    EXPECT_EQ(stats.expertHits, 1u);   // 2
    EXPECT_EQ(stats.expertMisses, 1u); // 0
    EXPECT_EQ(stats.expertUnused, 1u); // 1
  }
  EXPECT_EQ(state.uploads,
            (std::vector<Upload>{{buffer + 64, host + 64, 128},
                                 {buffer, host, 64}}));
  EXPECT_EQ(state.freedOn, std::vector<std::string>{"run"});
}

// Tests that an expert fetch fails the run, with nothing allocated or
// copied, while the run's stream is being captured into a CUDA graph: at its
// start, and at the wait of a fetch started before the capture began (whose
// buffer the runtime then frees).
TEST_F(FakeRun, ExpertFetchRefusesACapturedStream) {
  context.streamOrderedAllocation = true;
  char host[256] = {0};
  int32_t routed[] = {1};
  const std::string captured =
      "expert fetches read the routing on the host and cannot run while the "
      "run's stream is being captured into a CUDA graph";
  std::string error;
  {
    moert::cuda::StreamCopier copier(context, kCopyStream);
    moert::tier::Run run(copier);
    state.capture = CU_STREAM_CAPTURE_STATUS_ACTIVE;
    state.calls.clear();
    EXPECT_EQ(run.startExperts(host, 256, 4, routed, 1), 0);
    EXPECT_TRUE(state.calls.empty()) << state.calls.front();
    EXPECT_FALSE(run.finish(error));
    EXPECT_EQ(error, "moert_tier_fetch_experts_start of 256 bytes in 4 "
                     "experts (fetch 1 of the run): " +
                         captured);
    EXPECT_EQ(context.failure, error);
  }
  context.failure.clear();
  state.capture = CU_STREAM_CAPTURE_STATUS_NONE;
  {
    moert::cuda::StreamCopier copier(context, kCopyStream);
    moert::tier::Run run(copier);
    int64_t handle = run.startExperts(host, 256, 4, nullptr, 0);
    EXPECT_EQ(handle, 1);
    state.capture = CU_STREAM_CAPTURE_STATUS_ACTIVE;
    state.calls.clear();
    int64_t bytes = 0;
    EXPECT_EQ(run.waitExperts(handle, routed, 1, bytes), nullptr);
    EXPECT_FALSE(run.finish(error));
    EXPECT_EQ(error, "moert_tier_fetch_experts_wait of fetch 1: " + captured);
    EXPECT_EQ(state.calls, std::vector<std::string>{"free"});
  }
  EXPECT_TRUE(state.uploads.empty());
  state.capture = CU_STREAM_CAPTURE_STATUS_NONE;
  context.failure.clear();
}

// Tests that expert fetches bypass the tier cache while it is on: their
// buffer (only some experts copied) is never cached, so a later whole fetch
// of the same weight misses and copies it all; and an expert fetch of a
// weight the cache holds still copies its experts. They read the
// page-locked mirror of the input, as a whole fetch's miss does.
TEST_F(FakeRun, ExpertFetchesBypassTheTierCache) {
  context.streamOrderedAllocation = true;
  std::vector<char> weights(256, 3);
  moert::cuda::PinnedPool pool(&driver);
  moert::cuda::HostMirrors mirrors(pool);
  moert::tier::TierCache cache;
  moert::cuda::DeviceCacheMemory memory(context, context.stream);
  cache.setCapacity(1 << 20, memory);
  int32_t experts[] = {0, 3};
  std::string error;
  for (int r = 0; r < 2; ++r) {
    FakeTierRun run(context, &cache, &mirrors, weights.data(), 256);
    state.calls.clear();
    state.uploads.clear();
    int64_t handle = run.run.startExperts(weights.data(), 256, 4, experts, 2);
    int64_t bytes = 0;
    EXPECT_NE(run.run.waitExperts(handle, experts, 2, bytes), nullptr);
    run.run.release(handle);
    // A buffer of its own, though the cache holds the weight in run 2.
    EXPECT_EQ(std::count(state.calls.begin(), state.calls.end(), "alloc 256"),
              1);
    ASSERT_EQ(state.uploads.size(), 2u);    // experts 0 and 3: not adjacent
    const char *from = static_cast<const char *>(std::get<1>(
        state.uploads[0]));
    EXPECT_NE(from, weights.data());
    EXPECT_EQ(std::memcmp(from, weights.data(), 64), 0);
    EXPECT_EQ(std::get<2>(state.uploads[1]), 64u);
    EXPECT_EQ(cache.entryCount(), size_t(r));
    run.fetch(weights.data(), 256);
    EXPECT_TRUE(run.run.finish(error)) << error;
    const moert::tier::Stats &stats = run.run.stats();
    EXPECT_EQ(stats.fetches, 2u);
    // The whole fetch misses in the first run only.
    EXPECT_EQ(stats.hits, size_t(r));
    EXPECT_EQ(stats.misses, 2u - r);
    EXPECT_EQ(stats.bytes, 128u + (r ? 0u : 256u));
    EXPECT_EQ(stats.expertHits, 2u);
    EXPECT_EQ(cache.entryCount(), 1u);
  }
  cache.clear(memory);
}

// Tests the device memory limit with the tier cache: cached weights count
// against it, and an allocation it refuses (a kernel's here) is retried after
// evicting the least recently used unpinned entry, freed on the stream of
// the allocation before it.
TEST_F(FakeRun, LimitEvictsCachedWeightsAndRetries) {
  context.streamOrderedAllocation = true;
  moert::cuda::MemoryAccount account;
  account.setLimit(256);
  context.account = &account;
  std::vector<char> weights(256, 1);
  moert::cuda::PinnedPool pool(&driver);
  moert::cuda::HostMirrors mirrors(pool);
  moert::tier::TierCache cache;
  moert::cuda::DeviceCacheMemory memory(context, context.stream);
  cache.setCapacity(1 << 20, memory);
  context.tierCache = &cache;
  std::string error;
  void *older = nullptr;
  {
    FakeTierRun run(context, &cache, &mirrors, weights.data(), 256);
    older = run.fetch(weights.data(), 128);
    run.fetch(weights.data() + 128, 128);
    EXPECT_TRUE(run.run.finish(error)) << error;
  }
  EXPECT_EQ(account.held(), 256u);
  state.calls.clear();
  state.freedOn.clear();
  void *kernelBuffer = mgpuMemAlloc(64, nullptr, false);
  ASSERT_NE(kernelBuffer, nullptr) << context.failure;
  EXPECT_FALSE(context.failed()) << context.failure;
  EXPECT_EQ(state.calls, (std::vector<std::string>{"free", "alloc 64"}));
  EXPECT_EQ(state.freedOn, std::vector<std::string>{"run"});
  EXPECT_EQ(cache.entryCount(), 1u);
  EXPECT_EQ(account.held(), 192u);
  // The evicted weight is fetched again: a miss.
  {
    FakeTierRun run(context, &cache, &mirrors, weights.data(), 256);
    EXPECT_NE(run.fetch(weights.data(), 128), older);
    EXPECT_TRUE(run.run.finish(error)) << error;
    EXPECT_EQ(run.run.stats().misses, 1u);
  }
  mgpuMemFree(kernelBuffer, nullptr);
  cache.clear(memory);
  EXPECT_EQ(account.held(), 0u);
  context.tierCache = nullptr;
  context.account = nullptr;
}

// Tests the session's device memory limit: allocations past it fail as out of
// memory naming the limit, frees give the bytes back, and the run's peak is
// what was held at most.
TEST_F(FakeRun, DeviceMemoryLimitRefusesAllocationsPastIt) {
  moert::cuda::MemoryAccount account;
  account.setLimit(4096);
  context.account = &account;
  context.streamOrderedAllocation = true;
  account.startRun();
  void *first = mgpuMemAlloc(3000, nullptr, false);
  EXPECT_NE(first, nullptr);
  EXPECT_EQ(mgpuMemAlloc(2000, nullptr, false), nullptr);
  EXPECT_NE(context.failure.find("cuMemAllocFromPoolAsync(2000 bytes): "),
            std::string::npos)
      << context.failure;
  EXPECT_NE(context.failure.find("(the session's device memory limit is 4096 "
                                 "bytes, 3000 held: "
                                 "moert_session_set_device_memory_limit)"),
            std::string::npos)
      << context.failure;
  EXPECT_EQ(account.held(), 3000u);
  context.release(reinterpret_cast<CUdeviceptr>(first), context.stream);
  EXPECT_EQ(account.held(), 0u);
  CUdeviceptr second = 0;
  EXPECT_EQ(context.allocate(second, 4096, context.stream), CUDA_SUCCESS);
  EXPECT_EQ(account.peak(), 4096u);
  context.release(second, context.stream);
  account.setLimit(0);
  EXPECT_EQ(context.allocate(second, 1 << 20, context.stream), CUDA_SUCCESS);
  context.release(second, context.stream);
  context.account = nullptr;
}

// Tests that the pinned pool hands a block back to a later run of the same
// size (page-locking gigabytes is slow) and a new one for another size.
TEST_F(FakeRun, PinnedBlocksAreReusedAcrossRuns) {
  moert::cuda::PinnedPool pool(&driver); // no cuMemAllocHost: the heap
  void *a = nullptr, *b = nullptr, *c = nullptr;
  ASSERT_EQ(pool.take(1000, a), CUDA_SUCCESS);
  pool.give(a);
  ASSERT_EQ(pool.take(1000, b), CUDA_SUCCESS);
  EXPECT_EQ(a, b);
  ASSERT_EQ(pool.take(1000, c), CUDA_SUCCESS);
  EXPECT_NE(c, b);
  pool.give(b);
  pool.give(c);
}

TEST_F(FakeRun, OtherDevicesAreRefused) {
  mgpuSetDefaultDevice(0);
  EXPECT_FALSE(context.failed());
  mgpuSetDefaultDevice(1);
  EXPECT_EQ(context.failure,
            "mgpuSetDefaultDevice(1): this session runs on CUDA device 0");
}

TEST_F(FakeRun, TensorMapsListDimensionsInnermostFirst) {
  // memref<64x256xf32> at offset 16: rows of 256 floats.
  float data[32];
  int64_t descriptor[7] = {0, 0, 16, 64, 256, 256, 1};
  float *aligned = data;
  std::memcpy(&descriptor[0], &aligned, sizeof(aligned));
  std::memcpy(&descriptor[1], &aligned, sizeof(aligned));
  int64_t box[2] = {8, 32};
  void *map = mgpuTensorMapEncodeTiledMemref(
      2, descriptor, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 0, 0, 0, 0, box);
  ASSERT_FALSE(context.failed()) << context.failure;
  EXPECT_EQ(map, reinterpret_cast<void *>(0x100000));
  EXPECT_EQ(state.rank, 2u);
  EXPECT_EQ(state.address, static_cast<void *>(data + 16));
  EXPECT_EQ(state.globalDim[0], 256u);
  EXPECT_EQ(state.globalDim[1], 64u);
  EXPECT_EQ(state.globalStrides[0], 1024u);
  EXPECT_EQ(state.boxDim[0], 32u);
  EXPECT_EQ(state.boxDim[1], 8u);
  // The map went into the session's first slab of maps (device memory that
  // is not the run's pool), uploaded on the run's stream from page-locked
  // memory.
  const std::string slab =
      std::to_string(TensorMapCache::kMapsPerSlab * sizeof(CUtensorMap));
  EXPECT_EQ(state.calls,
            (std::vector<std::string>{
                "push", "plain alloc " + slab, "host alloc " + slab,
                "upload " + std::to_string(sizeof(CUtensorMap))}));

  EXPECT_EQ(mgpuTensorMapEncodeTiledMemref(6, descriptor, 7, 0, 0, 0, 0, box),
            nullptr);
  EXPECT_NE(context.failure.find("unsupported rank or data type"),
            std::string::npos)
      << context.failure;
}

/// Encodes a map of memref<64x256xf32> at `data` with a box of rows x 32.
void *encodeRows(float *data, int64_t rows) {
  int64_t descriptor[7] = {0, 0, 0, 64, 256, 256, 1};
  std::memcpy(&descriptor[0], &data, sizeof(data));
  std::memcpy(&descriptor[1], &data, sizeof(data));
  int64_t box[2] = {rows, 32};
  return mgpuTensorMapEncodeTiledMemref(
      2, descriptor, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 0, 0, 0, 0, box);
}

TEST_F(FakeRun, TensorMapsAreUploadedOncePerContent) {
  float a[4], b[4];
  void *first = encodeRows(a, 8);
  state.calls.clear();
  // The same map again (a later launch or run): no driver call but the
  // encoding's.
  EXPECT_EQ(encodeRows(a, 8), first);
  EXPECT_TRUE(state.calls.empty());
  // Another tensor or box: a new slot of the same slab, one upload each.
  void *other = encodeRows(b, 8), *boxed = encodeRows(a, 16);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(other),
            reinterpret_cast<uintptr_t>(first) + sizeof(CUtensorMap));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(boxed),
            reinterpret_cast<uintptr_t>(first) + 2 * sizeof(CUtensorMap));
  EXPECT_EQ(state.calls,
            (std::vector<std::string>(
                2, "upload " + std::to_string(sizeof(CUtensorMap)))));
  EXPECT_EQ(tensorMaps->size(), 3u);
  EXPECT_EQ(tensorMaps->uploads(), 3u);
  EXPECT_FALSE(context.failed()) << context.failure;
}

/// Fills the cache's slabs with distinct maps (of `data`, boxes of 1.. rows).
void fillSlabs(float *data, size_t slabs) {
  for (size_t i = 0; i < slabs * TensorMapCache::kMapsPerSlab; ++i)
    encodeRows(data + i % 4, int64_t(1 + i / 4));
}

TEST_F(FakeRun, FullTensorMapCacheStartsOverAfterSynchronizing) {
  float data[4];
  fillSlabs(data, TensorMapCache::kSlabsBeforeReuse);
  state.calls.clear();
  void *next = encodeRows(data, 100000);
  // No new slab: the kernels reading the old maps are waited for, and the
  // first slot is reused.
  EXPECT_EQ(state.calls,
            (std::vector<std::string>{
                "sync", "upload " + std::to_string(sizeof(CUtensorMap))}));
  EXPECT_EQ(next, reinterpret_cast<void *>(0x100000));
  EXPECT_EQ(tensorMaps->size(), 1u);
  EXPECT_FALSE(context.failed()) << context.failure;
}

TEST_F(FakeRun, TensorMapSlabsCountInTheSessionsDeviceMemory) {
  const uint64_t slab = TensorMapCache::kMapsPerSlab * sizeof(CUtensorMap);
  moert::cuda::MemoryAccount account;
  auto maps = std::make_unique<TensorMapCache>(&driver, &account);
  context.tensorMaps = maps.get();
  float data[4];
  EXPECT_NE(encodeRows(data, 8), nullptr) << context.failure;
  EXPECT_EQ(account.held(), slab);
  maps.reset(); // the session's end frees the slab and stops counting it
  EXPECT_EQ(account.held(), 0u);
  context.tensorMaps = tensorMaps.get();
}

TEST_F(FakeRun, TensorMapSlabPastTheDeviceMemoryLimitFailsTheRun) {
  const uint64_t slab = TensorMapCache::kMapsPerSlab * sizeof(CUtensorMap);
  moert::cuda::MemoryAccount account;
  account.setLimit(slab - 1);
  TensorMapCache maps(&driver, &account);
  context.tensorMaps = &maps;
  state.calls.clear();
  float data[4];
  EXPECT_EQ(encodeRows(data, 8), nullptr);
  EXPECT_NE(context.failure.find("bytes of tensor maps) past the limit (the "
                                 "session's device memory limit is " +
                                 std::to_string(slab - 1) + " bytes"),
            std::string::npos)
      << context.failure;
  // Refused before the driver was asked.
  EXPECT_TRUE(state.calls.empty());
  EXPECT_EQ(account.held(), 0u);
  context.tensorMaps = tensorMaps.get();
}

TEST_F(FakeRun, TensorMapCacheGrowsOnceAGraphMayHoldItsMaps) {
  float data[4];
  state.capture = CU_STREAM_CAPTURE_STATUS_ACTIVE;
  encodeRows(data, 1); // handed out to a graph being captured
  state.capture = CU_STREAM_CAPTURE_STATUS_NONE;
  fillSlabs(data, TensorMapCache::kSlabsBeforeReuse);
  state.calls.clear();
  encodeRows(data, 100000);
  // A graph may still read any slot: a new slab, and nothing synchronized.
  const std::string slab =
      std::to_string(TensorMapCache::kMapsPerSlab * sizeof(CUtensorMap));
  EXPECT_EQ(state.calls,
            (std::vector<std::string>{
                "plain alloc " + slab, "host alloc " + slab,
                "upload " + std::to_string(sizeof(CUtensorMap))}));
  EXPECT_EQ(tensorMaps->size(),
            TensorMapCache::kSlabsBeforeReuse * TensorMapCache::kMapsPerSlab +
                1);
  EXPECT_FALSE(context.failed()) << context.failure;
}

} // namespace
