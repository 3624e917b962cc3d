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
// Started all_to_all_v (docs/streaming.md §2) overlap the run's stream: the
// start stages the sent rows on the run's stream, records an event there
// that a communication stream of this object's waits for, and issues the
// NCCL sends and receives on that stream into staging; the wait makes the
// run's stream wait for the collective's completion event and copies the
// staged rows out there. A watchdog thread polls the collectives in flight
// (their events and ncclCommGetAsyncError) while the host is elsewhere and
// aborts a communicator past the deadline or on an error, so that the run's
// stream, and whoever synchronizes it, never waits for a peer forever.
// MOERT_NCCL_OVERLAP=0 runs started collectives at their start instead.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_NCCL_NCCL_H
#define MOERT_NCCL_NCCL_H

#include "CallContext.h"
#include "CollectiveTrace.h"
#include "Comm.h"

#include <nccl.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
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

/// Whether started collectives overlap the run's stream: MOERT_NCCL_OVERLAP
/// unset, empty or anything but "0" (the measurement baseline: "0" runs each
/// started collective at its start, as a blocking one).
bool overlapFromEnvironment();

/// The payload half of a CUDA session's collectives (comm::DeviceCollectives)
/// over NCCL. Bound to each run's CallContext (its CUDA context and stream)
/// by the backend.
class NcclCollectives final : public comm::DeviceCollectives {
public:
  NcclCollectives(const NcclLibrary &library, comm::Communicator &communicator)
      : nccl(library), communicator(communicator),
        trace(communicator.world().rank()), overlap(overlapFromEnvironment()) {}
  ~NcclCollectives() override;
  NcclCollectives(const NcclCollectives &) = delete;
  NcclCollectives &operator=(const NcclCollectives &) = delete;

  /// The run's context, while it lasts (null after, in the same device scope:
  /// the end of the run settles its started collectives, each under its
  /// deadline, and releases their staging); each run gets the next number in
  /// the trace.
  void bind(cuda::CallContext *context);

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

  bool overlapsStarted() override;
  bool startAllToAllV(int64_t handle, const comm::Group &group,
                      const void *send, const std::vector<size_t> &sendBytes,
                      const std::vector<size_t> &recvBytes,
                      comm::Clock::time_point deadline, comm::RunContext &run,
                      const std::string &what, std::string &error) override;
  bool waitAllToAllV(int64_t handle, void *recv, size_t recvCapacity,
                     int64_t *recvCounts, const std::vector<int64_t> &counts,
                     std::string &error) override;

  /// Started collectives of the run so far that are not settled yet
  /// (tests).
  size_t startedInFlight();

private:
  /// One started all_to_all_v (startAllToAllV) until the end of its run.
  struct StartedOp {
    int64_t handle = 0;
    int32_t axes = 0;
    ncclComm_t comm = nullptr;
    /// Recorded on the run's stream after staging (the communication stream
    /// waits for it) and on the communication stream after the NCCL calls.
    CUevent ready = nullptr, done = nullptr;
    /// Trace only: recorded on the communication stream before the NCCL
    /// calls (timing events; `ready` and `done` are then timing ones too).
    CUevent begin = nullptr;
    bool timed = false;
    /// The received rows until the wait copies them out (run's stream).
    CUdeviceptr recvStage = 0;
    size_t received = 0;
    comm::Clock::time_point deadline;
    comm::RunContext *run = nullptr;
    std::string what;
    enum State { InFlight, Complete, Failed } state = InFlight;
    std::string failure;
    /// The wait was called.
    bool waited = false;
    /// The run's stream waits for `done` (its wait, or a blocking
    /// collective ordered after it).
    bool runDepends = false;
    // Trace.
    std::vector<size_t> sendBytes, recvBytes;
    CollectiveTrace::Clock::time_point enqueued;
    std::optional<CollectiveTrace::Clock::time_point> entered;
  };

  /// One look at `op` (the lock held): Complete once its `done` event has
  /// fired; on an NCCL or stream error, or past its deadline, aborts its
  /// communicator (failing it and every other one in flight on it, recorded
  /// in their runs). Returns whether it is settled (no longer in flight).
  bool check(StartedOp &op);
  /// check() on every started collective in flight.
  void checkStarted();
  /// Polls until every started collective the run's stream waits for, and
  /// every one issued before those (`all`: every one), is settled.
  void settle(bool all);
  /// Makes the run's stream wait for every started collective in flight, so
  /// that a blocking collective is ordered after them.
  bool orderAfterStarted(std::string &error);
  /// End of the run (bind(nullptr)): settles every started collective,
  /// releases what the waits did not (stream-ordered) and forgets them.
  void endRun();
  /// The communication stream, made on first use (the highest priority the
  /// context offers, non-blocking).
  bool ensureCommStream(std::string &error);
  CUevent takeEvent(bool timed, std::string &error);
  void giveEvent(CUevent event, bool reuse);
  /// A driver call's result: false with `error` (and recorded in the call
  /// context) unless success.
  bool driverOk(CUresult result, const char *name, std::string &error);
  /// Writes the host `counts` to device `at` with stream-ordered memsets
  /// (no host memory has to outlive the call).
  bool writeCounts(int64_t *at, const std::vector<int64_t> &counts,
                   CUstream stream, std::string &error);
  /// The watchdog thread's loop.
  void watch();

  /// The group's communicator, made on first use; null with `error`.
  ncclComm_t groupComm(const comm::Group &group,
                       comm::Clock::time_point deadline, std::string &error);
  /// Waits until `comm` has no operation in progress and the run's stream
  /// is done, or the deadline: on an error or a timeout aborts `comm`,
  /// forgets it, and returns false with `error` naming `what`.
  bool finish(const comm::Group &group, ncclComm_t comm, ncclResult_t issued,
              const std::string &what, comm::Clock::time_point deadline,
              std::string &error);
  /// Aborts the group's communicator and forgets it; its started
  /// collectives in flight fail with `reason`.
  void abort(int32_t axes, const std::string &reason);
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
  /// MOERT_NCCL_OVERLAP.
  bool overlap;

  /// Held by every public member and by the watchdog while it looks: NCCL
  /// calls on a communicator never overlap, and a communicator is aborted
  /// only while the run's thread is outside this object.
  std::mutex mutex;
  /// The session's driver and CUDA context (from the first run bound).
  const cuda::CudaDriver *driver = nullptr;
  CUcontext context = nullptr;
  CUstream commStream = nullptr;
  /// Events without timing, free for reuse.
  std::vector<CUevent> freeEvents;
  /// The run's started collectives, in issue order.
  std::deque<std::unique_ptr<StartedOp>> started;
  std::thread watchdog;
  std::condition_variable wake;
  bool stopping = false;
};

} // namespace moert::nccl

#endif // MOERT_NCCL_NCCL_H
