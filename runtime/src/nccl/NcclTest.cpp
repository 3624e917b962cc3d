//===- NcclTest.cpp - loading NCCL, without a GPU -------------------------===//
//
// ctest runs each NcclLoad test in a process of its own with
// MOERT_NCCL_LIBRARY set (the first load's outcome stands for the process).
// The tests discovered without the variable load the real library where it
// is installed and skip, saying why, where it (or a CUDA driver) is not.
//
// NcclStarted: started all_to_all_v (docs/streaming.md §2) through the whole
// runtime path (the moert_comm_* ABI, RunContext, NcclCollectives) on a
// world of one rank, over a fake NCCL whose sends and receives are host
// copies at ncclGroupEnd and the host CUDA driver (FakeCudaDriver.c): what
// the start and the wait write, on which stream NCCL is called, staging
// released, failures (a deadline, an NCCL error) recorded and the outputs
// zeroed. The device's asynchrony itself is the GPU runs' to check.
//
//===----------------------------------------------------------------------===//

#include "Nccl.h"

#include "CommAbi.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string loadError() {
  std::string error;
  const moert::nccl::NcclLibrary *library = moert::nccl::loadNccl(error);
  EXPECT_EQ(library, nullptr);
  EXPECT_FALSE(error.empty());
  return error;
}

TEST(NcclLoad, MissingLibrary) {
  const char *name = std::getenv("MOERT_NCCL_LIBRARY");
  if (!name || std::string(name).find("no-such-libnccl") == std::string::npos)
    GTEST_SKIP() << "run by ctest with MOERT_NCCL_LIBRARY naming a missing "
                    "library (moert-nccl-missing-library)";
  std::string error = loadError();
  EXPECT_NE(error.find("NCCL library " + std::string(name) +
                       " could not be loaded"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("MOERT_NCCL_LIBRARY"), std::string::npos) << error;
}

TEST(NcclLoad, NotNccl) {
  const char *name = std::getenv("MOERT_NCCL_LIBRARY");
  if (!name || std::string(name) != "libm.so.6")
    GTEST_SKIP() << "run by ctest with MOERT_NCCL_LIBRARY=libm.so.6 "
                    "(moert-nccl-not-nccl)";
  std::string error = loadError();
  EXPECT_NE(error.find("NCCL library libm.so.6 lacks ncclGetVersion"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("is it NCCL"), std::string::npos) << error;
}

TEST(NcclLoad, RealLibrary) {
  if (const char *name = std::getenv("MOERT_NCCL_LIBRARY"); name && *name)
    GTEST_SKIP() << "MOERT_NCCL_LIBRARY is set";
  void *nccl = ::dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
  if (!nccl)
    GTEST_SKIP() << "NCCL (libnccl.so.2) is not installed here: nothing to "
                    "load (the multi-GPU run needs NCCL and GPUs)";
  void *driver = ::dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
  if (!driver)
    GTEST_SKIP() << "no CUDA driver (libcuda.so.1) here";
  std::string error;
  const moert::nccl::NcclLibrary *library = moert::nccl::loadNccl(error);
  ASSERT_NE(library, nullptr) << error;
  EXPECT_GE(library->version, 21400);
}


//===----------------------------------------------------------------------===//
// Started collectives over a fake NCCL
//===----------------------------------------------------------------------===//

#ifdef MOERT_FAKE_CUDA_DRIVER

using moert::comm::Communicator;
using moert::comm::RunContext;
using moert::comm::RunScope;

/// The fake NCCL: one rank; sends and receives of a group are matched in
/// order and copied (host memory stands for device memory) at ncclGroupEnd.
struct FakeNccl {
  struct Transfer {
    void *data;
    size_t bytes;
  };
  std::vector<Transfer> sends, receives;
  int groupEnds = 0, aborts = 0;
  CUstream lastStream = nullptr;
  /// What ncclCommGetAsyncError answers (the watchdog asks too).
  std::atomic<ncclResult_t> asyncError{ncclSuccess};
  char comm[64] = {};

  void reset() {
    sends.clear();
    receives.clear();
    groupEnds = aborts = 0;
    lastStream = nullptr;
    asyncError = ncclSuccess;
  }
} fake;

ncclResult_t fakeGetVersion(int *version) {
  *version = 22809;
  return ncclSuccess;
}
const char *fakeErrorString(ncclResult_t result) {
  return result == ncclRemoteError ? "remote process exited or there was a "
                                     "network error"
                                   : "fake NCCL error";
}
ncclResult_t fakeUniqueId(ncclUniqueId *id) {
  std::memset(id, 1, sizeof(*id));
  return ncclSuccess;
}
ncclResult_t fakeInit(ncclComm_t *comm, int, ncclUniqueId, int,
                      ncclConfig_t *) {
  *comm = reinterpret_cast<ncclComm_t>(fake.comm);
  return ncclInProgress; // non-blocking: ready at the first poll
}
ncclResult_t fakeAsyncError(ncclComm_t, ncclResult_t *state) {
  *state = fake.asyncError.load();
  return ncclSuccess;
}
ncclResult_t fakeAbort(ncclComm_t) {
  ++fake.aborts;
  return ncclSuccess;
}
ncclResult_t fakeDestroy(ncclComm_t) { return ncclSuccess; }
ncclResult_t fakeSend(const void *data, size_t bytes, ncclDataType_t, int,
                      ncclComm_t, cudaStream_t stream) {
  fake.sends.push_back({const_cast<void *>(data), bytes});
  fake.lastStream = reinterpret_cast<CUstream>(stream);
  return ncclSuccess;
}
ncclResult_t fakeRecv(void *data, size_t bytes, ncclDataType_t, int,
                      ncclComm_t, cudaStream_t stream) {
  fake.receives.push_back({data, bytes});
  fake.lastStream = reinterpret_cast<CUstream>(stream);
  return ncclSuccess;
}
ncclResult_t fakeGroupStart() { return ncclSuccess; }
ncclResult_t fakeGroupEnd() {
  ++fake.groupEnds;
  EXPECT_EQ(fake.sends.size(), fake.receives.size());
  for (size_t i = 0; i < fake.sends.size() && i < fake.receives.size(); ++i) {
    EXPECT_EQ(fake.sends[i].bytes, fake.receives[i].bytes);
    std::memcpy(fake.receives[i].data, fake.sends[i].data,
                fake.sends[i].bytes);
  }
  fake.sends.clear();
  fake.receives.clear();
  return ncclInProgress; // non-blocking: enqueued at the first poll
}
CUresult fakeStreamQuery(CUstream) { return CUDA_SUCCESS; }

moert::nccl::NcclLibrary fakeLibrary() {
  moert::nccl::NcclLibrary library;
  library.getVersion = fakeGetVersion;
  library.getErrorString = fakeErrorString;
  library.getUniqueId = fakeUniqueId;
  library.commInitRankConfig = fakeInit;
  library.commGetAsyncError = fakeAsyncError;
  library.commAbort = fakeAbort;
  library.commDestroy = fakeDestroy;
  library.send = fakeSend;
  library.recv = fakeRecv;
  library.groupStart = fakeGroupStart;
  library.groupEnd = fakeGroupEnd;
  library.version = 22809;
  library.streamQuery = fakeStreamQuery;
  return library;
}

/// The host driver's hooks.
struct FakeDriverHooks {
  long (*liveAllocations)() = nullptr;
  void (*setEventsPending)(int) = nullptr;
};

/// A CUDA session's run on the host driver, bound to NcclCollectives over
/// the fake NCCL, with a RunContext of a world of one rank (grid [1]).
class StartedRun {
public:
  explicit StartedRun(double timeout = 20)
      : communicator(moert::comm::createSelfTransport(),
                     std::vector<int64_t>{1}, timeout),
        library(fakeLibrary()) {
    fake.reset();
    ::setenv("MOERT_CUDA_DRIVER_LIBRARY", MOERT_FAKE_CUDA_DRIVER, 0);
    std::string error;
    call.driver = moert::cuda::loadCudaDriver(error);
    EXPECT_NE(call.driver, nullptr) << error;
    if (!call.driver)
      return;
    EXPECT_EQ(call.driver->init(0), CUDA_SUCCESS);
    CUdevice device = 0;
    EXPECT_EQ(call.driver->deviceGet(&device, 0), CUDA_SUCCESS);
    EXPECT_EQ(call.driver->devicePrimaryCtxRetain(&call.context, device),
              CUDA_SUCCESS);
    void *handle = ::dlopen(MOERT_FAKE_CUDA_DRIVER, RTLD_NOW | RTLD_NOLOAD);
    EXPECT_NE(handle, nullptr);
    hooks.liveAllocations = reinterpret_cast<long (*)()>(
        ::dlsym(handle, "moertFakeCudaLiveAllocations"));
    hooks.setEventsPending = reinterpret_cast<void (*)(int)>(
        ::dlsym(handle, "moertFakeCudaSetEventsPending"));
    EXPECT_TRUE(hooks.liveAllocations && hooks.setEventsPending);
  }

  bool ready() const {
    return call.driver && hooks.liveAllocations && hooks.setEventsPending;
  }

  /// Runs `body` as a CUDA session's run does: device scope, the run's
  /// stream, the collectives bound; then unbinds them (the end of the run)
  /// and reads the outcome.
  template <typename Body> void operator()(Body body) {
    moert::cuda::DeviceScope scope(call);
    ASSERT_EQ(call.driver->streamCreate(&call.stream, CU_STREAM_NON_BLOCKING),
              CUDA_SUCCESS);
    long live = hooks.liveAllocations();
    {
      moert::nccl::NcclCollectives nccl(library, communicator);
      {
        RunContext context(communicator);
        RunScope runScope(context);
        nccl.bind(&call);
        context.setDevice(&nccl);
        body(nccl);
        context.setDevice(nullptr);
        nccl.bind(nullptr);
        EXPECT_EQ(nccl.startedInFlight(), 0u);
        failed = context.failed();
        failure = context.failure();
      }
      EXPECT_EQ(hooks.liveAllocations(), live) << "staging left allocated";
    }
    call.driver->streamDestroy(call.stream);
    call.stream = nullptr;
  }

  Communicator communicator;
  moert::nccl::NcclLibrary library;
  moert::cuda::CallContext call;
  FakeDriverHooks hooks;
  bool failed = false;
  std::string failure;
};

constexpr int32_t kAxis = 1; // axis 0 of the grid [1]
constexpr int64_t kRowBytes = 2 * sizeof(float);

/// Three rows of two floats to itself (send_rows 4, capacity 5).
struct Buffers {
  std::vector<float> send{1, 2, 3, 4, 5, 6, 99, 99};
  std::vector<int64_t> sendCounts{3};
  std::vector<float> recv = std::vector<float>(10, 42.0f);
  std::vector<int64_t> recvCounts{-7};

  int64_t start() {
    return moert_comm_all_to_all_v_start(kAxis, send.data(),
                                         sendCounts.data(), 4, recv.data(),
                                         recvCounts.data(), 5, kRowBytes);
  }
  void wait(int64_t handle) {
    moert_comm_all_to_all_v_wait(handle, recv.data(), recvCounts.data());
  }
  void expectReceived() const {
    EXPECT_EQ(recv, (std::vector<float>{1, 2, 3, 4, 5, 6, 0, 0, 0, 0}));
    EXPECT_EQ(recvCounts, std::vector<int64_t>{3});
  }
  void expectZero() const {
    EXPECT_EQ(recv, std::vector<float>(10, 0.0f));
    EXPECT_EQ(recvCounts, std::vector<int64_t>{0});
  }
  void expectUntouched() const {
    EXPECT_EQ(recv, std::vector<float>(10, 42.0f));
    EXPECT_EQ(recvCounts, std::vector<int64_t>{-7});
  }
};

#define REQUIRE_FAKE_DRIVER(run)                                               \
  do {                                                                         \
    if (const char *name = std::getenv("MOERT_CUDA_DRIVER_LIBRARY");           \
        name && std::string(name) != MOERT_FAKE_CUDA_DRIVER)                   \
      GTEST_SKIP() << "MOERT_CUDA_DRIVER_LIBRARY names another driver";        \
    ASSERT_TRUE((run).ready());                                                \
  } while (0)

/// Sets MOERT_NCCL_OVERLAP for the scope (read when NcclCollectives is made).
class OverlapSetting {
public:
  explicit OverlapSetting(const char *value) {
    if (const char *old = std::getenv("MOERT_NCCL_OVERLAP"))
      saved = old;
    if (value)
      ::setenv("MOERT_NCCL_OVERLAP", value, 1);
    else
      ::unsetenv("MOERT_NCCL_OVERLAP");
  }
  ~OverlapSetting() {
    if (saved)
      ::setenv("MOERT_NCCL_OVERLAP", saved->c_str(), 1);
    else
      ::unsetenv("MOERT_NCCL_OVERLAP");
  }

private:
  std::optional<std::string> saved;
};

TEST(NcclStarted, OverlapSwitch) {
  {
    OverlapSetting setting(nullptr);
    EXPECT_TRUE(moert::nccl::overlapFromEnvironment());
  }
  {
    OverlapSetting setting("1");
    EXPECT_TRUE(moert::nccl::overlapFromEnvironment());
  }
  {
    OverlapSetting setting("0");
    EXPECT_FALSE(moert::nccl::overlapFromEnvironment());
  }
}

// The start issues the exchange on a stream of its own into staging and
// leaves the caller's outputs alone; `send` may be reused at once; the wait
// writes the rows (zero past them) and the counts.
TEST(NcclStarted, StartIssuesOnTheCommunicationStream) {
  OverlapSetting setting(nullptr);
  StartedRun run;
  REQUIRE_FAKE_DRIVER(run);
  run([&](moert::nccl::NcclCollectives &nccl) {
    Buffers b;
    EXPECT_TRUE(nccl.overlapsStarted());
    int64_t h = b.start();
    EXPECT_GT(h, 0);
    EXPECT_EQ(fake.groupEnds, 1);
    EXPECT_NE(fake.lastStream, nullptr);
    EXPECT_NE(fake.lastStream, run.call.stream)
        << "NCCL called on the run's stream";
    b.expectUntouched();
    std::fill(b.send.begin(), b.send.end(), -1.0f); // reused after the start
    b.wait(h);
    b.expectReceived();
  });
  EXPECT_FALSE(run.failed) << run.failure;
}

// Two in flight, waited in the other order; a blocking all_to_all_v between
// them (ordered after the started ones) on the run's stream.
TEST(NcclStarted, SeveralInFlightAndABlockingOne) {
  OverlapSetting setting(nullptr);
  StartedRun run;
  REQUIRE_FAKE_DRIVER(run);
  run([&](moert::nccl::NcclCollectives &) {
    Buffers a, b, c;
    b.send = {7, 8, 9, 10, 11, 12, 13, 14};
    b.sendCounts = {4};
    int64_t ha = a.start(), hb = b.start();
    EXPECT_NE(ha, hb);
    moert_comm_all_to_all_v(kAxis, c.send.data(), c.sendCounts.data(), 4,
                            c.recv.data(), c.recvCounts.data(), 5, kRowBytes);
    EXPECT_EQ(fake.lastStream, run.call.stream);
    c.expectReceived();
    b.wait(hb);
    a.wait(ha);
    a.expectReceived();
    EXPECT_EQ(b.recv,
              (std::vector<float>{7, 8, 9, 10, 11, 12, 13, 14, 0, 0}));
    EXPECT_EQ(b.recvCounts, std::vector<int64_t>{4});
  });
  EXPECT_FALSE(run.failed) << run.failure;
}

// MOERT_NCCL_OVERLAP=0: the start runs the collective on the run's stream
// (today's behaviour: the outputs are written at the start).
TEST(NcclStarted, OverlapOffRunsAtTheStart) {
  OverlapSetting setting("0");
  StartedRun run;
  REQUIRE_FAKE_DRIVER(run);
  run([&](moert::nccl::NcclCollectives &nccl) {
    Buffers b;
    EXPECT_FALSE(nccl.overlapsStarted());
    int64_t h = b.start();
    EXPECT_EQ(fake.lastStream, run.call.stream);
    b.expectReceived();
    b.wait(h);
    b.expectReceived();
  });
  EXPECT_FALSE(run.failed) << run.failure;
}

// Never waited: the run fails and its staging is released at the end of the
// run (StartedRun checks the allocations).
TEST(NcclStarted, NeverWaited) {
  OverlapSetting setting(nullptr);
  StartedRun run;
  REQUIRE_FAKE_DRIVER(run);
  run([&](moert::nccl::NcclCollectives &) {
    Buffers b;
    b.start();
  });
  EXPECT_TRUE(run.failed);
  EXPECT_NE(run.failure.find("was started and never waited"),
            std::string::npos)
      << run.failure;
}

// Waited twice, or with other buffers: the run fails.
TEST(NcclStarted, Misuse) {
  OverlapSetting setting(nullptr);
  StartedRun run;
  REQUIRE_FAKE_DRIVER(run);
  run([&](moert::nccl::NcclCollectives &) {
    Buffers b;
    int64_t h = b.start();
    b.wait(h);
    b.wait(h);
  });
  EXPECT_TRUE(run.failed);
  EXPECT_NE(run.failure.find("waited already"), std::string::npos)
      << run.failure;

  StartedRun other;
  other([&](moert::nccl::NcclCollectives &) {
    Buffers b, c;
    int64_t h = b.start();
    c.wait(h);
  });
  EXPECT_TRUE(other.failed);
  EXPECT_NE(other.failure.find("other receive buffers"), std::string::npos)
      << other.failure;
}

// An NCCL error found at the wait: the run fails naming the collective, the
// communicator is aborted, the outputs read zero.
TEST(NcclStarted, ErrorAtTheWait) {
  OverlapSetting setting(nullptr);
  StartedRun run;
  REQUIRE_FAKE_DRIVER(run);
  run([&](moert::nccl::NcclCollectives &) {
    Buffers b;
    run.hooks.setEventsPending(1); // never done
    int64_t h = b.start();
    fake.asyncError = ncclRemoteError;
    b.wait(h);
    b.expectZero();
    run.hooks.setEventsPending(0);
    fake.asyncError = ncclSuccess;
    // Later collectives do no communication and zero their outputs.
    Buffers c;
    int64_t hc = c.start();
    c.wait(hc);
    c.expectZero();
  });
  EXPECT_TRUE(run.failed);
  EXPECT_NE(run.failure.find("collective all_to_all_v #1 of the run"),
            std::string::npos)
      << run.failure;
  EXPECT_NE(run.failure.find("remote process exited"), std::string::npos)
      << run.failure;
  EXPECT_EQ(fake.aborts, 1);
  EXPECT_EQ(fake.groupEnds, 1) << "the second start communicated";
}

// A collective that never completes: waited without blocking, then the end
// of the run settles it under the deadline and aborts the communicator.
TEST(NcclStarted, DeadlineAfterTheWait) {
  OverlapSetting setting(nullptr);
  StartedRun run(/*timeout=*/1.0);
  REQUIRE_FAKE_DRIVER(run);
  auto begin = moert::comm::Clock::now();
  run([&](moert::nccl::NcclCollectives &nccl) {
    Buffers b;
    run.hooks.setEventsPending(1);
    int64_t h = b.start();
    b.wait(h);
    EXPECT_LT(moert::comm::Clock::now() - begin, std::chrono::milliseconds(700))
        << "the wait blocked";
    // The watchdog aborts it at the deadline, while the host is elsewhere.
    for (int i = 0; i < 300 && nccl.startedInFlight(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_EQ(nccl.startedInFlight(), 0u) << "no watchdog";
    run.hooks.setEventsPending(0);
  });
  run.hooks.setEventsPending(0);
  EXPECT_TRUE(run.failed);
  EXPECT_NE(run.failure.find("collective all_to_all_v #1 of the run"),
            std::string::npos)
      << run.failure;
  EXPECT_NE(run.failure.find("timed out"), std::string::npos) << run.failure;
  EXPECT_EQ(fake.aborts, 1);
}

// Never waited and never completing: the end of the run still returns, at
// the deadline.
TEST(NcclStarted, DeadlineAtTheEndOfTheRun) {
  OverlapSetting setting(nullptr);
  StartedRun run(/*timeout=*/0.2);
  REQUIRE_FAKE_DRIVER(run);
  run([&](moert::nccl::NcclCollectives &) {
    Buffers b;
    run.hooks.setEventsPending(1);
    b.start();
  });
  run.hooks.setEventsPending(0);
  EXPECT_TRUE(run.failed);
  EXPECT_NE(run.failure.find("timed out"), std::string::npos) << run.failure;
}

#endif // MOERT_FAKE_CUDA_DRIVER

} // namespace
