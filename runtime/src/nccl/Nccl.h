//===- Nccl.h - NCCL collectives of CUDA multi-rank runs ---------*- C++ -*-===//
//
// The runtime never links NCCL: libnccl.so.2 (or the library that
// MOERT_NCCL_LIBRARY names) is loaded when the first multi-rank CUDA session
// is created, and each entry point is resolved by name; nccl.h is used for
// types only, so this builds without NCCL installed or a GPU.
//
// One communicator per grid group, made on the group's first collective:
// member 0 makes the unique id and sends it to the others over the session's
// host transport (MPI), then every member initializes a non-blocking
// communicator (config.blocking = 0) and polls ncclCommGetAsyncError until it
// is ready or the collective deadline passes. Each collective is enqueued on
// the run's stream, then polled (the communicator's async error and the
// stream) until it completes or the deadline passes; an error or a timeout
// aborts the communicator (ncclCommAbort) and fails the collective with a
// message naming it and the rank. Nothing waits without a deadline.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_NCCL_NCCL_H
#define MOERT_NCCL_NCCL_H

#include "CallContext.h"
#include "CollectiveTrace.h"
#include "Comm.h"

#include <nccl.h>

#include <map>
#include <memory>
#include <string>
#include <type_traits>

namespace moert::nccl {

// X(member, declaration in nccl.h, symbol): the entry points the runtime
// calls.
#define MOERT_NCCL_REQUIRED(X)                                                 \
  X(getVersion, ncclGetVersion, "ncclGetVersion")                              \
  X(getErrorString, ncclGetErrorString, "ncclGetErrorString")                  \
  X(getUniqueId, ncclGetUniqueId, "ncclGetUniqueId")                           \
  X(commInitRankConfig, ncclCommInitRankConfig, "ncclCommInitRankConfig")      \
  X(commGetAsyncError, ncclCommGetAsyncError, "ncclCommGetAsyncError")         \
  X(commAbort, ncclCommAbort, "ncclCommAbort")                                 \
  X(commDestroy, ncclCommDestroy, "ncclCommDestroy")                           \
  X(allReduce, ncclAllReduce, "ncclAllReduce")                                 \
  X(reduceScatter, ncclReduceScatter, "ncclReduceScatter")                     \
  X(allGather, ncclAllGather, "ncclAllGather")                                 \
  X(send, ncclSend, "ncclSend")                                                \
  X(recv, ncclRecv, "ncclRecv")                                                \
  X(groupStart, ncclGroupStart, "ncclGroupStart")                              \
  X(groupEnd, ncclGroupEnd, "ncclGroupEnd")

// Newer entry points: null where the library lacks them.
#define MOERT_NCCL_OPTIONAL(X)                                                 \
  X(getLastError, ncclGetLastError, "ncclGetLastError")

struct NcclLibrary {
#define MOERT_NCCL_MEMBER(member, declaration, symbol)                         \
  decltype(&::declaration) member = nullptr;
  MOERT_NCCL_REQUIRED(MOERT_NCCL_MEMBER)
  MOERT_NCCL_OPTIONAL(MOERT_NCCL_MEMBER)
#undef MOERT_NCCL_MEMBER
  /// ncclGetVersion's code, e.g. 22809.
  int version = 0;
  /// cuStreamQuery of the loaded CUDA driver (the deadline's poll).
  CUresult (*streamQuery)(CUstream) = nullptr;

  /// "ncclRemoteError (remote process exited or there was a network error):
  /// <last error>".
  std::string describe(ncclResult_t result, ncclComm_t comm = nullptr) const;
};

/// The library named by MOERT_NCCL_LIBRARY when set and not empty, else
/// "libnccl.so.2".
std::string ncclLibraryName();

/// The process's NCCL, loaded on first use (the first outcome stands); null
/// with a one-line reason in `error`.
const NcclLibrary *loadNccl(std::string &error);

/// The payload half of a CUDA session's collectives (comm::DeviceCollectives)
/// over NCCL. Bound to each run's CallContext (its CUDA context and stream)
/// by the backend.
class NcclCollectives final : public comm::DeviceCollectives {
public:
  NcclCollectives(const NcclLibrary &library, comm::Communicator &communicator)
      : nccl(library), communicator(communicator),
        trace(communicator.world().rank()) {}
  ~NcclCollectives() override;

  /// The run's context, while it lasts (null after); each run gets the next
  /// number in the trace.
  void bind(cuda::CallContext *context) {
    call = context;
    if (context)
      trace.startRun();
  }

  /// Waits until this rank's inputs are on the device and every rank of the
  /// world has got as far (a world all-reduce under the deadline), so that
  /// a run's first collective does not wait for another rank's input copies:
  /// the kernels of all ranks start together and their timed regions agree.
  /// A failure is left to the run's first collective to report.
  void alignRanks();

  bool copyToHost(void *host, const void *device, size_t bytes,
                  std::string &error) override;
  bool copyToDevice(void *device, const void *host, size_t bytes,
                    std::string &error) override;
  void zero(void *device, size_t bytes) override;
  bool allToAllV(const comm::Group &group, const void *send,
                 const std::vector<size_t> &sendBytes, void *recv,
                 const std::vector<size_t> &recvBytes,
                 comm::Clock::time_point deadline,
                 std::string &error) override;
  bool allGather(const comm::Group &group, const void *send, void *recv,
                 int64_t outer, int64_t blockBytes,
                 comm::Clock::time_point deadline,
                 std::string &error) override;
  bool reduceScatter(const comm::Group &group, const void *send, void *recv,
                     int64_t count, int32_t dtype, int32_t op,
                     comm::Clock::time_point deadline,
                     std::string &error) override;
  bool allReduce(const comm::Group &group, const void *send, void *recv,
                 int64_t count, int32_t dtype, int32_t op,
                 comm::Clock::time_point deadline,
                 std::string &error) override;
  bool send(const comm::Group &group, int peer, const void *data, size_t bytes,
            comm::Clock::time_point deadline, std::string &error) override;
  bool recv(const comm::Group &group, int peer, void *data, size_t bytes,
            comm::Clock::time_point deadline, std::string &error) override;

private:
  /// The group's communicator, made on first use; null with `error`.
  ncclComm_t groupComm(const comm::Group &group,
                       comm::Clock::time_point deadline, std::string &error);
  /// Waits until `comm` has no operation in progress and the run's stream
  /// is done, or the deadline: on an error or a timeout aborts `comm`,
  /// forgets it, and returns false with `error` naming `what`.
  bool finish(const comm::Group &group, ncclComm_t comm, ncclResult_t issued,
              const std::string &what, comm::Clock::time_point deadline,
              std::string &error);
  void abort(int32_t axes);
  /// ncclReduceScatter and ncclAllReduce have one signature.
  using ReductionEntry = decltype(&::ncclAllReduce);
  static_assert(std::is_same_v<ReductionEntry, decltype(&::ncclReduceScatter)>);
  /// reduce_scatter and all_reduce: checks the dtype and op, issues `entry`
  /// on the group's communicator, waits, traces as `kind`.
  bool reduction(const char *kind, const char *entryName, ReductionEntry entry,
                 const comm::Group &group, const void *send, void *recv,
                 int64_t count, int32_t dtype, int32_t op,
                 comm::Clock::time_point deadline, std::string &error);
  /// A trace line for a collective that moved `bytes` to and from each of
  /// the group's members (MOERT_COMM_TRACE).
  void traceUniform(const char *kind, const comm::Group &group, size_t bytes,
                    CollectiveTrace::Clock::time_point start);

  const NcclLibrary &nccl;
  comm::Communicator &communicator;
  cuda::CallContext *call = nullptr;
  std::map<int32_t, ncclComm_t> comms;
  CollectiveTrace trace;
};

} // namespace moert::nccl

#endif // MOERT_NCCL_NCCL_H
