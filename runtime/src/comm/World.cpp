//===- World.cpp - the ranks this process runs with -----------------------===//

#include "World.h"

#include "CommAbi.h"

#ifdef MOERT_HAVE_MPI
#include "Mpi.h"
#endif

#include <cerrno>
#include <cstdlib>
#include <mutex>

namespace moert::comm {

namespace {

/// The value of the first of `names` that is set and not empty: false when
/// none is; an error when it is no non-negative integer.
bool readCount(std::initializer_list<const char *> names, long &value,
               std::string &name, std::string &error) {
  for (const char *candidate : names) {
    const char *text = std::getenv(candidate);
    if (!text || !*text)
      continue;
    errno = 0;
    char *end = nullptr;
    long parsed = std::strtol(text, &end, 10);
    if (errno || *end || parsed < 0 || parsed > (1l << 24)) {
      error = std::string(candidate) + "='" + text +
              "' is not a non-negative integer";
      value = -1;
      return true;
    }
    value = parsed;
    name = candidate;
    return true;
  }
  return false;
}

struct World {
  std::mutex mutex;
  bool joined = false;
  WorldInfo info;
  bool initializedMpi = false;
  bool finalized = false;
  /// The world's own transport (moert_world_all_reduce_f64).
  std::shared_ptr<Transport> transport;
  std::unique_ptr<Communicator> communicator;
};

World &world() {
  static World *instance = new World(); // never destroyed: used at exit
  return *instance;
}

bool joinLocked(World &w, WorldInfo &info, std::string &error) {
  if (w.finalized) {
    error = "the world was finalized (moert_world_finalize); no multi-rank "
            "session can start after it";
    return false;
  }
  if (w.joined) {
    info = w.info;
    return true;
  }
  // What the environment says: the launcher's variables first.
  long size = -1, rank = -1, local = -1;
  std::string sizeName, rankName, localName;
  readCount({"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "WORLD_SIZE"},
            size, sizeName, error);
  readCount({"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "RANK"}, rank,
            rankName, error);
  readCount({"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "LOCAL_RANK"},
            local, localName, error);
  if (!error.empty())
    return false;
  bool launched = size > 1 || std::getenv("OMPI_COMM_WORLD_SIZE");
  WorldInfo joined;
#ifdef MOERT_HAVE_MPI
  int mpiInitialized = 0;
  (void)mpiInitialized;
  if (launched) {
    int mpiRank = 0, mpiSize = 1;
    if (!mpi::initialize(mpiRank, mpiSize, w.initializedMpi, error))
      return false;
    if (size >= 0 && size != mpiSize) {
      error = sizeName + "=" + std::to_string(size) +
              " but MPI started a world of " + std::to_string(mpiSize) +
              " process" + (mpiSize == 1 ? "" : "es") +
              ": start the ranks with mpirun -np " + std::to_string(size) +
              " (the ranks meet through MPI)";
      return false;
    }
    if (rank >= 0 && rank != mpiRank) {
      error = rankName + "=" + std::to_string(rank) + " but MPI says rank " +
              std::to_string(mpiRank);
      return false;
    }
    joined.rank = mpiRank;
    joined.size = mpiSize;
    joined.mpi = true;
  }
#else
  if (launched) {
    error = sizeName + "=" + std::to_string(size) +
            " names a world of several ranks, but this runtime is built "
            "without MPI (configure with -DMOE_ENABLE_MPI=ON where OpenMPI "
            "is installed, e.g. Debian's libopenmpi-dev)";
    return false;
  }
#endif
  if (rank > 0 && !joined.mpi) {
    error = rankName + "=" + std::to_string(rank) + " in a world of one rank";
    return false;
  }
  joined.localRank = local >= 0 ? int(local) : 0;
  w.info = joined;
  w.joined = true;
  info = joined;
  return true;
}

std::shared_ptr<Transport> transportLocked(World &w, double timeoutSeconds,
                                           std::string &error) {
  WorldInfo info;
  if (!joinLocked(w, info, error))
    return nullptr;
  if (!info.mpi)
    return createSelfTransport();
#ifdef MOERT_HAVE_MPI
  auto deadline = Clock::now() +
                  std::chrono::duration_cast<Clock::duration>(
                      std::chrono::duration<double>(timeoutSeconds));
  std::unique_ptr<Transport> transport = mpi::createTransport(deadline, error);
  if (!transport)
    return nullptr;
  return std::shared_ptr<Transport>(std::move(transport));
#else
  (void)timeoutSeconds;
  error = "built without MPI";
  return nullptr;
#endif
}

} // namespace

bool joinWorld(WorldInfo &info, std::string &error) {
  World &w = world();
  std::lock_guard<std::mutex> guard(w.mutex);
  return joinLocked(w, info, error);
}

std::shared_ptr<Transport> sessionTransport(double timeoutSeconds,
                                            std::string &error) {
  World &w = world();
  std::lock_guard<std::mutex> guard(w.mutex);
  return transportLocked(w, timeoutSeconds, error);
}

bool worldAllReduce(double *values, size_t count, int32_t op,
                    double timeoutSeconds, std::string &error) {
  World &w = world();
  Communicator *communicator = nullptr;
  {
    std::lock_guard<std::mutex> guard(w.mutex);
    if (!w.communicator) {
      std::shared_ptr<Transport> transport =
          transportLocked(w, timeoutSeconds, error);
      if (!transport)
        return false;
      w.communicator = std::make_unique<Communicator>(
          transport, std::vector<int64_t>{transport->size()}, timeoutSeconds);
    }
    communicator = w.communicator.get();
  }
  communicator->setTimeout(timeoutSeconds);
  RunContext run(*communicator);
  run.allReduce(/*axes=*/1, values, values, int64_t(count), kDTypeF64, op);
  if (run.failed()) {
    error = run.failure();
    return false;
  }
  return true;
}

bool finalizeWorld(std::string &error) {
  World &w = world();
  std::lock_guard<std::mutex> guard(w.mutex);
  if (w.finalized)
    return true;
  w.finalized = true;
  w.communicator.reset();
#ifdef MOERT_HAVE_MPI
  if (w.initializedMpi)
    return mpi::finalize(error);
#endif
  (void)error;
  return true;
}

} // namespace moert::comm
