//===- ElideStreamSyncs.cpp - moe-elide-stream-syncs ----------------------===//
//
// gpu-async-region synchronizes the host before every op with unknown side
// effects. The runtime calls listed in kStreamOrderedCalls order their device
// work on the run's stream themselves and never read device memory on the
// host, so a synchronization followed only by such calls (and the stack
// stores of their arguments) up to the next chain start costs the device an
// idle gap for nothing: this pass removes it and continues the chain.
//
//===----------------------------------------------------------------------===//

#include "moe/Conversion/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/StringSet.h"

namespace mlir::moe {
#define GEN_PASS_DEF_MOEELIDESTREAMSYNCS
#include "moe/Conversion/Passes.h.inc"
} // namespace mlir::moe

using namespace mlir;

namespace {

/// Runtime calls that order their device work on the run's stream and read
/// no device memory on the host (see the pass description).
bool isStreamOrderedCall(Operation *op) {
  static const llvm::StringSet<> kStreamOrderedCalls = {
      "mgpuTensorMapEncodeTiledMemref", "moert_tier_fetch_start",
      "moert_tier_fetch_wait", "_mlir_ciface_moert_tier_fetch_wait",
      "moert_tier_fetch_release"};
  std::optional<StringRef> callee;
  if (auto call = dyn_cast<LLVM::CallOp>(op))
    callee = call.getCallee();
  else if (auto call = dyn_cast<func::CallOp>(op))
    callee = call.getCallee();
  return callee && kStreamOrderedCalls.contains(*callee);
}

/// Whether `address` is stack memory of the host code (an alloca, or an
/// element of one).
bool isStackAddress(Value address) {
  while (auto gep = address.getDefiningOp<LLVM::GEPOp>())
    address = gep.getBase();
  return address.getDefiningOp<LLVM::AllocaOp>() != nullptr;
}

/// Ops that may sit between a removed synchronization and the chain start.
bool needsNoSync(Operation *op) {
  if (isStreamOrderedCall(op) || isa<LLVM::AllocaOp>(op))
    return true;
  if (auto store = dyn_cast<LLVM::StoreOp>(op))
    return isStackAddress(store.getAddr());
  return op->getNumRegions() == 0 && isMemoryEffectFree(op);
}

/// `gpu.wait async` without dependencies: the start of a new chain.
bool isChainStart(Operation *op) {
  auto wait = dyn_cast<gpu::WaitOp>(op);
  return wait && wait.getAsyncToken() && wait.getAsyncDependencies().empty();
}

struct ElideStreamSyncs
    : moe::impl::MoEElideStreamSyncsBase<ElideStreamSyncs> {
  void runOnOperation() override {
    SmallVector<gpu::WaitOp> syncs;
    getOperation().walk([&](gpu::WaitOp wait) {
      if (!wait.getAsyncToken() && wait.getAsyncDependencies().size() == 1)
        syncs.push_back(wait);
    });
    for (gpu::WaitOp sync : syncs) {
      bool streamOrderedCall = false;
      Operation *restart = nullptr;
      for (Operation *op = sync->getNextNode(); op; op = op->getNextNode()) {
        if (isChainStart(op)) {
          restart = op;
          break;
        }
        if (!needsNoSync(op))
          break;
        streamOrderedCall |= isStreamOrderedCall(op);
      }
      if (!restart || !streamOrderedCall)
        continue;
      Value token = sync.getAsyncDependencies().front();
      restart->getResult(0).replaceAllUsesWith(token);
      restart->erase();
      sync->erase();
    }
  }
};

} // namespace
