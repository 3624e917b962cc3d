//===- Nccl.cpp - NCCL collectives of CUDA multi-rank runs ----------------===//

#include "Nccl.h"

#include "CommAbi.h"
#include "World.h"

#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <mutex>

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
  for (auto &[axes, comm] : comms)
    nccl.commDestroy(comm);
}

void NcclCollectives::traceUniform(const char *kind, const comm::Group &group,
                                   size_t bytes,
                                   CollectiveTrace::Clock::time_point start) {
  if (trace.enabled()) {
    std::vector<size_t> each(size_t(group.size()), bytes);
    trace.record(kind, group.axes, each, each, start);
  }
}

void NcclCollectives::abort(int32_t axes) {
  auto it = comms.find(axes);
  if (it == comms.end())
    return;
  nccl.commAbort(it->second);
  comms.erase(it);
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
        abort(group.axes);
        error = what + ": the stream failed: " + call->driver->describe(done);
        return false;
      }
    }
    if (comm::Clock::now() >= deadline) {
      abort(group.axes);
      error = what + ": timed out (NCCL communicator aborted)";
      return false;
    }
    poller.pause();
    if (nccl.commGetAsyncError(comm, &state) != ncclSuccess)
      state = ncclInternalError;
  }
  error = what + ": " + nccl.describe(state, comm) +
          " (NCCL communicator aborted)";
  abort(group.axes);
  return false;
}

void NcclCollectives::alignRanks() {
  if (!call || call->capturing(call->stream))
    return;
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
  trace.enterCollective();
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
  ncclComm_t comm = groupComm(group, deadline, error);
  if (!comm)
    return false;
  return finish(group, comm,
                nccl.recv(data, bytes, ncclUint8, peer, comm, call->stream),
                "ncclRecv", deadline, error);
}

} // namespace moert::nccl
