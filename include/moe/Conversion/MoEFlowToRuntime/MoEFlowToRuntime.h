//===- MoEFlowToRuntime.h - moeflow collectives to moert_comm_* -*- C++ -*-===//
//
// `convert-moeflow-to-runtime`: each moeflow collective (and
// shard.process_multi_index) becomes one call of the runtime's collective C
// ABI (docs/multi-rank.md §4, runtime/src/comm/CommAbi.h).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_CONVERSION_MOEFLOWTORUNTIME_MOEFLOWTORUNTIME_H
#define MOE_CONVERSION_MOEFLOWTORUNTIME_MOEFLOWTORUNTIME_H

namespace mlir {
class RewritePatternSet;
namespace moe {

/// Patterns lowering moeflow.all_to_all_v, all_gather, reduce_scatter,
/// all_reduce, send, recv and shard.process_multi_index to `moert_comm_*`
/// calls on the buffers of their tensors (`bufferization.to_buffer` of the
/// operands, `memref.alloc` results wrapped in `bufferization.to_tensor
/// restrict writable`), ready for one-shot bufferization; and host-to-hbm
/// moeflow.prefetch to `moert_tier_fetch_start`/`_wait` (the runtime owns the
/// buffer, which the wait returns), with a `moert_tier_fetch_release` after
/// the buffer's last use when `releasePrefetched` (for pipelines that
/// bufferize without ownership-based deallocation, whose compiled code must
/// not free it). The callee declarations are added to the module on demand.
void populateMoEFlowToRuntimeConversionPatterns(
    RewritePatternSet &patterns, bool releasePrefetched = false);

} // namespace moe
} // namespace mlir

#endif // MOE_CONVERSION_MOEFLOWTORUNTIME_MOEFLOWTORUNTIME_H
