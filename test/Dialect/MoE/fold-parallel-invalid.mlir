// RUN: moe-opt %s -split-input-file -verify-diagnostics --moe-fold-parallel="world-size=8"

// Tests that a given plan must span world-size ranks.
// expected-error @+1 {{'moe.parallel' plan spans 16 ranks (tp*cp*dp*pp = 2*1*8*1) but world-size is 8}}
module attributes {moe.parallel = #moe.parallel<attn = {tp = 2, dp = 8}, moe = {ep = 8, edp = 2}>} {
  func.func @f(%x: tensor<16x64xbf16>, %r: tensor<8x64xbf16>, %u: tensor<8x128x64xbf16>, %d: tensor<8x64x128xbf16>) -> tensor<16x64xbf16> {
    %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2>
        activation gelu layout out_in
        : (tensor<16x64xbf16>, tensor<8x64xbf16>, tensor<8x128x64xbf16>, tensor<8x64x128xbf16>) -> tensor<16x64xbf16>
    return %y : tensor<16x64xbf16>
  }
}

// -----

// Tests that a given plan's ep must divide every layer's routed experts.
module attributes {moe.parallel = #moe.parallel<attn = {dp = 8}, moe = {ep = 8}>} {
  func.func @f(%x: tensor<16x64xbf16>, %r: tensor<6x64xbf16>, %u: tensor<6x128x64xbf16>, %d: tensor<6x64x128xbf16>) -> tensor<16x64xbf16> {
    // expected-error @+1 {{'moe.parallel' plan's ep (8) does not divide the 6 routed experts of this layer}}
    %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2>
        activation gelu layout out_in
        : (tensor<16x64xbf16>, tensor<6x64xbf16>, tensor<6x128x64xbf16>, tensor<6x64x128xbf16>) -> tensor<16x64xbf16>
    return %y : tensor<16x64xbf16>
  }
}

// -----

// Tests that a given plan's etp must divide every layer's expert intermediate
// size, and that each violating layer gets its own diagnostic.
module attributes {moe.parallel = #moe.parallel<attn = {dp = 8}, moe = {etp = 4, edp = 2}>} {
  func.func @f(%x: tensor<16x64xbf16>, %r: tensor<8x64xbf16>, %u: tensor<8x6x64xbf16>, %d: tensor<8x64x6xbf16>,
               %u2: tensor<8x8x64xbf16>, %d2: tensor<8x64x8xbf16>, %u3: tensor<8x10x64xbf16>, %d3: tensor<8x64x10xbf16>) -> tensor<16x64xbf16> {
    // expected-error @+1 {{'moe.parallel' plan's etp (4) does not divide the expert intermediate size (6) of this layer}}
    %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2>
        activation gelu layout out_in
        : (tensor<16x64xbf16>, tensor<8x64xbf16>, tensor<8x6x64xbf16>, tensor<8x64x6xbf16>) -> tensor<16x64xbf16>
    %z = moe.layer %y router %r experts up %u2 down %d2 routing <scoring = softmax, top_k = 2>
        activation gelu layout out_in
        : (tensor<16x64xbf16>, tensor<8x64xbf16>, tensor<8x8x64xbf16>, tensor<8x64x8xbf16>) -> tensor<16x64xbf16>
    // expected-error @+1 {{'moe.parallel' plan's etp (4) does not divide the expert intermediate size (10) of this layer}}
    %w = moe.layer %z router %r experts up %u3 down %d3 routing <scoring = softmax, top_k = 2>
        activation gelu layout out_in
        : (tensor<16x64xbf16>, tensor<8x64xbf16>, tensor<8x10x64xbf16>, tensor<8x64x10xbf16>) -> tensor<16x64xbf16>
    return %w : tensor<16x64xbf16>
  }
}

// -----

// Tests that a given plan's tp must divide the hidden size (attention is a
// dense block of width H) and the shared experts' intermediate size.
module attributes {moe.parallel = #moe.parallel<attn = {tp = 8}, moe = {ep = 8}>} {
  func.func @f(%x: tensor<16x36xbf16>, %r: tensor<8x36xbf16>, %u: tensor<8x16x36xbf16>, %d: tensor<8x36x16xbf16>,
               %su: tensor<12x36xbf16>, %sd: tensor<36x12xbf16>) -> tensor<16x36xbf16> {
    // expected-error @+2 {{'moe.parallel' plan's tp (8) does not divide the hidden size (36) of this layer}}
    // expected-error @+1 {{'moe.parallel' plan's tp (8) does not divide the shared expert intermediate size (12) of this layer}}
    %y = moe.layer %x router %r experts up %u down %d shared_up %su shared_down %sd
        routing <scoring = softmax, top_k = 2> activation gelu layout out_in
        : (tensor<16x36xbf16>, tensor<8x36xbf16>, tensor<8x16x36xbf16>, tensor<8x36x16xbf16>, tensor<12x36xbf16>, tensor<36x12xbf16>) -> tensor<16x36xbf16>
    return %y : tensor<16x36xbf16>
  }
}

// -----

// Tests that every attention data shard (dp*cp) of a given plan needs a token.
module attributes {moe.parallel = #moe.parallel<attn = {cp = 2, dp = 4}, moe = {ep = 8}>} {
  func.func @f(%x: tensor<4x64xbf16>, %r: tensor<8x64xbf16>, %u: tensor<8x128x64xbf16>, %d: tensor<8x64x128xbf16>) -> tensor<4x64xbf16> {
    // expected-error @+1 {{'moe.parallel' plan's dp*cp (8) exceeds the 4 tokens of this layer}}
    %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2>
        activation gelu layout out_in
        : (tensor<4x64xbf16>, tensor<8x64xbf16>, tensor<8x128x64xbf16>, tensor<8x64x128xbf16>) -> tensor<4x64xbf16>
    return %y : tensor<4x64xbf16>
  }
}

// -----

// Tests that a given plan's pipeline stages each need a layer.
// expected-error @+1 {{'moe.parallel' plan's pp (2) exceeds the 1 MoE layers of the model}}
module attributes {moe.parallel = #moe.parallel<attn = {dp = 4, pp = 2}, moe = {ep = 4}>} {
  func.func @f(%x: tensor<16x64xbf16>, %r: tensor<8x64xbf16>, %u: tensor<8x128x64xbf16>, %d: tensor<8x64x128xbf16>) -> tensor<16x64xbf16> {
    %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2>
        activation gelu layout out_in
        : (tensor<16x64xbf16>, tensor<8x64xbf16>, tensor<8x128x64xbf16>, tensor<8x64x128xbf16>) -> tensor<16x64xbf16>
    return %y : tensor<16x64xbf16>
  }
}

// -----

// Tests that a given plan's weights per rank must fit in hbm-bytes-per-rank:
// 64 experts of 3 x 65536 x 65536 bf16 over ep = 8 (206 GB) plus the
// attention block of width 65536 (34 GB) per rank.
// expected-error @+1 {{'moe.parallel' plan needs 240.5 GB of weights per rank (1 layer(s) per stage), more than hbm-bytes-per-rank (80.0 GB)}}
module attributes {moe.parallel = #moe.parallel<attn = {dp = 8}, moe = {ep = 8}>} {
  func.func @f(%x: tensor<16x65536xbf16>, %r: tensor<64x65536xbf16>, %g: tensor<64x65536x65536xbf16>,
               %u: tensor<64x65536x65536xbf16>, %d: tensor<64x65536x65536xbf16>) -> tensor<16x65536xbf16> {
    %y = moe.layer %x router %r experts gate %g up %u down %d routing <scoring = softmax, top_k = 2>
        activation silu layout out_in
        : (tensor<16x65536xbf16>, tensor<64x65536xbf16>, tensor<64x65536x65536xbf16>, tensor<64x65536x65536xbf16>, tensor<64x65536x65536xbf16>) -> tensor<16x65536xbf16>
    return %y : tensor<16x65536xbf16>
  }
}

// -----

// Tests that a layer's own plan must span world-size ranks.
func.func @f(%x: tensor<16x64xbf16>, %r: tensor<8x64xbf16>, %u: tensor<8x128x64xbf16>, %d: tensor<8x64x128xbf16>) -> tensor<16x64xbf16> {
  // expected-error @+1 {{this layer's parallel plan spans 4 ranks but moe-fold-parallel has world-size 8}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2>
      activation gelu layout out_in {parallel = #moe.parallel<attn = {dp = 4}, moe = {ep = 4}>}
      : (tensor<16x64xbf16>, tensor<8x64xbf16>, tensor<8x128x64xbf16>, tensor<8x64x128xbf16>) -> tensor<16x64xbf16>
  return %y : tensor<16x64xbf16>
}

// -----

// Tests that the cost model needs a static token count.
func.func @f(%x: tensor<?x64xbf16>, %r: tensor<8x64xbf16>, %u: tensor<8x128x64xbf16>, %d: tensor<8x64x128xbf16>) -> tensor<?x64xbf16> {
  // expected-error @+1 {{moe-fold-parallel needs a static token count (T) to cost this layer}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2>
      activation gelu layout out_in
      : (tensor<?x64xbf16>, tensor<8x64xbf16>, tensor<8x128x64xbf16>, tensor<8x64x128xbf16>) -> tensor<?x64xbf16>
  return %y : tensor<?x64xbf16>
}

// -----

// Tests that there must be a layer to plan for when no plan is given.
// expected-error @+1 {{moe-fold-parallel found no moe.layer or moe.chain to plan for}}
module {
  func.func @f(%x: tensor<16x64xbf16>) -> tensor<16x64xbf16> {
    return %x : tensor<16x64xbf16>
  }
}
