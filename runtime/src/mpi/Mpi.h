//===- Mpi.h - the MPI transport of multi-rank CPU runs ---------*- C++ -*-===//
//
// Built with MOE_ENABLE_MPI (MOERT_HAVE_MPI). Every message is a non-blocking
// MPI_Isend/MPI_Irecv on a communicator of the session's own, polled with
// MPI_Test until the deadline; on a timeout the pending requests are
// cancelled and the peers that did not answer are named. Errors come back as
// codes (MPI_ERRORS_RETURN): nothing here aborts the process.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_MPI_MPI_H
#define MOERT_MPI_MPI_H

#include "Comm.h"

#include <memory>
#include <string>

namespace moert::mpi {

/// MPI_Init_thread (asking for MPI_THREAD_MULTIPLE) unless MPI is initialized
/// already; the world's rank and size. `initializedHere` tells whether this
/// call initialized it.
bool initialize(int &rank, int &size, bool &initializedHere,
                std::string &error);

/// A transport over a duplicate of MPI_COMM_WORLD (MPI_Comm_idup, polled
/// until `deadline`).
std::unique_ptr<comm::Transport> createTransport(comm::Clock::time_point deadline,
                                                 std::string &error);

/// MPI_Finalize, unless finalized already.
bool finalize(std::string &error);

} // namespace moert::mpi

#endif // MOERT_MPI_MPI_H
