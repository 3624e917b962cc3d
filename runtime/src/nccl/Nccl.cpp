//===- Nccl.cpp - NCCL collectives of CUDA multi-rank runs ----------------===//

#include "Nccl.h"

#include "CommAbi.h"
#include "World.h"

#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <mutex>
#include <numeric>
#include <system_error>

namespace moert::nccl {

namespace {

struct Loaded {
  NcclLibrary library;
  std::string error;
  bool ok = false;
};

Loaded load() {
  Loaded loaded;
  std::string name = ncclLibraryName();
  void *handle = ::dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *reason = ::dlerror();
    loaded.error = "NCCL library " + name + " could not be loaded: " +
                   (reason ? reason : "unknown dlopen error") +
                   " (multi-rank CUDA runs need NCCL 2.14 or later: install "
                   "it, or name the library in MOERT_NCCL_LIBRARY)";
    return loaded;
  }
  NcclLibrary &nccl = loaded.library;
#define MOERT_NCCL_RESOLVE(member, declaration, symbol)                        \
  nccl.member = reinterpret_cast<decltype(nccl.member)>(::dlsym(handle, symbol));
  MOERT_NCCL_REQUIRED(MOERT_NCCL_RESOLVE)
  MOERT_NCCL_OPTIONAL(MOERT_NCCL_RESOLVE)
#undef MOERT_NCCL_RESOLVE
  std::string missing;
#define MOERT_NCCL_CHECK(member, declaration, symbol)                          \
  if (!nccl.member)                                                            \
    missing += (missing.empty() ? "" : ", ") + std::string(symbol);
  MOERT_NCCL_REQUIRED(MOERT_NCCL_CHECK)
#undef MOERT_NCCL_CHECK
  if (!missing.empty()) {
    loaded.error = "NCCL library " + name + " lacks " + missing +
                   " (is it NCCL, 2.14 or later?)";
    return loaded;
  }
  if (nccl.getVersion(&nccl.version) != ncclSuccess ||
      nccl.version < 21400) {
    loaded.error = "NCCL library " + name + " is version " +
                   std::to_string(nccl.version) +
                   "; non-blocking communicators need 2.14 or later";
    return loaded;
  }
  // The driver is loaded already (the session is a cuda one).
  if (void *driver = ::dlopen(cuda::cudaDriverLibraryName().c_str(),
                              RTLD_NOW | RTLD_NOLOAD))
    nccl.streamQuery = reinterpret_cast<CUresult (*)(CUstream)>(
        ::dlsym(driver, "cuStreamQuery"));
  if (!nccl.streamQuery) {
    loaded.error = "the CUDA driver's cuStreamQuery is not available (needed "
                   "to bound NCCL collectives by a deadline)";
    return loaded;
  }
  loaded.ok = true;
  return loaded;
}

bool ncclType(int32_t dtype, ncclDataType_t &type) {
  switch (dtype) {
  case MOERT_DTYPE_F32: type = ncclFloat32; return true;
  case MOERT_DTYPE_F16: type = ncclFloat16; return true;
  case MOERT_DTYPE_BF16: type = ncclBfloat16; return true;
  case MOERT_DTYPE_I32: type = ncclInt32; return true;
  case MOERT_DTYPE_I64: type = ncclInt64; return true;
  case comm::kDTypeF64: type = ncclFloat64; return true;
  default: return false;
  }
}

bool ncclOp(int32_t op, ncclRedOp_t &out) {
  switch (op) {
  case MOERT_COMM_SUM: out = ncclSum; return true;
  case MOERT_COMM_MAX: out = ncclMax; return true;
  case MOERT_COMM_MIN: out = ncclMin; return true;
  case MOERT_COMM_PROD: out = ncclProd; return true;
  default: return false;
  }
}

CUdeviceptr devicePointer(const void *pointer) {
  return reinterpret_cast<CUdeviceptr>(pointer);
}

} // namespace

std::string NcclLibrary::describe(ncclResult_t result, ncclComm_t comm) const {
  const char *text = getErrorString ? getErrorString(result) : nullptr;
  std::string out = "NCCL error " + std::to_string(int(result)) +
                    (text ? std::string(" (") + text + ")" : "");
  if (getLastError)
    if (const char *last = getLastError(comm); last && *last)
      out += ": " + std::string(last);
  return out;
}

bool overlapFromEnvironment() {
  const char *value = std::getenv("MOERT_NCCL_OVERLAP");
  return !value || std::string(value) != "0";
}

std::string ncclLibraryName() {
  const char *name = std::getenv("MOERT_NCCL_LIBRARY");
  return name && *name ? name : "libnccl.so.2";
}

const NcclLibrary *loadNccl(std::string &error) {
  static Loaded *loaded = nullptr;
  static std::once_flag once;
  std::call_once(once, [] { loaded = new Loaded(load()); });
  if (!loaded->ok) {
    error = loaded->error;
    return nullptr;
  }
  return &loaded->library;
}

NcclCollectives::~NcclCollectives() {
  {
    std::lock_guard<std::mutex> guard(mutex);
    stopping = true;
    wake.notify_all();
  }
  if (watchdog.joinable())
    watchdog.join();
  // Every run ended (bind(nullptr)) settled its started collectives.
  if (driver) {
    if (commStream) {
      driver->streamSynchronize(commStream);
      driver->streamDestroy(commStream);
    }
    for (CUevent event : freeEvents)
      driver->eventDestroy(event);
  }
  for (auto &[axes, comm] : comms)
    nccl.commDestroy(comm);
}

void NcclCollectives::bind(cuda::CallContext *context) {
  std::lock_guard<std::mutex> guard(mutex);
  if (!context && call)
    endRun();
  call = context;
  if (context) {
    driver = context->driver;
    this->context = context->context;
    trace.startRun();
  }
}

void NcclCollectives::traceUniform(const char *kind, const comm::Group &group,
                                   size_t bytes,
                                   CollectiveTrace::Clock::time_point start) {
  if (trace.enabled()) {
    std::vector<size_t> each(size_t(group.size()), bytes);
    trace.record(kind, group.axes, each, each, start);
  }
}

void NcclCollectives::abort(int32_t axes, const std::string &reason) {
  auto it = comms.find(axes);
  if (it == comms.end())
    return;
  nccl.commAbort(it->second);
  comms.erase(it);
  for (const std::unique_ptr<StartedOp> &op : started)
    if (op->axes == axes && op->state == StartedOp::InFlight) {
      op->state = StartedOp::Failed;
      op->failure = "ncclSend/ncclRecv: the NCCL communicator was aborted (" +
                    reason + ")";
      if (op->run)
        op->run->fail(op->what + ": " + op->failure);
    }
}

ncclComm_t NcclCollectives::groupComm(const comm::Group &group,
                                      comm::Clock::time_point deadline,
                                      std::string &error) {
  auto it = comms.find(group.axes);
  if (it != comms.end())
    return it->second;
  // Member 0's unique id to the others, over the host transport.
  ncclUniqueId id;
  std::memset(&id, 0, sizeof(id));
  if (group.index == 0) {
    ncclResult_t result = nccl.getUniqueId(&id);
    if (result != ncclSuccess) {
      error = "ncclGetUniqueId: " + nccl.describe(result);
      return nullptr;
    }
  }
  std::vector<comm::Message> sends, receives;
  if (group.index == 0) {
    for (int m = 1; m < group.size(); ++m)
      sends.push_back({group.members[m], &id, sizeof(id)});
  } else {
    receives.push_back({group.members[0], &id, sizeof(id)});
  }
  // A tag space of its own: (1 << 63) | axes.
  uint64_t key = (uint64_t(1) << 63) | uint64_t(uint32_t(group.axes));
  if (!communicator.world().exchange(sends, receives, key, deadline, error)) {
    error = "sending the NCCL unique id: " + error;
    return nullptr;
  }
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  ncclComm_t comm = nullptr;
  ncclResult_t result = nccl.commInitRankConfig(&comm, group.size(), id,
                                                group.index, &config);
  comm::Poller poller;
  while (result == ncclInProgress && comm) {
    if (comm::Clock::now() >= deadline) {
      nccl.commAbort(comm);
      error = "ncclCommInitRankConfig: timed out (communicator aborted)";
      return nullptr;
    }
    poller.pause();
    if (nccl.commGetAsyncError(comm, &result) != ncclSuccess)
      result = ncclInternalError;
  }
  if (result != ncclSuccess || !comm) {
    error = "ncclCommInitRankConfig: " + nccl.describe(result, comm);
    if (comm)
      nccl.commAbort(comm);
    return nullptr;
  }
  comms[group.axes] = comm;
  return comm;
}

bool NcclCollectives::finish(const comm::Group &group, ncclComm_t comm,
                             ncclResult_t issued, const std::string &what,
                             comm::Clock::time_point deadline,
                             std::string &error) {
  ncclResult_t state = issued;
  comm::Poller poller;
  bool capturing = call->capturing(call->stream);
  while (true) {
    if (state != ncclSuccess && state != ncclInProgress)
      break;
    if (state == ncclSuccess) {
      // Enqueued: now the stream (not while it is being captured).
      if (capturing)
        return true;
      CUresult done = nccl.streamQuery(call->stream);
      if (done == CUDA_SUCCESS)
        return true;
      if (done != CUDA_ERROR_NOT_READY) {
        abort(group.axes, what + " failed");
        error = what + ": the stream failed: " + call->driver->describe(done);
        return false;
      }
    }
    if (comm::Clock::now() >= deadline) {
      abort(group.axes, what + " timed out");
      error = what + ": timed out (NCCL communicator aborted)";
      return false;
    }
    poller.pause();
    // The run's stream may wait for started collectives (orderAfterStarted):
    // their deadlines and errors are looked at here too, and one of them may
    // abort this communicator.
    checkStarted();
    auto it = comms.find(group.axes);
    if (it == comms.end() || it->second != comm) {
      error = what + ": the NCCL communicator was aborted (a started "
                     "collective on it failed)";
      return false;
    }
    if (nccl.commGetAsyncError(comm, &state) != ncclSuccess)
      state = ncclInternalError;
  }
  error = what + ": " + nccl.describe(state, comm) +
          " (NCCL communicator aborted)";
  abort(group.axes, what + " failed");
  return false;
}

void NcclCollectives::alignRanks() {
  std::lock_guard<std::mutex> guard(mutex);
  if (!call || call->capturing(call->stream))
    return;
  settle(/*all=*/true);
  if (!call->check(call->driver->streamSynchronize(call->stream),
                   "cuStreamSynchronize"))
    return;
  double token = 0;
  std::string error;
  comm::worldAllReduce(&token, 1, MOERT_COMM_SUM, communicator.timeout(),
                       error);
}

bool NcclCollectives::copyToHost(void *host, const void *device, size_t bytes,
                                 std::string &error) {
  std::lock_guard<std::mutex> guard(mutex);
  trace.enterCollective();
  // The synchronization below waits for what the run's stream waits for:
  // started collectives are settled first, under their deadlines.
  settle(/*all=*/false);
  if (!call->check(call->driver->memcpyDtoHAsync(host, devicePointer(device),
                                                 bytes, call->stream),
                   "cuMemcpyDtoHAsync") ||
      !call->check(call->driver->streamSynchronize(call->stream),
                   "cuStreamSynchronize")) {
    error = call->failure;
    return false;
  }
  return true;
}

bool NcclCollectives::copyToDevice(void *device, const void *host,
                                   size_t bytes, std::string &error) {
  std::lock_guard<std::mutex> guard(mutex);
  settle(/*all=*/false);
  if (!call->check(call->driver->memcpyHtoDAsync(devicePointer(device), host,
                                                 bytes, call->stream),
                   "cuMemcpyHtoDAsync") ||
      !call->check(call->driver->streamSynchronize(call->stream),
                   "cuStreamSynchronize")) {
    error = call->failure;
    return false;
  }
  return true;
}

void NcclCollectives::zero(void *device, size_t bytes) {
  if (!call || !device || !bytes)
    return;
  // Our dtypes are 2, 4 or 8 bytes: words, then a 16-bit tail.
  CUdeviceptr at = devicePointer(device);
  if (bytes / 4)
    call->driver->memsetD32Async(at, 0, bytes / 4, call->stream);
  if (bytes % 4 >= 2)
    call->driver->memsetD16Async(at + bytes / 4 * 4, 0, 1, call->stream);
}

bool NcclCollectives::allToAllV(const comm::Group &group, const void *send,
                                const std::vector<size_t> &sendBytes,
                                void *recv,
                                const std::vector<size_t> &recvBytes,
                                comm::Clock::time_point deadline,
                                std::string &error) {
  std::lock_guard<std::mutex> guard(mutex);
  if (!orderAfterStarted(error))
    return false;
  ncclComm_t comm = groupComm(group, deadline, error);
  if (!comm)
    return false;
  size_t sendOffset = 0, recvOffset = 0;
  auto start = CollectiveTrace::Clock::now();
  ncclResult_t result = nccl.groupStart();
  for (int m = 0; m < group.size() && result == ncclSuccess; ++m) {
    if (sendBytes[m])
      result = nccl.send(static_cast<const char *>(send) + sendOffset,
                         sendBytes[m], ncclUint8, m, comm, call->stream);
    if (recvBytes[m] && (result == ncclSuccess || result == ncclInProgress))
      result = nccl.recv(static_cast<char *>(recv) + recvOffset, recvBytes[m],
                         ncclUint8, m, comm, call->stream);
    if (result == ncclInProgress)
      result = ncclSuccess;
    sendOffset += sendBytes[m];
    recvOffset += recvBytes[m];
  }
  ncclResult_t ended = nccl.groupEnd();
  if (!finish(group, comm, result != ncclSuccess ? result : ended,
              "ncclSend/ncclRecv", deadline, error))
    return false;
  trace.record("all_to_all_v", group.axes, sendBytes, recvBytes, start);
  return true;
}

bool NcclCollectives::allGather(const comm::Group &group, const void *send,
                                void *recv, int64_t outer, int64_t blockBytes,
                                comm::Clock::time_point deadline,
                                std::string &error) {
  std::lock_guard<std::mutex> guard(mutex);
  if (!orderAfterStarted(error))
    return false;
  ncclComm_t comm = groupComm(group, deadline, error);
  if (!comm)
    return false;
  size_t bytes = size_t(outer) * size_t(blockBytes);
  if (outer == 1)
    return finish(group, comm,
                  nccl.allGather(send, recv, bytes, ncclUint8, comm,
                                 call->stream),
                  "ncclAllGather", deadline, error);
  // Member-major from NCCL, then each member's blocks into place.
  size_t total = bytes * size_t(group.size());
  CUdeviceptr scratch = 0;
  if (total && !call->check(call->allocate(scratch, total, call->stream),
                            call->allocateName())) {
    error = call->failure;
    return false;
  }
  bool ok = finish(group, comm,
                   nccl.allGather(send, reinterpret_cast<void *>(scratch),
                                  bytes, ncclUint8, comm, call->stream),
                   "ncclAllGather", deadline, error);
  for (int m = 0; ok && m < group.size(); ++m)
    for (int64_t o = 0; ok && o < outer; ++o)
      ok = call->check(
          call->driver->memcpyDtoDAsync(
              devicePointer(recv) + (o * group.size() + m) * blockBytes,
              scratch + m * bytes + o * blockBytes, size_t(blockBytes),
              call->stream),
          "cuMemcpyDtoDAsync");
  if (!ok && error.empty())
    error = call->failure;
  if (scratch)
    call->release(scratch, call->stream);
  return ok;
}

bool NcclCollectives::reduction(const char *kind, const char *entryName,
                                ReductionEntry entry, const comm::Group &group,
                                const void *send, void *recv, int64_t count,
                                int32_t dtype, int32_t op,
                                comm::Clock::time_point deadline,
                                std::string &error) {
  std::lock_guard<std::mutex> guard(mutex);
  if (!orderAfterStarted(error))
    return false;
  ncclDataType_t type;
  ncclRedOp_t reduction;
  if (!ncclType(dtype, type) || !ncclOp(op, reduction)) {
    error = "no NCCL dtype or op for " + std::to_string(dtype) + ", " +
            std::to_string(op);
    return false;
  }
  ncclComm_t comm = groupComm(group, deadline, error);
  if (!comm)
    return false;
  auto start = CollectiveTrace::Clock::now();
  if (!finish(group, comm,
              entry(send, recv, size_t(count), type, reduction, comm,
                    call->stream),
              entryName, deadline, error))
    return false;
  traceUniform(kind, group, size_t(count) * comm::elementSize(dtype), start);
  return true;
}

bool NcclCollectives::reduceScatter(const comm::Group &group, const void *send,
                                    void *recv, int64_t count, int32_t dtype,
                                    int32_t op,
                                    comm::Clock::time_point deadline,
                                    std::string &error) {
  return reduction("reduce_scatter", "ncclReduceScatter", nccl.reduceScatter,
                   group, send, recv, count, dtype, op, deadline, error);
}

bool NcclCollectives::allReduce(const comm::Group &group, const void *send,
                                void *recv, int64_t count, int32_t dtype,
                                int32_t op, comm::Clock::time_point deadline,
                                std::string &error) {
  return reduction("all_reduce", "ncclAllReduce", nccl.allReduce, group, send,
                   recv, count, dtype, op, deadline, error);
}

bool NcclCollectives::send(const comm::Group &group, int peer,
                           const void *data, size_t bytes,
                           comm::Clock::time_point deadline,
                           std::string &error) {
  std::lock_guard<std::mutex> guard(mutex);
  if (!orderAfterStarted(error))
    return false;
  ncclComm_t comm = groupComm(group, deadline, error);
  if (!comm)
    return false;
  return finish(group, comm,
                nccl.send(data, bytes, ncclUint8, peer, comm, call->stream),
                "ncclSend", deadline, error);
}

bool NcclCollectives::recv(const comm::Group &group, int peer, void *data,
                           size_t bytes, comm::Clock::time_point deadline,
                           std::string &error) {
  std::lock_guard<std::mutex> guard(mutex);
  if (!orderAfterStarted(error))
    return false;
  ncclComm_t comm = groupComm(group, deadline, error);
  if (!comm)
    return false;
  return finish(group, comm,
                nccl.recv(data, bytes, ncclUint8, peer, comm, call->stream),
                "ncclRecv", deadline, error);
}

//===----------------------------------------------------------------------===//
// Started all_to_all_v (docs/streaming.md §2)
//===----------------------------------------------------------------------===//
//
// Streams and events of one started collective S:
//
//   run's stream:  [stage send rows] [alloc recv staging] rec(S.ready) ...
//                  ... (kernels) ... wait(S.done) copy-out zero-tail counts
//                  free(recv staging)
//   comm stream:   wait(S.ready) [rec(S.begin)] NCCL send/recv rec(S.done)
//                  free(send staging)
//
// The sent rows are staged on the run's stream (not on the communication
// stream): the run's stream may overwrite `send`, or free it and reuse its
// memory, right after the start, and only a copy ordered on that stream
// before it is safe. Both staging buffers are allocated on the run's stream
// too, so that an eviction from the tier cache that an allocation may cause
// is ordered after the kernels that read the evicted buffer.

bool NcclCollectives::driverOk(CUresult result, const char *name,
                               std::string &error) {
  if (result == CUDA_SUCCESS)
    return true;
  call->check(result, name);
  error = std::string(name) + ": " + call->driver->describe(result);
  return false;
}

bool NcclCollectives::overlapsStarted() {
  // Not while the stream is captured into a graph (nothing could be polled),
  // nor without stream-ordered allocation (a plain free would synchronize).
  return overlap && call && call->driver->eventQuery &&
         call->streamOrderedAllocation && !call->capturing(call->stream);
}

bool NcclCollectives::ensureCommStream(std::string &error) {
  if (commStream)
    return true;
  const cuda::CudaDriver &cu = *call->driver;
  int least = 0, greatest = 0;
  CUresult result;
  const char *name = "cuStreamCreate";
  if (cu.streamCreateWithPriority && cu.ctxGetStreamPriorityRange &&
      cu.ctxGetStreamPriorityRange(&least, &greatest) == CUDA_SUCCESS) {
    // The highest priority: blocks of the NCCL kernels are scheduled ahead
    // of the compute kernels' waiting blocks as SMs free up.
    name = "cuStreamCreateWithPriority";
    result = cu.streamCreateWithPriority(&commStream, CU_STREAM_NON_BLOCKING,
                                         greatest);
  } else {
    result = cu.streamCreate(&commStream, CU_STREAM_NON_BLOCKING);
  }
  if (result != CUDA_SUCCESS) {
    commStream = nullptr;
    return driverOk(result, name, error);
  }
  return true;
}

CUevent NcclCollectives::takeEvent(bool timed, std::string &error) {
  if (!timed && !freeEvents.empty()) {
    CUevent event = freeEvents.back();
    freeEvents.pop_back();
    return event;
  }
  CUevent event = nullptr;
  if (!driverOk(call->driver->eventCreate(&event, timed
                                                      ? CU_EVENT_DEFAULT
                                                      : CU_EVENT_DISABLE_TIMING),
                "cuEventCreate", error))
    return nullptr;
  return event;
}

void NcclCollectives::giveEvent(CUevent event, bool reuse) {
  if (!event)
    return;
  if (reuse)
    freeEvents.push_back(event);
  else
    driver->eventDestroy(event); // released once complete
}

bool NcclCollectives::writeCounts(int64_t *at, const std::vector<int64_t> &counts,
                                  CUstream stream, std::string &error) {
  if (!at || counts.empty())
    return true;
  const cuda::CudaDriver &cu = *call->driver;
  CUdeviceptr base = devicePointer(at);
  if (!driverOk(cu.memsetD32Async(base, 0, counts.size() * 2, stream),
                "cuMemsetD32Async", error))
    return false;
  for (size_t m = 0; m < counts.size(); ++m) {
    uint64_t value = uint64_t(counts[m]);
    unsigned words[2] = {unsigned(value & 0xffffffffu), unsigned(value >> 32)};
    for (int w = 0; w < 2; ++w) // little-endian: the low word first
      if (words[w] &&
          !driverOk(cu.memsetD32Async(base + m * 8 + w * 4, words[w], 1,
                                      stream),
                    "cuMemsetD32Async", error))
        return false;
  }
  return true;
}

bool NcclCollectives::startAllToAllV(
    int64_t handle, const comm::Group &group, const void *send,
    const std::vector<size_t> &sendBytes, const std::vector<size_t> &recvBytes,
    comm::Clock::time_point deadline, comm::RunContext &run,
    const std::string &what, std::string &error) {
  std::lock_guard<std::mutex> guard(mutex);
  std::optional<CollectiveTrace::Clock::time_point> entered =
      trace.takeEntered();
  ncclComm_t comm = groupComm(group, deadline, error);
  if (!comm || !ensureCommStream(error))
    return false;
  const cuda::CudaDriver &cu = *call->driver;
  CUstream runStream = call->stream;

  auto op = std::make_unique<StartedOp>();
  op->handle = handle;
  op->axes = group.axes;
  op->comm = comm;
  op->deadline = deadline;
  op->run = &run;
  op->what = what;
  op->timed = trace.enabled();
  size_t sent = std::accumulate(sendBytes.begin(), sendBytes.end(), size_t(0));
  op->received =
      std::accumulate(recvBytes.begin(), recvBytes.end(), size_t(0));

  // Everything taken so far goes back on failure; staging is freed on the
  // communication stream once that stream waits for `ready` (after any NCCL
  // work that may have been enqueued there), on the run's stream before.
  CUdeviceptr sendStage = 0;
  bool onComm = false;
  auto release = [&] {
    CUstream stream = onComm ? commStream : runStream;
    if (sendStage)
      call->release(sendStage, stream);
    if (op->recvStage)
      call->release(op->recvStage, stream);
    op->recvStage = 0;
    giveEvent(op->ready, false);
    giveEvent(op->done, false);
    giveEvent(op->begin, false);
  };

  // 1. On the run's stream: staging, the rows sent copied in, `ready`.
  bool ok = (op->ready = takeEvent(op->timed, error)) &&
            (op->done = takeEvent(op->timed, error)) &&
            (!op->timed || (op->begin = takeEvent(true, error)));
  auto allocate = [&](CUdeviceptr &pointer, size_t bytes) {
    CUresult result = call->allocate(pointer, bytes, runStream);
    if (result == CUDA_SUCCESS)
      return true;
    pointer = 0;
    call->check(result, call->allocateName());
    error = std::string(call->allocateName()) + "(" + std::to_string(bytes) +
            " bytes) for the staging of a started collective: " +
            call->describeAllocationFailure(result);
    return false;
  };
  if (ok && sent)
    ok = allocate(sendStage, sent) &&
         driverOk(cu.memcpyDtoDAsync(sendStage, devicePointer(send), sent,
                                     runStream),
                  "cuMemcpyDtoDAsync", error);
  if (ok && op->received)
    ok = allocate(op->recvStage, op->received);
  ok = ok && driverOk(cu.eventRecord(op->ready, runStream), "cuEventRecord",
                      error);
  // 2. The communication stream after `ready`: the NCCL calls, `done`.
  ok = ok && driverOk(cu.streamWaitEvent(commStream, op->ready, 0),
                      "cuStreamWaitEvent", error);
  if (!ok) {
    release();
    return false;
  }
  onComm = true;
  if (op->timed && !driverOk(cu.eventRecord(op->begin, commStream),
                             "cuEventRecord", error)) {
    release();
    return false;
  }
  op->enqueued = CollectiveTrace::Clock::now();
  size_t sendOffset = 0, recvOffset = 0;
  ncclResult_t result = nccl.groupStart();
  for (int m = 0; m < group.size() && result == ncclSuccess; ++m) {
    if (sendBytes[m])
      result = nccl.send(reinterpret_cast<const char *>(sendStage) + sendOffset,
                         sendBytes[m], ncclUint8, m, comm, commStream);
    if (recvBytes[m] && (result == ncclSuccess || result == ncclInProgress))
      result = nccl.recv(reinterpret_cast<char *>(op->recvStage) + recvOffset,
                         recvBytes[m], ncclUint8, m, comm, commStream);
    if (result == ncclInProgress)
      result = ncclSuccess;
    sendOffset += sendBytes[m];
    recvOffset += recvBytes[m];
  }
  ncclResult_t ended = nccl.groupEnd();
  // A non-blocking communicator may still be enqueueing: wait for that
  // (not for the transfer) under the deadline.
  ncclResult_t state = result != ncclSuccess ? result : ended;
  comm::Poller poller;
  while (state == ncclInProgress) {
    if (comm::Clock::now() >= deadline) {
      abort(group.axes, what + " timed out");
      error = "ncclSend/ncclRecv: timed out (NCCL communicator aborted)";
      release();
      return false;
    }
    poller.pause();
    if (nccl.commGetAsyncError(comm, &state) != ncclSuccess)
      state = ncclInternalError;
  }
  if (state != ncclSuccess) {
    error = "ncclSend/ncclRecv: " + nccl.describe(state, comm) +
            " (NCCL communicator aborted)";
    abort(group.axes, what + " failed");
    release();
    return false;
  }
  // The sent rows are not needed past the NCCL calls.
  if (sendStage)
    call->release(sendStage, commStream);
  sendStage = 0;
  if (!driverOk(cu.eventRecord(op->done, commStream), "cuEventRecord",
                error)) {
    // Nothing could tell when it is done: it fails here (its peers' parts
    // complete; the run fails on this rank).
    release();
    return false;
  }
  if (op->timed) {
    op->sendBytes = sendBytes;
    op->recvBytes = recvBytes;
    op->entered = entered;
  }
  started.push_back(std::move(op));
  if (!watchdog.joinable()) {
    try {
      watchdog = std::thread([this] { watch(); });
    } catch (const std::system_error &) {
      // No watchdog: the waits and the end of the run still settle every
      // started collective under its deadline; only a synchronization of the
      // run's stream by compiled code between them is unbounded.
    }
  }
  wake.notify_all();
  return true;
}

bool NcclCollectives::waitAllToAllV(int64_t handle, void *recv,
                                    size_t recvCapacity, int64_t *recvCounts,
                                    const std::vector<int64_t> &counts,
                                    std::string &error) {
  std::lock_guard<std::mutex> guard(mutex);
  StartedOp *op = nullptr;
  for (const std::unique_ptr<StartedOp> &entry : started)
    if (entry->handle == handle)
      op = entry.get();
  if (!op || op->waited || !call) {
    error = "internal: NCCL has no collective in flight with handle " +
            std::to_string(handle);
    return false;
  }
  op->waited = true;
  check(*op); // an error known already fails the wait now
  if (op->state == StartedOp::Failed) {
    if (op->recvStage)
      call->release(op->recvStage, commStream);
    op->recvStage = 0;
    error = op->failure;
    return false;
  }
  const cuda::CudaDriver &cu = *call->driver;
  CUstream runStream = call->stream;
  bool ordered = driverOk(cu.streamWaitEvent(runStream, op->done, 0),
                          "cuStreamWaitEvent", error);
  op->runDepends = ordered;
  bool ok = ordered;
  if (ok && op->received)
    ok = driverOk(cu.memcpyDtoDAsync(devicePointer(recv), op->recvStage,
                                     op->received, runStream),
                  "cuMemcpyDtoDAsync", error);
  if (ok && recvCapacity > op->received)
    zero(static_cast<char *>(recv) + op->received,
         recvCapacity - op->received);
  ok = ok && writeCounts(recvCounts, counts, runStream, error);
  if (op->recvStage)
    call->release(op->recvStage, ordered ? runStream : commStream);
  op->recvStage = 0;
  return ok;
}

size_t NcclCollectives::startedInFlight() {
  std::lock_guard<std::mutex> guard(mutex);
  size_t n = 0;
  for (const std::unique_ptr<StartedOp> &op : started)
    n += op->state == StartedOp::InFlight;
  return n;
}

bool NcclCollectives::check(StartedOp &op) {
  if (op.state != StartedOp::InFlight)
    return true;
  CUresult query = driver->eventQuery(op.done);
  if (query == CUDA_SUCCESS) {
    op.state = StartedOp::Complete;
    if (op.timed && trace.enabled()) {
      float ms = 0;
      if (driver->eventElapsedTime(&ms, op.begin, op.done) != CUDA_SUCCESS)
        ms = -1;
      trace.recordStarted("all_to_all_v", op.axes, op.sendBytes,
                          op.recvBytes, ms, op.enqueued, op.entered);
    }
    return true;
  }
  std::string error;
  if (query != CUDA_ERROR_NOT_READY) {
    error = "the communication stream failed: " + driver->describe(query);
  } else {
    ncclResult_t state = ncclSuccess;
    if (nccl.commGetAsyncError(op.comm, &state) != ncclSuccess)
      state = ncclInternalError;
    if (state != ncclSuccess && state != ncclInProgress)
      error = nccl.describe(state, op.comm);
    else if (comm::Clock::now() >= op.deadline)
      error = "timed out";
    else
      return false;
  }
  op.state = StartedOp::Failed;
  op.failure = "ncclSend/ncclRecv: " + error + " (NCCL communicator aborted)";
  if (op.run)
    op.run->fail(op.what + ": " + op.failure);
  abort(op.axes, op.what + ": " + error);
  return true;
}

void NcclCollectives::checkStarted() {
  for (const std::unique_ptr<StartedOp> &op : started)
    check(*op);
}

void NcclCollectives::settle(bool all) {
  // The communication stream runs its collectives in issue order: one the
  // run's stream waits for is done only after every earlier one.
  size_t upTo = 0;
  for (size_t i = 0; i < started.size(); ++i)
    if (all || started[i]->runDepends)
      upTo = i + 1;
  comm::Poller poller;
  for (size_t i = 0; i < upTo; ++i)
    while (!check(*started[i]))
      poller.pause();
}

bool NcclCollectives::orderAfterStarted(std::string &error) {
  for (const std::unique_ptr<StartedOp> &op : started)
    if (op->state == StartedOp::InFlight && !op->runDepends) {
      if (!driverOk(call->driver->streamWaitEvent(call->stream, op->done, 0),
                    "cuStreamWaitEvent", error))
        return false;
      op->runDepends = true;
    }
  return true;
}

void NcclCollectives::endRun() {
  if (started.empty())
    return;
  settle(/*all=*/true);
  for (const std::unique_ptr<StartedOp> &op : started) {
    bool complete = op->state == StartedOp::Complete;
    if (op->recvStage) { // never waited
      bool ordered =
          complete && call->driver->streamWaitEvent(call->stream, op->done,
                                                    0) == CUDA_SUCCESS;
      call->release(op->recvStage, ordered ? call->stream : commStream);
      op->recvStage = 0;
    }
    // Complete: every event of it has fired, so they can be recorded again.
    giveEvent(op->ready, complete && !op->timed);
    giveEvent(op->done, complete && !op->timed);
    giveEvent(op->begin, false);
  }
  started.clear();
}

void NcclCollectives::watch() {
  // Event queries want the session's context current on this thread too.
  bool pushed = driver->ctxPushCurrent(context) == CUDA_SUCCESS;
  std::unique_lock<std::mutex> lock(mutex);
  while (!stopping) {
    bool inFlight = false;
    for (const std::unique_ptr<StartedOp> &op : started)
      if (!check(*op))
        inFlight = true;
    if (inFlight) {
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::microseconds(500));
      lock.lock();
    } else {
      wake.wait(lock);
    }
  }
  lock.unlock();
  if (pushed) {
    CUcontext popped = nullptr;
    driver->ctxPopCurrent(&popped);
  }
}

} // namespace moert::nccl
