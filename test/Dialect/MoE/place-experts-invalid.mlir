// RUN: moe-opt %s -split-input-file -verify-diagnostics --moe-place-experts="trace=%S/Inputs/place-experts-swap.json"

// Tests that the trace must have one layer per op to place.
// expected-error @+1 {{layers: has 2 layer(s) but the module has 1 moe.layer/moe.experts op(s) to place (one per layer, in program order)}}
module attributes {moe.parallel = #moe.parallel<attn = {dp = 2}, moe = {ep = 2}>} {
  func.func @one_layer(%x: tensor<4x8xf32>, %r: tensor<4x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<4x8xf32> {
    %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 1>
        activation gelu layout out_in
        : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<4x8xf32>
    return %y : tensor<4x8xf32>
  }
}

// -----

// Tests that a layer of the trace must count the op's routed experts.
module attributes {moe.parallel = #moe.parallel<attn = {dp = 2}, moe = {ep = 2}>} {
  func.func @eight_experts(%x: tensor<4x8xf32>, %r: tensor<8x8xf32>, %u: tensor<8x16x8xf32>, %d: tensor<8x8x16xf32>, %u2: tensor<8x16x8xf32>, %d2: tensor<8x8x16xf32>) -> tensor<4x8xf32> {
    // expected-error @+1 {{layers[0].tokens_per_expert: has 4 entries, expected 8 (the routed experts of this moe.layer)}}
    %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 1>
        activation gelu layout out_in
        : (tensor<4x8xf32>, tensor<8x8xf32>, tensor<8x16x8xf32>, tensor<8x8x16xf32>) -> tensor<4x8xf32>
    %z = moe.layer %y router %r experts up %u2 down %d2 routing <scoring = softmax, top_k = 1>
        activation gelu layout out_in
        : (tensor<4x8xf32>, tensor<8x8xf32>, tensor<8x16x8xf32>, tensor<8x8x16xf32>) -> tensor<4x8xf32>
    return %z : tensor<4x8xf32>
  }
}

// -----

// Tests that the EP size must divide the routed experts of every op.
module attributes {moe.parallel = #moe.parallel<attn = {dp = 3}, moe = {ep = 3}>} {
  func.func @ep3(%rows: tensor<8x4xbf16>, %offsets: tensor<5xi32>, %u: tensor<4x16x4xbf16>, %d: tensor<4x4x16xbf16>) -> tensor<8x4xbf16> {
    // expected-error @+1 {{ep (3) does not divide the 4 routed experts of this op}}
    %y = moe.experts %rows, %offsets up %u down %d activation gelu layout out_in
        : (tensor<8x4xbf16>, tensor<5xi32>, tensor<4x16x4xbf16>, tensor<4x4x16xbf16>) -> tensor<8x4xbf16>
    return %y : tensor<8x4xbf16>
  }
}

// -----

// Tests that the EP size must come from a plan or the ep option; each op
// without one is reported.
func.func @no_plan(%rows: tensor<8x4xbf16>, %offsets: tensor<5xi32>, %u: tensor<4x16x4xbf16>, %d: tensor<4x4x16xbf16>, %u2: tensor<4x16x4xbf16>, %d2: tensor<4x4x16xbf16>) -> tensor<8x4xbf16> {
  // expected-error @+1 {{moe-place-experts needs the EP size: neither this op nor the module has a 'moe.parallel' plan, and the ep option is not set}}
  %y = moe.experts %rows, %offsets up %u down %d activation gelu layout out_in
      : (tensor<8x4xbf16>, tensor<5xi32>, tensor<4x16x4xbf16>, tensor<4x4x16xbf16>) -> tensor<8x4xbf16>
  // expected-error @+1 {{moe-place-experts needs the EP size}}
  %z = moe.experts %y, %offsets up %u2 down %d2 activation gelu layout out_in
      : (tensor<8x4xbf16>, tensor<5xi32>, tensor<4x16x4xbf16>, tensor<4x4x16xbf16>) -> tensor<8x4xbf16>
  return %z : tensor<8x4xbf16>
}

// -----

// Tests that every placed op must use the same EP size (a layer's own plan
// overrides the module's).
module attributes {moe.parallel = #moe.parallel<attn = {dp = 2}, moe = {ep = 2}>} {
  func.func @mixed_ep(%x: tensor<4x8xf32>, %r: tensor<4x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>, %u2: tensor<4x16x8xf32>, %d2: tensor<4x8x16xf32>) -> tensor<4x8xf32> {
    %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 1>
        activation gelu layout out_in
        : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<4x8xf32>
    // expected-error @+1 {{this op's ep (4) differs from the first placed op's (2): moe-place-experts needs one EP size}}
    %z = moe.layer %y router %r experts up %u2 down %d2 routing <scoring = softmax, top_k = 1>
        activation gelu layout out_in {parallel = #moe.parallel<attn = {dp = 4}, moe = {ep = 4}>}
        : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<4x8xf32>
    return %z : tensor<4x8xf32>
  }
}

// -----

// Tests that the number of experts and the hidden size must be static.
module attributes {moe.parallel = #moe.parallel<attn = {dp = 2}, moe = {ep = 2}>} {
  func.func @dynamic(%rows: tensor<8x?xbf16>, %offsets: tensor<5xi32>, %u: tensor<4x16x?xbf16>, %d: tensor<4x?x16xbf16>) -> tensor<8x?xbf16> {
    // expected-error @+1 {{moe-place-experts needs a static number of routed experts and hidden size}}
    %y = moe.experts %rows, %offsets up %u down %d activation gelu layout out_in
        : (tensor<8x?xbf16>, tensor<5xi32>, tensor<4x16x?xbf16>, tensor<4x?x16xbf16>) -> tensor<8x?xbf16>
    return %y : tensor<8x?xbf16>
  }
}

// -----

// Tests that a module without layers is reported.
// expected-error @+1 {{moe-place-experts found no moe.layer or moe.experts to place}}
module attributes {moe.parallel = #moe.parallel<attn = {dp = 2}, moe = {ep = 2}>} {
  func.func @empty(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
    return %x : tensor<4x8xf32>
  }
}

// -----

// Tests that two ops sharing expert weights are rejected: each gets its own
// placement, which permutes its weights.
module attributes {moe.parallel = #moe.parallel<attn = {dp = 2}, moe = {ep = 2}>} {
  func.func @shared_weights(%x: tensor<4x8xf32>, %r: tensor<4x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>) -> tensor<4x8xf32> {
    // expected-note @+1 {{the earlier op}}
    %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 1>
        activation gelu layout out_in
        : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<4x8xf32>
    // expected-error @+1 {{moe-place-experts places every layer on its own, but this op's expert weights are also those of an earlier op}}
    %z = moe.layer %y router %r experts up %u down %d routing <scoring = softmax, top_k = 1>
        activation gelu layout out_in
        : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<4x8xf32>
    return %z : tensor<4x8xf32>
  }
}
