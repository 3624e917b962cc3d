// RUN: moe-opt %s -split-input-file -verify-diagnostics --moe-fold-parallel="world-size=8 attention-heads=12"

// Tests that a given plan's tp must divide the attention heads when they are known.
// expected-error @+1 {{'moe.parallel' plan's tp (8) does not divide the 12 attention heads}}
module attributes {moe.parallel = #moe.parallel<attn = {tp = 8}, moe = {ep = 8}>} {
  func.func @f(%x: tensor<16x96xbf16>, %r: tensor<8x96xbf16>, %u: tensor<8x128x96xbf16>, %d: tensor<8x96x128xbf16>) -> tensor<16x96xbf16> {
    %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2>
        activation gelu layout out_in
        : (tensor<16x96xbf16>, tensor<8x96xbf16>, tensor<8x128x96xbf16>, tensor<8x96x128xbf16>) -> tensor<16x96xbf16>
    return %y : tensor<16x96xbf16>
  }
}

// -----

// Tests the error when no folding passes the divisibility checks: one token
// leaves dp = cp = 1, one layer leaves pp = 1, and tp = 8 does not divide the
// 12 heads.
// expected-error @+1 {{no parallel plan for world-size 8 passes the divisibility checks (ep | experts, etp | expert intermediate size, tp | hidden size, shared intermediate size and heads, dp*cp <= tokens, pp <= layers)}}
module {
  func.func @f(%x: tensor<1x96xbf16>, %r: tensor<8x96xbf16>, %u: tensor<8x128x96xbf16>, %d: tensor<8x96x128xbf16>) -> tensor<1x96xbf16> {
    %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2>
        activation gelu layout out_in
        : (tensor<1x96xbf16>, tensor<8x96xbf16>, tensor<8x128x96xbf16>, tensor<8x96x128xbf16>) -> tensor<1x96xbf16>
    return %y : tensor<1x96xbf16>
  }
}
