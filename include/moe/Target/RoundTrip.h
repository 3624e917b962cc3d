//===- RoundTrip.h - MLIR text round-trip translation -----------*- C++ -*-===//

#ifndef MOE_TARGET_ROUNDTRIP_H
#define MOE_TARGET_ROUNDTRIP_H

namespace mlir::moe {

/// Registers `--mlir-roundtrip` with moe-translate: parse, verify, print, parse
/// the printed text again and check that printing it gives the same text (in
/// custom and in generic form); writes the module on success.
void registerRoundTripTranslation();

} // namespace mlir::moe

#endif // MOE_TARGET_ROUNDTRIP_H
