//===- Bundle.h - artifact bundle writer ------------------------*- C++ -*-===//
//
// `moe-translate --moe-to-bundle`: compiles a tensor-level module for the CPU
// or a CUDA GPU and writes the artifact bundle the runtime loads (layout and contract:
// runtime/include/moert/bundle_format.h).
//
//===----------------------------------------------------------------------===//

#ifndef MOE_TARGET_BUNDLE_H
#define MOE_TARGET_BUNDLE_H

#include "mlir/Support/LLVM.h"

#include <string>

namespace mlir {
class ModuleOp;
namespace func {
class FuncOp;
} // namespace func
namespace moe {

/// What a bundle's kernels run on.
struct BundleTarget {
  enum class Kind {
    /// The host CPU (bundle target "cpu-<arch>").
    CPU,
    /// An NVIDIA GPU (bundle target "cuda-<chip>"): host code plus a fatbin
    /// built by the CUDA toolkit's ptxas.
    CUDA,
  };
  Kind kind = Kind::CPU;
  /// The GPU architecture for Kind::CUDA (sm_<major><minor>[a]).
  std::string chip = "sm_90a";
  /// Kind::CUDA: run the expert FFNs that fit it on the tensor-core grouped
  /// GEMM kernel (convert-moe-to-gpu) instead of per-element kernels.
  bool tensorCores = true;
  /// Kind::CUDA: streaming multiprocessors of the target GPU, the most blocks
  /// of the tensor-core kernels' persistent grids (132: H100 SXM, H200).
  int64_t multiprocessors = 132;
  /// Kind::CUDA: routers run as one-warp-per-token kernels
  /// (convert-moe-router-to-gpu) instead of one thread per token.
  bool warpRouter = true;
  /// Kind::CUDA: routers run with their logits GEMM as one kernel
  /// (moe.fused_router) where it applies.
  bool fusedRouter = true;
  /// Apply the module's `moe.parallel` plan (moe-shard) before compiling: the
  /// kernels are the program of one rank, the manifest carries the grid and
  /// each tensor's split (docs/multi-rank.md §3). The reference programs stay
  /// the unsharded ones, on full shapes. Off by default: a plan is then only
  /// an annotation and the bundle runs on one rank.
  bool shard = false;
  /// With `shard`: chunks of `moe-stream` (docs/streaming.md); 1 = none.
  int64_t streamChunks = 1;
  /// When > 0: the HBM budget in bytes that `moe-plan-tiers` plans the
  /// weights for (after sharding and streaming); weights past it live in host
  /// memory (their inputs marked "tier": "host") and are prefetched ahead of
  /// their layer. 0 = every weight in HBM.
  int64_t hbmBytes = 0;
  /// With `hbmBytes`: what a streamed layer's expert weights copy
  /// (`moe-plan-tiers` expert-fetch): "all", "routed" or "predicted".
  std::string expertFetch = "all";
};

/// Writes the bundle of `module` (manifest, reference programs, kernels for
/// `target`, schedule) to `output`; with a parallel plan and `target.shard`,
/// a sharded bundle (the program of one rank). `module` is not modified. Every failure
/// is reported as a diagnostic on the offending operation.
LogicalResult translateModuleToBundle(ModuleOp module, raw_ostream &output,
                                      const BundleTarget &target = {});

/// The reference program (JSON, schema of runtime/src/reference/
/// ReferenceProgram.h) of `func`; failure (with a warning on `func`) when it
/// holds ops outside the moe dialect other than func.return, arith.addf and
/// moeflow.prefetch (the same tensor to the reference).
FailureOr<std::string> buildReferenceProgram(func::FuncOp func);

/// Registers `--moe-to-bundle` with moe-translate.
void registerBundleTranslation();

} // namespace moe
} // namespace mlir

#endif // MOE_TARGET_BUNDLE_H
