//===- CommTest.cpp - the moert_comm_* ABI under mpirun -------------------===//
//
// Run by ctest as `mpirun -np 2` and `-np 4` (every rank runs every test, in
// the same order). Tests call the ABI the way compiled kernels do, inside a
// comm::RunContext on a session transport of their own, and through a
// session whose kernel (TestCommKernel.c) calls it. The Failure.* tests run
// separately with MOERT_COLLECTIVE_TIMEOUT_S=3. Without MPI, or in a world of
// one rank, each test skips and says why.
//
//===----------------------------------------------------------------------===//

#include "Comm.h"
#include "CommAbi.h"
#include "TestBundles.h"
#include "World.h"
#include "moert/moert.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

namespace {

using moert::comm::Communicator;
using moert::comm::RunContext;
using moert::comm::RunScope;

moert_world_info_t world = {0, 1, 0, 0};
/// Set when a rank left a test early: main then goes straight to
/// MPI_Finalize, without the closing world reduction.
bool leftEarly = false;

#define REQUIRE_WORLD(n)                                                       \
  do {                                                                         \
    if (world.size < 2)                                                        \
      GTEST_SKIP() << "a world of one rank: run under mpirun -np 2 or 4"       \
                      " (ctest does, where the runtime is built with MPI)";    \
    if ((n) > 0 && world.size != (n))                                      \
      GTEST_SKIP() << "needs a world of " << (n) << " ranks, this one has "    \
                   << world.size;                                              \
  } while (0)

/// A communicator of its own over `grid` (default: [world size]).
std::unique_ptr<Communicator> makeCommunicator(std::vector<int64_t> grid = {},
                                               double timeout = 20) {
  std::string error;
  std::shared_ptr<moert::comm::Transport> transport =
      moert::comm::sessionTransport(timeout, error);
  EXPECT_TRUE(transport) << error;
  if (!transport)
    return nullptr;
  return std::make_unique<Communicator>(transport, std::move(grid), timeout);
}

constexpr int32_t kWorld = 1; // axis 0 of the default grid [world size]

/// Rows rank `from` sends member `to` in the all_to_all_v test.
int64_t rowsBetween(int from, int to) { return (from + 2 * to) % 3; }

TEST(Comm, GridIndex) {
  REQUIRE_WORLD(0);
  auto comm = makeCommunicator({1, world.size, 1});
  RunContext run(*comm);
  RunScope scope(run);
  EXPECT_EQ(moert_comm_grid_index(0), 0);
  EXPECT_EQ(moert_comm_grid_index(1), world.rank);
  EXPECT_EQ(moert_comm_grid_index(2), 0);
  EXPECT_FALSE(run.failed()) << run.failure();
  EXPECT_EQ(moert_comm_grid_index(3), 0);
  EXPECT_NE(run.failure().find("axis 3 is outside the grid [1, " +
                               std::to_string(world.size) + ", 1]"),
            std::string::npos)
      << run.failure();
}

TEST(Comm, AllToAllV) {
  REQUIRE_WORLD(0);
  auto comm = makeCommunicator();
  int n = world.size, me = world.rank;
  // Rows of two floats: {100 * sender + 10 * receiver + k, -1}.
  std::vector<int64_t> sendCounts(n), recvCounts(n, -7);
  std::vector<float> send;
  for (int j = 0; j < n; ++j) {
    sendCounts[j] = rowsBetween(me, j);
    for (int64_t k = 0; k < sendCounts[j]; ++k)
      send.insert(send.end(), {float(100 * me + 10 * j + k), -1.0f});
  }
  int64_t sendRows = int64_t(send.size() / 2) + 1; // one spare row
  send.resize(2 * sendRows, 99.0f);
  int64_t capacity = 2 * n + 3;
  std::vector<float> recv(2 * capacity, 42.0f);
  RunContext run(*comm);
  {
    RunScope scope(run);
    moert_comm_all_to_all_v(kWorld, send.data(), sendCounts.data(), sendRows,
                            recv.data(), recvCounts.data(), capacity,
                            2 * sizeof(float));
  }
  ASSERT_FALSE(run.failed()) << run.failure();
  size_t at = 0;
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(recvCounts[i], rowsBetween(i, me)) << "from member " << i;
    for (int64_t k = 0; k < rowsBetween(i, me); ++k, at += 2) {
      EXPECT_EQ(recv[at], float(100 * i + 10 * me + k));
      EXPECT_EQ(recv[at + 1], -1.0f);
    }
  }
  for (; at < recv.size(); ++at)
    EXPECT_EQ(recv[at], 0.0f) << "past the received rows, at " << at;
}

TEST(Comm, AllToAllVEverythingToOneRank) {
  REQUIRE_WORLD(0);
  auto comm = makeCommunicator();
  int n = world.size, me = world.rank;
  // Every rank sends 5 rows to member 0 and none elsewhere: member 0
  // receives 5n rows, the others receive nothing (zero counts).
  std::vector<int64_t> sendCounts(n, 0), recvCounts(n, -1);
  sendCounts[0] = 5;
  std::vector<int64_t> send(5);
  std::iota(send.begin(), send.end(), 1000 * me);
  int64_t capacity = 5 * n;
  std::vector<int64_t> recv(capacity, 7);
  RunContext run(*comm);
  {
    RunScope scope(run);
    moert_comm_all_to_all_v(kWorld, send.data(), sendCounts.data(), 5,
                            recv.data(), recvCounts.data(), capacity, 8);
  }
  ASSERT_FALSE(run.failed()) << run.failure();
  for (int i = 0; i < n; ++i)
    EXPECT_EQ(recvCounts[i], me == 0 ? 5 : 0);
  for (int64_t r = 0; r < capacity; ++r)
    EXPECT_EQ(recv[r], me == 0 ? 1000 * (r / 5) + r % 5 : 0) << r;
}

TEST(Comm, AllToAllVCapacityOverflowFailsEveryRank) {
  REQUIRE_WORLD(0);
  auto comm = makeCommunicator();
  int n = world.size;
  std::vector<int64_t> sendCounts(n, 2), recvCounts(n, -1);
  std::vector<int32_t> send(2 * n, 5);
  // Member 0 has room for one row less than it gets.
  int64_t capacity = world.rank == 0 ? 2 * n - 1 : 2 * n;
  std::vector<int32_t> recv(capacity, 9);
  RunContext run(*comm);
  {
    RunScope scope(run);
    moert_comm_all_to_all_v(kWorld, send.data(), sendCounts.data(), 2 * n,
                            recv.data(), recvCounts.data(), capacity, 4);
  }
  ASSERT_TRUE(run.failed());
  EXPECT_NE(run.failure().find("all_to_all_v #1"), std::string::npos)
      << run.failure();
  EXPECT_NE(run.failure().find(world.rank == 0 ? "this rank would receive"
                                               : "rank 0 would receive"),
            std::string::npos)
      << run.failure();
  for (int32_t v : recv)
    EXPECT_EQ(v, 0);
  for (int64_t c : recvCounts)
    EXPECT_EQ(c, 0);
}

TEST(Comm, AllToAllVBadSendCounts) {
  REQUIRE_WORLD(0);
  auto comm = makeCommunicator();
  int n = world.size;
  std::vector<int64_t> sendCounts(n, 1), recvCounts(n);
  std::vector<int32_t> send(n, 1), recv(n, 3);
  // Rank 1 claims more rows than its send buffer has.
  int64_t sendRows = world.rank == 1 ? n - 1 : n;
  RunContext run(*comm);
  {
    RunScope scope(run);
    moert_comm_all_to_all_v(kWorld, send.data(), sendCounts.data(), sendRows,
                            recv.data(), recvCounts.data(), n, 4);
  }
  ASSERT_TRUE(run.failed());
  EXPECT_NE(run.failure().find(world.rank == 1 ? "add up to more than"
                                               : "rank 1 found its arguments "
                                                 "invalid"),
            std::string::npos)
      << run.failure();
}

TEST(Comm, AllGather) {
  REQUIRE_WORLD(0);
  auto comm = makeCommunicator();
  int n = world.size, me = world.rank;
  // Two outer blocks of three floats each.
  std::vector<float> send(6);
  for (int o = 0; o < 2; ++o)
    for (int k = 0; k < 3; ++k)
      send[o * 3 + k] = float(100 * o + 10 * me + k);
  std::vector<float> recv(6 * n, -1);
  RunContext run(*comm);
  {
    RunScope scope(run);
    moert_comm_all_gather(kWorld, send.data(), recv.data(), 2,
                          3 * sizeof(float));
    // One outer block (received in place).
    std::vector<float> flat(3 * n, -1);
    moert_comm_all_gather(kWorld, send.data(), flat.data(), 1,
                          3 * sizeof(float));
    for (int m = 0; m < n; ++m)
      for (int k = 0; k < 3; ++k)
        EXPECT_EQ(flat[m * 3 + k], float(10 * m + k));
  }
  ASSERT_FALSE(run.failed()) << run.failure();
  for (int o = 0; o < 2; ++o)
    for (int m = 0; m < n; ++m)
      for (int k = 0; k < 3; ++k)
        EXPECT_EQ(recv[(o * n + m) * 3 + k], float(100 * o + 10 * m + k));
}

TEST(Comm, LargeMessages) {
  REQUIRE_WORLD(0);
  auto comm = makeCommunicator();
  int n = world.size;
  // 4 MiB per member: past every eager limit (rendezvous protocols).
  const size_t count = size_t(1) << 20;
  std::vector<int32_t> send(count), recv(count * n, -1);
  for (size_t i = 0; i < count; ++i)
    send[i] = int32_t(i) * 7 + world.rank;
  RunContext run(*comm);
  {
    RunScope scope(run);
    moert_comm_all_gather(kWorld, send.data(), recv.data(), 1,
                          int64_t(count * sizeof(int32_t)));
  }
  ASSERT_FALSE(run.failed()) << run.failure();
  for (int m = 0; m < n; ++m)
    for (size_t i = 0; i < count; i += 4099)
      ASSERT_EQ(recv[m * count + i], int32_t(i) * 7 + m) << m << ", " << i;
}

TEST(Comm, ReduceScatter) {
  REQUIRE_WORLD(0);
  auto comm = makeCommunicator();
  int n = world.size, me = world.rank;
  std::vector<float> send(3 * n);
  for (int j = 0; j < 3 * n; ++j)
    send[j] = float(j + me);
  std::vector<float> recv(3, -1);
  std::vector<int64_t> sendMax(2 * n), recvMax(2);
  for (int j = 0; j < 2 * n; ++j)
    sendMax[j] = int64_t(j) * 1000 + me;
  RunContext run(*comm);
  {
    RunScope scope(run);
    moert_comm_reduce_scatter(kWorld, send.data(), recv.data(), 3,
                              MOERT_DTYPE_F32, MOERT_COMM_SUM);
    moert_comm_reduce_scatter(kWorld, sendMax.data(), recvMax.data(), 2,
                              MOERT_DTYPE_I64, MOERT_COMM_MAX);
  }
  ASSERT_FALSE(run.failed()) << run.failure();
  float ranks = float(n * (n - 1) / 2);
  for (int k = 0; k < 3; ++k)
    EXPECT_EQ(recv[k], float(n * (3 * me + k)) + ranks);
  for (int k = 0; k < 2; ++k)
    EXPECT_EQ(recvMax[k], int64_t(2 * me + k) * 1000 + n - 1);
}

uint16_t toBf16(float v) {
  uint32_t word;
  std::memcpy(&word, &v, 4);
  return uint16_t(word >> 16); // exact for the small integers used here
}

float fromBf16(uint16_t bits) {
  uint32_t word = uint32_t(bits) << 16;
  float v;
  std::memcpy(&v, &word, 4);
  return v;
}

TEST(Comm, AllReduce) {
  REQUIRE_WORLD(0);
  auto comm = makeCommunicator();
  int n = world.size, me = world.rank;
  const int count = 7; // not a multiple of the world size
  std::vector<float> f32(count), f32Sum(count), f32Max(count);
  std::vector<uint16_t> bf16(count), bf16Sum(count), bf16Max(count);
  std::vector<int64_t> i64(count), i64Sum(count), i64Max(count);
  for (int i = 0; i < count; ++i) {
    f32[i] = float(i * 10 + me);
    bf16[i] = toBf16(float(i + me));
    i64[i] = (int64_t(1) << 40) * i - me;
  }
  RunContext run(*comm);
  {
    RunScope scope(run);
    moert_comm_all_reduce(kWorld, f32.data(), f32Sum.data(), count,
                          MOERT_DTYPE_F32, MOERT_COMM_SUM);
    moert_comm_all_reduce(kWorld, f32.data(), f32Max.data(), count,
                          MOERT_DTYPE_F32, MOERT_COMM_MAX);
    moert_comm_all_reduce(kWorld, bf16.data(), bf16Sum.data(), count,
                          MOERT_DTYPE_BF16, MOERT_COMM_SUM);
    moert_comm_all_reduce(kWorld, bf16.data(), bf16Max.data(), count,
                          MOERT_DTYPE_BF16, MOERT_COMM_MAX);
    moert_comm_all_reduce(kWorld, i64.data(), i64Sum.data(), count,
                          MOERT_DTYPE_I64, MOERT_COMM_SUM);
    moert_comm_all_reduce(kWorld, i64.data(), i64Max.data(), count,
                          MOERT_DTYPE_I64, MOERT_COMM_MAX);
    // In place.
    moert_comm_all_reduce(kWorld, f32.data(), f32.data(), count,
                          MOERT_DTYPE_F32, MOERT_COMM_SUM);
  }
  ASSERT_FALSE(run.failed()) << run.failure();
  int64_t ranks = n * (n - 1) / 2;
  for (int i = 0; i < count; ++i) {
    EXPECT_EQ(f32Sum[i], float(n * i * 10 + ranks));
    EXPECT_EQ(f32[i], f32Sum[i]);
    EXPECT_EQ(f32Max[i], float(i * 10 + n - 1));
    EXPECT_EQ(fromBf16(bf16Sum[i]), float(n * i + ranks));
    EXPECT_EQ(fromBf16(bf16Max[i]), float(i + n - 1));
    EXPECT_EQ(i64Sum[i], (int64_t(1) << 40) * i * n - ranks);
    EXPECT_EQ(i64Max[i], (int64_t(1) << 40) * i);
  }
}

TEST(Comm, SendRecv) {
  REQUIRE_WORLD(0);
  auto comm = makeCommunicator();
  int n = world.size, me = world.rank;
  // A ring: even ranks send first, odd ranks receive first.
  std::vector<int32_t> out(1000, me), in(1000, -1);
  int next = (me + 1) % n, previous = (me + n - 1) % n;
  RunContext run(*comm);
  {
    RunScope scope(run);
    if (me % 2 == 0) {
      moert_comm_send(kWorld, next, out.data(), 4000);
      moert_comm_recv(kWorld, previous, in.data(), 4000);
    } else {
      moert_comm_recv(kWorld, previous, in.data(), 4000);
      moert_comm_send(kWorld, next, out.data(), 4000);
    }
  }
  ASSERT_FALSE(run.failed()) << run.failure();
  for (int32_t v : in)
    EXPECT_EQ(v, previous);
}

/// The world ranks of this rank's group `axes` in `grid`, by all_gather.
std::vector<int32_t> gatherRanks(Communicator &comm, int32_t axes,
                                 int groupSize) {
  std::vector<int32_t> ranks(groupSize, -1);
  int32_t me = world.rank;
  RunContext run(comm);
  {
    RunScope scope(run);
    moert_comm_all_gather(axes, &me, ranks.data(), 1, sizeof(int32_t));
  }
  EXPECT_FALSE(run.failed()) << run.failure();
  return ranks;
}

TEST(Comm, Groups2x2) {
  REQUIRE_WORLD(4);
  auto comm = makeCommunicator({2, 2});
  int d = world.rank / 2, e = world.rank % 2;
  // Axis 0 varies d; axis 1 varies e; both: everyone, in rank order.
  EXPECT_EQ(gatherRanks(*comm, 0b01, 2), (std::vector<int32_t>{e, 2 + e}));
  EXPECT_EQ(gatherRanks(*comm, 0b10, 2),
            (std::vector<int32_t>{2 * d, 2 * d + 1}));
  EXPECT_EQ(gatherRanks(*comm, 0b11, 4), (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(gatherRanks(*comm, 0b00, 1), (std::vector<int32_t>{world.rank}));
}

TEST(Comm, Groups1x2x2) {
  REQUIRE_WORLD(4);
  auto comm = makeCommunicator({1, 2, 2});
  int e = world.rank / 2, t = world.rank % 2;
  EXPECT_EQ(gatherRanks(*comm, 0b001, 1), (std::vector<int32_t>{world.rank}));
  EXPECT_EQ(gatherRanks(*comm, 0b010, 2), (std::vector<int32_t>{t, 2 + t}));
  EXPECT_EQ(gatherRanks(*comm, 0b100, 2),
            (std::vector<int32_t>{2 * e, 2 * e + 1}));
  EXPECT_EQ(gatherRanks(*comm, 0b110, 4), (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(gatherRanks(*comm, 0b111, 4), (std::vector<int32_t>{0, 1, 2, 3}));
  // Index in a group: the lowest axis most significant.
  std::vector<int64_t> ones(4, 1), counts(4);
  RunContext run(*comm);
  {
    RunScope scope(run);
    EXPECT_EQ(moert_comm_grid_index(1), e);
    EXPECT_EQ(moert_comm_grid_index(2), t);
    moert_comm_all_reduce(0b1000, ones.data(), counts.data(), 4,
                          MOERT_DTYPE_I64, MOERT_COMM_SUM);
  }
  EXPECT_NE(run.failure().find("outside the grid [1, 2, 2]"),
            std::string::npos)
      << run.failure();
}

TEST(Comm, GroupsOfTwoInAWorldOf2) {
  REQUIRE_WORLD(2);
  auto comm = makeCommunicator({1, 2, 1});
  EXPECT_EQ(gatherRanks(*comm, 0b010, 2), (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(gatherRanks(*comm, 0b101, 1), (std::vector<int32_t>{world.rank}));
}

TEST(Comm, MismatchedCollectiveFailsEveryRank) {
  REQUIRE_WORLD(0);
  auto comm = makeCommunicator();
  int n = world.size;
  std::vector<int64_t> counts(n, 1), recvCounts(n, -1);
  std::vector<float> send(n, 1), recv(n, 5), after(4, 5), one(4, 1),
      gathered(n, 5);
  RunContext run(*comm);
  std::string first;
  auto start = std::chrono::steady_clock::now();
  {
    RunScope scope(run);
    if (world.rank == 1)
      moert_comm_all_gather(kWorld, send.data(), recv.data(), 1,
                            sizeof(float));
    else
      moert_comm_all_to_all_v(kWorld, send.data(), counts.data(), n,
                              recv.data(), recvCounts.data(), n,
                              sizeof(float));
    first = run.failure();
    // Later collectives of the run: no communication, outputs zeroed.
    moert_comm_all_reduce(kWorld, one.data(), after.data(), 4,
                          MOERT_DTYPE_F32, MOERT_COMM_SUM);
    moert_comm_all_gather(kWorld, one.data(), gathered.data(), 1,
                          sizeof(float));
    moert_comm_all_to_all_v(kWorld, send.data(), counts.data(), n,
                            recv.data(), recvCounts.data(), n,
                            sizeof(float));
  }
  double seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start)
                       .count();
  EXPECT_LT(seconds, 10.0) << "a mismatch is found at the header, not by "
                              "a timeout";
  ASSERT_TRUE(run.failed());
  const std::string &message = run.failure();
  std::string mine = world.rank == 1 ? "all_gather" : "all_to_all_v";
  EXPECT_NE(message.find("collective " + mine + " #1 of the run"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("on rank " + std::to_string(world.rank)),
            std::string::npos)
      << message;
  EXPECT_NE(message.find(world.rank == 1 ? "issued all_to_all_v #1"
                                         : "rank 1 issued all_gather #1"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("group axes [0]"), std::string::npos) << message;
  for (float v : recv)
    EXPECT_EQ(v, 0.0f);
  for (float v : after)
    EXPECT_EQ(v, 0.0f);
  for (float v : gathered)
    EXPECT_EQ(v, 0.0f);
  for (int64_t c : recvCounts)
    EXPECT_EQ(c, 0);
  EXPECT_EQ(first, message) << "the first failure is kept";
}

TEST(Comm, SizesMustAgree) {
  REQUIRE_WORLD(0);
  auto comm = makeCommunicator();
  std::vector<float> send(4, 1), recv(4 * world.size, 3);
  RunContext run(*comm);
  {
    RunScope scope(run);
    moert_comm_all_gather(kWorld, send.data(), recv.data(), 1,
                          world.rank == 0 ? 8 : 16);
  }
  ASSERT_TRUE(run.failed());
  EXPECT_NE(run.failure().find("sizes disagree"), std::string::npos)
      << run.failure();
}

//===----------------------------------------------------------------------===//
// Sessions: a kernel calling the ABI, run through the C API
//===----------------------------------------------------------------------===//

std::string manifest(int64_t ranks) {
  std::string grid = "[1, " + std::to_string(ranks) + ", 1]";
  std::string tensor = R"({"name": "x", "dtype": "f32", "shape": [2, 3]})";
  std::string result =
      R"({"name": "result0", "dtype": "f32", "shape": [2, 3]})";
  std::string functions;
  for (const char *name : {"sum", "bad"})
    functions += std::string(functions.empty() ? "" : ", ") + "{\"name\": \"" +
                 name + "\", \"symbol\": \"_mlir_ciface_" + name +
                 "\", \"inputs\": [" + tensor + "], \"outputs\": [" + result +
                 "]}";
  return R"({"target": "cpu-x86_64", "grid": )" + grid +
         R"(, "functions": [)" + functions + "]}";
}

std::string schedule() {
  std::string type = R"({"dtype": "f32", "shape": [2, 3]})";
  std::string kernels, programs;
  int k = 0;
  for (const char *name : {"sum", "bad"}) {
    kernels += std::string(k ? ", " : "") + "{\"symbol\": \"_mlir_ciface_" +
               name + "\", \"arguments\": [" + type + "], \"results\": [" +
               type + "]}";
    programs += std::string(k ? ", " : "") + "{\"function\": \"" + name +
                "\", \"buffers\": [" + type + ", " + type +
                "], \"commands\": [{\"command\": \"allocate\", \"buffer\": "
                "0}, {\"command\": \"bind_input\", \"input\": 0, \"buffer\": "
                "0}, {\"command\": \"call\", \"kernel\": " +
                std::to_string(k) +
                ", \"arguments\": [0], \"results\": [1]}, {\"command\": "
                "\"output\", \"output\": 0, \"buffer\": 1}]}";
    ++k;
  }
  return "{\"kernels\": [" + kernels + "], \"programs\": [" + programs + "]}";
}

moert_bundle_t *loadBundle(int64_t ranks) {
  std::vector<uint8_t> bytes = moert::testing::layOutBundle(
      {{MOERT_BUNDLE_SECTION_MANIFEST, manifest(ranks)},
       {MOERT_BUNDLE_SECTION_KERNELS,
        moert::testing::readFile(MOERT_TEST_COMM_KERNEL)},
       {MOERT_BUNDLE_SECTION_SCHEDULE, schedule()}});
  moert_bundle_t *bundle = nullptr;
  moert_status_t status =
      moert_bundle_load_memory(bytes.data(), bytes.size(), &bundle);
  EXPECT_EQ(status, nullptr) << moert_status_message(status);
  moert_status_free(status);
  return bundle;
}

TEST(Session, RunsAKernelThatCallsTheAbi) {
  REQUIRE_WORLD(0);
  moert_bundle_t *bundle = loadBundle(world.size);
  ASSERT_TRUE(bundle);
  const int64_t *grid = nullptr;
  ASSERT_EQ(moert_bundle_grid(bundle, &grid), 3u);
  EXPECT_EQ(grid[1], world.size);
  moert_session_t *session = nullptr;
  moert_status_t status = moert_session_create(bundle, &session);
  ASSERT_EQ(status, nullptr) << moert_status_message(status);
  int64_t shape[2] = {2, 3};
  std::vector<float> x(6), y(6, -1);
  for (int i = 0; i < 6; ++i)
    x[i] = float(i + world.rank);
  moert_tensor_view_t in = {MOERT_DTYPE_F32, 2, shape, x.data(), 24};
  moert_tensor_view_t out = {MOERT_DTYPE_F32, 2, shape, y.data(), 24};
  size_t sum = 0, bad = 0;
  ASSERT_EQ(moert_bundle_find_function(bundle, "sum", &sum), nullptr);
  ASSERT_EQ(moert_bundle_find_function(bundle, "bad", &bad), nullptr);
  status = moert_session_run(session, sum, &in, 1, &out, 1);
  ASSERT_EQ(status, nullptr) << moert_status_message(status);
  int n = world.size;
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(y[i], float(n * i + n * (n - 1) / 2));

  // A mismatch: MOERT_ERROR_COLLECTIVE on every rank, naming both.
  status = moert_session_run(session, bad, &in, 1, &out, 1);
  ASSERT_NE(status, nullptr);
  EXPECT_EQ(moert_status_code(status), MOERT_ERROR_COLLECTIVE);
  std::string message = moert_status_message(status);
  EXPECT_NE(message.find("running \"bad\": collective "), std::string::npos)
      << message;
  EXPECT_NE(message.find("all_gather"), std::string::npos) << message;
  EXPECT_NE(message.find("all_reduce"), std::string::npos) << message;
  moert_status_free(status);

  // The session runs again after a failure.
  status = moert_session_run(session, sum, &in, 1, &out, 1);
  EXPECT_EQ(status, nullptr) << moert_status_message(status);
  moert_status_free(status);
  moert_session_release(session);
  moert_bundle_release(bundle);
}

TEST(Session, WorldSizeMustMatchTheGrid) {
  REQUIRE_WORLD(0);
  moert_bundle_t *bundle = loadBundle(world.size + 1);
  ASSERT_TRUE(bundle);
  moert_session_t *session = nullptr;
  moert_status_t status = moert_session_create(bundle, &session);
  ASSERT_NE(status, nullptr);
  EXPECT_EQ(moert_status_code(status), MOERT_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(moert_status_message(status))
                .find("this bundle runs on " + std::to_string(world.size + 1) +
                      " ranks"),
            std::string::npos)
      << moert_status_message(status);
  moert_status_free(status);
  moert_bundle_release(bundle);
}

TEST(Session, WorldAllReduce) {
  REQUIRE_WORLD(0);
  double values[2] = {double(world.rank), 1.5};
  moert_status_t status = moert_world_all_reduce_f64(values, 2, 1);
  ASSERT_EQ(status, nullptr) << moert_status_message(status);
  EXPECT_EQ(values[0], world.size - 1);
  EXPECT_EQ(values[1], 1.5);
}

//===----------------------------------------------------------------------===//
// Started collectives (moert_comm_all_to_all_v_start / _wait)
//===----------------------------------------------------------------------===//

/// Rows of two floats that rank `from` sends member `to`, as in
/// Comm.AllToAllV, tagged with `tag`.
void fillRows(int me, int n, float tag, std::vector<int64_t> &counts,
              std::vector<float> &send) {
  counts.assign(n, 0);
  send.clear();
  for (int j = 0; j < n; ++j) {
    counts[j] = rowsBetween(me, j);
    for (int64_t k = 0; k < counts[j]; ++k)
      send.insert(send.end(), {float(100 * me + 10 * j + k), tag});
  }
}

void expectRows(int me, int n, float tag, const std::vector<float> &recv,
                const std::vector<int64_t> &recvCounts) {
  size_t at = 0;
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(recvCounts[i], rowsBetween(i, me)) << "from member " << i;
    for (int64_t k = 0; k < rowsBetween(i, me); ++k, at += 2) {
      EXPECT_EQ(recv[at], float(100 * i + 10 * me + k));
      EXPECT_EQ(recv[at + 1], tag);
    }
  }
  for (; at < recv.size(); ++at)
    EXPECT_EQ(recv[at], 0.0f) << "past the received rows, at " << at;
}

// Two collectives in flight, a blocking one issued between them and their
// waits (which come in the other order), and the send buffers overwritten
// right after the starts: the results are those of blocking calls.
TEST(Started, AllToAllVInFlightMatchesBlocking) {
  REQUIRE_WORLD(0);
  auto comm = makeCommunicator();
  int n = world.size, me = world.rank;
  std::vector<int64_t> countsA, countsB, recvCountsA(n, -7), recvCountsB(n, -7);
  std::vector<float> sendA, sendB;
  fillRows(me, n, -1.0f, countsA, sendA);
  fillRows(me, n, -2.0f, countsB, sendB);
  int64_t capacity = 2 * n + 3;
  std::vector<float> recvA(2 * capacity, 42.0f), recvB(2 * capacity, 42.0f);
  std::vector<float> one(4, 1.0f), sum(4, 0.0f);
  RunContext run(*comm);
  {
    RunScope scope(run);
    int64_t a = moert_comm_all_to_all_v_start(
        kWorld, sendA.data(), countsA.data(), int64_t(sendA.size() / 2),
        recvA.data(), recvCountsA.data(), capacity, 2 * sizeof(float));
    int64_t b = moert_comm_all_to_all_v_start(
        kWorld, sendB.data(), countsB.data(), int64_t(sendB.size() / 2),
        recvB.data(), recvCountsB.data(), capacity, 2 * sizeof(float));
    EXPECT_GT(a, 0);
    EXPECT_NE(a, b);
    // The start has read what it sends.
    std::fill(sendA.begin(), sendA.end(), 77.0f);
    std::fill(countsA.begin(), countsA.end(), 1000);
    EXPECT_EQ(recvA[0], 42.0f) << "the start does not write recv";
    moert_comm_all_reduce(kWorld, one.data(), sum.data(), 4, MOERT_DTYPE_F32,
                          MOERT_COMM_SUM);
    moert_comm_all_to_all_v_wait(b, recvB.data(), recvCountsB.data());
    moert_comm_all_to_all_v_wait(a, recvA.data(), recvCountsA.data());
  }
  ASSERT_FALSE(run.failed()) << run.failure();
  expectRows(me, n, -1.0f, recvA, recvCountsA);
  expectRows(me, n, -2.0f, recvB, recvCountsB);
  for (float v : sum)
    EXPECT_EQ(v, float(n));
}

// Sequence numbers follow issue order: rank 1 issues a blocking all_gather
// where the others start an all_to_all_v; every rank reports #1.
TEST(Started, MismatchAtTheStartFailsEveryRank) {
  REQUIRE_WORLD(0);
  auto comm = makeCommunicator();
  int n = world.size;
  std::vector<int64_t> counts(n, 1), recvCounts(n, -1);
  std::vector<float> send(n, 1), recv(n, 5), gathered(n, 5);
  RunContext run(*comm);
  {
    RunScope scope(run);
    if (world.rank == 1) {
      moert_comm_all_gather(kWorld, send.data(), gathered.data(), 1,
                            sizeof(float));
    } else {
      int64_t h = moert_comm_all_to_all_v_start(
          kWorld, send.data(), counts.data(), n, recv.data(),
          recvCounts.data(), n, sizeof(float));
      moert_comm_all_to_all_v_wait(h, recv.data(), recvCounts.data());
    }
    // Started after the failure: no communication, outputs zeroed.
    std::vector<float> later(n, 5);
    std::vector<int64_t> laterCounts(n, -1);
    int64_t h = moert_comm_all_to_all_v_start(
        kWorld, send.data(), counts.data(), n, later.data(),
        laterCounts.data(), n, sizeof(float));
    moert_comm_all_to_all_v_wait(h, later.data(), laterCounts.data());
    for (float v : later)
      EXPECT_EQ(v, 0.0f);
    for (int64_t c : laterCounts)
      EXPECT_EQ(c, 0);
  }
  ASSERT_TRUE(run.failed());
  const std::string &message = run.failure();
  EXPECT_NE(message.find(world.rank == 1 ? "issued all_to_all_v #1"
                                         : "rank 1 issued all_gather #1"),
            std::string::npos)
      << message;
  if (world.rank != 1) {
    for (float v : recv)
      EXPECT_EQ(v, 0.0f);
    for (int64_t c : recvCounts)
      EXPECT_EQ(c, 0);
  }
}

// A capacity overflow in a started collective fails it on every member.
TEST(Started, CapacityOverflowFailsEveryRank) {
  REQUIRE_WORLD(0);
  auto comm = makeCommunicator();
  int n = world.size;
  std::vector<int64_t> sendCounts(n, 2), recvCounts(n, -1);
  std::vector<int32_t> send(2 * n, 5);
  int64_t capacity = world.rank == 0 ? 2 * n - 1 : 2 * n;
  std::vector<int32_t> recv(capacity, 9);
  RunContext run(*comm);
  {
    RunScope scope(run);
    int64_t h = moert_comm_all_to_all_v_start(
        kWorld, send.data(), sendCounts.data(), 2 * n, recv.data(),
        recvCounts.data(), capacity, 4);
    moert_comm_all_to_all_v_wait(h, recv.data(), recvCounts.data());
  }
  ASSERT_TRUE(run.failed());
  EXPECT_NE(run.failure().find("collective all_to_all_v #1"),
            std::string::npos)
      << run.failure();
  EXPECT_NE(run.failure().find("would receive more rows"), std::string::npos)
      << run.failure();
  for (int32_t v : recv)
    EXPECT_EQ(v, 0);
  for (int64_t c : recvCounts)
    EXPECT_EQ(c, 0);
}

/// Device collectives whose "device" memory is host memory, moving the
/// all_to_all_v payload over the session's transport: stands in for NCCL to
/// test the start/wait of a CUDA session (the collective runs at the start).
class HostMemoryAsDevice final : public moert::comm::DeviceCollectives {
public:
  explicit HostMemoryAsDevice(moert::comm::Transport &transport)
      : transport(transport) {}
  int allToAllVCalls = 0;

  bool copyToHost(void *host, const void *device, size_t bytes,
                  std::string &) override {
    std::memcpy(host, device, bytes);
    return true;
  }
  bool copyToDevice(void *device, const void *host, size_t bytes,
                    std::string &) override {
    std::memcpy(device, host, bytes);
    return true;
  }
  void zero(void *device, size_t bytes) override {
    std::memset(device, 0, bytes);
  }
  bool allToAllV(const moert::comm::Group &group, const void *send,
                 const std::vector<size_t> &sendBytes, void *recv,
                 const std::vector<size_t> &recvBytes,
                 moert::comm::Clock::time_point deadline,
                 std::string &error) override {
    ++allToAllVCalls;
    std::vector<moert::comm::Message> sends, receives;
    size_t sendAt = 0, recvAt = 0;
    for (int m = 0; m < group.size(); ++m) {
      char *from = const_cast<char *>(static_cast<const char *>(send)) + sendAt;
      char *to = static_cast<char *>(recv) + recvAt;
      if (m == group.index)
        std::memcpy(to, from, sendBytes[m]);
      else {
        sends.push_back({group.members[m], from, sendBytes[m]});
        receives.push_back({group.members[m], to, recvBytes[m]});
      }
      sendAt += sendBytes[m];
      recvAt += recvBytes[m];
    }
    // A tag of its own, away from the runtime's run/sequence keys.
    return transport.exchange(sends, receives, uint64_t(1) << 62, deadline,
                              error);
  }
  bool allGather(const moert::comm::Group &, const void *, void *, int64_t,
                 int64_t, moert::comm::Clock::time_point,
                 std::string &error) override {
    error = "not used by this test";
    return false;
  }
  bool reduceScatter(const moert::comm::Group &, const void *, void *,
                     int64_t, int32_t, int32_t,
                     moert::comm::Clock::time_point,
                     std::string &error) override {
    error = "not used by this test";
    return false;
  }
  bool allReduce(const moert::comm::Group &, const void *, void *, int64_t,
                 int32_t, int32_t, moert::comm::Clock::time_point,
                 std::string &error) override {
    error = "not used by this test";
    return false;
  }
  bool send(const moert::comm::Group &, int, const void *, size_t,
            moert::comm::Clock::time_point, std::string &error) override {
    error = "not used by this test";
    return false;
  }
  bool recv(const moert::comm::Group &, int, void *, size_t,
            moert::comm::Clock::time_point, std::string &error) override {
    error = "not used by this test";
    return false;
  }

private:
  moert::comm::Transport &transport;
};

// On a session with device collectives (CUDA: NCCL) a start runs the
// collective at once, on the device pointers; its wait only checks the
// handle and the buffers.
TEST(Started, DeviceCollectivesRunAtTheStart) {
  REQUIRE_WORLD(0);
  auto comm = makeCommunicator();
  int n = world.size, me = world.rank;
  std::vector<int64_t> counts, recvCounts(n, -7);
  std::vector<float> send;
  fillRows(me, n, -3.0f, counts, send);
  int64_t capacity = 2 * n + 3;
  std::vector<float> recv(2 * capacity, 42.0f);
  HostMemoryAsDevice device(comm->world());
  RunContext run(*comm);
  {
    RunScope scope(run);
    run.setDevice(&device);
    int64_t h = moert_comm_all_to_all_v_start(
        kWorld, send.data(), counts.data(), int64_t(send.size() / 2),
        recv.data(), recvCounts.data(), capacity, 2 * sizeof(float));
    EXPECT_EQ(device.allToAllVCalls, 1) << "ran at the start";
    expectRows(me, n, -3.0f, recv, recvCounts);
    moert_comm_all_to_all_v_wait(h, recv.data(), recvCounts.data());
    run.setDevice(nullptr);
  }
  ASSERT_FALSE(run.failed()) << run.failure();
  expectRows(me, n, -3.0f, recv, recvCounts);
}

// Misuse of handles fails the run (every rank misuses them the same way, so
// the collectives themselves complete).
TEST(Started, NeverWaitedFailsTheRun) {
  REQUIRE_WORLD(0);
  auto comm = makeCommunicator();
  int n = world.size;
  std::vector<int64_t> counts(n, 1), recvCounts(n);
  std::vector<float> send(n, 1), recv(n);
  RunContext run(*comm);
  {
    RunScope scope(run);
    moert_comm_all_to_all_v_start(kWorld, send.data(), counts.data(), n,
                                  recv.data(), recvCounts.data(), n,
                                  sizeof(float));
  }
  ASSERT_TRUE(run.failed());
  EXPECT_NE(run.failure().find("was started and never waited"),
            std::string::npos)
      << run.failure();
}

TEST(Started, BadHandlesFailTheRun) {
  REQUIRE_WORLD(0);
  auto comm = makeCommunicator();
  int n = world.size;
  std::vector<int64_t> counts(n, 1), recvCounts(n), otherCounts(n);
  std::vector<float> send(n, 1), recv(n), other(n);
  for (int misuse = 0; misuse < 3; ++misuse) {
    RunContext run(*comm);
    {
      RunScope scope(run);
      int64_t h = moert_comm_all_to_all_v_start(
          kWorld, send.data(), counts.data(), n, recv.data(),
          recvCounts.data(), n, sizeof(float));
      if (misuse == 0) {
        moert_comm_all_to_all_v_wait(h + 1, recv.data(), recvCounts.data());
        moert_comm_all_to_all_v_wait(h, recv.data(), recvCounts.data());
      } else if (misuse == 1) {
        moert_comm_all_to_all_v_wait(h, recv.data(), recvCounts.data());
        moert_comm_all_to_all_v_wait(h, recv.data(), recvCounts.data());
      } else {
        moert_comm_all_to_all_v_wait(h, other.data(), otherCounts.data());
      }
    }
    ASSERT_TRUE(run.failed()) << "misuse " << misuse;
    EXPECT_NE(run.failure().find(misuse == 2
                                     ? "names other receive buffers"
                                     : "no collective of this run was "
                                       "started with that handle"),
              std::string::npos)
        << run.failure();
  }
}

//===----------------------------------------------------------------------===//
// Failure.*: run with MOERT_COLLECTIVE_TIMEOUT_S=3
//===----------------------------------------------------------------------===//

// The last rank leaves without calling the collective (it goes on to
// MPI_Finalize, exit status 0, so that mpirun does not end the job); the
// others must fail within the deadline, naming it, instead of hanging.
TEST(Failure, RankThatLeavesMakesTheOthersFailWithinTheDeadline) {
  REQUIRE_WORLD(0);
  double timeout = 0;
  std::string error;
  ASSERT_TRUE(moert::comm::timeoutFromEnvironment(timeout, error)) << error;
  ASSERT_LE(timeout, 10) << "run with MOERT_COLLECTIVE_TIMEOUT_S=3";
  auto comm = makeCommunicator({}, timeout);
  int leaver = world.size - 1;
  leftEarly = true;
  if (world.rank == leaver)
    return; // straight to MPI_Finalize and exit(0)
  std::vector<float> send(8, 1), recv(8, 3);
  RunContext run(*comm);
  auto start = std::chrono::steady_clock::now();
  {
    RunScope scope(run);
    moert_comm_all_reduce(kWorld, send.data(), recv.data(), 8,
                          MOERT_DTYPE_F32, MOERT_COMM_SUM);
  }
  double seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start)
                       .count();
  ASSERT_TRUE(run.failed());
  EXPECT_GE(seconds, timeout * 0.9);
  EXPECT_LT(seconds, timeout + 5) << "failed within the deadline";
  const std::string &message = run.failure();
  EXPECT_NE(message.find("collective all_reduce #1 of the run"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("on rank " + std::to_string(world.rank)),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("timed out"), std::string::npos) << message;
  EXPECT_NE(message.find(std::to_string(leaver)), std::string::npos)
      << message;
  for (float v : recv)
    EXPECT_EQ(v, 0.0f);
  std::printf("rank %d: %s\n", world.rank, message.c_str());
}

// A started collective whose peer leaves fails at the wait within the
// deadline, with its outputs zeroed. A suite of its own (a ctest entry of its
// own): after a rank leaves, the world cannot run another test.
TEST(StartedFailure, RankThatLeaves) {
  REQUIRE_WORLD(0);
  double timeout = 0;
  std::string error;
  ASSERT_TRUE(moert::comm::timeoutFromEnvironment(timeout, error)) << error;
  ASSERT_LE(timeout, 10) << "run with MOERT_COLLECTIVE_TIMEOUT_S=3";
  auto comm = makeCommunicator({}, timeout);
  int n = world.size, leaver = world.size - 1;
  leftEarly = true;
  if (world.rank == leaver)
    return;
  std::vector<int64_t> counts(n, 1), recvCounts(n, -1);
  std::vector<float> send(n, 1), recv(n, 3);
  RunContext run(*comm);
  auto start = std::chrono::steady_clock::now();
  double startSeconds = 0;
  {
    RunScope scope(run);
    int64_t h = moert_comm_all_to_all_v_start(
        kWorld, send.data(), counts.data(), n, recv.data(), recvCounts.data(),
        n, sizeof(float));
    startSeconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start)
                       .count();
    moert_comm_all_to_all_v_wait(h, recv.data(), recvCounts.data());
  }
  double seconds = std::chrono::duration<double>(
                       std::chrono::steady_clock::now() - start)
                       .count();
  EXPECT_LT(startSeconds, 1.0) << "the start does not wait for the peers";
  ASSERT_TRUE(run.failed());
  EXPECT_GE(seconds, timeout * 0.9);
  EXPECT_LT(seconds, timeout + 5) << "failed within the deadline";
  const std::string &message = run.failure();
  EXPECT_NE(message.find("collective all_to_all_v #1 of the run"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("timed out"), std::string::npos) << message;
  for (float v : recv)
    EXPECT_EQ(v, 0.0f);
  for (int64_t c : recvCounts)
    EXPECT_EQ(c, 0);
}

} // namespace

int main(int argc, char **argv) {
  ::testing::InitGoogleTest(&argc, argv);
  moert_status_t status = moert_world_join(&world);
  if (status) {
    std::fprintf(stderr, "moert-comm-tests: %s\n",
                 moert_status_message(status));
    moert_status_free(status);
    return 1;
  }
#ifndef MOERT_HAVE_MPI
  std::printf("moert-comm-tests: the runtime is built without MPI "
              "(MOE_ENABLE_MPI=OFF): every test skips\n");
#endif
  int result = RUN_ALL_TESTS();
  // Any rank's failure fails every rank (mpirun reports the first).
  double failed = result != 0;
  std::string error;
  if (world.size > 1 && !leftEarly &&
      !moert::comm::worldAllReduce(&failed, 1, MOERT_COMM_MAX, 30, error))
    std::fprintf(stderr, "moert-comm-tests: %s\n", error.c_str());
  status = moert_world_finalize();
  moert_status_free(status);
  return failed != 0;
}
