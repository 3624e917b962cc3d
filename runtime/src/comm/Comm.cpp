//===- Comm.cpp - collectives of multi-rank runs --------------------------===//

#include "Comm.h"

#include "CommAbi.h"
#include "Started.h"

#include <algorithm>
#include <thread>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace moert::comm {

void Poller::pause() {
  if (++rounds <= kSpinRounds) {
    std::this_thread::yield();
    return;
  }
  std::this_thread::sleep_for(sleep);
  sleep = std::min(sleep + std::chrono::microseconds(20),
                   std::chrono::microseconds(1000));
}

//===----------------------------------------------------------------------===//
// Timeouts, shapes, groups
//===----------------------------------------------------------------------===//

bool parseTimeout(const std::string &text, double &seconds,
                  std::string &error) {
  errno = 0;
  char *end = nullptr;
  double value = text.empty() ? NAN : std::strtod(text.c_str(), &end);
  if (text.empty() || errno || !end || *end || !std::isfinite(value) ||
      value <= 0 || value > kMaxTimeoutSeconds) {
    error = "'" + text + "' is not a timeout in seconds (a number > 0, at most " +
            std::to_string(static_cast<int64_t>(kMaxTimeoutSeconds)) + ")";
    return false;
  }
  seconds = value;
  return true;
}

bool timeoutFromEnvironment(double &seconds, std::string &error) {
  seconds = kDefaultTimeoutSeconds;
  const char *text = std::getenv("MOERT_COLLECTIVE_TIMEOUT_S");
  if (!text || !*text)
    return true;
  if (parseTimeout(text, seconds, error))
    return true;
  error = "MOERT_COLLECTIVE_TIMEOUT_S: " + error;
  return false;
}

std::string formatShape(const std::vector<int64_t> &shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

std::string formatAxes(int32_t axes) {
  std::string text = "[";
  bool first = true;
  for (int a = 0; a < 32; ++a)
    if (uint32_t(axes) & (1u << a)) {
      text += (first ? "" : ", ") + std::to_string(a);
      first = false;
    }
  return text + "]";
}

std::vector<int64_t> gridCoordinates(const std::vector<int64_t> &grid,
                                     int64_t rank) {
  std::vector<int64_t> coords(grid.size(), 0);
  for (size_t a = grid.size(); a-- > 0;) {
    int64_t n = std::max<int64_t>(grid[a], 1);
    coords[a] = rank % n;
    rank /= n;
  }
  return coords;
}

std::string Group::describe() const {
  std::string text = "group axes " + formatAxes(axes) + " (world ranks ";
  for (size_t i = 0; i < members.size(); ++i) {
    if (i == 8 && members.size() > 9) {
      text += ", ...";
      break;
    }
    text += (i ? ", " : "") + std::to_string(members[i]);
  }
  return text + ")";
}

bool makeGroup(const std::vector<int64_t> &grid, int rank, int32_t axes,
               Group &group, std::string &error) {
  uint32_t mask = static_cast<uint32_t>(axes);
  if (axes < 0 || (grid.size() < 32 && (mask >> grid.size()) != 0)) {
    error = "group axes " + formatAxes(axes) + " (mask " +
            std::to_string(axes) + ") are outside the grid " +
            formatShape(grid);
    return false;
  }
  std::vector<int64_t> mine = gridCoordinates(grid, rank);
  int64_t size = 1;
  for (size_t a = 0; a < grid.size(); ++a)
    if (mask & (1u << a))
      size *= grid[a];
  group = Group();
  group.axes = axes;
  // Member m: the mixed-radix digits of m over the group's axes, the lowest
  // axis most significant; the other coordinates are this rank's.
  for (int64_t m = 0; m < size; ++m) {
    std::vector<int64_t> coords = mine;
    int64_t rest = m;
    for (size_t a = grid.size(); a-- > 0;)
      if (mask & (1u << a)) {
        coords[a] = rest % grid[a];
        rest /= grid[a];
      }
    int64_t world = 0;
    for (size_t a = 0; a < grid.size(); ++a)
      world = world * grid[a] + coords[a];
    if (world == rank)
      group.index = static_cast<int>(m);
    group.members.push_back(static_cast<int>(world));
  }
  return true;
}

//===----------------------------------------------------------------------===//
// The world of one process
//===----------------------------------------------------------------------===//

namespace {

class SelfTransport final : public Transport {
public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  bool exchange(const std::vector<Message> &sends,
                const std::vector<Message> &receives, uint64_t,
                Clock::time_point, std::string &error) override {
    // Messages to oneself only: each receive takes the next send.
    std::vector<Message> pending;
    for (const Message &m : sends)
      if (m.bytes)
        pending.push_back(m);
    size_t next = 0;
    for (const Message &r : receives) {
      if (!r.bytes)
        continue;
      if (r.peer != 0 || next >= pending.size() ||
          pending[next].bytes != r.bytes) {
        error = "a world of one rank has no rank " + std::to_string(r.peer);
        return false;
      }
      std::memmove(r.data, pending[next++].data, r.bytes);
    }
    return true;
  }
};

} // namespace

std::unique_ptr<Transport> createSelfTransport() {
  return std::make_unique<SelfTransport>();
}

//===----------------------------------------------------------------------===//
// Host reductions
//===----------------------------------------------------------------------===//

namespace {

float bf16ToFloat(uint16_t bits) {
  uint32_t word = uint32_t(bits) << 16;
  float value;
  std::memcpy(&value, &word, 4);
  return value;
}

uint16_t floatToBf16(float value) {
  uint32_t word;
  std::memcpy(&word, &value, 4);
  if ((word & 0x7fffffff) > 0x7f800000) // NaN: keep it quiet
    return uint16_t((word >> 16) | 0x40);
  word += 0x7fff + ((word >> 16) & 1); // round to nearest even
  return uint16_t(word >> 16);
}

float f16ToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  uint32_t word;
  if (exponent == 0) {
    if (mantissa == 0) {
      word = sign;
    } else { // subnormal
      exponent = 127 - 15 + 1;
      while (!(mantissa & 0x400)) {
        mantissa <<= 1;
        --exponent;
      }
      mantissa &= 0x3ff;
      word = sign | (exponent << 23) | (mantissa << 13);
    }
  } else if (exponent == 31) {
    word = sign | 0x7f800000 | (mantissa << 13);
  } else {
    word = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float value;
  std::memcpy(&value, &word, 4);
  return value;
}

uint16_t floatToF16(float value) {
  uint32_t word;
  std::memcpy(&word, &value, 4);
  uint16_t sign = uint16_t((word >> 16) & 0x8000);
  uint32_t exponent = (word >> 23) & 0xff, mantissa = word & 0x7fffff;
  if (exponent == 0xff)
    return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  int e = int(exponent) - 127 + 15;
  if (e >= 31)
    return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10)
      return sign;
    mantissa |= 0x800000;
    uint32_t shift = uint32_t(14 - e);
    uint32_t half = mantissa >> shift;
    uint32_t rest = mantissa & ((1u << shift) - 1);
    uint32_t midpoint = 1u << (shift - 1);
    if (rest > midpoint || (rest == midpoint && (half & 1)))
      ++half;
    return sign | uint16_t(half);
  }
  uint32_t half = (uint32_t(e) << 10) | (mantissa >> 13);
  uint32_t rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1)))
    ++half; // may carry into the exponent: still right (up to infinity)
  return sign | uint16_t(half);
}

template <typename T> T combine(int32_t op, T a, T b) {
  switch (op) {
  case MOERT_COMM_MAX: return std::max(a, b);
  case MOERT_COMM_MIN: return std::min(a, b);
  case MOERT_COMM_PROD: return a * b;
  default: return a + b;
  }
}

// Integers wrap (no undefined overflow).
template <> int32_t combine(int32_t op, int32_t a, int32_t b) {
  switch (op) {
  case MOERT_COMM_MAX: return std::max(a, b);
  case MOERT_COMM_MIN: return std::min(a, b);
  case MOERT_COMM_PROD: return int32_t(uint32_t(a) * uint32_t(b));
  default: return int32_t(uint32_t(a) + uint32_t(b));
  }
}
template <> int64_t combine(int32_t op, int64_t a, int64_t b) {
  switch (op) {
  case MOERT_COMM_MAX: return std::max(a, b);
  case MOERT_COMM_MIN: return std::min(a, b);
  case MOERT_COMM_PROD: return int64_t(uint64_t(a) * uint64_t(b));
  default: return int64_t(uint64_t(a) + uint64_t(b));
  }
}

template <typename T>
void reduceTyped(int32_t op, const std::vector<const void *> &in, void *out,
                 size_t count) {
  std::vector<T> accumulator(count);
  std::memcpy(accumulator.data(), in[0], count * sizeof(T));
  for (size_t m = 1; m < in.size(); ++m) {
    const T *values = static_cast<const T *>(in[m]);
    for (size_t i = 0; i < count; ++i) {
      T v;
      std::memcpy(&v, &values[i], sizeof(T));
      accumulator[i] = combine<T>(op, accumulator[i], v);
    }
  }
  std::memcpy(out, accumulator.data(), count * sizeof(T));
}

template <float (*Load)(uint16_t), uint16_t (*Store)(float)>
void reduceHalf(int32_t op, const std::vector<const void *> &in, void *out,
                size_t count) {
  std::vector<float> accumulator(count);
  for (size_t m = 0; m < in.size(); ++m) {
    const uint16_t *values = static_cast<const uint16_t *>(in[m]);
    for (size_t i = 0; i < count; ++i) {
      uint16_t bits;
      std::memcpy(&bits, &values[i], 2);
      float v = Load(bits);
      accumulator[i] = m == 0 ? v : combine<float>(op, accumulator[i], v);
    }
  }
  for (size_t i = 0; i < count; ++i) {
    uint16_t bits = Store(accumulator[i]);
    std::memcpy(static_cast<char *>(out) + 2 * i, &bits, 2);
  }
}

} // namespace

size_t elementSize(int32_t dtype) {
  if (dtype == kDTypeF64)
    return 8;
  if (dtype < MOERT_DTYPE_F32 || dtype > MOERT_DTYPE_I64)
    return 0;
  return moert_dtype_size(static_cast<moert_dtype_t>(dtype));
}

bool reduceHost(int32_t dtype, int32_t op, const std::vector<const void *> &in,
                void *out, size_t count) {
  if (op < MOERT_COMM_SUM || op > MOERT_COMM_PROD || in.empty())
    return false;
  switch (dtype) {
  case MOERT_DTYPE_F32: reduceTyped<float>(op, in, out, count); return true;
  case MOERT_DTYPE_I32: reduceTyped<int32_t>(op, in, out, count); return true;
  case MOERT_DTYPE_I64: reduceTyped<int64_t>(op, in, out, count); return true;
  case kDTypeF64: reduceTyped<double>(op, in, out, count); return true;
  case MOERT_DTYPE_BF16:
    reduceHalf<bf16ToFloat, floatToBf16>(op, in, out, count);
    return true;
  case MOERT_DTYPE_F16:
    reduceHalf<f16ToFloat, floatToF16>(op, in, out, count);
    return true;
  default: return false;
  }
}

//===----------------------------------------------------------------------===//
// Communicator
//===----------------------------------------------------------------------===//

Communicator::Communicator(std::shared_ptr<Transport> transport,
                           std::vector<int64_t> grid, double timeoutSeconds)
    : transport(std::move(transport)), gridShape(std::move(grid)),
      timeoutSeconds(timeoutSeconds) {
  if (gridShape.empty())
    gridShape.push_back(this->transport->size());
}

const Group *Communicator::group(int32_t axes, std::string &error) {
  std::lock_guard<std::mutex> guard(groupsMutex);
  auto it = groups.find(axes);
  if (it != groups.end())
    return it->second.get();
  auto made = std::make_unique<Group>();
  if (!makeGroup(gridShape, rank(), axes, *made, error))
    return nullptr;
  return groups.emplace(axes, std::move(made)).first->second.get();
}

//===----------------------------------------------------------------------===//
// RunContext
//===----------------------------------------------------------------------===//

namespace {

thread_local RunContext *current = nullptr;

enum Kind : uint32_t {
  kAllToAllV = 1,
  kAllGather = 2,
  kReduceScatter = 3,
  kAllReduce = 4,
  kSend = 5,
  kRecv = 6,
};

const char *kindName(uint32_t kind) {
  switch (kind) {
  case kAllToAllV: return "all_to_all_v";
  case kAllGather: return "all_gather";
  case kReduceScatter: return "reduce_scatter";
  case kAllReduce: return "all_reduce";
  case kSend: return "send";
  case kRecv: return "recv";
  default: return "an unknown collective";
  }
}

constexpr uint32_t kHeaderMagic = 0x4d4f4543; // "CEOM"

/// What every member sends every other member before a collective.
struct Header {
  uint32_t magic = kHeaderMagic;
  uint32_t kind = 0;
  uint64_t sequence = 0;
  int32_t axes = 0;
  int32_t groupSize = 0;
  /// The sizes that must agree (per kind).
  int64_t sizes[3] = {0, 0, 0};
  /// all_to_all_v: the rows for the receiver.
  int64_t rows = 0;
  /// Non-zero when the sender found its own arguments invalid.
  int32_t invalid = 0;
  int32_t reserved = 0;
};
static_assert(sizeof(Header) == 64, "header layout");

/// Tag keys: the run, the sequence number and the phase; point-to-point
/// messages in a space of their own.
uint64_t tagKey(uint64_t run, uint64_t sequence, int phase, bool pair) {
  return (run << 32) | (uint64_t(pair) << 31) | ((sequence & 0x1fffffff) << 2) |
         uint64_t(phase & 3);
}

std::string sizesText(const Header &h) {
  switch (h.kind) {
  case kAllToAllV: return "row_bytes " + std::to_string(h.sizes[0]);
  case kAllGather:
    return "outer " + std::to_string(h.sizes[0]) + ", block_bytes " +
           std::to_string(h.sizes[1]);
  case kReduceScatter:
  case kAllReduce: {
    const char *dtype =
        h.sizes[1] == kDTypeF64
            ? "f64"
            : moert_dtype_name(static_cast<moert_dtype_t>(h.sizes[1]));
    return "count " + std::to_string(h.sizes[0]) + ", dtype " +
           (dtype ? dtype : std::to_string(h.sizes[1])) + ", op " +
           std::to_string(h.sizes[2]);
  }
  default: return "bytes " + std::to_string(h.sizes[0]);
  }
}

} // namespace

/// One collective call in flight.
struct RunContext::Collective {
  uint32_t kind = 0;
  int32_t axes = 0;
  int64_t sizes[3] = {0, 0, 0};
  /// all_to_all_v: rows to each member (size G), else empty.
  std::vector<int64_t> rowsTo;
  /// Send/recv: the peer's index.
  int64_t peer = -1;
  /// A local problem with the arguments, found before the exchange.
  std::string invalid;

  // Set by begin():
  uint64_t sequence = 0;
  const Group *group = nullptr;
  Clock::time_point deadline;
  /// all_to_all_v: rows from each member.
  std::vector<int64_t> rowsFrom;
  std::string where;
};

RunContext::RunContext(Communicator &communicator)
    : comm(communicator), lock(communicator.runMutex, std::defer_lock) {
  // Runs of one rank may overlap (their collectives are local copies);
  // several ranks' runs must not (their messages would mix).
  if (communicator.size() > 1)
    lock.lock();
  run = ++communicator.runs;
}

void RunContext::fail(const std::string &message) {
  std::lock_guard<std::mutex> guard(failureMutex);
  if (firstFailure.empty()) {
    firstFailure = message;
    hasFailure.store(true);
  }
}

RunContext *currentRun() { return current; }

RunScope::RunScope(RunContext &run) : run(run), previous(current) {
  current = &run;
}
RunScope::~RunScope() {
  current = previous;
  run.finish();
}

void RunContext::zero(void *data, int64_t bytes) {
  if (!data || bytes <= 0)
    return;
  if (device)
    device->zero(data, static_cast<size_t>(bytes));
  else
    std::memset(data, 0, static_cast<size_t>(bytes));
}

int64_t RunContext::gridIndex(int32_t axis) {
  const std::vector<int64_t> &grid = comm.grid();
  if (axis < 0 || static_cast<size_t>(axis) >= grid.size()) {
    fail("grid_index: axis " + std::to_string(axis) +
         " is outside the grid " + formatShape(grid) + " on rank " +
         std::to_string(comm.rank()));
    return 0;
  }
  return gridCoordinates(grid, comm.rank())[axis];
}

bool RunContext::begin(Collective &call) {
  call.sequence = ++sequence;
  std::string name = std::string("collective ") + kindName(call.kind) + " #" +
                     std::to_string(call.sequence) + " of the run";
  // The group first (no communication): a collective after a failure still
  // knows the size of the outputs it zeroes.
  std::string error;
  call.group = comm.group(call.axes, error);
  if (failedSoFar())
    return false;
  if (!call.group) {
    fail(name + " on rank " + std::to_string(comm.rank()) + ": " + error);
    return false;
  }
  const Group &group = *call.group;
  call.where = name + " (" + group.describe() + ", member " +
               std::to_string(group.index) + " of " +
               std::to_string(group.size()) + ") on rank " +
               std::to_string(comm.rank());
  call.deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(comm.timeout()));
  bool pair = call.kind == kSend || call.kind == kRecv;
  if (pair && (call.peer < 0 || call.peer >= group.size())) {
    fail(call.where + ": peer " + std::to_string(call.peer) +
         " is not a member of the group (it has " +
         std::to_string(group.size()) + ")");
    return false;
  }
  if (!call.rowsTo.empty() &&
      call.rowsTo.size() != static_cast<size_t>(group.size()))
    call.invalid = "internal: counts for another group size";

  // Headers: to every other member (send/recv: the peer only).
  std::vector<int> peers;
  if (pair) {
    if (call.peer != group.index)
      peers.push_back(static_cast<int>(call.peer));
  } else {
    for (int m = 0; m < group.size(); ++m)
      if (m != group.index)
        peers.push_back(m);
  }
  std::vector<Header> out(peers.size()), in(peers.size());
  std::vector<Message> sends, receives;
  for (size_t i = 0; i < peers.size(); ++i) {
    Header &h = out[i];
    h.kind = call.kind;
    h.sequence = call.sequence;
    h.axes = call.axes;
    h.groupSize = group.size();
    std::memcpy(h.sizes, call.sizes, sizeof(h.sizes));
    h.rows = call.rowsTo.empty() ? 0 : call.rowsTo[peers[i]];
    h.invalid = !call.invalid.empty();
    sends.push_back({group.members[peers[i]], &out[i], sizeof(Header)});
    receives.push_back({group.members[peers[i]], &in[i], sizeof(Header)});
  }
  uint64_t pairCount = 0;
  if (pair)
    pairCount = pairs[{call.axes, call.peer}]++;
  uint64_t key = pair ? tagKey(run, pairCount, 0, true)
                      : tagKey(run, call.sequence, 0, false);
  if (!comm.world().exchange(sends, receives, key, call.deadline, error)) {
    fail(call.where + ": exchanging the collective header: " + error +
         (error.find("timed out") != std::string::npos ? deadlineNote() : "") +
         " (a rank that is gone, or that issues other collectives)");
    return false;
  }
  if (!call.invalid.empty()) {
    fail(call.where + ": " + call.invalid);
    return false;
  }
  if (!call.rowsTo.empty()) {
    call.rowsFrom.assign(group.size(), 0);
    call.rowsFrom[group.index] = call.rowsTo[group.index];
  }
  for (size_t i = 0; i < peers.size(); ++i) {
    const Header &h = in[i];
    std::string who = "rank " + std::to_string(group.members[peers[i]]);
    uint32_t expected = call.kind == kSend   ? kRecv
                        : call.kind == kRecv ? kSend
                                             : call.kind;
    if (h.magic != kHeaderMagic) {
      fail(call.where + ": " + who + " sent no collective header");
      return false;
    }
    if (h.kind != expected || (!pair && h.sequence != call.sequence) ||
        h.axes != call.axes) {
      fail(call.where + ": " + who + " issued " + kindName(h.kind) + " #" +
           std::to_string(h.sequence) + " (group axes " + formatAxes(h.axes) +
           ") instead of " + kindName(expected) + " #" +
           std::to_string(call.sequence) + " (group axes " +
           formatAxes(call.axes) + ")");
      return false;
    }
    if (std::memcmp(h.sizes, call.sizes, sizeof(h.sizes)) != 0) {
      Header mine;
      mine.kind = call.kind;
      std::memcpy(mine.sizes, call.sizes, sizeof(mine.sizes));
      fail(call.where + ": sizes disagree: " + who + " has " + sizesText(h) +
           ", this rank " + sizesText(mine));
      return false;
    }
    if (h.invalid) {
      fail(call.where + ": " + who + " found its arguments invalid");
      return false;
    }
    if (!call.rowsFrom.empty()) {
      if (h.rows < 0) {
        fail(call.where + ": " + who + " sends " + std::to_string(h.rows) +
             " rows");
        return false;
      }
      call.rowsFrom[peers[i]] = h.rows;
    }
  }
  return true;
}

bool RunContext::exchangeData(Collective &call,
                              const std::vector<Message> &sends,
                              const std::vector<Message> &receives,
                              int phase) {
  std::string error;
  bool pair = call.kind == kSend || call.kind == kRecv;
  uint64_t key = pair ? tagKey(run, pairs[{call.axes, call.peer}] - 1, phase,
                               true)
                      : tagKey(run, call.sequence, phase, false);
  if (comm.world().exchange(sends, receives, key, call.deadline, error))
    return true;
  fail(call.where + ": " + error +
       (error.find("timed out") != std::string::npos ? deadlineNote() : ""));
  return false;
}

std::string RunContext::deadlineNote() const {
  char text[96];
  std::snprintf(text, sizeof(text),
                " (deadline %g s: MOERT_COLLECTIVE_TIMEOUT_S)", comm.timeout());
  return text;
}

void RunContext::allToAllV(int32_t axes, const void *send,
                           const int64_t *sendCounts, int64_t sendRows,
                           void *recv, int64_t *recvCounts, int64_t recvRows,
                           int64_t rowBytes) {
  drain();
  allToAllVImpl(axes, send, sendCounts, sendRows, recv, recvCounts, recvRows,
                rowBytes, /*invalid=*/"");
}

void RunContext::allToAllVImpl(int32_t axes, const void *send,
                               const int64_t *sendCounts, int64_t sendRows,
                               void *recv, int64_t *recvCounts,
                               int64_t recvRows, int64_t rowBytes,
                               const std::string &invalid) {
  Collective call;
  call.kind = kAllToAllV;
  call.axes = axes;
  call.sizes[0] = rowBytes;
  std::string error;
  const Group *group = comm.group(axes, error);
  int64_t capacity = 0;
  bool capacityKnown = rowBytes >= 0 && recvRows >= 0 &&
                       !__builtin_mul_overflow(recvRows, rowBytes, &capacity);
  auto zeroOutputs = [&] {
    if (capacityKnown)
      zero(recv, capacity);
    const Group *g = call.group ? call.group : group;
    if (g && recvCounts)
      zero(recvCounts, int64_t(g->size()) * int64_t(sizeof(int64_t)));
  };
  if (group) {
    call.rowsTo.assign(group->size(), 0);
    if (device && sendCounts &&
        !device->copyToHost(call.rowsTo.data(), sendCounts,
                            call.rowsTo.size() * sizeof(int64_t), error))
      call.invalid = "reading send_counts: " + error;
    else if (!device && sendCounts)
      std::memcpy(call.rowsTo.data(), sendCounts,
                  call.rowsTo.size() * sizeof(int64_t));
    int64_t total = 0;
    for (int64_t c : call.rowsTo)
      if (c < 0 || __builtin_add_overflow(total, c, &total))
        total = -1;
    if (!call.invalid.empty()) {
    } else if (!invalid.empty()) {
      call.invalid = invalid;
    } else if (!capacityKnown || rowBytes <= 0 || sendRows < 0) {
      call.invalid = "invalid sizes (send_rows " + std::to_string(sendRows) +
                     ", recv_rows " + std::to_string(recvRows) +
                     ", row_bytes " + std::to_string(rowBytes) + ")";
    } else if (total < 0 || total > sendRows) {
      call.invalid = "send_counts " + formatShape(call.rowsTo) +
                     " are negative or add up to more than the " +
                     std::to_string(sendRows) + " rows of the send buffer";
    }
  }
  if (!begin(call)) {
    zeroOutputs();
    return;
  }
  const Group &g = *call.group;
  int64_t received = 0;
  for (int64_t r : call.rowsFrom)
    if (__builtin_add_overflow(received, r, &received))
      received = INT64_MAX;
  // Every member learns whether every receiver has room (a second small
  // round), so that an overflow fails the collective on all of them.
  int32_t verdict = received > recvRows;
  std::vector<int32_t> verdicts(g.size(), 0);
  std::vector<Message> vs, vr;
  for (int m = 0; m < g.size(); ++m)
    if (m != g.index) {
      vs.push_back({g.members[m], &verdict, sizeof(verdict)});
      vr.push_back({g.members[m], &verdicts[m], sizeof(int32_t)});
    }
  if (!exchangeData(call, vs, vr, 1)) {
    zeroOutputs();
    return;
  }
  verdicts[g.index] = verdict;
  for (int m = 0; m < g.size(); ++m)
    if (verdicts[m]) {
      fail(call.where + ": " +
           (m == g.index ? std::string("this rank") : "rank " +
                                   std::to_string(g.members[m])) +
           " would receive more rows than its receive buffer holds" +
           (m == g.index ? " (" + std::to_string(received) + " rows, capacity " +
                               std::to_string(recvRows) + "; counts from " +
                               "each member " + formatShape(call.rowsFrom) +
                               ")"
                         : ""));
      zeroOutputs();
      return;
    }
  std::vector<size_t> sendBytes(g.size()), recvBytes(g.size());
  for (int m = 0; m < g.size(); ++m) {
    sendBytes[m] = size_t(call.rowsTo[m]) * size_t(rowBytes);
    recvBytes[m] = size_t(call.rowsFrom[m]) * size_t(rowBytes);
  }
  size_t receivedBytes = size_t(received) * size_t(rowBytes);
  if (device) {
    if (!device->allToAllV(g, send, sendBytes, recv, recvBytes, call.deadline,
                           error)) {
      fail(call.where + ": " + error);
      zeroOutputs();
      return;
    }
    if (capacity > int64_t(receivedBytes))
      device->zero(static_cast<char *>(recv) + receivedBytes,
                   size_t(capacity) - receivedBytes);
    if (recvCounts &&
        !device->copyToDevice(recvCounts, call.rowsFrom.data(),
                              call.rowsFrom.size() * sizeof(int64_t), error))
      fail(call.where + ": writing recv_counts: " + error);
    return;
  }
  std::vector<Message> sends, receives;
  size_t sendOffset = 0, recvOffset = 0;
  for (int m = 0; m < g.size(); ++m) {
    const char *from = static_cast<const char *>(send) + sendOffset;
    char *to = static_cast<char *>(recv) + recvOffset;
    if (m == g.index) {
      if (sendBytes[m])
        std::memmove(to, from, sendBytes[m]);
    } else {
      sends.push_back({g.members[m], const_cast<char *>(from), sendBytes[m]});
      receives.push_back({g.members[m], to, recvBytes[m]});
    }
    sendOffset += sendBytes[m];
    recvOffset += recvBytes[m];
  }
  if (!exchangeData(call, sends, receives, 2)) {
    zeroOutputs();
    return;
  }
  if (capacity > int64_t(receivedBytes))
    std::memset(static_cast<char *>(recv) + receivedBytes, 0,
                size_t(capacity) - receivedBytes);
  if (recvCounts)
    std::memcpy(recvCounts, call.rowsFrom.data(),
                call.rowsFrom.size() * sizeof(int64_t));
}

void RunContext::allGather(int32_t axes, const void *send, void *recv,
                           int64_t outer, int64_t blockBytes) {
  drain();
  Collective call;
  call.kind = kAllGather;
  call.axes = axes;
  call.sizes[0] = outer;
  call.sizes[1] = blockBytes;
  int64_t bytes = 0;
  if (outer < 0 || blockBytes < 0 ||
      __builtin_mul_overflow(outer, blockBytes, &bytes))
    call.invalid = "invalid sizes (outer " + std::to_string(outer) +
                   ", block_bytes " + std::to_string(blockBytes) + ")";
  bool ok = begin(call);
  int64_t total = 0;
  if (call.group && call.invalid.empty() &&
      __builtin_mul_overflow(bytes, int64_t(call.group->size()), &total))
    total = -1;
  if (!ok) {
    if (total > 0)
      zero(recv, total);
    return;
  }
  const Group &g = *call.group;
  std::string error;
  if (device) {
    if (!device->allGather(g, send, recv, outer, blockBytes, call.deadline,
                           error)) {
      fail(call.where + ": " + error);
      zero(recv, total);
    }
    return;
  }
  // Each member's whole tensor lands in staging, then in its place in every
  // outer block (directly where there is one outer block).
  std::vector<std::vector<char>> staging(g.size());
  std::vector<Message> sends, receives;
  for (int m = 0; m < g.size(); ++m) {
    if (m == g.index)
      continue;
    sends.push_back({g.members[m], const_cast<void *>(send), size_t(bytes)});
    if (outer == 1) {
      receives.push_back(
          {g.members[m], static_cast<char *>(recv) + m * blockBytes,
           size_t(bytes)});
    } else {
      staging[m].resize(size_t(bytes));
      receives.push_back({g.members[m], staging[m].data(), size_t(bytes)});
    }
  }
  std::vector<char> own(static_cast<const char *>(send),
                        static_cast<const char *>(send) + bytes);
  if (!exchangeData(call, sends, receives, 1)) {
    zero(recv, total);
    return;
  }
  for (int m = 0; m < g.size(); ++m) {
    const char *from = m == g.index ? own.data() : staging[m].data();
    if (outer == 1 && m != g.index)
      continue;
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(static_cast<char *>(recv) +
                      (o * g.size() + m) * blockBytes,
                  from + o * blockBytes, size_t(blockBytes));
  }
}

/// The header of a reduction over `count` elements of `dtype` with `op`;
/// sets `bytes` to one member's block (invalid arguments make the call
/// invalid, which begin() reports).
static RunContext::Collective reduction(Kind kind, int32_t axes, int64_t count,
                            int32_t dtype, int32_t op, int64_t &bytes) {
  RunContext::Collective call;
  call.kind = kind;
  call.axes = axes;
  call.sizes[0] = count;
  call.sizes[1] = dtype;
  call.sizes[2] = op;
  size_t element = elementSize(dtype);
  if (!element || op < MOERT_COMM_SUM || op > MOERT_COMM_PROD || count < 0 ||
      __builtin_mul_overflow(count, int64_t(element), &bytes))
    call.invalid = "invalid arguments (count " + std::to_string(count) +
                   ", dtype " + std::to_string(dtype) + ", op " +
                   std::to_string(op) + ")";
  return call;
}

void RunContext::reduceScatter(int32_t axes, const void *send, void *recv,
                               int64_t count, int32_t dtype, int32_t op) {
  drain();
  int64_t bytes = 0;
  Collective call = reduction(kReduceScatter, axes, count, dtype, op, bytes);
  if (!begin(call)) {
    if (call.invalid.empty())
      zero(recv, bytes);
    return;
  }
  const Group &g = *call.group;
  std::string error;
  if (device) {
    if (!device->reduceScatter(g, send, recv, count, dtype, op, call.deadline,
                               error)) {
      fail(call.where + ": " + error);
      zero(recv, bytes);
    }
    return;
  }
  std::vector<std::vector<char>> blocks(g.size());
  std::vector<Message> sends, receives;
  for (int m = 0; m < g.size(); ++m) {
    if (m == g.index)
      continue;
    sends.push_back({g.members[m],
                     const_cast<char *>(static_cast<const char *>(send)) +
                         m * bytes,
                     size_t(bytes)});
    blocks[m].resize(size_t(bytes));
    receives.push_back({g.members[m], blocks[m].data(), size_t(bytes)});
  }
  if (!exchangeData(call, sends, receives, 1)) {
    zero(recv, bytes);
    return;
  }
  std::vector<const void *> in;
  for (int m = 0; m < g.size(); ++m)
    in.push_back(m == g.index ? static_cast<const char *>(send) + m * bytes
                              : blocks[m].data());
  reduceHost(dtype, op, in, recv, size_t(count));
}

void RunContext::allReduce(int32_t axes, const void *send, void *recv,
                           int64_t count, int32_t dtype, int32_t op) {
  drain();
  int64_t bytes = 0;
  Collective call = reduction(kAllReduce, axes, count, dtype, op, bytes);
  size_t element = elementSize(dtype);
  if (!begin(call)) {
    if (call.invalid.empty())
      zero(recv, bytes);
    return;
  }
  const Group &g = *call.group;
  std::string error;
  if (device) {
    if (!device->allReduce(g, send, recv, count, dtype, op, call.deadline,
                           error)) {
      fail(call.where + ": " + error);
      zero(recv, bytes);
    }
    return;
  }
  // Reduce-scatter of G chunks, then all-gather of the reduced chunks: each
  // chunk is reduced once, by its owner, in member order.
  size_t G = size_t(g.size());
  auto chunkBegin = [&](size_t c) { return size_t(count) * c / G; };
  std::vector<char> input(static_cast<const char *>(send),
                          static_cast<const char *>(send) + bytes);
  size_t mineFirst = chunkBegin(g.index),
         mineCount = chunkBegin(g.index + 1) - mineFirst;
  std::vector<std::vector<char>> parts(G);
  std::vector<Message> sends, receives;
  for (size_t m = 0; m < G; ++m) {
    if (int(m) == g.index)
      continue;
    size_t first = chunkBegin(m), n = chunkBegin(m + 1) - first;
    sends.push_back({g.members[m], input.data() + first * element, n * element});
    parts[m].resize(mineCount * element);
    receives.push_back({g.members[m], parts[m].data(), mineCount * element});
  }
  if (!exchangeData(call, sends, receives, 1)) {
    zero(recv, bytes);
    return;
  }
  std::vector<const void *> in;
  for (size_t m = 0; m < G; ++m)
    in.push_back(int(m) == g.index ? input.data() + mineFirst * element
                                   : parts[m].data());
  char *out = static_cast<char *>(recv);
  if (mineCount)
    reduceHost(dtype, op, in, out + mineFirst * element, mineCount);
  sends.clear();
  receives.clear();
  for (size_t m = 0; m < G; ++m) {
    if (int(m) == g.index)
      continue;
    size_t first = chunkBegin(m), n = chunkBegin(m + 1) - first;
    sends.push_back({g.members[m], out + mineFirst * element,
                     mineCount * element});
    receives.push_back({g.members[m], out + first * element, n * element});
  }
  if (!exchangeData(call, sends, receives, 2))
    zero(recv, bytes);
}

void RunContext::send(int32_t axes, int64_t peer, const void *data,
                      int64_t bytes) {
  drain();
  Collective call;
  call.kind = kSend;
  call.axes = axes;
  call.peer = peer;
  call.sizes[0] = bytes;
  if (bytes < 0)
    call.invalid = "invalid size " + std::to_string(bytes) + " bytes";
  if (!begin(call))
    return;
  const Group &g = *call.group;
  if (peer == g.index) {
    fail(call.where + ": sends to itself");
    return;
  }
  std::string error;
  if (device) {
    if (!device->send(g, int(peer), data, size_t(bytes), call.deadline, error))
      fail(call.where + ": " + error);
    return;
  }
  exchangeData(call,
               {{g.members[peer], const_cast<void *>(data), size_t(bytes)}}, {},
               1);
}

void RunContext::recv(int32_t axes, int64_t peer, void *data, int64_t bytes) {
  drain();
  Collective call;
  call.kind = kRecv;
  call.axes = axes;
  call.peer = peer;
  call.sizes[0] = bytes;
  if (bytes < 0)
    call.invalid = "invalid size " + std::to_string(bytes) + " bytes";
  if (!begin(call)) {
    if (bytes > 0)
      zero(data, bytes);
    return;
  }
  const Group &g = *call.group;
  if (peer == g.index) {
    fail(call.where + ": receives from itself");
    zero(data, bytes);
    return;
  }
  std::string error;
  if (device) {
    if (!device->recv(g, int(peer), data, size_t(bytes), call.deadline,
                      error)) {
      fail(call.where + ": " + error);
      zero(data, bytes);
    }
    return;
  }
  if (!exchangeData(call, {}, {{g.members[peer], data, size_t(bytes)}}, 1))
    zero(data, bytes);
}

} // namespace moert::comm
