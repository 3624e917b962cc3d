// RUN: moe-opt %s -split-input-file --moe-shard -verify-diagnostics

// Tests that pipeline parallelism is rejected.
// expected-error @+1 {{moe-shard does not support pipeline parallelism yet (the plan has pp = 2)}}
module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 2, pp = 2}, moe = {etp = 1, ep = 2, edp = 1}>} {
  func.func @pp(%x: tensor<8x16xf32>, %r: tensor<4x16xf32>, %u: tensor<4x32x16xf32>, %d: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
    %y = moe.layer %x router %r experts up %u down %d
        routing <scoring = softmax, top_k = 2> activation relu layout out_in
        : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
    return %y : tensor<8x16xf32>
  }
}

// -----

// Tests that a layer's own plan must agree with the module's.
module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 2, pp = 1}, moe = {etp = 1, ep = 2, edp = 1}>} {
  func.func @other_plan(%x: tensor<8x16xf32>, %r: tensor<4x16xf32>, %u: tensor<4x32x16xf32>, %d: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
    // expected-error @+1 {{this layer's parallel plan #moe.parallel<attn = {tp = 1, cp = 1, dp = 2, pp = 1}, moe = {etp = 2, ep = 1, edp = 1}> differs from the plan #moe.parallel<attn = {tp = 1, cp = 1, dp = 2, pp = 1}, moe = {etp = 1, ep = 2, edp = 1}> moe-shard applies; one module has one grid}}
    %y = moe.layer %x router %r experts up %u down %d
        routing <scoring = softmax, top_k = 2> activation relu layout out_in
        {parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 2, pp = 1}, moe = {etp = 2, ep = 1, edp = 1}>}
        : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
    return %y : tensor<8x16xf32>
  }
}

// -----

// Tests that the tokens must split evenly over ep * edp.
module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 4, pp = 1}, moe = {etp = 1, ep = 2, edp = 2}>} {
  func.func @tokens(%x: tensor<6x16xf32>, %r: tensor<4x16xf32>, %u: tensor<4x32x16xf32>, %d: tensor<4x16x32xf32>) -> tensor<6x16xf32> {
    // expected-error @+1 {{moe-shard cannot split dimension 0 of the tokens (6) into 4 equal blocks}}
    %y = moe.layer %x router %r experts up %u down %d
        routing <scoring = softmax, top_k = 2> activation relu layout out_in
        : (tensor<6x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<6x16xf32>
    return %y : tensor<6x16xf32>
  }
}

// -----

// Tests that the experts must split evenly over ep.
module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 4, pp = 1}, moe = {etp = 1, ep = 4, edp = 1}>} {
  func.func @experts(%x: tensor<8x16xf32>, %r: tensor<6x16xf32>, %u: tensor<6x32x16xf32>, %d: tensor<6x16x32xf32>) -> tensor<8x16xf32> {
    // expected-error @+1 {{moe-shard cannot split 6 experts over ep = 4 ranks}}
    %y = moe.layer %x router %r experts up %u down %d
        routing <scoring = softmax, top_k = 2> activation relu layout out_in
        : (tensor<8x16xf32>, tensor<6x16xf32>, tensor<6x32x16xf32>, tensor<6x16x32xf32>) -> tensor<8x16xf32>
    return %y : tensor<8x16xf32>
  }
}

// -----

// Tests that the expert intermediate size must split evenly over etp.
module attributes {moe.parallel = #moe.parallel<attn = {tp = 4, cp = 1, dp = 1, pp = 1}, moe = {etp = 4, ep = 1, edp = 1}>} {
  func.func @intermediate(%x: tensor<8x16xf32>, %r: tensor<4x16xf32>, %u: tensor<4x6x16xf32>, %d: tensor<4x16x6xf32>) -> tensor<8x16xf32> {
    // expected-error @+1 {{moe-shard cannot split dimension 1 of the up weight (6) into 4 equal blocks}}
    %y = moe.layer %x router %r experts up %u down %d
        routing <scoring = softmax, top_k = 2> activation relu layout out_in
        : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x6x16xf32>, tensor<4x16x6xf32>) -> tensor<8x16xf32>
    return %y : tensor<8x16xf32>
  }
}

// -----

// Tests that the shared experts' intermediate size must split evenly over etp.
module attributes {moe.parallel = #moe.parallel<attn = {tp = 2, cp = 1, dp = 1, pp = 1}, moe = {etp = 2, ep = 1, edp = 1}>} {
  func.func @shared(%x: tensor<8x16xf32>, %r: tensor<4x16xf32>, %u: tensor<4x32x16xf32>, %d: tensor<4x16x32xf32>,
      %su: tensor<5x16xf32>, %sd: tensor<16x5xf32>) -> tensor<8x16xf32> {
    // expected-error @+1 {{moe-shard cannot split dimension 0 of the shared up weight (5) into 2 equal blocks}}
    %y = moe.layer %x router %r experts up %u down %d shared_up %su shared_down %sd
        routing <scoring = softmax, top_k = 2> activation relu layout out_in
        : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>, tensor<5x16xf32>, tensor<16x5xf32>) -> tensor<8x16xf32>
    return %y : tensor<8x16xf32>
  }
}

// -----

// Tests that capacity-mode dispatch is rejected when tokens are split.
module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 2, pp = 1}, moe = {etp = 1, ep = 2, edp = 1}>} {
  func.func @capacity(%x: tensor<8x16xf32>, %r: tensor<4x16xf32>, %u: tensor<4x32x16xf32>, %d: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
    // expected-error @+1 {{moe-shard supports capacity-mode dispatch only when tokens are not split (ep * edp = 1, got 2): a per-expert capacity over tokens of several ranks is not the single-rank semantics}}
    %y = moe.layer %x router %r experts up %u down %d
        routing <scoring = softmax, top_k = 2> activation relu layout out_in capacity 3 drop position
        : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
    return %y : tensor<8x16xf32>
  }
}

// -----

// Tests that split weights must be function arguments.
module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 2, pp = 1}, moe = {etp = 1, ep = 2, edp = 1}>} {
  func.func @computed_weight(%x: tensor<8x16xf32>, %r: tensor<4x16xf32>, %u: tensor<4x32x16xf32>, %d: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
    %u2 = arith.addf %u, %u : tensor<4x32x16xf32>
    // expected-error @+1 {{moe-shard needs the up weight to be a function argument, so that each rank receives its block}}
    %y = moe.layer %x router %r experts up %u2 down %d
        routing <scoring = softmax, top_k = 2> activation relu layout out_in
        : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
    return %y : tensor<8x16xf32>
  }
}

// -----

// Tests that an argument cannot be split two ways.
module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 2, pp = 1}, moe = {etp = 2, ep = 1, edp = 1}>} {
  func.func @two_roles(%x: tensor<8x16xf32>, %r: tensor<4x16xf32>, %w: tensor<4x16x16xf32>) -> tensor<8x16xf32> {
    // expected-error @+1 {{function argument #2 is used as the down weight here and as the up weight elsewhere, which moe-shard would split differently}}
    %y = moe.layer %x router %r experts up %w down %w
        routing <scoring = softmax, top_k = 2> activation relu layout out_in
        : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x16x16xf32>, tensor<4x16x16xf32>) -> tensor<8x16xf32>
    return %y : tensor<8x16xf32>
  }
}

// -----

// Tests that a replicated operand cannot be a split value.
module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 2, pp = 1}, moe = {etp = 1, ep = 2, edp = 1}>} {
  func.func @router_is_tokens(%x: tensor<4x4xf32>, %u: tensor<4x8x4xf32>, %d: tensor<4x4x8xf32>) -> tensor<4x4xf32> {
    // expected-error @+1 {{the router weight is replicated on every rank but the same value is split elsewhere}}
    %y = moe.layer %x router %x experts up %u down %d
        routing <scoring = softmax, top_k = 2> activation relu layout out_in
        : (tensor<4x4xf32>, tensor<4x4xf32>, tensor<4x8x4xf32>, tensor<4x4x8xf32>) -> tensor<4x4xf32>
    return %y : tensor<4x4xf32>
  }
}

// -----

// Tests that other ops may not use split token values.
module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 2, pp = 1}, moe = {etp = 1, ep = 2, edp = 1}>} {
  func.func @token_user(%x: tensor<8x16xf32>, %r: tensor<4x16xf32>, %u: tensor<4x32x16xf32>, %d: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
    %y = moe.layer %x router %r experts up %u down %d
        routing <scoring = softmax, top_k = 2> activation relu layout out_in
        : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
    // expected-error @+1 {{moe-shard cannot shard 'arith.mulf': it uses token values that are split across ranks}}
    %z = arith.mulf %y, %y : tensor<8x16xf32>
    return %z : tensor<8x16xf32>
  }
}

// -----

// Tests that other ops may not use split arguments.
module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 2, pp = 1}, moe = {etp = 1, ep = 2, edp = 1}>} {
  func.func @weight_user(%x: tensor<8x16xf32>, %r: tensor<4x16xf32>, %u: tensor<4x32x16xf32>, %d: tensor<4x16x32xf32>) -> (tensor<8x16xf32>, tensor<4x16x32xf32>) {
    // expected-error @+1 {{moe-shard cannot shard 'arith.negf': it uses function argument #3, the down weight, which is split across ranks}}
    %n = arith.negf %d : tensor<4x16x32xf32>
    %y = moe.layer %x router %r experts up %u down %d
        routing <scoring = softmax, top_k = 2> activation relu layout out_in
        : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
    return %y, %n : tensor<8x16xf32>, tensor<4x16x32xf32>
  }
}

// -----

// Tests that the decomposed form is rejected.
module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 2, pp = 1}, moe = {etp = 1, ep = 2, edp = 1}>} {
  func.func @decomposed(%logits: tensor<8x4xf32>) -> tensor<8x2xi32> {
    // expected-error @+1 {{moe-shard works on whole moe.layer / moe.chain ops; run it before moe-decompose}}
    %w, %i = moe.router %logits routing <scoring = softmax, top_k = 2>
        : tensor<8x4xf32> -> tensor<8x2xf32>, tensor<8x2xi32>
    return %i : tensor<8x2xi32>
  }
}

// -----

// Tests that moe ops without a sharding are reported.
module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 2, pp = 1}, moe = {etp = 1, ep = 2, edp = 1}>} {
  func.func @union(%x: tensor<2x8x16xf32>, %r: tensor<16x4xf32>, %b: tensor<4xf32>, %u: tensor<16x32xf32>, %d: tensor<32x16xf32>) -> tensor<2x8x16xf32> {
    // expected-error @+1 {{moe-shard cannot shard 'moe.union_ffn' yet}}
    %y = moe.union_ffn %x router %r, %b ffn up %u down %d experts 4 activation relu
        : (tensor<2x8x16xf32>, tensor<16x4xf32>, tensor<4xf32>, tensor<16x32xf32>, tensor<32x16xf32>) -> tensor<2x8x16xf32>
    return %y : tensor<2x8x16xf32>
  }
}

// -----

// Tests that moe ops nested in regions are reported.
module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 2, pp = 1}, moe = {etp = 1, ep = 2, edp = 1}>} {
  func.func @nested(%c: i1, %x: tensor<8x16xf32>, %r: tensor<4x16xf32>, %u: tensor<4x32x16xf32>, %d: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
    %y = scf.if %c -> tensor<8x16xf32> {
      // expected-error @+1 {{moe-shard handles moe ops at the top level of a function body only}}
      %l = moe.layer %x router %r experts up %u down %d
          routing <scoring = softmax, top_k = 2> activation relu layout out_in
          : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
      scf.yield %l : tensor<8x16xf32>
    } else {
      scf.yield %x : tensor<8x16xf32>
    }
    return %y : tensor<8x16xf32>
  }
}

// -----

// Tests that an existing @moe_grid of another shape is reported.
module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 2, pp = 1}, moe = {etp = 1, ep = 2, edp = 1}>} {
  // expected-error @+1 {{moe-shard needs @moe_grid to have shape 1x2x1 (edp x ep x etp)}}
  shard.grid @moe_grid(shape = 2)
  func.func @grid(%x: tensor<8x16xf32>, %r: tensor<4x16xf32>, %u: tensor<4x32x16xf32>, %d: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
    %y = moe.layer %x router %r experts up %u down %d
        routing <scoring = softmax, top_k = 2> activation relu layout out_in
        : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
    return %y : tensor<8x16xf32>
  }
}

// -----

// Tests that the tokens must be an argument or an earlier layer's result.
module attributes {moe.parallel = #moe.parallel<attn = {tp = 1, cp = 1, dp = 2, pp = 1}, moe = {etp = 1, ep = 2, edp = 1}>} {
  func.func @computed_tokens(%x: tensor<8x16xf32>, %r: tensor<4x16xf32>, %u: tensor<4x32x16xf32>, %d: tensor<4x16x32xf32>) -> tensor<8x16xf32> {
    %x2 = arith.mulf %x, %x : tensor<8x16xf32>
    // expected-error @+1 {{moe-shard needs the tokens to be a function argument or the result of an earlier moe.layer/moe.chain (or a sum of those)}}
    %y = moe.layer %x2 router %r experts up %u down %d
        routing <scoring = softmax, top_k = 2> activation relu layout out_in
        : (tensor<8x16xf32>, tensor<4x16xf32>, tensor<4x32x16xf32>, tensor<4x16x32xf32>) -> tensor<8x16xf32>
    return %y : tensor<8x16xf32>
  }
}
