//===- CudaGpuTest.cpp - CUDA bundles on a real GPU -----------------------===//
//
// A "cuda-sm_90a" bundle around TestCudaHost.c (host code calling the mgpu*
// ABI, with device code from TestCudaKernels.cu), run through the C API on
// CUDA device 0: host views and DLPack device tensors, the caller's stream,
// device-timed runs, runs from several threads, PTX loaded by the JIT, cluster
// launches, tensor maps, the runtime's memory pool, and the errors: a failing
// launch, an asynchronous fault, a chip the device is not, more memory than
// the device has. Every test skips, saying why, without a driver or an sm_90a
// GPU.
//
// The fault test leaves the device's primary context unusable for the rest
// of its process (as any illegal address does): ctest runs each test in its
// own process; run by hand, filter it (--gtest_filter=-CudaGpuFault.*) and
// run it alone.
//
//===----------------------------------------------------------------------===//

#include "CudaDriver.h"
#include "TestBundles.h"
#include "moert/moert.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <string>
#include <thread>
#include <vector>

#if !defined(MOERT_TEST_CUDA_HOST) || !defined(MOERT_TEST_CUDA_BUNDLE_DIR)
#error "MOERT_TEST_CUDA_HOST and MOERT_TEST_CUDA_BUNDLE_DIR must be defined"
#endif

namespace {

using moert::testing::readFile;

constexpr int64_t kRows = 64, kColumns = 256, kElements = kRows * kColumns;
const int64_t kShape[] = {kRows, kColumns};
const int64_t kMapShape[] = {16};

/// The test bundle (TestBundle/*.json around the test host code) with
/// `target` in its header and manifest; or, with a `manifest` and a
/// `schedule`, those around the same host code.
std::vector<uint8_t> buildBundle(const std::string &target = "cuda-sm_90a",
                                 std::string manifest = "",
                                 const std::string &schedule = "") {
  const std::string dir = MOERT_TEST_CUDA_BUNDLE_DIR;
  std::vector<moert::testing::Section> sections;
  if (manifest.empty()) {
    manifest = readFile((dir + "/manifest.json").c_str());
    manifest.replace(manifest.find("cuda-sm_90a"), std::strlen("cuda-sm_90a"),
                     target);
    sections = {{MOERT_BUNDLE_SECTION_SCHEDULE,
                 readFile((dir + "/schedule.json").c_str())},
                {MOERT_BUNDLE_SECTION_REFERENCE,
                 readFile((dir + "/reference.json").c_str())}};
  } else {
    sections = {{MOERT_BUNDLE_SECTION_SCHEDULE, schedule}};
  }
  sections.push_back({MOERT_BUNDLE_SECTION_MANIFEST, manifest});
  sections.push_back(
      {MOERT_BUNDLE_SECTION_KERNELS, readFile(MOERT_TEST_CUDA_HOST)});
  return moert::testing::layOutBundle(sections, target.c_str());
}

moert_status_code_t codeOf(moert_status_t status,
                           std::string *message = nullptr) {
  moert_status_code_t code = moert_status_code(status);
  if (message)
    *message = moert_status_message(status);
  moert_status_free(status);
  return code;
}

/// What the host driver (FakeCudaDriver.c) counts; null functions on a real
/// driver.
struct FakeHooks {
  FakeHooks() {
    handle = ::dlopen(moert::cuda::cudaDriverLibraryName().c_str(),
                      RTLD_NOW | RTLD_NOLOAD);
    if (!handle)
      return;
    liveAllocations = reinterpret_cast<long (*)()>(
        ::dlsym(handle, "moertFakeCudaLiveAllocations"));
    livePools =
        reinterpret_cast<long (*)()>(::dlsym(handle, "moertFakeCudaLivePools"));
    poolAllocations = reinterpret_cast<long (*)()>(
        ::dlsym(handle, "moertFakeCudaPoolAllocations"));
    poolsDestroyedInUse = reinterpret_cast<long (*)()>(
        ::dlsym(handle, "moertFakeCudaPoolsDestroyedInUse"));
    poolReleaseThreshold = reinterpret_cast<unsigned long long (*)()>(
        ::dlsym(handle, "moertFakeCudaPoolReleaseThreshold"));
    if (!livePools || !poolAllocations || !poolsDestroyedInUse ||
        !poolReleaseThreshold)
      liveAllocations = nullptr;
  }
  ~FakeHooks() {
    if (handle)
      ::dlclose(handle);
  }
  FakeHooks(const FakeHooks &) = delete;
  FakeHooks &operator=(const FakeHooks &) = delete;

  void *handle = nullptr;
  long (*liveAllocations)() = nullptr;
  long (*livePools)() = nullptr;
  long (*poolAllocations)() = nullptr;
  long (*poolsDestroyedInUse)() = nullptr;
  unsigned long long (*poolReleaseThreshold)() = nullptr;
};

/// Device 0 through the driver, for the tests' own device memory; every test
/// skips without a driver or an sm_90a device.
class CudaGpu : public ::testing::Test {
protected:
  void SetUp() override {
    std::string error;
    driver = moert::cuda::loadCudaDriver(error);
    if (!driver)
      GTEST_SKIP() << "no CUDA driver/GPU: " << error;
    CUresult result = driver->init(0);
    if (result != CUDA_SUCCESS)
      GTEST_SKIP() << "no CUDA driver/GPU: cuInit: "
                   << driver->describe(result);
    int count = 0;
    if (driver->deviceGetCount(&count) != CUDA_SUCCESS || count == 0)
      GTEST_SKIP() << "no CUDA driver/GPU: no device";
    ASSERT_EQ(driver->deviceGet(&device, 0), CUDA_SUCCESS);
    int major = 0, minor = 0;
    driver->deviceGetAttribute(
        &major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device);
    driver->deviceGetAttribute(
        &minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device);
    if (major != 9 || minor != 0)
      GTEST_SKIP() << "needs an sm_90a GPU (compute capability 9.0); device 0 "
                      "has "
                   << major << "." << minor;
    ASSERT_EQ(driver->devicePrimaryCtxRetain(&context, device), CUDA_SUCCESS);
    ASSERT_EQ(driver->ctxPushCurrent(context), CUDA_SUCCESS);
    std::vector<uint8_t> bytes = buildBundle();
    ASSERT_EQ(moert_bundle_load_memory(bytes.data(), bytes.size(), &bundle),
              nullptr);
    std::string message;
    ASSERT_EQ(codeOf(moert_session_create_on_device(bundle, MOERT_DEVICE_CUDA,
                                                    &session),
                     &message),
              MOERT_OK)
        << message;
    for (int64_t i = 0; i < kElements; ++i) {
      x[i] = float(i % 97) * 0.25f - 3.0f;
      y[i] = float(i % 31) * -0.5f + 1.0f;
    }
  }

  void TearDown() override {
    moert_session_release(session);
    moert_bundle_release(bundle);
    for (CUdeviceptr pointer : allocations)
      driver->memFree(pointer);
    // On the host driver (FakeCudaDriver.c), every allocation must be gone:
    // buffers, kernel results, tensor maps; and the session's memory pool,
    // destroyed once nothing from it was live.
    if (FakeHooks fake; fake.liveAllocations) {
      EXPECT_EQ(fake.liveAllocations(), 0) << "device allocations leaked";
      EXPECT_EQ(fake.livePools(), 0) << "the memory pool was not destroyed";
      EXPECT_EQ(fake.poolsDestroyedInUse(), 0)
          << "the memory pool was destroyed with allocations live";
    }
    if (context) {
      CUcontext popped;
      driver->ctxPopCurrent(&popped);
      driver->devicePrimaryCtxRelease(device);
    }
  }

  size_t function(const char *name) {
    size_t index = 0;
    EXPECT_EQ(moert_bundle_find_function(bundle, name, &index), nullptr);
    return index;
  }

  CUdeviceptr deviceCopy(const float *host, size_t bytes) {
    CUdeviceptr pointer = 0;
    EXPECT_EQ(driver->memAlloc(&pointer, bytes), CUDA_SUCCESS);
    allocations.push_back(pointer);
    if (host) {
      EXPECT_EQ(driver->memcpyHtoDAsync(pointer, host, bytes, nullptr),
                CUDA_SUCCESS);
    }
    return pointer;
  }

  moert_dl_tensor_t dlDevice(CUdeviceptr pointer, const int64_t *shape,
                             int ndim, moert_dl_dtype_t dtype) {
    moert_dl_tensor_t tensor;
    tensor.data = reinterpret_cast<void *>(pointer);
    tensor.device = {MOERT_DL_CUDA, 0};
    tensor.ndim = ndim;
    tensor.dtype = dtype;
    tensor.shape = const_cast<int64_t *>(shape);
    tensor.strides = nullptr;
    tensor.byte_offset = 0;
    return tensor;
  }

  /// Runs an add function with host views; poisons `out` first.
  moert_status_code_t runAdd(const char *name, std::vector<float> &out,
                             std::string *message = nullptr,
                             double *milliseconds = nullptr) {
    out.assign(kElements, NAN);
    moert_tensor_view_t in[2] = {
        {MOERT_DTYPE_F32, 2, kShape, x.data(), x.size() * 4},
        {MOERT_DTYPE_F32, 2, kShape, y.data(), y.size() * 4}};
    moert_tensor_view_t result = {MOERT_DTYPE_F32, 2, kShape, out.data(),
                                  out.size() * 4};
    return codeOf(moert_session_run_timed(session, function(name), in, 2,
                                          &result, 1, milliseconds),
                  message);
  }

  /// The map the "tensor_map" function encodes for the kRows x kColumns f32
  /// tensor at `x`, encoded here: dimensions innermost first, boxes of 32x8.
  void encodeTestMap(CUdeviceptr x, CUtensorMap &map) {
    std::memset(&map, 0, sizeof(map));
    cuuint64_t globalDim[2] = {kColumns, kRows},
               globalStrides[1] = {kColumns * 4};
    cuuint32_t box[2] = {32, 8}, elementStrides[2] = {1, 1};
    ASSERT_EQ(driver->tensorMapEncodeTiled(
                  &map, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 2,
                  reinterpret_cast<void *>(x), globalDim, globalStrides, box,
                  elementStrides, CU_TENSOR_MAP_INTERLEAVE_NONE,
                  CU_TENSOR_MAP_SWIZZLE_NONE, CU_TENSOR_MAP_L2_PROMOTION_NONE,
                  CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE),
              CUDA_SUCCESS);
  }

  void expectSum(const std::vector<float> &out) {
    for (int64_t i = 0; i < kElements; ++i)
      ASSERT_EQ(out[i], x[i] + y[i]) << "element " << i;
  }

  const moert::cuda::CudaDriver *driver = nullptr;
  CUdevice device = 0;
  CUcontext context = nullptr;
  moert_bundle_t *bundle = nullptr;
  moert_session_t *session = nullptr;
  std::vector<float> x = std::vector<float>(kElements),
                     y = std::vector<float>(kElements);
  std::vector<CUdeviceptr> allocations;
};

TEST_F(CudaGpu, AddsWithHostViews) {
  std::vector<float> out;
  std::string message;
  double milliseconds = -1;
  ASSERT_EQ(runAdd("add", out, &message, &milliseconds), MOERT_OK) << message;
  expectSum(out);
  EXPECT_GT(milliseconds, 0.0);
  // Again: the device code stays loaded, allocations are reused.
  ASSERT_EQ(runAdd("add", out, &message), MOERT_OK) << message;
  expectSum(out);
}

// Tests that a session's allocations come from the runtime's own memory pool,
// which keeps what a run frees mapped for the next run: on the host driver,
// the pool's allocations and release threshold are counted (and TearDown
// checks that the pool is destroyed with the session); on a GPU, the device
// memory a run freed is still taken after it, where the default pool would
// have given it back at the run's final synchronization.
TEST_F(CudaGpu, KeepsFreedMemoryInTheRuntimesPool) {
  FakeHooks fake;
  long before = fake.liveAllocations ? fake.poolAllocations() : 0;
  size_t freeBefore = 0, freeAfter = 0, total = 0;
  ASSERT_EQ(driver->memGetInfo(&freeBefore, &total), CUDA_SUCCESS);
  std::vector<float> out;
  std::string message;
  ASSERT_EQ(runAdd("add", out, &message), MOERT_OK) << message;
  expectSum(out);
  moert_run_stats_t stats{};
  ASSERT_EQ(moert_session_last_run_stats(session, &stats), nullptr);
  ASSERT_GT(stats.peak_device_bytes, 0u);
  if (fake.liveAllocations) {
    EXPECT_EQ(fake.livePools(), 1);
    EXPECT_GE(fake.poolAllocations() - before, 3); // x, y, the result
    EXPECT_EQ(fake.poolReleaseThreshold(), UINT64_MAX);
    return;
  }
  ASSERT_EQ(driver->memGetInfo(&freeAfter, &total), CUDA_SUCCESS);
  EXPECT_GE(freeBefore - std::min(freeBefore, freeAfter),
            stats.peak_device_bytes)
      << "free device memory before the run " << freeBefore << ", after "
      << freeAfter;
  // The next run reuses it.
  ASSERT_EQ(runAdd("add", out, &message), MOERT_OK) << message;
  size_t freeAgain = 0;
  ASSERT_EQ(driver->memGetInfo(&freeAgain, &total), CUDA_SUCCESS);
  EXPECT_EQ(freeAgain, freeAfter);
}

// Tests that a session without a pool of the runtime's own runs all the same,
// from the device's current pool: where the driver refuses to make one (the
// host driver's MOERT_FAKE_CUDA_NO_POOLS) or MOERT_CUDA_MEMORY_POOL=0 (on a
// GPU). The fixture's session goes first: a new session would share its pool.
TEST_F(CudaGpu, RunsWithoutAPoolOfItsOwn) {
  moert_session_release(session);
  session = nullptr;
  FakeHooks fake;
  const char *setting = fake.liveAllocations ? "MOERT_FAKE_CUDA_NO_POOLS"
                                             : "MOERT_CUDA_MEMORY_POOL";
  ::setenv(setting, fake.liveAllocations ? "1" : "0", 1);
  std::string message;
  moert_status_code_t created = codeOf(
      moert_session_create_on_device(bundle, MOERT_DEVICE_CUDA, &session),
      &message);
  ::unsetenv(setting);
  ASSERT_EQ(created, MOERT_OK) << message;
  long before = fake.liveAllocations ? fake.poolAllocations() : 0;
  std::vector<float> out;
  ASSERT_EQ(runAdd("add", out, &message), MOERT_OK) << message;
  expectSum(out);
  ASSERT_EQ(runAdd("add_cluster", out, &message), MOERT_OK) << message;
  expectSum(out);
  if (fake.liveAllocations) {
    EXPECT_EQ(fake.livePools(), 0);
    EXPECT_EQ(fake.poolAllocations(), before);
  }
}

TEST_F(CudaGpu, LoadsPtxThroughTheJit) {
  std::vector<float> out;
  std::string message;
  ASSERT_EQ(runAdd("add_jit", out, &message), MOERT_OK) << message;
  expectSum(out);
}

TEST_F(CudaGpu, LaunchesClusters) {
  std::vector<float> out;
  std::string message;
  ASSERT_EQ(runAdd("add_cluster", out, &message), MOERT_OK) << message;
  expectSum(out);
}

TEST_F(CudaGpu, TakesDeviceTensorsOnTheCallersStream) {
  CUstream stream = nullptr;
  ASSERT_EQ(driver->streamCreate(&stream, CU_STREAM_NON_BLOCKING),
            CUDA_SUCCESS);
  ASSERT_EQ(moert_session_set_stream(session, stream), nullptr);
  moert_dl_dtype_t f32 = {MOERT_DL_FLOAT, 32, 1};
  CUdeviceptr dx = deviceCopy(x.data(), x.size() * 4);
  CUdeviceptr dy = deviceCopy(y.data(), y.size() * 4);
  CUdeviceptr dout = deviceCopy(nullptr, x.size() * 4);
  ASSERT_EQ(driver->streamSynchronize(nullptr), CUDA_SUCCESS);
  moert_dl_tensor_t in[2] = {dlDevice(dx, kShape, 2, f32),
                             dlDevice(dy, kShape, 2, f32)};
  moert_dl_tensor_t result = dlDevice(dout, kShape, 2, f32);
  std::string message;
  ASSERT_EQ(
      codeOf(moert_session_run_dl(session, function("add"), in, 2, &result, 1),
             &message),
      MOERT_OK)
      << message;
  std::vector<float> out(kElements, NAN);
  ASSERT_EQ(driver->memcpyDtoHAsync(out.data(), dout, out.size() * 4, stream),
            CUDA_SUCCESS);
  ASSERT_EQ(driver->streamSynchronize(stream), CUDA_SUCCESS);
  expectSum(out);

  // Mixed: a host input and a device one, a host output.
  in[0] = {x.data(),
           {MOERT_DL_CPU, 0},
           2,
           f32,
           const_cast<int64_t *>(kShape),
           nullptr,
           0};
  out.assign(kElements, NAN);
  result = {out.data(),
            {MOERT_DL_CPU, 0},
            2,
            f32,
            const_cast<int64_t *>(kShape),
            nullptr,
            0};
  ASSERT_EQ(
      codeOf(moert_session_run_dl(session, function("add"), in, 2, &result, 1),
             &message),
      MOERT_OK)
      << message;
  expectSum(out);

  // Another device is refused before anything runs.
  in[1].device.device_id = 1;
  EXPECT_EQ(
      codeOf(moert_session_run_dl(session, function("add"), in, 2, &result, 1),
             &message),
      MOERT_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(message.find("is on CUDA device 1; the session runs on CUDA "
                         "device 0"),
            std::string::npos)
      << message;

  ASSERT_EQ(moert_session_reset_stream(session), nullptr);
  driver->streamDestroy(stream);
}

TEST_F(CudaGpu, RunsFromSeveralThreads) {
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < 5; ++r) {
        std::vector<float> out;
        if (runAdd("add", out) != MOERT_OK) {
          ++failures[t];
          continue;
        }
        for (int64_t i = 0; i < kElements; ++i)
          if (out[i] != x[i] + y[i]) {
            ++failures[t];
            break;
          }
      }
    });
  for (std::thread &thread : threads)
    thread.join();
  EXPECT_EQ(failures, std::vector<int>(4, 0));
}

TEST_F(CudaGpu, EncodesTensorMapsForTheDevice) {
  CUdeviceptr dx = deviceCopy(x.data(), x.size() * 4);
  ASSERT_EQ(driver->streamSynchronize(nullptr), CUDA_SUCCESS);
  moert_dl_tensor_t in = dlDevice(dx, kShape, 2, {MOERT_DL_FLOAT, 32, 1});
  std::vector<int64_t> words(16, -1);
  moert_dl_tensor_t result = {words.data(),
                              {MOERT_DL_CPU, 0},
                              1,
                              {MOERT_DL_INT, 64, 1},
                              const_cast<int64_t *>(kMapShape),
                              nullptr,
                              0};
  std::string message;
  ASSERT_EQ(codeOf(moert_session_run_dl(session, function("tensor_map"), &in, 1,
                                        &result, 1),
                   &message),
            MOERT_OK)
      << message;
  CUtensorMap expected;
  ASSERT_NO_FATAL_FAILURE(encodeTestMap(dx, expected));
  EXPECT_EQ(std::memcmp(words.data(), &expected, sizeof(expected)), 0);
}

/// The driver's graph entry points (the runtime itself never calls them).
struct GraphApi {
  GraphApi() {
    handle = ::dlopen(moert::cuda::cudaDriverLibraryName().c_str(),
                      RTLD_NOW | RTLD_NOLOAD);
    if (!handle)
      return;
    beginCapture = reinterpret_cast<decltype(beginCapture)>(
        ::dlsym(handle, "cuStreamBeginCapture_v2"));
    endCapture = reinterpret_cast<decltype(endCapture)>(
        ::dlsym(handle, "cuStreamEndCapture"));
    instantiate = reinterpret_cast<decltype(instantiate)>(
        ::dlsym(handle, "cuGraphInstantiateWithFlags"));
    launch = reinterpret_cast<decltype(launch)>(
        ::dlsym(handle, "cuGraphLaunch"));
    destroyExec = reinterpret_cast<decltype(destroyExec)>(
        ::dlsym(handle, "cuGraphExecDestroy"));
    destroy = reinterpret_cast<decltype(destroy)>(
        ::dlsym(handle, "cuGraphDestroy"));
  }
  ~GraphApi() {
    if (handle)
      ::dlclose(handle);
  }
  bool complete() const {
    return beginCapture && endCapture && instantiate && launch &&
           destroyExec && destroy;
  }

  void *handle = nullptr;
  CUresult (*beginCapture)(CUstream, CUstreamCaptureMode) = nullptr;
  CUresult (*endCapture)(CUstream, CUgraph *) = nullptr;
  CUresult (*instantiate)(CUgraphExec *, CUgraph, unsigned long long) = nullptr;
  CUresult (*launch)(CUgraphExec, CUstream) = nullptr;
  CUresult (*destroyExec)(CUgraphExec) = nullptr;
  CUresult (*destroy)(CUgraph) = nullptr;
};

// Tests that a run captured into a CUDA graph (as torch.cuda.graph does in a
// serving engine) replays correctly: the TMA descriptor the kernel reads is
// the session's device copy (TensorMapCache), the kernel's buffer is a graph
// allocation, and every replay rewrites the output. A new tensor's map is
// uploaded inside the capture, from page-locked memory.
TEST_F(CudaGpu, ReplaysARunCapturedIntoAGraph) {
  GraphApi graphs;
  if (!graphs.complete())
    GTEST_SKIP() << "the CUDA driver has no graph entry points";
  CUstream stream = nullptr;
  ASSERT_EQ(driver->streamCreate(&stream, CU_STREAM_NON_BLOCKING),
            CUDA_SUCCESS);
  ASSERT_EQ(moert_session_set_stream(session, stream), nullptr);
  moert_dl_dtype_t f32 = {MOERT_DL_FLOAT, 32, 1}, i64 = {MOERT_DL_INT, 64, 1};
  CUdeviceptr warm = deviceCopy(x.data(), x.size() * 4);
  CUdeviceptr dx = deviceCopy(x.data(), x.size() * 4);
  CUdeviceptr dwords = deviceCopy(nullptr, 16 * 8);
  ASSERT_EQ(driver->streamSynchronize(nullptr), CUDA_SUCCESS);
  moert_dl_tensor_t result = dlDevice(dwords, kMapShape, 1, i64);
  std::string message;
  // A warm-up run outside the capture (the kernels' first use).
  moert_dl_tensor_t in = dlDevice(warm, kShape, 2, f32);
  ASSERT_EQ(codeOf(moert_session_run_dl(session, function("tensor_map"), &in,
                                        1, &result, 1),
                   &message),
            MOERT_OK)
      << message;
  in = dlDevice(dx, kShape, 2, f32);
  ASSERT_EQ(graphs.beginCapture(stream, CU_STREAM_CAPTURE_MODE_GLOBAL),
            CUDA_SUCCESS);
  moert_status_code_t captured = codeOf(
      moert_session_run_dl(session, function("tensor_map"), &in, 1, &result, 1),
      &message);
  CUgraph graph = nullptr;
  ASSERT_EQ(graphs.endCapture(stream, &graph), CUDA_SUCCESS);
  ASSERT_EQ(captured, MOERT_OK) << message;
  CUgraphExec exec = nullptr;
  ASSERT_EQ(graphs.instantiate(&exec, graph, 0), CUDA_SUCCESS);

  CUtensorMap expected;
  ASSERT_NO_FATAL_FAILURE(encodeTestMap(dx, expected));
  for (int replay = 0; replay < 2; ++replay) {
    ASSERT_EQ(driver->memsetD32Async(dwords, 0xffffffffu, 32, stream),
              CUDA_SUCCESS);
    ASSERT_EQ(graphs.launch(exec, stream), CUDA_SUCCESS);
    std::vector<int64_t> words(16, 0);
    ASSERT_EQ(driver->memcpyDtoHAsync(words.data(), dwords, 16 * 8, stream),
              CUDA_SUCCESS);
    ASSERT_EQ(driver->streamSynchronize(stream), CUDA_SUCCESS);
    EXPECT_EQ(std::memcmp(words.data(), &expected, sizeof(expected)), 0)
        << "replay " << replay;
  }
  graphs.destroyExec(exec);
  graphs.destroy(graph);
  ASSERT_EQ(moert_session_reset_stream(session), nullptr);
  driver->streamDestroy(stream);
}

TEST_F(CudaGpu, FailingLaunchNamesTheCall) {
  std::vector<float> out;
  std::string message;
  ASSERT_EQ(runAdd("bad_launch", out, &message), MOERT_ERROR_KERNEL);
  EXPECT_EQ(message,
            "running \"bad_launch\": kernel _mlir_ciface_bad_launch: "
            "cuLaunchKernel(moert_test_add, grid 64x1x1, block 2048x1x1, smem "
            "0): CUDA_ERROR_INVALID_VALUE (invalid argument)");
  // The session still works.
  ASSERT_EQ(runAdd("add", out, &message), MOERT_OK) << message;
  expectSum(out);
}

TEST_F(CudaGpu, ChecksTheChipAndTheMemory) {
  moert_bundle_t *other = nullptr;
  moert_session_t *otherSession = nullptr;
  std::string message;
  std::vector<uint8_t> bytes = buildBundle("cuda-sm_100a");
  ASSERT_EQ(moert_bundle_load_memory(bytes.data(), bytes.size(), &other),
            nullptr);
  EXPECT_EQ(codeOf(moert_session_create_on_device(other, MOERT_DEVICE_CUDA,
                                                  &otherSession),
                   &message),
            MOERT_ERROR_UNSUPPORTED);
  EXPECT_NE(message.find("this bundle is compiled for sm_100a (compute "
                         "capability 10.0 exactly); CUDA device 0 ("),
            std::string::npos)
      << message;
  EXPECT_NE(message.find(") has compute capability 9.0"), std::string::npos)
      << message;
  moert_bundle_release(other);

  // sm_80 code runs on 9.0.
  bytes = buildBundle("cuda-sm_80");
  ASSERT_EQ(moert_bundle_load_memory(bytes.data(), bytes.size(), &other),
            nullptr);
  EXPECT_EQ(codeOf(moert_session_create_on_device(other, MOERT_DEVICE_CUDA,
                                                  &otherSession),
                   &message),
            MOERT_OK)
      << message;
  moert_session_release(otherSession);
  moert_bundle_release(other);

  // A 1 TiB buffer (the format's limit) is more than any device has.
  bytes =
      buildBundle("cuda-sm_90a",
                  R"({"target": "cuda-sm_90a", "functions": [{"name": "huge",
          "symbol": "_mlir_ciface_huge", "inputs": [], "outputs": []}]})",
                  R"({"kernels": [], "programs": [{"function": "huge",
          "buffers": [{"dtype": "f32", "shape": [274877906944]}],
          "commands": [{"command": "allocate", "buffer": 0}]}]})");
  moert_status_t status =
      moert_bundle_load_memory(bytes.data(), bytes.size(), &other);
  ASSERT_EQ(status, nullptr) << moert_status_message(status);
  EXPECT_EQ(codeOf(moert_session_create_on_device(other, MOERT_DEVICE_CUDA,
                                                  &otherSession),
                   &message),
            MOERT_ERROR_OUT_OF_MEMORY);
  EXPECT_NE(message.find("function \"huge\" needs 1099511627776 bytes of "
                         "device memory for its buffers and outputs; CUDA "
                         "device 0 ("),
            std::string::npos)
      << message;
  EXPECT_NE(message.find(" bytes free (of "), std::string::npos) << message;
  moert_bundle_release(other);
}

/// An asynchronous fault: found by the run's final synchronization.
class CudaGpuFault : public CudaGpu {};

TEST_F(CudaGpuFault, IsReportedAfterTheRun) {
  moert_tensor_view_t in = {MOERT_DTYPE_F32, 2, kShape, x.data(), x.size() * 4};
  std::string message;
  EXPECT_EQ(
      codeOf(moert_session_run(session, function("fault"), &in, 1, nullptr, 0),
             &message),
      MOERT_ERROR_KERNEL);
  EXPECT_EQ(message, "running \"fault\": after the run: cuStreamSynchronize "
                     "(after launching moert_test_fault): "
                     "CUDA_ERROR_ILLEGAL_ADDRESS (an illegal memory access "
                     "was encountered)");
}

} // namespace
