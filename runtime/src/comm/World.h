//===- World.h - the ranks this process runs with ---------------*- C++ -*-===//
//
// The process's world: one process, or the ranks an MPI launcher started
// (`mpirun -np N`, detected from OMPI_COMM_WORLD_*, PMI_* or the
// RANK/WORLD_SIZE/LOCAL_RANK variables). Joined once per process; each
// multi-rank session then gets a transport of its own (an MPI communicator),
// made within the collective deadline.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_COMM_WORLD_H
#define MOERT_COMM_WORLD_H

#include "Comm.h"

#include <memory>
#include <string>

namespace moert::comm {

struct WorldInfo {
  int rank = 0;
  int size = 1;
  int localRank = 0;
  /// Whether the world runs over MPI (false: a world of one process).
  bool mpi = false;
};

/// Joins the world (MPI_Init when the environment names more than one rank,
/// unless the host program initialized MPI itself); later calls return the
/// same world. False with a one-line reason: MPI not built in, a
/// RANK/WORLD_SIZE that disagrees with what MPI started, ...
bool joinWorld(WorldInfo &info, std::string &error);

/// A transport of its own for a new session (MPI: a duplicate of the world
/// communicator, which every rank makes in the same order), made before
/// `timeoutSeconds` pass. Joins the world first.
std::shared_ptr<Transport> sessionTransport(double timeoutSeconds,
                                            std::string &error);

/// Reduces `count` doubles over the world with `op` (MOERT_COMM_SUM ...),
/// in place, on every rank, within `timeoutSeconds`.
bool worldAllReduce(double *values, size_t count, int32_t op,
                    double timeoutSeconds, std::string &error);

/// Finalizes MPI when joinWorld initialized it; nothing otherwise. After it,
/// no multi-rank session may run.
bool finalizeWorld(std::string &error);

} // namespace moert::comm

#endif // MOERT_COMM_WORLD_H
