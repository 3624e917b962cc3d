//===- Mpi.cpp - the MPI transport of multi-rank CPU runs -----------------===//

#include "Mpi.h"

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <mutex>

namespace moert::mpi {

namespace {

/// Held around MPI calls when the library gave less than
/// MPI_THREAD_MULTIPLE (sessions may run on several threads).
std::mutex callMutex;
bool serialize = true;

std::unique_lock<std::mutex> guardCalls() {
  return serialize ? std::unique_lock<std::mutex>(callMutex)
                   : std::unique_lock<std::mutex>();
}

std::string describe(int code) {
  char text[MPI_MAX_ERROR_STRING] = {0};
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS)
    return "MPI error " + std::to_string(code);
  return std::string(text, size_t(std::max(length, 0)));
}

/// The largest message of one request; larger ones are cut in pieces, in
/// order (MPI never reorders messages of one sender, tag and communicator).
constexpr size_t kPiece = size_t(1) << 30;

class MpiTransport final : public comm::Transport {
public:
  MpiTransport(MPI_Comm communicator, int rank, int size, int tagLimit)
      : communicator(communicator), myRank(rank), worldSize(size),
        tagLimit(tagLimit) {}

  ~MpiTransport() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) {
      auto guard = guardCalls();
      MPI_Comm_free(&communicator);
    }
  }

  int rank() const override { return myRank; }
  int size() const override { return worldSize; }

  bool exchange(const std::vector<comm::Message> &sends,
                const std::vector<comm::Message> &receives, uint64_t key,
                comm::Clock::time_point deadline, std::string &error) override;

private:
  MPI_Comm communicator;
  int myRank, worldSize, tagLimit;
};

struct Pending {
  MPI_Request request = MPI_REQUEST_NULL;
  int peer = 0;
  bool receive = false;
  size_t bytes = 0;
};

bool MpiTransport::exchange(const std::vector<comm::Message> &sends,
                            const std::vector<comm::Message> &receives,
                            uint64_t key, comm::Clock::time_point deadline,
                            std::string &error) {
  int tag = int(key % uint64_t(tagLimit));
  std::vector<Pending> pending;
  int code = MPI_SUCCESS;
  auto post = [&](const comm::Message &m, bool receive) {
    if (m.peer < 0 || m.peer >= worldSize) {
      error = "no world rank " + std::to_string(m.peer);
      return false;
    }
    for (size_t done = 0; done < m.bytes; done += kPiece) {
      int n = int(std::min(kPiece, m.bytes - done));
      char *at = static_cast<char *>(m.data) + done;
      Pending p;
      p.peer = m.peer;
      p.receive = receive;
      p.bytes = m.bytes;
      code = receive ? MPI_Irecv(at, n, MPI_BYTE, m.peer, tag, communicator,
                                 &p.request)
                     : MPI_Isend(at, n, MPI_BYTE, m.peer, tag, communicator,
                                 &p.request);
      if (code != MPI_SUCCESS) {
        error = std::string(receive ? "MPI_Irecv from" : "MPI_Isend to") +
                " rank " + std::to_string(m.peer) + ": " + describe(code);
        return false;
      }
      pending.push_back(p);
    }
    return true;
  };
  bool posted = true;
  {
    auto guard = guardCalls();
    for (const comm::Message &m : receives)
      if (m.bytes && !(posted = post(m, true)))
        break;
    if (posted)
      for (const comm::Message &m : sends)
        if (m.bytes && !(posted = post(m, false)))
          break;
  }

  // Poll until done or the deadline (comm::Poller: yield, then sleep).
  bool timedOut = false;
  comm::Poller poller;
  while (posted) {
    bool done = true;
    {
      auto guard = guardCalls();
      for (Pending &p : pending) {
        if (p.request == MPI_REQUEST_NULL)
          continue;
        int flag = 0;
        code = MPI_Test(&p.request, &flag, MPI_STATUS_IGNORE);
        if (code != MPI_SUCCESS) {
          error = std::string(p.receive ? "receiving from" : "sending to") +
                  " rank " + std::to_string(p.peer) + ": " + describe(code);
          posted = false;
          break;
        }
        done = done && flag;
      }
    }
    if (!posted || done)
      break;
    if (comm::Clock::now() >= deadline) {
      timedOut = true;
      break;
    }
    poller.pause();
  }
  bool incomplete = false;
  for (const Pending &p : pending)
    incomplete = incomplete || p.request != MPI_REQUEST_NULL;
  if (!incomplete && posted)
    return true;

  // Name who did not answer, then take the requests back: cancel them and
  // give each a moment to finish cancelling; what is left is released (a
  // send's data may still leave later; a receive was cancelled or matched).
  std::string waiting;
  std::vector<int> named;
  for (const Pending &p : pending)
    if (p.request != MPI_REQUEST_NULL &&
        std::find(named.begin(), named.end(), p.peer) == named.end()) {
      named.push_back(p.peer);
      waiting += (waiting.empty() ? "" : ", ") + std::to_string(p.peer);
    }
  if (timedOut)
    error = "timed out: no answer from world rank" +
            std::string(named.size() == 1 ? " " : "s ") + waiting +
            " before the collective deadline";
  auto guard = guardCalls();
  for (Pending &p : pending)
    if (p.request != MPI_REQUEST_NULL)
      MPI_Cancel(&p.request);
  auto grace = comm::Clock::now() + std::chrono::milliseconds(200);
  for (Pending &p : pending)
    while (p.request != MPI_REQUEST_NULL) {
      int flag = 0;
      if (MPI_Test(&p.request, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS ||
          comm::Clock::now() > grace) {
        if (p.request != MPI_REQUEST_NULL)
          MPI_Request_free(&p.request);
        break;
      }
    }
  return false;
}

} // namespace

bool initialize(int &rank, int &size, bool &initializedHere,
                std::string &error) {
  initializedHere = false;
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (finalized) {
    error = "MPI is finalized already";
    return false;
  }
  int provided = MPI_THREAD_SINGLE;
  if (!initialized) {
    int code = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided);
    if (code != MPI_SUCCESS) {
      error = "MPI_Init_thread: " + describe(code);
      return false;
    }
    initializedHere = true;
  } else {
    MPI_Query_thread(&provided);
  }
  serialize = provided < MPI_THREAD_MULTIPLE;
  if (provided < MPI_THREAD_SERIALIZED) {
    error = "MPI was initialized with thread level " +
            std::to_string(provided) +
            "; the runtime needs MPI_THREAD_SERIALIZED or better (initialize "
            "MPI with MPI_Init_thread)";
    return false;
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return true;
}

std::unique_ptr<comm::Transport>
createTransport(comm::Clock::time_point deadline, std::string &error) {
  MPI_Comm communicator = MPI_COMM_NULL;
  MPI_Request request = MPI_REQUEST_NULL;
  int rank = 0, size = 1;
  {
    auto guard = guardCalls();
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int code = MPI_Comm_idup(MPI_COMM_WORLD, &communicator, &request);
    if (code != MPI_SUCCESS) {
      error = "MPI_Comm_idup: " + describe(code);
      return nullptr;
    }
  }
  comm::Poller poller;
  while (true) {
    int flag = 0;
    {
      auto guard = guardCalls();
      int code = MPI_Test(&request, &flag, MPI_STATUS_IGNORE);
      if (code != MPI_SUCCESS) {
        error = "MPI_Comm_idup: " + describe(code);
        return nullptr;
      }
    }
    if (flag)
      break;
    if (comm::Clock::now() >= deadline) {
      auto guard = guardCalls();
      MPI_Request_free(&request);
      error = "timed out making the session's communicator: every rank must "
              "create its multi-rank sessions in the same order (rank " +
              std::to_string(rank) + " of " + std::to_string(size) + ")";
      return nullptr;
    }
    poller.pause();
  }
  int *limit = nullptr, found = 0;
  MPI_Comm_set_errhandler(communicator, MPI_ERRORS_RETURN);
  MPI_Comm_get_attr(MPI_COMM_WORLD, MPI_TAG_UB, &limit, &found);
  int tagLimit = found && limit && *limit > 0 ? *limit : 32767;
  return std::make_unique<MpiTransport>(communicator, rank, size, tagLimit);
}

bool finalize(std::string &error) {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized)
    return true;
  int code = MPI_Finalize();
  if (code != MPI_SUCCESS) {
    error = "MPI_Finalize: " + describe(code);
    return false;
  }
  return true;
}

} // namespace moert::mpi
