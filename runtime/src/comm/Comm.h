//===- Comm.h - collectives of multi-rank runs ------------------*- C++ -*-===//
//
// The backend-independent half of the collectives behind the moert_comm_* ABI
// (CommAbi.h, docs/multi-rank.md): grid groups, the per-session Communicator,
// and the RunContext that the ABI finds on the calling thread while a run
// lasts. A collective first exchanges a small header inside its group (kind,
// sequence number, the sizes that must agree), so a mismatch is reported on
// every member; then the payload moves over the host Transport (MPI on the
// CPU, runtime/src/mpi) or, on a CUDA session, the DeviceCollectives the
// backend attached (NCCL, runtime/src/nccl). Every wait has the run's
// deadline; the first failure is recorded and later collectives of the run do
// no communication and zero their outputs.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_COMM_COMM_H
#define MOERT_COMM_COMM_H

#include "moert/bundle_format.h"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace moert::comm {

using Clock = std::chrono::steady_clock;

/// Paces the polls of one wait on a peer or a device (the MPI and NCCL
/// transports). A collective is on the layer's critical path, so the first
/// rounds (~1-2 ms) only yield the processor: a sleep would add its
/// granularity to every collective. Longer waits sleep a little longer each
/// round, up to 1 ms, so that waiting ranks leave the cores to those
/// computing.
class Poller {
public:
  void pause();

private:
  static constexpr int kSpinRounds = 2000;
  int rounds = 0;
  std::chrono::microseconds sleep{20};
};

/// MOERT_COLLECTIVE_TIMEOUT_S when unset.
constexpr double kDefaultTimeoutSeconds = 60;
/// The longest deadline accepted (a week), so that time points never overflow.
constexpr double kMaxTimeoutSeconds = 7 * 24 * 3600.0;

/// A dtype code only the runtime's own host reductions use (world reductions
/// of doubles, moert_world_all_reduce_f64); never in a bundle.
constexpr int32_t kDTypeF64 = 100;

/// Parses a timeout in seconds (a positive number, at most
/// kMaxTimeoutSeconds); false with the reason in `error`.
bool parseTimeout(const std::string &text, double &seconds, std::string &error);
/// MOERT_COLLECTIVE_TIMEOUT_S, or kDefaultTimeoutSeconds when unset or empty;
/// false with the reason when it is set to something else than a timeout.
bool timeoutFromEnvironment(double &seconds, std::string &error);

/// One message of an exchange: `bytes` at `data` to or from world rank `peer`.
struct Message {
  int peer = 0;
  void *data = nullptr;
  size_t bytes = 0;
};

/// Moves bytes between the ranks of the world: MPI (runtime/src/mpi), or the
/// world of one process (createSelfTransport).
class Transport {
public:
  virtual ~Transport() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// Posts every send and receive (messages of 0 bytes are skipped; both
  /// sides must agree on sizes), under the tag made from `key`, and waits
  /// until all are complete or `deadline` passes. On failure returns false
  /// with a one-line reason in `error` that names the peers that did not
  /// complete; nothing of the exchange is left writing caller memory.
  virtual bool exchange(const std::vector<Message> &sends,
                        const std::vector<Message> &receives, uint64_t key,
                        Clock::time_point deadline, std::string &error) = 0;
};

/// The world of this process alone (rank 0 of 1).
std::unique_ptr<Transport> createSelfTransport();

/// "[1, 2, 2]".
std::string formatShape(const std::vector<int64_t> &shape);
/// "[0, 2]" for the mask 0b101.
std::string formatAxes(int32_t axes);
/// The coordinates of world rank `rank` in `grid` (the last axis fastest).
std::vector<int64_t> gridCoordinates(const std::vector<int64_t> &grid,
                                     int64_t rank);

/// The ranks that agree with one rank on every grid coordinate outside `axes`.
struct Group {
  int32_t axes = 0;
  /// World ranks by index in the group.
  std::vector<int> members;
  /// The calling rank's index.
  int index = 0;
  int size() const { return static_cast<int>(members.size()); }
  /// "group axes [1] (world ranks 0, 1)".
  std::string describe() const;
};

/// The group of `axes` that world rank `rank` belongs to in `grid`; false
/// with the reason for a mask naming axes outside the grid.
bool makeGroup(const std::vector<int64_t> &grid, int rank, int32_t axes,
               Group &group, std::string &error);

class RunContext;

/// Payload movement of a CUDA session's collectives (device pointers, the
/// run's stream): attached by the backend to the RunContext of a run. The
/// header exchange has already agreed on every size when these are called.
class DeviceCollectives {
public:
  virtual ~DeviceCollectives() = default;
  /// Synchronous copies of a few bytes (all_to_all_v counts).
  virtual bool copyToHost(void *host, const void *device, size_t bytes,
                          std::string &error) = 0;
  virtual bool copyToDevice(void *device, const void *host, size_t bytes,
                            std::string &error) = 0;
  /// Zeroes device memory on the run's stream (outputs of failed
  /// collectives); best effort.
  virtual void zero(void *device, size_t bytes) = 0;
  /// sendBytes[j]/recvBytes[j]: the bytes to/from member j, at consecutive
  /// offsets of `send`/`recv`.
  virtual bool allToAllV(const Group &group, const void *send,
                         const std::vector<size_t> &sendBytes, void *recv,
                         const std::vector<size_t> &recvBytes,
                         Clock::time_point deadline, std::string &error) = 0;
  virtual bool allGather(const Group &group, const void *send, void *recv,
                         int64_t outer, int64_t blockBytes,
                         Clock::time_point deadline, std::string &error) = 0;
  virtual bool reduceScatter(const Group &group, const void *send, void *recv,
                             int64_t count, int32_t dtype, int32_t op,
                             Clock::time_point deadline,
                             std::string &error) = 0;
  virtual bool allReduce(const Group &group, const void *send, void *recv,
                         int64_t count, int32_t dtype, int32_t op,
                         Clock::time_point deadline, std::string &error) = 0;
  virtual bool send(const Group &group, int peer, const void *data,
                    size_t bytes, Clock::time_point deadline,
                    std::string &error) = 0;
  virtual bool recv(const Group &group, int peer, void *data, size_t bytes,
                    Clock::time_point deadline, std::string &error) = 0;

  // Started all_to_all_v that overlap the run's stream (docs/streaming.md
  // §2). Where overlapsStarted() is false (the default) a start runs the
  // collective at once with allToAllV and its wait only checks the handle.

  /// Whether the all_to_all_v started now is issued with startAllToAllV.
  virtual bool overlapsStarted() { return false; }
  /// Issues the payload of the started all_to_all_v `handle` (unique in the
  /// run) without making the run's stream wait for it: the rows `send` holds
  /// where the run's stream is now are staged first (the caller may reuse
  /// `send` once this returns), the rows received go to staging until the
  /// wait. `what` names the collective in failures found after this returns
  /// (an NCCL error, the deadline), which are recorded in `run`. False with
  /// `error` when nothing is in flight.
  virtual bool startAllToAllV(int64_t handle, const Group &group,
                              const void *send,
                              const std::vector<size_t> &sendBytes,
                              const std::vector<size_t> &recvBytes,
                              Clock::time_point deadline, RunContext &run,
                              const std::string &what, std::string &error) {
    (void)handle, (void)group, (void)send, (void)sendBytes, (void)recvBytes,
        (void)deadline, (void)run, (void)what;
    error = "started collectives do not overlap here";
    return false;
  }
  /// The wait of `handle`, on the run's stream and without blocking the
  /// host: once the exchange is done, the received rows go to `recv` (zero
  /// past them, up to `recvCapacity` bytes) and `counts` (host) to
  /// `recvCounts` (device; null: none); the staging is released. False with
  /// `error` when the collective failed (the outputs are left to the
  /// caller to zero).
  virtual bool waitAllToAllV(int64_t handle, void *recv, size_t recvCapacity,
                             int64_t *recvCounts,
                             const std::vector<int64_t> &counts,
                             std::string &error) {
    (void)handle, (void)recv, (void)recvCapacity, (void)recvCounts,
        (void)counts;
    error = "no collective was started with that handle";
    return false;
  }
};

/// The collectives of one session: its transport (a communicator of its own
/// on MPI), the bundle's grid, the deadline, and the groups, made on first
/// use and cached. One run at a time uses it (RunContext holds its lock).
class Communicator {
public:
  Communicator(std::shared_ptr<Transport> transport, std::vector<int64_t> grid,
               double timeoutSeconds);

  int rank() const { return transport->rank(); }
  int size() const { return transport->size(); }
  const std::vector<int64_t> &grid() const { return gridShape; }
  double timeout() const { return timeoutSeconds.load(); }
  void setTimeout(double seconds) { timeoutSeconds.store(seconds); }
  Transport &world() { return *transport; }

  /// The calling rank's group of `axes`; null with the reason in `error`.
  const Group *group(int32_t axes, std::string &error);

private:
  friend class RunContext;
  std::shared_ptr<Transport> transport;
  std::vector<int64_t> gridShape;
  std::atomic<double> timeoutSeconds;
  std::mutex groupsMutex;
  std::map<int32_t, std::unique_ptr<Group>> groups;
  /// Held by a run for its duration.
  std::mutex runMutex;
  /// Runs begun so far (part of every message tag).
  std::atomic<uint64_t> runs{0};
};

/// The collective state of one run. Construct it, make it current with a
/// RunScope around the kernel calls, then read failed()/failure().
class RunContext {
public:
  explicit RunContext(Communicator &communicator);
  ~RunContext();
  RunContext(const RunContext &) = delete;
  RunContext &operator=(const RunContext &) = delete;

  Communicator &communicator() { return comm; }
  /// Device payload movement for this run (CUDA sessions); null: host.
  void setDevice(DeviceCollectives *collectives) { device = collectives; }
  DeviceCollectives *deviceCollectives() const { return device; }

  /// Whether the run failed; finishes the started collectives first (see
  /// finish()), so call it once the run's kernels have returned.
  bool failed() {
    finish();
    return failedSoFar();
  }
  /// "collective all_gather #2 of the run (group axes [1] ...) on rank 0:
  /// ..."; empty while nothing failed. Read it after failed().
  const std::string &failure() const { return firstFailure; }
  /// Records a failure outside a collective (e.g. NCCL missing). Any thread.
  void fail(const std::string &message);

  // The moert_comm_* operations (see CommAbi.h).
  int64_t gridIndex(int32_t axis);
  void allToAllV(int32_t axes, const void *send, const int64_t *sendCounts,
                 int64_t sendRows, void *recv, int64_t *recvCounts,
                 int64_t recvRows, int64_t rowBytes);
  void allGather(int32_t axes, const void *send, void *recv, int64_t outer,
                 int64_t blockBytes);
  void reduceScatter(int32_t axes, const void *send, void *recv, int64_t count,
                     int32_t dtype, int32_t op);
  void allReduce(int32_t axes, const void *send, void *recv, int64_t count,
                 int32_t dtype, int32_t op);
  void send(int32_t axes, int64_t peer, const void *data, int64_t bytes);
  void recv(int32_t axes, int64_t peer, void *data, int64_t bytes);

  // Started collectives (Started.cpp, docs/streaming.md §2): the start
  // stages the rows and queues the collective for the run's progress thread,
  // which executes queued collectives in issue order; the wait copies the
  // staged results out. The blocking operations above first wait until every
  // started collective has executed, so sequence numbers follow issue order.
  int64_t allToAllVStart(int32_t axes, const void *send,
                         const int64_t *sendCounts, int64_t sendRows,
                         void *recv, int64_t *recvCounts, int64_t recvRows,
                         int64_t rowBytes);
  void allToAllVWait(int64_t handle, void *recv, int64_t *recvCounts);
  /// Waits until every started collective has executed, ends the progress
  /// thread, and fails the run for each one that was never waited. Called by
  /// ~RunScope, failed() and ~RunContext; idempotent.
  void finish();

  struct Collective; // one call in flight (Comm.cpp)
  class StartedQueue; // the progress thread and its queue (Started.cpp)
  struct StartedCollective; // one started collective (Started.cpp)

private:
  bool failedSoFar() const { return hasFailure.load(); }
  /// Runs a started collective on its staging (the progress thread).
  void execute(StartedCollective &entry);
  /// Returns once every started collective has executed (no-op on the
  /// progress thread itself).
  void drain();
  void allToAllVImpl(int32_t axes, const void *send, const int64_t *sendCounts,
                     int64_t sendRows, void *recv, int64_t *recvCounts,
                     int64_t recvRows, int64_t rowBytes,
                     const std::string &invalid);
  bool begin(Collective &call);
  void zero(void *data, int64_t bytes);
  /// " (deadline 60 s: MOERT_COLLECTIVE_TIMEOUT_S)".
  std::string deadlineNote() const;
  bool exchangeData(Collective &call, const std::vector<Message> &sends,
                    const std::vector<Message> &receives, int phase);

  Communicator &comm;
  std::unique_lock<std::mutex> lock;
  uint64_t run;
  uint64_t sequence = 0;
  /// Point-to-point messages so far, per (group, peer) pair.
  std::map<std::pair<int32_t, int64_t>, uint64_t> pairs;
  DeviceCollectives *device = nullptr;
  /// Written once, under failureMutex (the progress thread fails runs too).
  std::mutex failureMutex;
  std::atomic<bool> hasFailure{false};
  std::string firstFailure;
  std::unique_ptr<StartedQueue> started;
  /// Handles of the run's started collectives so far (unique in the run).
  int64_t startedHandles = 0;
};

/// The RunContext of the calling thread; null outside a RunScope.
RunContext *currentRun();

/// Makes `run` the calling thread's RunContext for the scope's life; at its
/// end the run's started collectives are finished (RunContext::finish).
class RunScope {
public:
  explicit RunScope(RunContext &run);
  ~RunScope();
  RunScope(const RunScope &) = delete;
  RunScope &operator=(const RunScope &) = delete;

private:
  RunContext &run;
  RunContext *previous;
};

/// Makes the runtime's moert_comm_* (and moert_tier_*: same library) visible
/// (CommAbi.cpp); call before loading a bundle's kernels.
void exposeCommAbi();

/// Host reduction: out[i] = op over members m of in[m][i], in member order,
/// 16-bit floats accumulated in float and rounded once (the same bits on
/// every rank). False for an unknown dtype or op.
bool reduceHost(int32_t dtype, int32_t op, const std::vector<const void *> &in,
                void *out, size_t count);
/// Bytes per element of `dtype` (kDTypeF64 included); 0 when unknown.
size_t elementSize(int32_t dtype);

} // namespace moert::comm

#endif // MOERT_COMM_COMM_H
