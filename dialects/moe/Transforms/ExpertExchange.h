//===- ExpertExchange.h - pieces of the expert-parallel exchange -*- C++ -*-===//
//
// The tensors moe-shard builds around its all-to-alls, which moe-stream
// builds again per chunk: each dispatched row's expert on its destination
// rank, and the regrouping tags of the received rows. One definition, so that
// the streamed program computes exactly what the sharded one does.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_DIALECTS_MOE_TRANSFORMS_EXPERTEXCHANGE_H
#define MOE_DIALECTS_MOE_TRANSFORMS_EXPERTEXCHANGE_H

#include "mlir/IR/Builders.h"

namespace mlir::moe {

/// [numRows] i32: for each row of a dispatch (its `sources` [numRows]), the
/// local expert on the EP member that owns it: `positions[t, k] mod
/// localExperts` for the row's token t and slot k, `localExperts` (dropped
/// when regrouped) for an unused row (source < 0).
Value buildRowLocalExperts(OpBuilder &builder, Location loc, Value sources,
                           Value positions, int64_t numRows, int64_t topK,
                           int64_t localExperts);

/// [capacity] i32: the received rows' local experts (`receivedExperts`),
/// with `localExperts` past the received total (the sum of `recvCounts`),
/// where the rows are padding. The total is summed inside the element
/// computation: as a value outside it, the GPU path would have to read it
/// on the host and would run the whole loop in one thread.
Value buildReceivedTags(OpBuilder &builder, Location loc,
                        Value receivedExperts, Value recvCounts,
                        int64_t capacity, int64_t localExperts);

} // namespace mlir::moe

#endif // MOE_DIALECTS_MOE_TRANSFORMS_EXPERTEXCHANGE_H
