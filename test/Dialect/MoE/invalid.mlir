// RUN: moe-opt %s -split-input-file -verify-diagnostics

// Tests that the router rejects logits that are not [T, E].
func.func @router_logits_rank(%l: tensor<16xf32>) {
  // expected-error @+1 {{'moe.router' op 'logits' must have rank 2 ([T, E]), got 1}}
  %w, %i = moe.router %l routing <scoring = softmax, top_k = 2> : tensor<16xf32> -> tensor<16x2xf32>, tensor<16x2xi32>
  return
}

// -----

// Tests that the router rejects weights that are not [T, K].
func.func @router_weights_rank(%l: tensor<16x8xf32>) {
  // expected-error @+1 {{'weights' must have rank 2 ([T, K]), got 3}}
  %w, %i = moe.router %l routing <scoring = softmax, top_k = 2> : tensor<16x8xf32> -> tensor<16x2x1xf32>, tensor<16x2xi32>
  return
}

// -----

// Tests that the router rejects indices that are not [T, K].
func.func @router_indices_rank(%l: tensor<16x8xf32>) {
  // expected-error @+1 {{'indices' must have rank 2 ([T, K]), got 1}}
  %w, %i = moe.router %l routing <scoring = softmax, top_k = 2> : tensor<16x8xf32> -> tensor<16x2xf32>, tensor<32xi32>
  return
}

// -----

// Tests that the router rejects weights whose tokens differ from the logits'.
func.func @router_weights_tokens(%l: tensor<16x8xf32>) {
  // expected-error @+1 {{'weights' dimension 0 is 15, expected 16 (the tokens of 'logits')}}
  %w, %i = moe.router %l routing <scoring = softmax, top_k = 2> : tensor<16x8xf32> -> tensor<15x2xf32>, tensor<16x2xi32>
  return
}

// -----

// Tests that the router rejects weights with a slot count other than top_k.
func.func @router_weights_top_k(%l: tensor<16x8xf32>) {
  // expected-error @+1 {{'weights' dimension 1 is 3, expected 2 (top_k)}}
  %w, %i = moe.router %l routing <scoring = softmax, top_k = 2> : tensor<16x8xf32> -> tensor<16x3xf32>, tensor<16x2xi32>
  return
}

// -----

// Tests that the router rejects indices whose tokens differ from the logits'.
func.func @router_indices_tokens(%l: tensor<16x8xf32>) {
  // expected-error @+1 {{'indices' dimension 0 is 8, expected 16 (the tokens of 'logits')}}
  %w, %i = moe.router %l routing <scoring = softmax, top_k = 2> : tensor<16x8xf32> -> tensor<16x2xf32>, tensor<8x2xi32>
  return
}

// -----

// Tests that the router rejects indices with a slot count other than top_k.
func.func @router_indices_top_k(%l: tensor<16x8xf32>) {
  // expected-error @+1 {{'indices' dimension 1 is 1, expected 2 (top_k)}}
  %w, %i = moe.router %l routing <scoring = softmax, top_k = 2> : tensor<16x8xf32> -> tensor<16x2xf32>, tensor<16x1xi32>
  return
}

// -----

// Tests that the router rejects a selection bias that is not [E].
func.func @router_bias_rank(%l: tensor<16x8xf32>, %b: tensor<1x8xf32>) {
  // expected-error @+1 {{'bias' must have rank 1 ([E]), got 2}}
  %w, %i = moe.router %l bias %b routing <scoring = sigmoid, top_k = 2> : tensor<16x8xf32>, tensor<1x8xf32> -> tensor<16x2xf32>, tensor<16x2xi32>
  return
}

// -----

// Tests that the router rejects a selection bias over a different number of experts.
func.func @router_bias_experts(%l: tensor<16x8xf32>, %b: tensor<7xf32>) {
  // expected-error @+1 {{'bias' dimension 0 is 7, expected 8 (the experts of 'logits')}}
  %w, %i = moe.router %l bias %b routing <scoring = sigmoid, top_k = 2> : tensor<16x8xf32>, tensor<7xf32> -> tensor<16x2xf32>, tensor<16x2xi32>
  return
}

// -----

// Tests that the router rejects routing whose null experts leave no routed expert.
func.func @router_only_null_experts(%l: tensor<16x8xf32>) {
  // expected-error @+1 {{routing declares 8 null experts but there are only 8 experts; at least one routed expert is needed}}
  %w, %i = moe.router %l routing <scoring = softmax, top_k = 2, zero_experts = 4, copy_experts = 2, constant_experts = 2> : tensor<16x8xf32> -> tensor<16x2xf32>, tensor<16x2xi32>
  return
}

// -----

// Tests that the router rejects top_k larger than the number of experts.
func.func @router_top_k_exceeds_experts(%l: tensor<16x8xf32>) {
  // expected-error @+1 {{top_k (9) exceeds the number of experts (8)}}
  %w, %i = moe.router %l routing <scoring = softmax, top_k = 9> : tensor<16x8xf32> -> tensor<16x9xf32>, tensor<16x9xi32>
  return
}

// -----

// Tests that the router rejects a num_groups that does not divide the routed experts.
func.func @router_groups_do_not_divide(%l: tensor<16x8xf32>) {
  // expected-error @+1 {{num_groups (3) does not divide the 8 routed experts}}
  %w, %i = moe.router %l routing <scoring = sigmoid, top_k = 2, num_groups = 3, kept_groups = 2> : tensor<16x8xf32> -> tensor<16x2xf32>, tensor<16x2xi32>
  return
}

// -----

// Tests that the router rejects top2_sum group scoring over groups of one expert.
func.func @router_top2_sum_group_size(%l: tensor<16x8xf32>) {
  // expected-error @+1 {{group_score top2_sum needs at least 2 experts per group, got 1}}
  %w, %i = moe.router %l routing <scoring = sigmoid, top_k = 2, num_groups = 8, kept_groups = 4> : tensor<16x8xf32> -> tensor<16x2xf32>, tensor<16x2xi32>
  return
}

// -----

// Tests that the router rejects top_k larger than the experts of the kept groups.
func.func @router_top_k_exceeds_kept_groups(%l: tensor<16x8xf32>) {
  // expected-error @+1 {{top_k (3) exceeds the 2 experts of the kept groups (1 groups of 2)}}
  %w, %i = moe.router %l routing <scoring = sigmoid, top_k = 3, num_groups = 4, kept_groups = 1> : tensor<16x8xf32> -> tensor<16x3xf32>, tensor<16x3xi32>
  return
}

// -----

// Tests that the router rejects integer logits (ODS element type constraint).
func.func @router_integer_logits(%l: tensor<16x8xi32>) {
  // expected-error @+1 {{operand #0 must be ranked tensor of bfloat16 type or 16-bit float or 32-bit float values, but got 'tensor<16x8xi32>'}}
  %w, %i = moe.router %l routing <scoring = softmax, top_k = 2> : tensor<16x8xi32> -> tensor<16x2xf32>, tensor<16x2xi32>
  return
}

// -----

// Tests that the router rejects floating-point indices (ODS element type constraint).
func.func @router_float_indices(%l: tensor<16x8xf32>) {
  // expected-error @+1 {{result #1 must be ranked tensor of 32-bit signless integer or 64-bit signless integer values, but got 'tensor<16x2xf32>'}}
  %w, %i = moe.router %l routing <scoring = softmax, top_k = 2> : tensor<16x8xf32> -> tensor<16x2xf32>, tensor<16x2xf32>
  return
}

// -----

// Tests that dispatch rejects tokens that are not [T, H].
func.func @dispatch_tokens_rank(%x: tensor<16x64x1xf32>, %i: tensor<16x2xi32>) {
  // expected-error @+1 {{'moe.dispatch' op 'tokens' must have rank 2 ([T, H]), got 3}}
  %r, %o, %s = moe.dispatch %x, %i experts 8 : tensor<16x64x1xf32>, tensor<16x2xi32> -> tensor<32x64xf32>, tensor<9xi32>, tensor<32xi32>
  return
}

// -----

// Tests that dispatch rejects indices that are not [T, K].
func.func @dispatch_indices_rank(%x: tensor<16x64xf32>, %i: tensor<32xi32>) {
  // expected-error @+1 {{'indices' must have rank 2 ([T, K]), got 1}}
  %r, %o, %s = moe.dispatch %x, %i experts 8 : tensor<16x64xf32>, tensor<32xi32> -> tensor<32x64xf32>, tensor<9xi32>, tensor<32xi32>
  return
}

// -----

// Tests that dispatch rejects rows that are not [R, H].
func.func @dispatch_rows_rank(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>) {
  // expected-error @+1 {{'rows' must have rank 2 ([R, H]), got 1}}
  %r, %o, %s = moe.dispatch %x, %i experts 8 : tensor<16x64xf32>, tensor<16x2xi32> -> tensor<2048xf32>, tensor<9xi32>, tensor<32xi32>
  return
}

// -----

// Tests that dispatch rejects offsets that are not [E + 1].
func.func @dispatch_offsets_rank(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>) {
  // expected-error @+1 {{'offsets' must have rank 1 ([E + 1]), got 2}}
  %r, %o, %s = moe.dispatch %x, %i experts 8 : tensor<16x64xf32>, tensor<16x2xi32> -> tensor<32x64xf32>, tensor<9x1xi32>, tensor<32xi32>
  return
}

// -----

// Tests that dispatch rejects sources that are not [R].
func.func @dispatch_sources_rank(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>) {
  // expected-error @+1 {{'sources' must have rank 1 ([R]), got 2}}
  %r, %o, %s = moe.dispatch %x, %i experts 8 : tensor<16x64xf32>, tensor<16x2xi32> -> tensor<32x64xf32>, tensor<9xi32>, tensor<16x2xi32>
  return
}

// -----

// Tests that dispatch rejects a capacity without a drop policy.
func.func @dispatch_capacity_without_policy(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>) {
  // expected-error @+1 {{capacity mode needs a drop policy (`drop position|score`)}}
  %r, %o, %s = moe.dispatch %x, %i experts 8 capacity 2 : tensor<16x64xf32>, tensor<16x2xi32> -> tensor<16x64xf32>, tensor<9xi32>, tensor<16xi32>
  return
}

// -----

// Tests that dispatch rejects a drop policy without a capacity.
func.func @dispatch_policy_without_capacity(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>) {
  // expected-error @+1 {{a drop policy is given without a capacity}}
  %r, %o, %s = moe.dispatch %x, %i experts 8 drop position : tensor<16x64xf32>, tensor<16x2xi32> -> tensor<32x64xf32>, tensor<9xi32>, tensor<32xi32>
  return
}

// -----

// Tests that dispatch rejects drop policy 'score' without the routing weights.
func.func @dispatch_score_without_weights(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>) {
  // expected-error @+1 {{drop policy 'score' needs the routing weights (`weights %w`)}}
  %r, %o, %s = moe.dispatch %x, %i experts 8 capacity 2 drop score : tensor<16x64xf32>, tensor<16x2xi32> -> tensor<16x64xf32>, tensor<9xi32>, tensor<16xi32>
  return
}

// -----

// Tests that dispatch rejects routing weights in dropless mode.
func.func @dispatch_weights_dropless(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>, %w: tensor<16x2xf32>) {
  // expected-error @+1 {{'weights' are only used by drop policy 'score'}}
  %r, %o, %s = moe.dispatch %x, %i weights %w experts 8 : tensor<16x64xf32>, tensor<16x2xi32>, tensor<16x2xf32> -> tensor<32x64xf32>, tensor<9xi32>, tensor<32xi32>
  return
}

// -----

// Tests that dispatch rejects routing weights with drop policy 'position'.
func.func @dispatch_weights_position(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>, %w: tensor<16x2xf32>) {
  // expected-error @+1 {{'weights' are only used by drop policy 'score'}}
  %r, %o, %s = moe.dispatch %x, %i weights %w experts 8 capacity 2 drop position : tensor<16x64xf32>, tensor<16x2xi32>, tensor<16x2xf32> -> tensor<16x64xf32>, tensor<9xi32>, tensor<16xi32>
  return
}

// -----

// Tests that dispatch rejects indices whose tokens differ from the tokens'.
func.func @dispatch_indices_tokens(%x: tensor<16x64xf32>, %i: tensor<8x2xi32>) {
  // expected-error @+1 {{'indices' dimension 0 is 8, expected 16 (the tokens of 'tokens')}}
  %r, %o, %s = moe.dispatch %x, %i experts 8 : tensor<16x64xf32>, tensor<8x2xi32> -> tensor<32x64xf32>, tensor<9xi32>, tensor<32xi32>
  return
}

// -----

// Tests that dispatch rejects routing weights whose shape differs from the indices'.
func.func @dispatch_weights_shape(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>, %w: tensor<16x3xf32>) {
  // expected-error @+1 {{'weights' shape must match 'indices'}}
  %r, %o, %s = moe.dispatch %x, %i weights %w experts 8 capacity 2 drop score : tensor<16x64xf32>, tensor<16x2xi32>, tensor<16x3xf32> -> tensor<16x64xf32>, tensor<9xi32>, tensor<16xi32>
  return
}

// -----

// Tests that dropless dispatch needs T*K rows.
func.func @dispatch_rows_dropless(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>) {
  // expected-error @+1 {{'rows' dimension 0 is 16, expected 32 (T*K)}}
  %r, %o, %s = moe.dispatch %x, %i experts 8 : tensor<16x64xf32>, tensor<16x2xi32> -> tensor<16x64xf32>, tensor<9xi32>, tensor<16xi32>
  return
}

// -----

// Tests that capacity-mode dispatch needs min(T*K, E*capacity) rows.
func.func @dispatch_rows_capacity(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>) {
  // expected-error @+1 {{'rows' dimension 0 is 32, expected 16 (min(T*K, E*capacity))}}
  %r, %o, %s = moe.dispatch %x, %i experts 8 capacity 2 drop position : tensor<16x64xf32>, tensor<16x2xi32> -> tensor<32x64xf32>, tensor<9xi32>, tensor<32xi32>
  return
}

// -----

// Tests that dispatch rejects rows of another hidden size.
func.func @dispatch_rows_hidden(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>) {
  // expected-error @+1 {{'rows' dimension 1 is 32, expected 64 (the hidden size)}}
  %r, %o, %s = moe.dispatch %x, %i experts 8 : tensor<16x64xf32>, tensor<16x2xi32> -> tensor<32x32xf32>, tensor<9xi32>, tensor<32xi32>
  return
}

// -----

// Tests that dispatch rejects rows of another element type than the tokens.
func.func @dispatch_rows_element_type(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>) {
  // expected-error @+1 {{'rows' element type 'bf16' differs from the element type 'f32' of 'tokens'}}
  %r, %o, %s = moe.dispatch %x, %i experts 8 : tensor<16x64xf32>, tensor<16x2xi32> -> tensor<32x64xbf16>, tensor<9xi32>, tensor<32xi32>
  return
}

// -----

// Tests that dispatch needs num_experts + 1 offsets.
func.func @dispatch_offsets_experts(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>) {
  // expected-error @+1 {{'offsets' dimension 0 is 8, expected 9 (num_experts + 1)}}
  %r, %o, %s = moe.dispatch %x, %i experts 8 : tensor<16x64xf32>, tensor<16x2xi32> -> tensor<32x64xf32>, tensor<8xi32>, tensor<32xi32>
  return
}

// -----

// Tests that dispatch needs one source per row.
func.func @dispatch_sources_rows(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>) {
  // expected-error @+1 {{'sources' dimension 0 is 16, expected 32 (the rows of 'rows')}}
  %r, %o, %s = moe.dispatch %x, %i experts 8 : tensor<16x64xf32>, tensor<16x2xi32> -> tensor<32x64xf32>, tensor<9xi32>, tensor<16xi32>
  return
}

// -----

// Tests that dispatch rejects a non-positive num_experts (ODS IntPositive).
func.func @dispatch_zero_experts(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>) {
  // expected-error @+1 {{attribute 'num_experts' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %r, %o, %s = moe.dispatch %x, %i experts 0 : tensor<16x64xf32>, tensor<16x2xi32> -> tensor<32x64xf32>, tensor<1xi32>, tensor<32xi32>
  return
}

// -----

// Tests that dispatch rejects a non-positive capacity (ODS IntPositive).
func.func @dispatch_zero_capacity(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>) {
  // expected-error @+1 {{attribute 'capacity' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %r, %o, %s = moe.dispatch %x, %i experts 8 capacity 0 drop position : tensor<16x64xf32>, tensor<16x2xi32> -> tensor<32x64xf32>, tensor<9xi32>, tensor<32xi32>
  return
}

// -----

// Tests that dispatch rejects floating-point offsets (ODS element type constraint).
func.func @dispatch_float_offsets(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>) {
  // expected-error @+1 {{result #1 must be ranked tensor of 32-bit signless integer or 64-bit signless integer values, but got 'tensor<9xf32>'}}
  %r, %o, %s = moe.dispatch %x, %i experts 8 : tensor<16x64xf32>, tensor<16x2xi32> -> tensor<32x64xf32>, tensor<9xf32>, tensor<32xi32>
  return
}

// -----

// Tests that experts rejects rows that are not [R, H].
func.func @experts_rows_rank(%r: tensor<32xf32>, %o: tensor<9xi32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'moe.experts' op 'rows' must have rank 2 ([R, H]), got 1}}
  %y = moe.experts %r, %o up %u down %d activation gelu layout in_out : (tensor<32xf32>, tensor<9xi32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<32xf32>
  return
}

// -----

// Tests that experts rejects offsets that are not [E + 1].
func.func @experts_offsets_rank(%r: tensor<32x64xf32>, %o: tensor<9x1xi32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'offsets' must have rank 1 ([E + 1]), got 2}}
  %y = moe.experts %r, %o up %u down %d activation gelu layout in_out : (tensor<32x64xf32>, tensor<9x1xi32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<32x64xf32>
  return
}

// -----

// Tests that experts rejects an up weight that is not [E, H, F] in layout in_out.
func.func @experts_up_rank_in_out(%r: tensor<32x64xf32>, %o: tensor<9xi32>, %u: tensor<64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'up_weight' must have rank 3 ([E, H, F]), got 2}}
  %y = moe.experts %r, %o up %u down %d activation gelu layout in_out : (tensor<32x64xf32>, tensor<9xi32>, tensor<64x128xf32>, tensor<8x128x64xf32>) -> tensor<32x64xf32>
  return
}

// -----

// Tests that experts rejects an up weight that is not [E, F, H] in layout out_in.
func.func @experts_up_rank_out_in(%r: tensor<32x64xf32>, %o: tensor<9xi32>, %u: tensor<128x64xf32>, %d: tensor<8x64x128xf32>) {
  // expected-error @+1 {{'up_weight' must have rank 3 ([E, F, H]), got 2}}
  %y = moe.experts %r, %o up %u down %d activation gelu layout out_in : (tensor<32x64xf32>, tensor<9xi32>, tensor<128x64xf32>, tensor<8x64x128xf32>) -> tensor<32x64xf32>
  return
}

// -----

// Tests that experts rejects a down weight that is not [E, F, H] in layout in_out.
func.func @experts_down_rank_in_out(%r: tensor<32x64xf32>, %o: tensor<9xi32>, %u: tensor<8x64x128xf32>, %d: tensor<128x64xf32>) {
  // expected-error @+1 {{'down_weight' must have rank 3 ([E, F, H]), got 2}}
  %y = moe.experts %r, %o up %u down %d activation gelu layout in_out : (tensor<32x64xf32>, tensor<9xi32>, tensor<8x64x128xf32>, tensor<128x64xf32>) -> tensor<32x64xf32>
  return
}

// -----

// Tests that experts rejects a down weight that is not [E, H, F] in layout out_in.
func.func @experts_down_rank_out_in(%r: tensor<32x64xf32>, %o: tensor<9xi32>, %u: tensor<8x128x64xf32>, %d: tensor<64x128xf32>) {
  // expected-error @+1 {{'down_weight' must have rank 3 ([E, H, F]), got 2}}
  %y = moe.experts %r, %o up %u down %d activation gelu layout out_in : (tensor<32x64xf32>, tensor<9xi32>, tensor<8x128x64xf32>, tensor<64x128xf32>) -> tensor<32x64xf32>
  return
}

// -----

// Tests that experts rejects an up weight of another hidden size than the rows.
func.func @experts_up_hidden(%r: tensor<32x64xf32>, %o: tensor<9xi32>, %u: tensor<8x32x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'up_weight' dimension 1 is 32, expected 64 (the hidden size)}}
  %y = moe.experts %r, %o up %u down %d activation gelu layout in_out : (tensor<32x64xf32>, tensor<9xi32>, tensor<8x32x128xf32>, tensor<8x128x64xf32>) -> tensor<32x64xf32>
  return
}

// -----

// Tests that experts finds the hidden size of an out_in up weight in its last dimension.
func.func @experts_up_hidden_out_in(%r: tensor<32x64xf32>, %o: tensor<9xi32>, %u: tensor<8x128x32xf32>, %d: tensor<8x64x128xf32>) {
  // expected-error @+1 {{'up_weight' dimension 2 is 32, expected 64 (the hidden size)}}
  %y = moe.experts %r, %o up %u down %d activation gelu layout out_in : (tensor<32x64xf32>, tensor<9xi32>, tensor<8x128x32xf32>, tensor<8x64x128xf32>) -> tensor<32x64xf32>
  return
}

// -----

// Tests that experts rejects an up weight of another element type than the rows.
func.func @experts_up_element_type(%r: tensor<32x64xf32>, %o: tensor<9xi32>, %u: tensor<8x64x128xf16>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'up_weight' element type 'f16' differs from the element type 'f32' of 'tokens'}}
  %y = moe.experts %r, %o up %u down %d activation gelu layout in_out : (tensor<32x64xf32>, tensor<9xi32>, tensor<8x64x128xf16>, tensor<8x128x64xf32>) -> tensor<32x64xf32>
  return
}

// -----

// Tests that experts rejects a down weight of another element type than the rows.
func.func @experts_down_element_type(%r: tensor<32x64xf32>, %o: tensor<9xi32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xbf16>) {
  // expected-error @+1 {{'down_weight' element type 'bf16' differs from the element type 'f32' of 'tokens'}}
  %y = moe.experts %r, %o up %u down %d activation gelu layout in_out : (tensor<32x64xf32>, tensor<9xi32>, tensor<8x64x128xf32>, tensor<8x128x64xbf16>) -> tensor<32x64xf32>
  return
}

// -----

// Tests that experts rejects a down weight over other experts than the up weight.
func.func @experts_down_experts(%r: tensor<32x64xf32>, %o: tensor<9xi32>, %u: tensor<8x64x128xf32>, %d: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'down_weight' dimension 0 is 4, expected 8 (the experts of the up weight)}}
  %y = moe.experts %r, %o up %u down %d activation gelu layout in_out : (tensor<32x64xf32>, tensor<9xi32>, tensor<8x64x128xf32>, tensor<4x128x64xf32>) -> tensor<32x64xf32>
  return
}

// -----

// Tests that experts rejects a down weight of another hidden size.
func.func @experts_down_hidden(%r: tensor<32x64xf32>, %o: tensor<9xi32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x32xf32>) {
  // expected-error @+1 {{'down_weight' dimension 2 is 32, expected 64 (the hidden size)}}
  %y = moe.experts %r, %o up %u down %d activation gelu layout in_out : (tensor<32x64xf32>, tensor<9xi32>, tensor<8x64x128xf32>, tensor<8x128x32xf32>) -> tensor<32x64xf32>
  return
}

// -----

// Tests that experts rejects a down weight of another intermediate size than the up weight.
func.func @experts_down_intermediate(%r: tensor<32x64xf32>, %o: tensor<9xi32>, %u: tensor<8x64x128xf32>, %d: tensor<8x96x64xf32>) {
  // expected-error @+1 {{'down_weight' dimension 1 is 96, expected 128 (the intermediate size of the up weight)}}
  %y = moe.experts %r, %o up %u down %d activation gelu layout in_out : (tensor<32x64xf32>, tensor<9xi32>, tensor<8x64x128xf32>, tensor<8x96x64xf32>) -> tensor<32x64xf32>
  return
}

// -----

// Tests that experts rejects a gate weight whose type differs from the up weight's.
func.func @experts_gate_type(%r: tensor<32x64xf32>, %o: tensor<9xi32>, %g: tensor<8x64x64xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'gate_weight' type 'tensor<8x64x64xf32>' differs from 'up_weight' type 'tensor<8x64x128xf32>'}}
  %y = moe.experts %r, %o gate %g up %u down %d activation silu layout in_out : (tensor<32x64xf32>, tensor<9xi32>, tensor<8x64x64xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<32x64xf32>
  return
}

// -----

// Tests that experts needs one offset per expert of the weights, plus one.
func.func @experts_offsets_experts(%r: tensor<32x64xf32>, %o: tensor<8xi32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'offsets' dimension 0 is 8, expected 9 (the experts of the weights + 1)}}
  %y = moe.experts %r, %o up %u down %d activation gelu layout in_out : (tensor<32x64xf32>, tensor<8xi32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<32x64xf32>
  return
}

// -----

// Tests that experts rejects a result type other than the rows'.
func.func @experts_result_type(%r: tensor<32x64xf32>, %o: tensor<9xi32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{result type 'tensor<16x64xf32>' differs from 'rows' type 'tensor<32x64xf32>'}}
  %y = moe.experts %r, %o up %u down %d activation gelu layout in_out : (tensor<32x64xf32>, tensor<9xi32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that experts rejects f64 weights (ODS element type constraint).
func.func @experts_f64_weight(%r: tensor<32x64xf32>, %o: tensor<9xi32>, %u: tensor<8x64x128xf64>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{operand #2 must be ranked tensor of bfloat16 type or 16-bit float or 32-bit float values, but got 'tensor<8x64x128xf64>'}}
  %y = moe.experts %r, %o up %u down %d activation gelu layout in_out : (tensor<32x64xf32>, tensor<9xi32>, tensor<8x64x128xf64>, tensor<8x128x64xf32>) -> tensor<32x64xf32>
  return
}

// -----

// Tests that combine rejects expert outputs that are not [R, H].
func.func @combine_outputs_rank(%y: tensor<32xf32>, %s: tensor<32xi32>, %w: tensor<16x2xf32>) {
  // expected-error @+1 {{'moe.combine' op 'expert_outputs' must have rank 2 ([R, H]), got 1}}
  %out = moe.combine %y, %s, %w : tensor<32xf32>, tensor<32xi32>, tensor<16x2xf32> -> tensor<16x64xf32>
  return
}

// -----

// Tests that combine rejects sources that are not [R].
func.func @combine_sources_rank(%y: tensor<32x64xf32>, %s: tensor<32x1xi32>, %w: tensor<16x2xf32>) {
  // expected-error @+1 {{'sources' must have rank 1 ([R]), got 2}}
  %out = moe.combine %y, %s, %w : tensor<32x64xf32>, tensor<32x1xi32>, tensor<16x2xf32> -> tensor<16x64xf32>
  return
}

// -----

// Tests that combine rejects weights that are not [T, K].
func.func @combine_weights_rank(%y: tensor<32x64xf32>, %s: tensor<32xi32>, %w: tensor<32xf32>) {
  // expected-error @+1 {{'weights' must have rank 2 ([T, K]), got 1}}
  %out = moe.combine %y, %s, %w : tensor<32x64xf32>, tensor<32xi32>, tensor<32xf32> -> tensor<16x64xf32>
  return
}

// -----

// Tests that combine rejects a result that is not [T, H].
func.func @combine_result_rank(%y: tensor<32x64xf32>, %s: tensor<32xi32>, %w: tensor<16x2xf32>) {
  // expected-error @+1 {{'result' must have rank 2 ([T, H]), got 3}}
  %out = moe.combine %y, %s, %w : tensor<32x64xf32>, tensor<32xi32>, tensor<16x2xf32> -> tensor<1x16x64xf32>
  return
}

// -----

// Tests that combine needs one source per expert output row.
func.func @combine_sources_rows(%y: tensor<32x64xf32>, %s: tensor<16xi32>, %w: tensor<16x2xf32>) {
  // expected-error @+1 {{'sources' dimension 0 is 16, expected 32 (the rows of 'expert_outputs')}}
  %out = moe.combine %y, %s, %w : tensor<32x64xf32>, tensor<16xi32>, tensor<16x2xf32> -> tensor<16x64xf32>
  return
}

// -----

// Tests that combine needs a result row per token of the weights.
func.func @combine_result_tokens(%y: tensor<32x64xf32>, %s: tensor<32xi32>, %w: tensor<16x2xf32>) {
  // expected-error @+1 {{'result' dimension 0 is 8, expected 16 (the tokens of 'weights')}}
  %out = moe.combine %y, %s, %w : tensor<32x64xf32>, tensor<32xi32>, tensor<16x2xf32> -> tensor<8x64xf32>
  return
}

// -----

// Tests that combine rejects a result of another hidden size.
func.func @combine_result_hidden(%y: tensor<32x64xf32>, %s: tensor<32xi32>, %w: tensor<16x2xf32>) {
  // expected-error @+1 {{'result' dimension 1 is 32, expected 64 (the hidden size)}}
  %out = moe.combine %y, %s, %w : tensor<32x64xf32>, tensor<32xi32>, tensor<16x2xf32> -> tensor<16x32xf32>
  return
}

// -----

// Tests that combine rejects a result of another element type than the expert outputs.
func.func @combine_result_element_type(%y: tensor<32x64xf32>, %s: tensor<32xi32>, %w: tensor<16x2xf32>) {
  // expected-error @+1 {{'result' element type 'bf16' differs from the element type 'f32' of 'expert_outputs'}}
  %out = moe.combine %y, %s, %w : tensor<32x64xf32>, tensor<32xi32>, tensor<16x2xf32> -> tensor<16x64xbf16>
  return
}

// -----

// Tests that null_experts rejects tokens that are not [T, H].
func.func @null_tokens_rank(%x: tensor<16xf32>, %i: tensor<16x2xi32>, %w: tensor<16x2xf32>) {
  // expected-error @+1 {{'moe.null_experts' op 'tokens' must have rank 2 ([T, H]), got 1}}
  %n = moe.null_experts %x, %i, %w first 8 zero 1 copy 1 constant 0 : tensor<16xf32>, tensor<16x2xi32>, tensor<16x2xf32> -> tensor<16xf32>
  return
}

// -----

// Tests that null_experts rejects indices that are not [T, K].
func.func @null_indices_rank(%x: tensor<16x64xf32>, %i: tensor<32xi32>, %w: tensor<32xf32>) {
  // expected-error @+1 {{'indices' must have rank 2 ([T, K]), got 1}}
  %n = moe.null_experts %x, %i, %w first 8 zero 1 copy 1 constant 0 : tensor<16x64xf32>, tensor<32xi32>, tensor<32xf32> -> tensor<16x64xf32>
  return
}

// -----

// Tests that null_experts rejects an op without any null expert.
func.func @null_none(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>, %w: tensor<16x2xf32>) {
  // expected-error @+1 {{declares no null experts}}
  %n = moe.null_experts %x, %i, %w first 8 zero 0 copy 0 constant 0 : tensor<16x64xf32>, tensor<16x2xi32>, tensor<16x2xf32> -> tensor<16x64xf32>
  return
}

// -----

// Tests that null_experts rejects weights whose shape differs from the indices'.
func.func @null_weights_shape(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>, %w: tensor<16x1xf32>) {
  // expected-error @+1 {{'weights' shape must match 'indices'}}
  %n = moe.null_experts %x, %i, %w first 8 zero 1 copy 1 constant 0 : tensor<16x64xf32>, tensor<16x2xi32>, tensor<16x1xf32> -> tensor<16x64xf32>
  return
}

// -----

// Tests that null_experts rejects indices whose tokens differ from the tokens'.
func.func @null_indices_tokens(%x: tensor<16x64xf32>, %i: tensor<8x2xi32>, %w: tensor<8x2xf32>) {
  // expected-error @+1 {{'indices' dimension 0 is 8, expected 16 (the tokens of 'tokens')}}
  %n = moe.null_experts %x, %i, %w first 8 zero 1 copy 1 constant 0 : tensor<16x64xf32>, tensor<8x2xi32>, tensor<8x2xf32> -> tensor<16x64xf32>
  return
}

// -----

// Tests that null_experts rejects a result type other than the tokens'.
func.func @null_result_type(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>, %w: tensor<16x2xf32>) {
  // expected-error @+1 {{result type 'tensor<16x64xbf16>' differs from 'tokens' type 'tensor<16x64xf32>'}}
  %n = moe.null_experts %x, %i, %w first 8 zero 1 copy 1 constant 0 : tensor<16x64xf32>, tensor<16x2xi32>, tensor<16x2xf32> -> tensor<16x64xbf16>
  return
}

// -----

// Tests that null_experts needs constants(...) when it has constant experts.
func.func @null_constants_missing(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>, %w: tensor<16x2xf32>) {
  // expected-error @+1 {{2 constant experts need `constants(%vectors, %mix)` operands}}
  %n = moe.null_experts %x, %i, %w first 8 zero 0 copy 0 constant 2 : tensor<16x64xf32>, tensor<16x2xi32>, tensor<16x2xf32> -> tensor<16x64xf32>
  return
}

// -----

// Tests that null_experts rejects constants(...) without constant experts.
func.func @null_constants_unused(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>, %w: tensor<16x2xf32>, %v: tensor<2x64xf32>, %m: tensor<2x2x64xf32>) {
  // expected-error @+1 {{`constants(...)` are given but there are no constant experts}}
  %n = moe.null_experts %x, %i, %w constants(%v, %m) first 8 zero 1 copy 0 constant 0 : tensor<16x64xf32>, tensor<16x2xi32>, tensor<16x2xf32>, tensor<2x64xf32>, tensor<2x2x64xf32> -> tensor<16x64xf32>
  return
}

// -----

// Tests that null_experts rejects constant vectors that are not [Nc, H].
func.func @null_vectors_rank(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>, %w: tensor<16x2xf32>, %v: tensor<128xf32>, %m: tensor<2x2x64xf32>) {
  // expected-error @+1 {{'constant_vectors' must have rank 2 ([Nc, H]), got 1}}
  %n = moe.null_experts %x, %i, %w constants(%v, %m) first 8 zero 0 copy 0 constant 2 : tensor<16x64xf32>, tensor<16x2xi32>, tensor<16x2xf32>, tensor<128xf32>, tensor<2x2x64xf32> -> tensor<16x64xf32>
  return
}

// -----

// Tests that null_experts rejects constant mixing weights that are not [Nc, 2, H].
func.func @null_mix_rank(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>, %w: tensor<16x2xf32>, %v: tensor<2x64xf32>, %m: tensor<4x64xf32>) {
  // expected-error @+1 {{'constant_mix' must have rank 3 ([Nc, 2, H]), got 2}}
  %n = moe.null_experts %x, %i, %w constants(%v, %m) first 8 zero 0 copy 0 constant 2 : tensor<16x64xf32>, tensor<16x2xi32>, tensor<16x2xf32>, tensor<2x64xf32>, tensor<4x64xf32> -> tensor<16x64xf32>
  return
}

// -----

// Tests that null_experts needs one constant vector per constant expert.
func.func @null_vectors_count(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>, %w: tensor<16x2xf32>, %v: tensor<3x64xf32>, %m: tensor<2x2x64xf32>) {
  // expected-error @+1 {{'constant_vectors' dimension 0 is 3, expected 2 (the constant experts)}}
  %n = moe.null_experts %x, %i, %w constants(%v, %m) first 8 zero 0 copy 0 constant 2 : tensor<16x64xf32>, tensor<16x2xi32>, tensor<16x2xf32>, tensor<3x64xf32>, tensor<2x2x64xf32> -> tensor<16x64xf32>
  return
}

// -----

// Tests that null_experts rejects constant vectors of another hidden size.
func.func @null_vectors_hidden(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>, %w: tensor<16x2xf32>, %v: tensor<2x32xf32>, %m: tensor<2x2x64xf32>) {
  // expected-error @+1 {{'constant_vectors' dimension 1 is 32, expected 64 (the hidden size)}}
  %n = moe.null_experts %x, %i, %w constants(%v, %m) first 8 zero 0 copy 0 constant 2 : tensor<16x64xf32>, tensor<16x2xi32>, tensor<16x2xf32>, tensor<2x32xf32>, tensor<2x2x64xf32> -> tensor<16x64xf32>
  return
}

// -----

// Tests that null_experts needs one mixing matrix per constant expert.
func.func @null_mix_count(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>, %w: tensor<16x2xf32>, %v: tensor<2x64xf32>, %m: tensor<1x2x64xf32>) {
  // expected-error @+1 {{'constant_mix' dimension 0 is 1, expected 2 (the constant experts)}}
  %n = moe.null_experts %x, %i, %w constants(%v, %m) first 8 zero 0 copy 0 constant 2 : tensor<16x64xf32>, tensor<16x2xi32>, tensor<16x2xf32>, tensor<2x64xf32>, tensor<1x2x64xf32> -> tensor<16x64xf32>
  return
}

// -----

// Tests that null_experts needs exactly two mixing weights per constant expert.
func.func @null_mix_pair(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>, %w: tensor<16x2xf32>, %v: tensor<2x64xf32>, %m: tensor<2x3x64xf32>) {
  // expected-error @+1 {{'constant_mix' dimension 1 is 3, expected 2 (the two mixing weights)}}
  %n = moe.null_experts %x, %i, %w constants(%v, %m) first 8 zero 0 copy 0 constant 2 : tensor<16x64xf32>, tensor<16x2xi32>, tensor<16x2xf32>, tensor<2x64xf32>, tensor<2x3x64xf32> -> tensor<16x64xf32>
  return
}

// -----

// Tests that null_experts rejects constant mixing weights of another hidden size.
func.func @null_mix_hidden(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>, %w: tensor<16x2xf32>, %v: tensor<2x64xf32>, %m: tensor<2x2x32xf32>) {
  // expected-error @+1 {{'constant_mix' dimension 2 is 32, expected 64 (the hidden size)}}
  %n = moe.null_experts %x, %i, %w constants(%v, %m) first 8 zero 0 copy 0 constant 2 : tensor<16x64xf32>, tensor<16x2xi32>, tensor<16x2xf32>, tensor<2x64xf32>, tensor<2x2x32xf32> -> tensor<16x64xf32>
  return
}

// -----

// Tests that null_experts rejects constant vectors of another element type than the tokens.
func.func @null_vectors_element_type(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>, %w: tensor<16x2xf32>, %v: tensor<2x64xf16>, %m: tensor<2x2x64xf32>) {
  // expected-error @+1 {{'constant_vectors' element type 'f16' differs from the element type 'f32' of 'tokens'}}
  %n = moe.null_experts %x, %i, %w constants(%v, %m) first 8 zero 0 copy 0 constant 2 : tensor<16x64xf32>, tensor<16x2xi32>, tensor<16x2xf32>, tensor<2x64xf16>, tensor<2x2x64xf32> -> tensor<16x64xf32>
  return
}

// -----

// Tests that null_experts rejects constant mixing weights of another element type than the tokens.
func.func @null_mix_element_type(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>, %w: tensor<16x2xf32>, %v: tensor<2x64xf32>, %m: tensor<2x2x64xbf16>) {
  // expected-error @+1 {{'constant_mix' element type 'bf16' differs from the element type 'f32' of 'tokens'}}
  %n = moe.null_experts %x, %i, %w constants(%v, %m) first 8 zero 0 copy 0 constant 2 : tensor<16x64xf32>, tensor<16x2xi32>, tensor<16x2xf32>, tensor<2x64xf32>, tensor<2x2x64xbf16> -> tensor<16x64xf32>
  return
}

// -----

// Tests that null_experts rejects a negative expert count (ODS IntNonNegative).
func.func @null_negative_count(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>, %w: tensor<16x2xf32>) {
  // expected-error @+1 {{attribute 'copy' failed to satisfy constraint: 64-bit signless integer attribute whose value is non-negative}}
  %n = moe.null_experts %x, %i, %w first 8 zero 1 copy -1 constant 0 : tensor<16x64xf32>, tensor<16x2xi32>, tensor<16x2xf32> -> tensor<16x64xf32>
  return
}

// -----

// Tests that shared_experts rejects tokens that are not [T, H].
func.func @shared_tokens_rank(%x: tensor<2x16x64xf32>, %u: tensor<64x256xf32>, %d: tensor<256x64xf32>) {
  // expected-error @+1 {{'moe.shared_experts' op 'tokens' must have rank 2 ([T, H]), got 3}}
  %s = moe.shared_experts %x up %u down %d activation gelu layout in_out : (tensor<2x16x64xf32>, tensor<64x256xf32>, tensor<256x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that shared_experts rejects an up weight that is not [H, F] in layout in_out.
func.func @shared_up_rank_in_out(%x: tensor<16x64xf32>, %u: tensor<1x64x256xf32>, %d: tensor<256x64xf32>) {
  // expected-error @+1 {{'up_weight' must have rank 2 ([H, F]), got 3}}
  %s = moe.shared_experts %x up %u down %d activation gelu layout in_out : (tensor<16x64xf32>, tensor<1x64x256xf32>, tensor<256x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that shared_experts rejects an up weight that is not [F, H] in layout out_in.
func.func @shared_up_rank_out_in(%x: tensor<16x64xf32>, %u: tensor<1x256x64xf32>, %d: tensor<64x256xf32>) {
  // expected-error @+1 {{'up_weight' must have rank 2 ([F, H]), got 3}}
  %s = moe.shared_experts %x up %u down %d activation gelu layout out_in : (tensor<16x64xf32>, tensor<1x256x64xf32>, tensor<64x256xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that shared_experts rejects a down weight that is not [F, H] in layout in_out.
func.func @shared_down_rank_in_out(%x: tensor<16x64xf32>, %u: tensor<64x256xf32>, %d: tensor<16384xf32>) {
  // expected-error @+1 {{'down_weight' must have rank 2 ([F, H]), got 1}}
  %s = moe.shared_experts %x up %u down %d activation gelu layout in_out : (tensor<16x64xf32>, tensor<64x256xf32>, tensor<16384xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that shared_experts rejects a down weight that is not [H, F] in layout out_in.
func.func @shared_down_rank_out_in(%x: tensor<16x64xf32>, %u: tensor<256x64xf32>, %d: tensor<16384xf32>) {
  // expected-error @+1 {{'down_weight' must have rank 2 ([H, F]), got 1}}
  %s = moe.shared_experts %x up %u down %d activation gelu layout out_in : (tensor<16x64xf32>, tensor<256x64xf32>, tensor<16384xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that shared_experts rejects an up weight of another hidden size than the tokens.
func.func @shared_up_hidden(%x: tensor<16x64xf32>, %u: tensor<32x256xf32>, %d: tensor<256x64xf32>) {
  // expected-error @+1 {{'up_weight' dimension 0 is 32, expected 64 (the hidden size)}}
  %s = moe.shared_experts %x up %u down %d activation gelu layout in_out : (tensor<16x64xf32>, tensor<32x256xf32>, tensor<256x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that shared_experts rejects an up weight of another element type than the tokens.
func.func @shared_up_element_type(%x: tensor<16x64xf32>, %u: tensor<64x256xbf16>, %d: tensor<256x64xf32>) {
  // expected-error @+1 {{'up_weight' element type 'bf16' differs from the element type 'f32' of 'tokens'}}
  %s = moe.shared_experts %x up %u down %d activation gelu layout in_out : (tensor<16x64xf32>, tensor<64x256xbf16>, tensor<256x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that shared_experts rejects a down weight of another element type than the tokens.
func.func @shared_down_element_type(%x: tensor<16x64xf32>, %u: tensor<64x256xf32>, %d: tensor<256x64xf16>) {
  // expected-error @+1 {{'down_weight' element type 'f16' differs from the element type 'f32' of 'tokens'}}
  %s = moe.shared_experts %x up %u down %d activation gelu layout in_out : (tensor<16x64xf32>, tensor<64x256xf32>, tensor<256x64xf16>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that shared_experts rejects a down weight of another hidden size.
func.func @shared_down_hidden(%x: tensor<16x64xf32>, %u: tensor<64x256xf32>, %d: tensor<256x32xf32>) {
  // expected-error @+1 {{'down_weight' dimension 1 is 32, expected 64 (the hidden size)}}
  %s = moe.shared_experts %x up %u down %d activation gelu layout in_out : (tensor<16x64xf32>, tensor<64x256xf32>, tensor<256x32xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that shared_experts rejects a down weight of another intermediate size than the up weight.
func.func @shared_down_intermediate(%x: tensor<16x64xf32>, %u: tensor<64x256xf32>, %d: tensor<128x64xf32>) {
  // expected-error @+1 {{'down_weight' dimension 0 is 128, expected 256 (the intermediate size of the up weight)}}
  %s = moe.shared_experts %x up %u down %d activation gelu layout in_out : (tensor<16x64xf32>, tensor<64x256xf32>, tensor<128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that shared_experts rejects a gate weight whose type differs from the up weight's.
func.func @shared_gate_type(%x: tensor<16x64xf32>, %g: tensor<256x64xf32>, %u: tensor<64x256xf32>, %d: tensor<256x64xf32>) {
  // expected-error @+1 {{'gate_weight' type 'tensor<256x64xf32>' differs from 'up_weight' type 'tensor<64x256xf32>'}}
  %s = moe.shared_experts %x gate %g up %u down %d activation silu layout in_out : (tensor<16x64xf32>, tensor<256x64xf32>, tensor<64x256xf32>, tensor<256x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that shared_experts rejects a sigmoid gate that is not [H].
func.func @shared_sigmoid_gate_rank(%x: tensor<16x64xf32>, %u: tensor<64x256xf32>, %d: tensor<256x64xf32>, %sg: tensor<64x1xf32>) {
  // expected-error @+1 {{'sigmoid_gate' must have rank 1 ([H]), got 2}}
  %s = moe.shared_experts %x up %u down %d sigmoid_gate %sg activation gelu layout in_out : (tensor<16x64xf32>, tensor<64x256xf32>, tensor<256x64xf32>, tensor<64x1xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that shared_experts rejects a sigmoid gate of another hidden size.
func.func @shared_sigmoid_gate_hidden(%x: tensor<16x64xf32>, %u: tensor<64x256xf32>, %d: tensor<256x64xf32>, %sg: tensor<32xf32>) {
  // expected-error @+1 {{'sigmoid_gate' dimension 0 is 32, expected 64 (the hidden size)}}
  %s = moe.shared_experts %x up %u down %d sigmoid_gate %sg activation gelu layout in_out : (tensor<16x64xf32>, tensor<64x256xf32>, tensor<256x64xf32>, tensor<32xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that shared_experts rejects a result type other than the tokens'.
func.func @shared_result_type(%x: tensor<16x64xf32>, %u: tensor<64x256xf32>, %d: tensor<256x64xf32>) {
  // expected-error @+1 {{result type 'tensor<8x64xf32>' differs from 'tokens' type 'tensor<16x64xf32>'}}
  %s = moe.shared_experts %x up %u down %d activation gelu layout in_out : (tensor<16x64xf32>, tensor<64x256xf32>, tensor<256x64xf32>) -> tensor<8x64xf32>
  return
}

// -----

// Tests that the layer rejects tokens that are not [T, H].
func.func @layer_tokens_rank(%x: tensor<1024xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'moe.layer' op 'tokens' must have rank 2 ([T, H]), got 1}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<1024xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<1024xf32>
  return
}

// -----

// Tests that the layer rejects a router weight that is not [H, E] in layout in_out.
func.func @layer_router_rank_in_out(%x: tensor<16x64xf32>, %r: tensor<1x64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'router_weight' must have rank 2 ([H, E]), got 3}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<1x64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a router weight that is not [E, H] in layout out_in.
func.func @layer_router_rank_out_in(%x: tensor<16x64xf32>, %r: tensor<512xf32>, %u: tensor<8x128x64xf32>, %d: tensor<8x64x128xf32>) {
  // expected-error @+1 {{'router_weight' must have rank 2 ([E, H]), got 1}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout out_in : (tensor<16x64xf32>, tensor<512xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a router weight of another hidden size than the tokens.
func.func @layer_router_hidden(%x: tensor<16x64xf32>, %r: tensor<32x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'router_weight' dimension 0 is 32, expected 64 (the hidden size)}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<32x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer finds the hidden size of an out_in router weight in its last dimension.
func.func @layer_router_hidden_out_in(%x: tensor<16x64xf32>, %r: tensor<8x32xf32>, %u: tensor<8x128x64xf32>, %d: tensor<8x64x128xf32>) {
  // expected-error @+1 {{'router_weight' dimension 1 is 32, expected 64 (the hidden size)}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout out_in : (tensor<16x64xf32>, tensor<8x32xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a router weight of another element type than the tokens.
func.func @layer_router_element_type(%x: tensor<16x64xf32>, %r: tensor<64x8xbf16>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'router_weight' element type 'bf16' differs from the element type 'f32' of 'tokens'}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xbf16>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a selection bias that is not [E].
func.func @layer_bias_rank(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %b: tensor<1x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'bias' must have rank 1 ([E]), got 2}}
  %y = moe.layer %x router %r bias %b experts up %u down %d routing <scoring = sigmoid, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<1x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a selection bias over other experts than the router's.
func.func @layer_bias_experts(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %b: tensor<4xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'bias' dimension 0 is 4, expected 8 (the experts of 'router_weight')}}
  %y = moe.layer %x router %r bias %b experts up %u down %d routing <scoring = sigmoid, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<4xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer checks its routing against the router's experts (no routed expert left).
func.func @layer_routing_only_null_experts(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<0x64x128xf32>, %d: tensor<0x128x64xf32>) {
  // expected-error @+1 {{routing declares 8 null experts but there are only 8 experts; at least one routed expert is needed}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2, zero_experts = 8> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<0x64x128xf32>, tensor<0x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer checks its routing against the router's experts (top_k).
func.func @layer_routing_top_k(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{top_k (9) exceeds the number of experts (8)}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 9> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer checks its routing against the router's experts (num_groups).
func.func @layer_routing_groups_divide(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{num_groups (3) does not divide the 8 routed experts}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = sigmoid, top_k = 2, num_groups = 3, kept_groups = 1> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer checks its routing against the router's experts (group_score).
func.func @layer_routing_top2_sum(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{group_score top2_sum needs at least 2 experts per group, got 1}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = sigmoid, top_k = 2, num_groups = 8, kept_groups = 4> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer checks its routing against the router's experts (kept groups).
func.func @layer_routing_kept_groups(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{top_k (6) exceeds the 4 experts of the kept groups (2 groups of 2)}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = sigmoid, top_k = 6, num_groups = 4, kept_groups = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects an up weight that is not [E, H, F] in layout in_out.
func.func @layer_up_rank(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'up_weight' must have rank 3 ([E, H, F]), got 2}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects an up weight that is not [E, F, H] in layout out_in.
func.func @layer_up_rank_out_in(%x: tensor<16x64xf32>, %r: tensor<8x64xf32>, %u: tensor<128x64xf32>, %d: tensor<8x64x128xf32>) {
  // expected-error @+1 {{'up_weight' must have rank 3 ([E, F, H]), got 2}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout out_in : (tensor<16x64xf32>, tensor<8x64xf32>, tensor<128x64xf32>, tensor<8x64x128xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a down weight that is not [E, F, H] in layout in_out.
func.func @layer_down_rank(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<128x64xf32>) {
  // expected-error @+1 {{'down_weight' must have rank 3 ([E, F, H]), got 2}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a down weight that is not [E, H, F] in layout out_in.
func.func @layer_down_rank_out_in(%x: tensor<16x64xf32>, %r: tensor<8x64xf32>, %u: tensor<8x128x64xf32>, %d: tensor<64x128xf32>) {
  // expected-error @+1 {{'down_weight' must have rank 3 ([E, H, F]), got 2}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout out_in : (tensor<16x64xf32>, tensor<8x64xf32>, tensor<8x128x64xf32>, tensor<64x128xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects an up weight of another hidden size than the tokens.
func.func @layer_up_hidden(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x32x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'up_weight' dimension 1 is 32, expected 64 (the hidden size)}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x32x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects an up weight of another element type than the tokens.
func.func @layer_up_element_type(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xbf16>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'up_weight' element type 'bf16' differs from the element type 'f32' of 'tokens'}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xbf16>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a down weight of another element type than the tokens.
func.func @layer_down_element_type(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf16>) {
  // expected-error @+1 {{'down_weight' element type 'f16' differs from the element type 'f32' of 'tokens'}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf16>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a down weight over other experts than the up weight.
func.func @layer_down_experts(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'down_weight' dimension 0 is 4, expected 8 (the experts of the up weight)}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<4x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a down weight of another hidden size.
func.func @layer_down_hidden(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x32xf32>) {
  // expected-error @+1 {{'down_weight' dimension 2 is 32, expected 64 (the hidden size)}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x32xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a down weight of another intermediate size than the up weight.
func.func @layer_down_intermediate(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x64x64xf32>) {
  // expected-error @+1 {{'down_weight' dimension 1 is 64, expected 128 (the intermediate size of the up weight)}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x64x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a gate weight whose type differs from the up weight's.
func.func @layer_gate_type(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %g: tensor<8x64x256xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'gate_weight' type 'tensor<8x64x256xf32>' differs from 'up_weight' type 'tensor<8x64x128xf32>'}}
  %y = moe.layer %x router %r experts gate %g up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x256xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer needs one expert weight per routed expert (router experts minus null experts).
func.func @layer_routed_experts(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'up_weight' dimension 0 is 8, expected 7 (the router's experts minus its null experts)}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2, zero_experts = 1> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects shared_up without shared_down.
func.func @layer_shared_up_alone(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>, %su: tensor<64x256xf32>) {
  // expected-error @+1 {{'shared_up' and 'shared_down' must be given together}}
  %y = moe.layer %x router %r experts up %u down %d shared_up %su routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>, tensor<64x256xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects shared_down without shared_up.
func.func @layer_shared_down_alone(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>, %sd: tensor<256x64xf32>) {
  // expected-error @+1 {{'shared_up' and 'shared_down' must be given together}}
  %y = moe.layer %x router %r experts up %u down %d shared_down %sd routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>, tensor<256x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a shared gate weight without a shared FFN.
func.func @layer_shared_gate_alone(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>, %sg: tensor<64x256xf32>) {
  // expected-error @+1 {{shared expert gates are given without 'shared_up' and 'shared_down'}}
  %y = moe.layer %x router %r experts up %u down %d shared_gate %sg routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>, tensor<64x256xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a shared sigmoid gate without a shared FFN.
func.func @layer_shared_sigmoid_gate_alone(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>, %ssg: tensor<64xf32>) {
  // expected-error @+1 {{shared expert gates are given without 'shared_up' and 'shared_down'}}
  %y = moe.layer %x router %r experts up %u down %d shared_sigmoid_gate %ssg routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>, tensor<64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a shared up weight that is not [H, F] in layout in_out.
func.func @layer_shared_up_rank(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>, %su: tensor<1x64x256xf32>, %sd: tensor<256x64xf32>) {
  // expected-error @+1 {{'shared_up_weight' must have rank 2 ([H, F]), got 3}}
  %y = moe.layer %x router %r experts up %u down %d shared_up %su shared_down %sd routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>, tensor<1x64x256xf32>, tensor<256x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a shared up weight that is not [F, H] in layout out_in.
func.func @layer_shared_up_rank_out_in(%x: tensor<16x64xf32>, %r: tensor<8x64xf32>, %u: tensor<8x128x64xf32>, %d: tensor<8x64x128xf32>, %su: tensor<16384xf32>, %sd: tensor<64x256xf32>) {
  // expected-error @+1 {{'shared_up_weight' must have rank 2 ([F, H]), got 1}}
  %y = moe.layer %x router %r experts up %u down %d shared_up %su shared_down %sd routing <scoring = softmax, top_k = 2> activation silu layout out_in : (tensor<16x64xf32>, tensor<8x64xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>, tensor<16384xf32>, tensor<64x256xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a shared down weight that is not [F, H] in layout in_out.
func.func @layer_shared_down_rank(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>, %su: tensor<64x256xf32>, %sd: tensor<1x256x64xf32>) {
  // expected-error @+1 {{'shared_down_weight' must have rank 2 ([F, H]), got 3}}
  %y = moe.layer %x router %r experts up %u down %d shared_up %su shared_down %sd routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>, tensor<64x256xf32>, tensor<1x256x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a shared up weight of another hidden size than the tokens.
func.func @layer_shared_up_hidden(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>, %su: tensor<32x256xf32>, %sd: tensor<256x64xf32>) {
  // expected-error @+1 {{'shared_up_weight' dimension 0 is 32, expected 64 (the hidden size)}}
  %y = moe.layer %x router %r experts up %u down %d shared_up %su shared_down %sd routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>, tensor<32x256xf32>, tensor<256x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a shared up weight of another element type than the tokens.
func.func @layer_shared_up_element_type(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>, %su: tensor<64x256xbf16>, %sd: tensor<256x64xf32>) {
  // expected-error @+1 {{'shared_up_weight' element type 'bf16' differs from the element type 'f32' of 'tokens'}}
  %y = moe.layer %x router %r experts up %u down %d shared_up %su shared_down %sd routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>, tensor<64x256xbf16>, tensor<256x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a shared down weight of another element type than the tokens.
func.func @layer_shared_down_element_type(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>, %su: tensor<64x256xf32>, %sd: tensor<256x64xbf16>) {
  // expected-error @+1 {{'shared_down_weight' element type 'bf16' differs from the element type 'f32' of 'tokens'}}
  %y = moe.layer %x router %r experts up %u down %d shared_up %su shared_down %sd routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>, tensor<64x256xf32>, tensor<256x64xbf16>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a shared down weight of another hidden size.
func.func @layer_shared_down_hidden(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>, %su: tensor<64x256xf32>, %sd: tensor<256x32xf32>) {
  // expected-error @+1 {{'shared_down_weight' dimension 1 is 32, expected 64 (the hidden size)}}
  %y = moe.layer %x router %r experts up %u down %d shared_up %su shared_down %sd routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>, tensor<64x256xf32>, tensor<256x32xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a shared down weight of another intermediate size than the shared up weight.
func.func @layer_shared_down_intermediate(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>, %su: tensor<64x256xf32>, %sd: tensor<128x64xf32>) {
  // expected-error @+1 {{'shared_down_weight' dimension 0 is 128, expected 256 (the intermediate size of the up weight)}}
  %y = moe.layer %x router %r experts up %u down %d shared_up %su shared_down %sd routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>, tensor<64x256xf32>, tensor<128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a shared gate weight whose type differs from the shared up weight's.
func.func @layer_shared_gate_type(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>, %sg: tensor<64x128xf32>, %su: tensor<64x256xf32>, %sd: tensor<256x64xf32>) {
  // expected-error @+1 {{'shared_gate_weight' type 'tensor<64x128xf32>' differs from 'shared_up_weight' type 'tensor<64x256xf32>'}}
  %y = moe.layer %x router %r experts up %u down %d shared_gate %sg shared_up %su shared_down %sd routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>, tensor<64x128xf32>, tensor<64x256xf32>, tensor<256x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a shared sigmoid gate that is not [H].
func.func @layer_shared_sigmoid_gate_rank(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>, %su: tensor<64x256xf32>, %sd: tensor<256x64xf32>, %ssg: tensor<1x64xf32>) {
  // expected-error @+1 {{'shared_sigmoid_gate' must have rank 1 ([H]), got 2}}
  %y = moe.layer %x router %r experts up %u down %d shared_up %su shared_down %sd shared_sigmoid_gate %ssg routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>, tensor<64x256xf32>, tensor<256x64xf32>, tensor<1x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a shared sigmoid gate of another hidden size.
func.func @layer_shared_sigmoid_gate_hidden(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>, %su: tensor<64x256xf32>, %sd: tensor<256x64xf32>, %ssg: tensor<32xf32>) {
  // expected-error @+1 {{'shared_sigmoid_gate' dimension 0 is 32, expected 64 (the hidden size)}}
  %y = moe.layer %x router %r experts up %u down %d shared_up %su shared_down %sd shared_sigmoid_gate %ssg routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>, tensor<64x256xf32>, tensor<256x64xf32>, tensor<32xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer needs constants(...) when its routing has constant experts.
func.func @layer_constants_missing(%x: tensor<16x64xf32>, %r: tensor<64x10xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{2 constant experts need `constants(%vectors, %mix)` operands}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2, constant_experts = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x10xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects constants(...) when its routing has no constant experts.
func.func @layer_constants_unused(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>, %v: tensor<2x64xf32>, %m: tensor<2x2x64xf32>) {
  // expected-error @+1 {{`constants(...)` are given but there are no constant experts}}
  %y = moe.layer %x router %r experts up %u down %d constants(%v, %m) routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>, tensor<2x64xf32>, tensor<2x2x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects constant vectors that are not [Nc, H].
func.func @layer_constant_vectors_rank(%x: tensor<16x64xf32>, %r: tensor<64x10xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>, %v: tensor<128xf32>, %m: tensor<2x2x64xf32>) {
  // expected-error @+1 {{'constant_vectors' must have rank 2 ([Nc, H]), got 1}}
  %y = moe.layer %x router %r experts up %u down %d constants(%v, %m) routing <scoring = softmax, top_k = 2, constant_experts = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x10xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>, tensor<128xf32>, tensor<2x2x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects constant mixing weights that are not [Nc, 2, H].
func.func @layer_constant_mix_rank(%x: tensor<16x64xf32>, %r: tensor<64x10xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>, %v: tensor<2x64xf32>, %m: tensor<2x128xf32>) {
  // expected-error @+1 {{'constant_mix' must have rank 3 ([Nc, 2, H]), got 2}}
  %y = moe.layer %x router %r experts up %u down %d constants(%v, %m) routing <scoring = softmax, top_k = 2, constant_experts = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x10xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>, tensor<2x64xf32>, tensor<2x128xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer needs one constant vector per constant expert.
func.func @layer_constant_vectors_count(%x: tensor<16x64xf32>, %r: tensor<64x10xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>, %v: tensor<1x64xf32>, %m: tensor<2x2x64xf32>) {
  // expected-error @+1 {{'constant_vectors' dimension 0 is 1, expected 2 (the constant experts)}}
  %y = moe.layer %x router %r experts up %u down %d constants(%v, %m) routing <scoring = softmax, top_k = 2, constant_experts = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x10xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>, tensor<1x64xf32>, tensor<2x2x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects constant vectors of another hidden size.
func.func @layer_constant_vectors_hidden(%x: tensor<16x64xf32>, %r: tensor<64x10xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>, %v: tensor<2x32xf32>, %m: tensor<2x2x64xf32>) {
  // expected-error @+1 {{'constant_vectors' dimension 1 is 32, expected 64 (the hidden size)}}
  %y = moe.layer %x router %r experts up %u down %d constants(%v, %m) routing <scoring = softmax, top_k = 2, constant_experts = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x10xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>, tensor<2x32xf32>, tensor<2x2x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer needs one mixing matrix per constant expert.
func.func @layer_constant_mix_count(%x: tensor<16x64xf32>, %r: tensor<64x10xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>, %v: tensor<2x64xf32>, %m: tensor<3x2x64xf32>) {
  // expected-error @+1 {{'constant_mix' dimension 0 is 3, expected 2 (the constant experts)}}
  %y = moe.layer %x router %r experts up %u down %d constants(%v, %m) routing <scoring = softmax, top_k = 2, constant_experts = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x10xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>, tensor<2x64xf32>, tensor<3x2x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer needs exactly two mixing weights per constant expert.
func.func @layer_constant_mix_pair(%x: tensor<16x64xf32>, %r: tensor<64x10xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>, %v: tensor<2x64xf32>, %m: tensor<2x1x64xf32>) {
  // expected-error @+1 {{'constant_mix' dimension 1 is 1, expected 2 (the two mixing weights)}}
  %y = moe.layer %x router %r experts up %u down %d constants(%v, %m) routing <scoring = softmax, top_k = 2, constant_experts = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x10xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>, tensor<2x64xf32>, tensor<2x1x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects constant mixing weights of another hidden size.
func.func @layer_constant_mix_hidden(%x: tensor<16x64xf32>, %r: tensor<64x10xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>, %v: tensor<2x64xf32>, %m: tensor<2x2x32xf32>) {
  // expected-error @+1 {{'constant_mix' dimension 2 is 32, expected 64 (the hidden size)}}
  %y = moe.layer %x router %r experts up %u down %d constants(%v, %m) routing <scoring = softmax, top_k = 2, constant_experts = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x10xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>, tensor<2x64xf32>, tensor<2x2x32xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects constant vectors of another element type than the tokens.
func.func @layer_constant_vectors_element_type(%x: tensor<16x64xf32>, %r: tensor<64x10xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>, %v: tensor<2x64xf16>, %m: tensor<2x2x64xf32>) {
  // expected-error @+1 {{'constant_vectors' element type 'f16' differs from the element type 'f32' of 'tokens'}}
  %y = moe.layer %x router %r experts up %u down %d constants(%v, %m) routing <scoring = softmax, top_k = 2, constant_experts = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x10xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>, tensor<2x64xf16>, tensor<2x2x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects constant mixing weights of another element type than the tokens.
func.func @layer_constant_mix_element_type(%x: tensor<16x64xf32>, %r: tensor<64x10xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>, %v: tensor<2x64xf32>, %m: tensor<2x2x64xf16>) {
  // expected-error @+1 {{'constant_mix' element type 'f16' differs from the element type 'f32' of 'tokens'}}
  %y = moe.layer %x router %r experts up %u down %d constants(%v, %m) routing <scoring = softmax, top_k = 2, constant_experts = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x10xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>, tensor<2x64xf32>, tensor<2x2x64xf16>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a result type other than the tokens'.
func.func @layer_result_type(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{result type 'tensor<16x64xbf16>' differs from 'tokens' type 'tensor<16x64xf32>'}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xbf16>
  return
}

// -----

// Tests that the layer rejects a capacity without a drop policy.
func.func @layer_capacity_without_policy(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{capacity mode needs a drop policy (`drop position|score`)}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out capacity 4 : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a drop policy without a capacity.
func.func @layer_policy_without_capacity(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{a drop policy is given without a capacity}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out drop score : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a non-positive capacity (ODS IntPositive).
func.func @layer_zero_capacity(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{attribute 'capacity' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out capacity 0 drop position : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a parallel plan whose ep does not divide the routed experts.
func.func @layer_ep_divides(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{the parallel plan's ep (3) does not divide the 8 routed experts}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out {parallel = #moe.parallel<attn = {dp = 3}, moe = {ep = 3}>} : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer counts only routed experts when checking the parallel plan's ep.
func.func @layer_ep_divides_routed(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<7x64x128xf32>, %d: tensor<7x128x64xf32>) {
  // expected-error @+1 {{the parallel plan's ep (8) does not divide the 7 routed experts}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2, copy_experts = 1> activation silu layout in_out {parallel = #moe.parallel<attn = {dp = 8}, moe = {ep = 8}>} : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<7x64x128xf32>, tensor<7x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a parallel plan whose etp does not divide the intermediate size.
func.func @layer_etp_divides(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{the parallel plan's etp (3) does not divide the expert intermediate size (128)}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out {parallel = #moe.parallel<attn = {tp = 3}, moe = {etp = 3}>} : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer's parallel attribute must be a #moe.parallel (ODS attribute constraint).
func.func @layer_parallel_kind(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{attribute 'parallel' failed to satisfy constraint}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out {parallel = 8 : i64} : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects an integer router weight (ODS element type constraint).
func.func @layer_float_router(%x: tensor<16x64xf32>, %r: tensor<64x8xi8>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{operand #1 must be ranked tensor of bfloat16 type or 16-bit float or 32-bit float values, but got 'tensor<64x8xi8>'}}
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xi8>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the chain needs at least one iteration.
func.func @chain_iterations(%x: tensor<16x64xf32>, %r: tensor<0x64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'moe.chain' op iterations must be at least 1, got 0}}
  %y = moe.chain %x iterations 0 router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<0x64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the chain rejects tokens that are not [T, H].
func.func @chain_tokens_rank(%x: tensor<1x16x64xf32>, %r: tensor<2x64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'tokens' must have rank 2 ([T, H]), got 3}}
  %y = moe.chain %x iterations 2 router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<1x16x64xf32>, tensor<2x64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<1x16x64xf32>
  return
}

// -----

// Tests that the chain rejects a router weight that is not [C, H, E] in layout in_out.
func.func @chain_router_rank_in_out(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'router_weight' must have rank 3 ([C, H, E]), got 2}}
  %y = moe.chain %x iterations 2 router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the chain rejects a router weight that is not [C, E, H] in layout out_in.
func.func @chain_router_rank_out_in(%x: tensor<16x64xf32>, %r: tensor<8x64xf32>, %u: tensor<8x128x64xf32>, %d: tensor<8x64x128xf32>) {
  // expected-error @+1 {{'router_weight' must have rank 3 ([C, E, H]), got 2}}
  %y = moe.chain %x iterations 2 router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout out_in : (tensor<16x64xf32>, tensor<8x64xf32>, tensor<8x128x64xf32>, tensor<8x64x128xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the chain rejects a router weight of another hidden size than the tokens.
func.func @chain_router_hidden(%x: tensor<16x64xf32>, %r: tensor<2x32x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'router_weight' dimension 1 is 32, expected 64 (the hidden size)}}
  %y = moe.chain %x iterations 2 router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<2x32x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the chain rejects a router weight of another element type than the tokens.
func.func @chain_router_element_type(%x: tensor<16x64xf32>, %r: tensor<2x64x8xf16>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'router_weight' element type 'f16' differs from the element type 'f32' of 'tokens'}}
  %y = moe.chain %x iterations 2 router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<2x64x8xf16>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the chain rejects a selection bias that is not [C, E].
func.func @chain_bias_rank(%x: tensor<16x64xf32>, %r: tensor<2x64x8xf32>, %b: tensor<8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'bias' must have rank 2 ([C, E]), got 1}}
  %y = moe.chain %x iterations 2 router %r bias %b experts up %u down %d routing <scoring = sigmoid, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<2x64x8xf32>, tensor<8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the chain rejects a selection bias over other experts than the router's.
func.func @chain_bias_experts(%x: tensor<16x64xf32>, %r: tensor<2x64x8xf32>, %b: tensor<2x4xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'bias' dimension 1 is 4, expected 8 (the experts of 'router_weight')}}
  %y = moe.chain %x iterations 2 router %r bias %b experts up %u down %d routing <scoring = sigmoid, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<2x64x8xf32>, tensor<2x4xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the chain rejects a selection bias over other iterations than the router's.
func.func @chain_bias_iterations(%x: tensor<16x64xf32>, %r: tensor<2x64x8xf32>, %b: tensor<3x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'bias' dimension 0 is 3, expected 2 (the iterations of 'router_weight')}}
  %y = moe.chain %x iterations 2 router %r bias %b experts up %u down %d routing <scoring = sigmoid, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<2x64x8xf32>, tensor<3x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the chain needs one router per iteration.
func.func @chain_router_iterations(%x: tensor<16x64xf32>, %r: tensor<2x64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'router_weight' dimension 0 is 2, expected 3 (iterations)}}
  %y = moe.chain %x iterations 3 router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<2x64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the chain checks its routing against the router's experts.
func.func @chain_routing_top_k(%x: tensor<16x64xf32>, %r: tensor<2x64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{top_k (9) exceeds the number of experts (8)}}
  %y = moe.chain %x iterations 2 router %r experts up %u down %d routing <scoring = softmax, top_k = 9> activation silu layout in_out : (tensor<16x64xf32>, tensor<2x64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the chain needs one expert weight per routed expert.
func.func @chain_routed_experts(%x: tensor<16x64xf32>, %r: tensor<2x64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'up_weight' dimension 0 is 8, expected 6 (the router's experts minus its null experts)}}
  %y = moe.chain %x iterations 2 router %r experts up %u down %d routing <scoring = softmax, top_k = 2, zero_experts = 1, copy_experts = 1> activation silu layout in_out : (tensor<16x64xf32>, tensor<2x64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the chain checks its expert weights like the layer does.
func.func @chain_down_experts(%x: tensor<16x64xf32>, %r: tensor<2x64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<4x128x64xf32>) {
  // expected-error @+1 {{'down_weight' dimension 0 is 4, expected 8 (the experts of the up weight)}}
  %y = moe.chain %x iterations 2 router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<2x64x8xf32>, tensor<8x64x128xf32>, tensor<4x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the chain rejects shared_up without shared_down.
func.func @chain_shared_up_alone(%x: tensor<16x64xf32>, %r: tensor<2x64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>, %su: tensor<64x256xf32>) {
  // expected-error @+1 {{'shared_up' and 'shared_down' must be given together}}
  %y = moe.chain %x iterations 2 router %r experts up %u down %d shared_up %su routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<2x64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>, tensor<64x256xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the chain checks its shared expert weights like the layer does.
func.func @chain_shared_down_intermediate(%x: tensor<16x64xf32>, %r: tensor<2x64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>, %su: tensor<64x256xf32>, %sd: tensor<128x64xf32>) {
  // expected-error @+1 {{'shared_down_weight' dimension 0 is 128, expected 256 (the intermediate size of the up weight)}}
  %y = moe.chain %x iterations 2 router %r experts up %u down %d shared_up %su shared_down %sd routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<2x64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>, tensor<64x256xf32>, tensor<128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the chain needs constants(...) when its routing has constant experts.
func.func @chain_constants_missing(%x: tensor<16x64xf32>, %r: tensor<2x64x9xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{1 constant experts need `constants(%vectors, %mix)` operands}}
  %y = moe.chain %x iterations 2 router %r experts up %u down %d routing <scoring = softmax, top_k = 2, constant_experts = 1> activation silu layout in_out : (tensor<16x64xf32>, tensor<2x64x9xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the chain rejects a result type other than the tokens'.
func.func @chain_result_type(%x: tensor<16x64xf32>, %r: tensor<2x64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{result type 'tensor<8x64xf32>' differs from 'tokens' type 'tensor<16x64xf32>'}}
  %y = moe.chain %x iterations 2 router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<2x64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<8x64xf32>
  return
}

// -----

// Tests that union_attention rejects tokens that are not [B, S, D].
func.func @union_attention_tokens_rank(%x: tensor<16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<4xf32>, %q: tensor<4x64x16xf32>, %k: tensor<4x64x16xf32>, %v: tensor<4x64x16xf32>, %o: tensor<4x16x64xf32>) {
  // expected-error @+1 {{'moe.union_attention' op 'tokens' must have rank 3 ([B, S, D]), got 2}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 : (tensor<16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x16x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that union_attention rejects a gate that is not [D, N].
func.func @union_attention_gate_rank(%x: tensor<2x16x64xf32>, %g: tensor<256xf32>, %gb: tensor<4xf32>, %q: tensor<4x64x16xf32>, %k: tensor<4x64x16xf32>, %v: tensor<4x64x16xf32>, %o: tensor<4x16x64xf32>) {
  // expected-error @+1 {{'gate' must have rank 2 ([D, N]), got 1}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 : (tensor<2x16x64xf32>, tensor<256xf32>, tensor<4xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x16x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_attention rejects a gate bias that is not [N].
func.func @union_attention_gate_bias_rank(%x: tensor<2x16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<1x4xf32>, %q: tensor<4x64x16xf32>, %k: tensor<4x64x16xf32>, %v: tensor<4x64x16xf32>, %o: tensor<4x16x64xf32>) {
  // expected-error @+1 {{'gate_bias' must have rank 1 ([N]), got 2}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<1x4xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x16x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_attention rejects a query weight that is not [N, D, Dh].
func.func @union_attention_query_rank(%x: tensor<2x16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<4xf32>, %q: tensor<64x64xf32>, %k: tensor<4x64x16xf32>, %v: tensor<4x64x16xf32>, %o: tensor<4x16x64xf32>) {
  // expected-error @+1 {{'query' must have rank 3 ([N, D, Dh]), got 2}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<64x64xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x16x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_attention rejects a key weight that is not [N, D, Dh].
func.func @union_attention_key_rank(%x: tensor<2x16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<4xf32>, %q: tensor<4x64x16xf32>, %k: tensor<64x64xf32>, %v: tensor<4x64x16xf32>, %o: tensor<4x16x64xf32>) {
  // expected-error @+1 {{'key' must have rank 3 ([N, D, Dh]), got 2}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<4x64x16xf32>, tensor<64x64xf32>, tensor<4x64x16xf32>, tensor<4x16x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_attention rejects a value weight that is not [N, D, Dh].
func.func @union_attention_value_rank(%x: tensor<2x16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<4xf32>, %q: tensor<4x64x16xf32>, %k: tensor<4x64x16xf32>, %v: tensor<1x4x64x16xf32>, %o: tensor<4x16x64xf32>) {
  // expected-error @+1 {{'value' must have rank 3 ([N, D, Dh]), got 4}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<1x4x64x16xf32>, tensor<4x16x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_attention rejects an output weight that is not [N, Dh, D].
func.func @union_attention_output_rank(%x: tensor<2x16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<4xf32>, %q: tensor<4x64x16xf32>, %k: tensor<4x64x16xf32>, %v: tensor<4x64x16xf32>, %o: tensor<64x64xf32>) {
  // expected-error @+1 {{'output' must have rank 3 ([N, Dh, D]), got 2}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<64x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_attention rejects a gate of another model size than the tokens.
func.func @union_attention_gate_model(%x: tensor<2x16x64xf32>, %g: tensor<32x4xf32>, %gb: tensor<4xf32>, %q: tensor<4x64x16xf32>, %k: tensor<4x64x16xf32>, %v: tensor<4x64x16xf32>, %o: tensor<4x16x64xf32>) {
  // expected-error @+1 {{'gate' dimension 0 is 32, expected 64 (the model size)}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 : (tensor<2x16x64xf32>, tensor<32x4xf32>, tensor<4xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x16x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_attention rejects a gate bias over other heads than the gate.
func.func @union_attention_gate_bias_heads(%x: tensor<2x16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<8xf32>, %q: tensor<4x64x16xf32>, %k: tensor<4x64x16xf32>, %v: tensor<4x64x16xf32>, %o: tensor<4x16x64xf32>) {
  // expected-error @+1 {{'gate_bias' dimension 0 is 8, expected 4 (the heads of 'gate')}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<8xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x16x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_attention rejects a query weight over other heads than the gate.
func.func @union_attention_query_heads(%x: tensor<2x16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<4xf32>, %q: tensor<8x64x16xf32>, %k: tensor<4x64x16xf32>, %v: tensor<4x64x16xf32>, %o: tensor<4x16x64xf32>) {
  // expected-error @+1 {{'query' dimension 0 is 8, expected 4 (the heads of 'gate')}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<8x64x16xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x16x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_attention rejects a query weight of another model size.
func.func @union_attention_query_model(%x: tensor<2x16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<4xf32>, %q: tensor<4x32x16xf32>, %k: tensor<4x64x16xf32>, %v: tensor<4x64x16xf32>, %o: tensor<4x16x64xf32>) {
  // expected-error @+1 {{'query' dimension 1 is 32, expected 64 (the model size)}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<4x32x16xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x16x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_attention rejects a query weight of another element type than the tokens.
func.func @union_attention_query_element_type(%x: tensor<2x16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<4xf32>, %q: tensor<4x64x16xbf16>, %k: tensor<4x64x16xf32>, %v: tensor<4x64x16xf32>, %o: tensor<4x16x64xf32>) {
  // expected-error @+1 {{'query' element type 'bf16' differs from the element type 'f32' of 'tokens'}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<4x64x16xbf16>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x16x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_attention rejects a key weight over other heads than the gate.
func.func @union_attention_key_heads(%x: tensor<2x16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<4xf32>, %q: tensor<4x64x16xf32>, %k: tensor<2x64x16xf32>, %v: tensor<4x64x16xf32>, %o: tensor<4x16x64xf32>) {
  // expected-error @+1 {{'key' dimension 0 is 2, expected 4 (the heads of 'gate')}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<4x64x16xf32>, tensor<2x64x16xf32>, tensor<4x64x16xf32>, tensor<4x16x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_attention rejects a key weight of another model size.
func.func @union_attention_key_model(%x: tensor<2x16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<4xf32>, %q: tensor<4x64x16xf32>, %k: tensor<4x32x16xf32>, %v: tensor<4x64x16xf32>, %o: tensor<4x16x64xf32>) {
  // expected-error @+1 {{'key' dimension 1 is 32, expected 64 (the model size)}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<4x64x16xf32>, tensor<4x32x16xf32>, tensor<4x64x16xf32>, tensor<4x16x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_attention rejects a key weight of another head size than the query.
func.func @union_attention_key_head_size(%x: tensor<2x16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<4xf32>, %q: tensor<4x64x16xf32>, %k: tensor<4x64x8xf32>, %v: tensor<4x64x16xf32>, %o: tensor<4x16x64xf32>) {
  // expected-error @+1 {{'key' dimension 2 is 8, expected 16 (the head size of 'query')}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<4x64x16xf32>, tensor<4x64x8xf32>, tensor<4x64x16xf32>, tensor<4x16x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_attention rejects a key weight of another element type than the tokens.
func.func @union_attention_key_element_type(%x: tensor<2x16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<4xf32>, %q: tensor<4x64x16xf32>, %k: tensor<4x64x16xf16>, %v: tensor<4x64x16xf32>, %o: tensor<4x16x64xf32>) {
  // expected-error @+1 {{'key' element type 'f16' differs from the element type 'f32' of 'tokens'}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf16>, tensor<4x64x16xf32>, tensor<4x16x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_attention rejects a value weight over other heads than the gate.
func.func @union_attention_value_heads(%x: tensor<2x16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<4xf32>, %q: tensor<4x64x16xf32>, %k: tensor<4x64x16xf32>, %v: tensor<2x64x16xf32>, %o: tensor<4x16x64xf32>) {
  // expected-error @+1 {{'value' dimension 0 is 2, expected 4 (the heads of 'gate')}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<2x64x16xf32>, tensor<4x16x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_attention rejects a value weight of another model size.
func.func @union_attention_value_model(%x: tensor<2x16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<4xf32>, %q: tensor<4x64x16xf32>, %k: tensor<4x64x16xf32>, %v: tensor<4x32x16xf32>, %o: tensor<4x16x64xf32>) {
  // expected-error @+1 {{'value' dimension 1 is 32, expected 64 (the model size)}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x32x16xf32>, tensor<4x16x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_attention rejects a value weight of another head size than the query.
func.func @union_attention_value_head_size(%x: tensor<2x16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<4xf32>, %q: tensor<4x64x16xf32>, %k: tensor<4x64x16xf32>, %v: tensor<4x64x32xf32>, %o: tensor<4x16x64xf32>) {
  // expected-error @+1 {{'value' dimension 2 is 32, expected 16 (the head size of 'query')}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x64x32xf32>, tensor<4x16x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_attention rejects a value weight of another element type than the tokens.
func.func @union_attention_value_element_type(%x: tensor<2x16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<4xf32>, %q: tensor<4x64x16xf32>, %k: tensor<4x64x16xf32>, %v: tensor<4x64x16xbf16>, %o: tensor<4x16x64xf32>) {
  // expected-error @+1 {{'value' element type 'bf16' differs from the element type 'f32' of 'tokens'}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x64x16xbf16>, tensor<4x16x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_attention rejects an output weight over other heads than the gate.
func.func @union_attention_output_heads(%x: tensor<2x16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<4xf32>, %q: tensor<4x64x16xf32>, %k: tensor<4x64x16xf32>, %v: tensor<4x64x16xf32>, %o: tensor<2x16x64xf32>) {
  // expected-error @+1 {{'output' dimension 0 is 2, expected 4 (the heads of 'gate')}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<2x16x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_attention rejects an output weight of another head size than the query.
func.func @union_attention_output_head_size(%x: tensor<2x16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<4xf32>, %q: tensor<4x64x16xf32>, %k: tensor<4x64x16xf32>, %v: tensor<4x64x16xf32>, %o: tensor<4x8x64xf32>) {
  // expected-error @+1 {{'output' dimension 1 is 8, expected 16 (the head size of 'query')}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x8x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_attention rejects an output weight of another model size.
func.func @union_attention_output_model(%x: tensor<2x16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<4xf32>, %q: tensor<4x64x16xf32>, %k: tensor<4x64x16xf32>, %v: tensor<4x64x16xf32>, %o: tensor<4x16x32xf32>) {
  // expected-error @+1 {{'output' dimension 2 is 32, expected 64 (the model size)}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x16x32xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_attention rejects an odd head size (RoPE rotates pairs).
func.func @union_attention_odd_head_size(%x: tensor<2x16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<4xf32>, %q: tensor<4x64x15xf32>, %k: tensor<4x64x15xf32>, %v: tensor<4x64x15xf32>, %o: tensor<4x15x64xf32>) {
  // expected-error @+1 {{head size 15 must be even (RoPE rotates pairs)}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<4x64x15xf32>, tensor<4x64x15xf32>, tensor<4x64x15xf32>, tensor<4x15x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_attention rejects top_k larger than the number of heads.
func.func @union_attention_top_k_heads(%x: tensor<2x16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<4xf32>, %q: tensor<4x64x16xf32>, %k: tensor<4x64x16xf32>, %v: tensor<4x64x16xf32>, %o: tensor<4x16x64xf32>) {
  // expected-error @+1 {{top_k (5) exceeds the number of heads (4)}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 5 capacity 8 : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x16x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_attention rejects a capacity larger than the sequence length.
func.func @union_attention_capacity_sequence(%x: tensor<2x16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<4xf32>, %q: tensor<4x64x16xf32>, %k: tensor<4x64x16xf32>, %v: tensor<4x64x16xf32>, %o: tensor<4x16x64xf32>) {
  // expected-error @+1 {{capacity (17) exceeds the sequence length (16)}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 17 : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x16x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_attention rejects a non-positive rope_theta.
func.func @union_attention_rope_theta(%x: tensor<2x16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<4xf32>, %q: tensor<4x64x16xf32>, %k: tensor<4x64x16xf32>, %v: tensor<4x64x16xf32>, %o: tensor<4x16x64xf32>) {
  // expected-error @+1 {{rope_theta must be positive}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 {rope_theta = 0.0 : f64} : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x16x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_attention rejects a NaN rope_theta.
func.func @union_attention_rope_theta_nan(%x: tensor<2x16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<4xf32>, %q: tensor<4x64x16xf32>, %k: tensor<4x64x16xf32>, %v: tensor<4x64x16xf32>, %o: tensor<4x16x64xf32>) {
  // expected-error @+1 {{rope_theta must be positive}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 {rope_theta = 0x7FF8000000000000 : f64} : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x16x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_attention rejects a result type other than the tokens'.
func.func @union_attention_result_type(%x: tensor<2x16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<4xf32>, %q: tensor<4x64x16xf32>, %k: tensor<4x64x16xf32>, %v: tensor<4x64x16xf32>, %o: tensor<4x16x64xf32>) {
  // expected-error @+1 {{result type 'tensor<2x16x64xbf16>' differs from 'tokens' type 'tensor<2x16x64xf32>'}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x16x64xf32>) -> tensor<2x16x64xbf16>
  return
}

// -----

// Tests that union_attention rejects a non-positive top_k (ODS IntPositive).
func.func @union_attention_zero_top_k(%x: tensor<2x16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<4xf32>, %q: tensor<4x64x16xf32>, %k: tensor<4x64x16xf32>, %v: tensor<4x64x16xf32>, %o: tensor<4x16x64xf32>) {
  // expected-error @+1 {{attribute 'top_k' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 0 capacity 8 : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x16x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_ffn rejects tokens that are not [B, S, D].
func.func @union_ffn_tokens_rank(%x: tensor<32x64xf32>, %r: tensor<64x4xf32>, %rb: tensor<4xf32>, %u: tensor<64x256xf32>, %d: tensor<256x64xf32>) {
  // expected-error @+1 {{'moe.union_ffn' op 'tokens' must have rank 3 ([B, S, D]), got 2}}
  %y = moe.union_ffn %x router %r, %rb ffn up %u down %d experts 4 activation gelu : (tensor<32x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<64x256xf32>, tensor<256x64xf32>) -> tensor<32x64xf32>
  return
}

// -----

// Tests that union_ffn rejects a router that is not [D, N].
func.func @union_ffn_router_rank(%x: tensor<2x16x64xf32>, %r: tensor<1x64x4xf32>, %rb: tensor<4xf32>, %u: tensor<64x256xf32>, %d: tensor<256x64xf32>) {
  // expected-error @+1 {{'router' must have rank 2 ([D, N]), got 3}}
  %y = moe.union_ffn %x router %r, %rb ffn up %u down %d experts 4 activation gelu : (tensor<2x16x64xf32>, tensor<1x64x4xf32>, tensor<4xf32>, tensor<64x256xf32>, tensor<256x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_ffn rejects a router bias that is not [N].
func.func @union_ffn_router_bias_rank(%x: tensor<2x16x64xf32>, %r: tensor<64x4xf32>, %rb: tensor<4x1xf32>, %u: tensor<64x256xf32>, %d: tensor<256x64xf32>) {
  // expected-error @+1 {{'router_bias' must have rank 1 ([N]), got 2}}
  %y = moe.union_ffn %x router %r, %rb ffn up %u down %d experts 4 activation gelu : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4x1xf32>, tensor<64x256xf32>, tensor<256x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_ffn rejects a router of another model size than the tokens.
func.func @union_ffn_router_model(%x: tensor<2x16x64xf32>, %r: tensor<32x4xf32>, %rb: tensor<4xf32>, %u: tensor<64x256xf32>, %d: tensor<256x64xf32>) {
  // expected-error @+1 {{'router' dimension 0 is 32, expected 64 (the model size)}}
  %y = moe.union_ffn %x router %r, %rb ffn up %u down %d experts 4 activation gelu : (tensor<2x16x64xf32>, tensor<32x4xf32>, tensor<4xf32>, tensor<64x256xf32>, tensor<256x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_ffn rejects a router over another number of experts than num_experts.
func.func @union_ffn_router_experts(%x: tensor<2x16x64xf32>, %r: tensor<64x8xf32>, %rb: tensor<4xf32>, %u: tensor<64x256xf32>, %d: tensor<256x64xf32>) {
  // expected-error @+1 {{'router' dimension 1 is 8, expected 4 (num_experts)}}
  %y = moe.union_ffn %x router %r, %rb ffn up %u down %d experts 4 activation gelu : (tensor<2x16x64xf32>, tensor<64x8xf32>, tensor<4xf32>, tensor<64x256xf32>, tensor<256x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_ffn rejects a router bias over another number of experts than num_experts.
func.func @union_ffn_router_bias_experts(%x: tensor<2x16x64xf32>, %r: tensor<64x4xf32>, %rb: tensor<8xf32>, %u: tensor<64x256xf32>, %d: tensor<256x64xf32>) {
  // expected-error @+1 {{'router_bias' dimension 0 is 8, expected 4 (num_experts)}}
  %y = moe.union_ffn %x router %r, %rb ffn up %u down %d experts 4 activation gelu : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<8xf32>, tensor<64x256xf32>, tensor<256x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_ffn rejects an up weight that is not [H, F].
func.func @union_ffn_up_rank(%x: tensor<2x16x64xf32>, %r: tensor<64x4xf32>, %rb: tensor<4xf32>, %u: tensor<1x64x256xf32>, %d: tensor<256x64xf32>) {
  // expected-error @+1 {{'up_weight' must have rank 2 ([H, F]), got 3}}
  %y = moe.union_ffn %x router %r, %rb ffn up %u down %d experts 4 activation gelu : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<1x64x256xf32>, tensor<256x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_ffn rejects a down weight that is not [F, H].
func.func @union_ffn_down_rank(%x: tensor<2x16x64xf32>, %r: tensor<64x4xf32>, %rb: tensor<4xf32>, %u: tensor<64x256xf32>, %d: tensor<16384xf32>) {
  // expected-error @+1 {{'down_weight' must have rank 2 ([F, H]), got 1}}
  %y = moe.union_ffn %x router %r, %rb ffn up %u down %d experts 4 activation gelu : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<64x256xf32>, tensor<16384xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_ffn rejects an up weight of another model size than the tokens.
func.func @union_ffn_up_model(%x: tensor<2x16x64xf32>, %r: tensor<64x4xf32>, %rb: tensor<4xf32>, %u: tensor<32x256xf32>, %d: tensor<256x64xf32>) {
  // expected-error @+1 {{'up_weight' dimension 0 is 32, expected 64 (the hidden size)}}
  %y = moe.union_ffn %x router %r, %rb ffn up %u down %d experts 4 activation gelu : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<32x256xf32>, tensor<256x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_ffn rejects an up weight of another element type than the tokens.
func.func @union_ffn_up_element_type(%x: tensor<2x16x64xf32>, %r: tensor<64x4xf32>, %rb: tensor<4xf32>, %u: tensor<64x256xbf16>, %d: tensor<256x64xf32>) {
  // expected-error @+1 {{'up_weight' element type 'bf16' differs from the element type 'f32' of 'tokens'}}
  %y = moe.union_ffn %x router %r, %rb ffn up %u down %d experts 4 activation gelu : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<64x256xbf16>, tensor<256x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_ffn rejects a down weight of another element type than the tokens.
func.func @union_ffn_down_element_type(%x: tensor<2x16x64xf32>, %r: tensor<64x4xf32>, %rb: tensor<4xf32>, %u: tensor<64x256xf32>, %d: tensor<256x64xf16>) {
  // expected-error @+1 {{'down_weight' element type 'f16' differs from the element type 'f32' of 'tokens'}}
  %y = moe.union_ffn %x router %r, %rb ffn up %u down %d experts 4 activation gelu : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<64x256xf32>, tensor<256x64xf16>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_ffn rejects a down weight of another model size.
func.func @union_ffn_down_model(%x: tensor<2x16x64xf32>, %r: tensor<64x4xf32>, %rb: tensor<4xf32>, %u: tensor<64x256xf32>, %d: tensor<256x32xf32>) {
  // expected-error @+1 {{'down_weight' dimension 1 is 32, expected 64 (the hidden size)}}
  %y = moe.union_ffn %x router %r, %rb ffn up %u down %d experts 4 activation gelu : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<64x256xf32>, tensor<256x32xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_ffn rejects a down weight of another intermediate size than the up weight.
func.func @union_ffn_down_intermediate(%x: tensor<2x16x64xf32>, %r: tensor<64x4xf32>, %rb: tensor<4xf32>, %u: tensor<64x256xf32>, %d: tensor<128x64xf32>) {
  // expected-error @+1 {{'down_weight' dimension 0 is 128, expected 256 (the intermediate size of the up weight)}}
  %y = moe.union_ffn %x router %r, %rb ffn up %u down %d experts 4 activation gelu : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<64x256xf32>, tensor<128x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_ffn rejects a gate weight whose type differs from the up weight's.
func.func @union_ffn_gate_type(%x: tensor<2x16x64xf32>, %r: tensor<64x4xf32>, %rb: tensor<4xf32>, %g: tensor<64x128xf32>, %u: tensor<64x256xf32>, %d: tensor<256x64xf32>) {
  // expected-error @+1 {{'gate_weight' type 'tensor<64x128xf32>' differs from 'up_weight' type 'tensor<64x256xf32>'}}
  %y = moe.union_ffn %x router %r, %rb ffn gate %g up %u down %d experts 4 activation gelu : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<64x128xf32>, tensor<64x256xf32>, tensor<256x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_ffn rejects num_experts that does not divide the intermediate size.
func.func @union_ffn_experts_divide(%x: tensor<2x16x64xf32>, %r: tensor<64x3xf32>, %rb: tensor<3xf32>, %u: tensor<64x256xf32>, %d: tensor<256x64xf32>) {
  // expected-error @+1 {{num_experts (3) does not divide the FFN intermediate size (256)}}
  %y = moe.union_ffn %x router %r, %rb ffn up %u down %d experts 3 activation gelu : (tensor<2x16x64xf32>, tensor<64x3xf32>, tensor<3xf32>, tensor<64x256xf32>, tensor<256x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_ffn rejects a capacity larger than the sequence length.
func.func @union_ffn_capacity_sequence(%x: tensor<2x16x64xf32>, %r: tensor<64x4xf32>, %rb: tensor<4xf32>, %u: tensor<64x256xf32>, %d: tensor<256x64xf32>) {
  // expected-error @+1 {{capacity (20) exceeds the sequence length (16)}}
  %y = moe.union_ffn %x router %r, %rb ffn up %u down %d experts 4 capacity 20 activation gelu : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<64x256xf32>, tensor<256x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_ffn rejects a result type other than the tokens'.
func.func @union_ffn_result_type(%x: tensor<2x16x64xf32>, %r: tensor<64x4xf32>, %rb: tensor<4xf32>, %u: tensor<64x256xf32>, %d: tensor<256x64xf32>) {
  // expected-error @+1 {{result type 'tensor<2x8x64xf32>' differs from 'tokens' type 'tensor<2x16x64xf32>'}}
  %y = moe.union_ffn %x router %r, %rb ffn up %u down %d experts 4 activation gelu : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<64x256xf32>, tensor<256x64xf32>) -> tensor<2x8x64xf32>
  return
}

// -----

// Tests that union_ffn rejects a non-positive num_experts (ODS IntPositive).
func.func @union_ffn_zero_experts(%x: tensor<2x16x64xf32>, %r: tensor<64x4xf32>, %rb: tensor<4xf32>, %u: tensor<64x256xf32>, %d: tensor<256x64xf32>) {
  // expected-error @+1 {{attribute 'num_experts' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %y = moe.union_ffn %x router %r, %rb ffn up %u down %d experts 0 activation gelu : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<64x256xf32>, tensor<256x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that composition rejects a selector that is not [R, M].
func.func private @chat(tensor<16x64xf32>) -> tensor<16x64xf32>
func.func @composition_selector_rank(%s: tensor<8xf32>, %x: tensor<4x16x64xf32>) {
  // expected-error @+1 {{'moe.composition' op 'selector' must have rank 2 ([R, M]), got 1}}
  %y = moe.composition %s, %x models [@chat] : tensor<8xf32>, tensor<4x16x64xf32> -> tensor<4x16x64xf32>
  return
}

// -----

// Tests that composition needs at least one model.
func.func @composition_no_models(%s: tensor<4x0xf32>, %x: tensor<4x16x64xf32>) {
  // expected-error @+1 {{needs at least one model}}
  %y = moe.composition %s, %x models [] : tensor<4x0xf32>, tensor<4x16x64xf32> -> tensor<4x16x64xf32>
  return
}

// -----

// Tests that composition needs a leading request dimension on its inputs.
func.func private @scalar(tensor<f32>) -> tensor<f32>
func.func @composition_inputs_scalar(%s: tensor<1x1xf32>, %x: tensor<f32>) {
  // expected-error @+1 {{'inputs' and the result need a leading request dimension}}
  %y = moe.composition %s, %x models [@scalar] : tensor<1x1xf32>, tensor<f32> -> tensor<1xf32>
  return
}

// -----

// Tests that composition needs a leading request dimension on its result.
func.func private @scalar(tensor<f32>) -> tensor<f32>
func.func @composition_result_scalar(%s: tensor<1x1xf32>, %x: tensor<1xf32>) {
  // expected-error @+1 {{'inputs' and the result need a leading request dimension}}
  %y = moe.composition %s, %x models [@scalar] : tensor<1x1xf32>, tensor<1xf32> -> tensor<f32>
  return
}

// -----

// Tests that composition needs one selector column per model.
func.func private @chat(tensor<16x64xf32>) -> tensor<16x64xf32>
func.func private @coder(tensor<16x64xf32>) -> tensor<16x64xf32>
func.func @composition_selector_models(%s: tensor<4x3xf32>, %x: tensor<4x16x64xf32>) {
  // expected-error @+1 {{'selector' dimension 1 is 3, expected 2 (the number of models)}}
  %y = moe.composition %s, %x models [@chat, @coder] : tensor<4x3xf32>, tensor<4x16x64xf32> -> tensor<4x16x64xf32>
  return
}

// -----

// Tests that composition needs one input per request of the selector.
func.func private @chat(tensor<16x64xf32>) -> tensor<16x64xf32>
func.func @composition_inputs_requests(%s: tensor<4x1xf32>, %x: tensor<2x16x64xf32>) {
  // expected-error @+1 {{'inputs' dimension 0 is 2, expected 4 (the requests of 'selector')}}
  %y = moe.composition %s, %x models [@chat] : tensor<4x1xf32>, tensor<2x16x64xf32> -> tensor<4x16x64xf32>
  return
}

// -----

// Tests that composition needs one result per request of the selector.
func.func private @chat(tensor<16x64xf32>) -> tensor<16x64xf32>
func.func @composition_result_requests(%s: tensor<4x1xf32>, %x: tensor<4x16x64xf32>) {
  // expected-error @+1 {{'result' dimension 0 is 8, expected 4 (the requests of 'selector')}}
  %y = moe.composition %s, %x models [@chat] : tensor<4x1xf32>, tensor<4x16x64xf32> -> tensor<8x16x64xf32>
  return
}

// -----

// Tests that composition rejects a model symbol that is not defined.
func.func private @chat(tensor<16x64xf32>) -> tensor<16x64xf32>
func.func @composition_unknown_model(%s: tensor<4x2xf32>, %x: tensor<4x16x64xf32>) {
  // expected-error @+1 {{model @coder does not name a func.func in scope}}
  %y = moe.composition %s, %x models [@chat, @coder] : tensor<4x2xf32>, tensor<4x16x64xf32> -> tensor<4x16x64xf32>
  return
}

// -----

// Tests that composition rejects a model symbol that names something other than a func.func.
memref.global "private" constant @table : memref<2xf32> = dense<[1.0, 2.0]>
func.func @composition_model_not_func(%s: tensor<4x1xf32>, %x: tensor<4x16x64xf32>) {
  // expected-error @+1 {{model @table does not name a func.func in scope}}
  %y = moe.composition %s, %x models [@table] : tensor<4x1xf32>, tensor<4x16x64xf32> -> tensor<4x16x64xf32>
  return
}

// -----

// Tests that composition rejects a model whose input is not one request's slice of the inputs.
func.func private @chat(tensor<16x64xf32>) -> tensor<16x64xf32>
func.func private @coder(tensor<16x32xf32>) -> tensor<16x64xf32>
func.func @composition_model_input_type(%s: tensor<4x2xf32>, %x: tensor<4x16x64xf32>) {
  // expected-error @+1 {{model @coder has type '(tensor<16x32xf32>) -> tensor<16x64xf32>', expected '(tensor<16x64xf32>) -> tensor<16x64xf32>' (one request's slice, then the model's weights)}}
  %y = moe.composition %s, %x models [@chat, @coder] : tensor<4x2xf32>, tensor<4x16x64xf32> -> tensor<4x16x64xf32>
  return
}

// -----

// Tests that composition rejects a model whose result is not one request's slice of the result.
func.func private @chat(tensor<16x64xf32>) -> tensor<16x64xbf16>
func.func @composition_model_result_type(%s: tensor<4x1xf32>, %x: tensor<4x16x64xf32>) {
  // expected-error @+1 {{model @chat has type '(tensor<16x64xf32>) -> tensor<16x64xbf16>'}}
  %y = moe.composition %s, %x models [@chat] : tensor<4x1xf32>, tensor<4x16x64xf32> -> tensor<4x16x64xf32>
  return
}

// -----

// Tests that composition rejects a model that takes a weight the composition does not pass.
func.func private @chat(tensor<16x64xf32>, tensor<16x64xf32>) -> tensor<16x64xf32>
func.func @composition_model_arity(%s: tensor<4x1xf32>, %x: tensor<4x16x64xf32>) {
  // expected-error @+1 {{'moe.composition' op model @chat takes 2 arguments (the request and 1 weight) but the weights operands left for it are 0}}
  %y = moe.composition %s, %x models [@chat] : tensor<4x1xf32>, tensor<4x16x64xf32> -> tensor<4x16x64xf32>
  return
}

// -----

// Tests that composition rejects a model that takes no argument (not even the request).
func.func private @constant() -> tensor<16x64xf32>
func.func @composition_model_no_arguments(%s: tensor<4x1xf32>, %x: tensor<4x16x64xf32>) {
  // expected-error @+1 {{model @constant has type '() -> tensor<16x64xf32>', expected '(tensor<16x64xf32>) -> tensor<16x64xf32>' (one request's slice, then the model's weights)}}
  %y = moe.composition %s, %x models [@constant] : tensor<4x1xf32>, tensor<4x16x64xf32> -> tensor<4x16x64xf32>
  return
}

// -----

// Tests that composition rejects a model whose first argument is not the request even when it takes weights.
func.func private @coder(tensor<64x64xf32>, tensor<16x64xf32>) -> tensor<16x64xf32>
func.func @composition_model_weights_first(%s: tensor<4x1xf32>, %x: tensor<4x16x64xf32>, %w: tensor<16x64xf32>) {
  // expected-error @+1 {{model @coder has type '(tensor<64x64xf32>, tensor<16x64xf32>) -> tensor<16x64xf32>', expected '(tensor<16x64xf32>, tensor<16x64xf32>) -> tensor<16x64xf32>' (one request's slice, then the model's weights)}}
  %y = moe.composition %s, %x models [@coder] weights(%w : tensor<16x64xf32>) : tensor<4x1xf32>, tensor<4x16x64xf32> -> tensor<4x16x64xf32>
  return
}

// -----

// Tests that composition rejects weights operands too few for a model (the earlier models take theirs first).
func.func private @chat(tensor<16x64xf32>, tensor<8x64xf32>) -> tensor<16x64xf32>
func.func private @coder(tensor<16x64xf32>, tensor<8x64xf32>, tensor<8x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<16x64xf32>
func.func @composition_weights_too_few(%s: tensor<4x2xf32>, %x: tensor<4x16x64xf32>, %w: tensor<8x64xf32>) {
  // expected-error @+1 {{'moe.composition' op model @coder takes 5 arguments (the request and 4 weights) but the weights operands left for it are 2}}
  %y = moe.composition %s, %x models [@chat, @coder] weights(%w, %w, %w : tensor<8x64xf32>, tensor<8x64xf32>, tensor<8x64xf32>) : tensor<4x2xf32>, tensor<4x16x64xf32> -> tensor<4x16x64xf32>
  return
}

// -----

// Tests that composition rejects a weight whose type is not the model's argument's.
func.func private @chat(tensor<16x64xf32>, tensor<8x64xf32>) -> tensor<16x64xf32>
func.func private @coder(tensor<16x64xf32>, tensor<8x64xf32>, tensor<8x64xf32>, tensor<8x64xf32>, tensor<64x64xf32>) -> tensor<16x64xf32>
func.func @composition_weight_type(%s: tensor<4x2xf32>, %x: tensor<4x16x64xf32>, %w: tensor<8x64xf32>, %v: tensor<64x64xbf16>) {
  // expected-error @+1 {{'moe.composition' op weight 3 of model @coder (weights operand 4) has type 'tensor<64x64xbf16>' but @coder's argument 4 is 'tensor<64x64xf32>'}}
  %y = moe.composition %s, %x models [@chat, @coder] weights(%w, %w, %w, %w, %v : tensor<8x64xf32>, tensor<8x64xf32>, tensor<8x64xf32>, tensor<8x64xf32>, tensor<64x64xbf16>) : tensor<4x2xf32>, tensor<4x16x64xf32> -> tensor<4x16x64xf32>
  return
}

// -----

// Tests that composition rejects weights operands that no model takes.
func.func private @chat(tensor<16x64xf32>, tensor<8x64xf32>) -> tensor<16x64xf32>
func.func private @math(tensor<16x64xf32>) -> tensor<16x64xf32>
func.func @composition_weights_too_many(%s: tensor<4x2xf32>, %x: tensor<4x16x64xf32>, %w: tensor<8x64xf32>) {
  // expected-error @+1 {{'moe.composition' op the models take 1 weight in all but the op has 2 weights operands}}
  %y = moe.composition %s, %x models [@chat, @math] weights(%w, %w : tensor<8x64xf32>, tensor<8x64xf32>) : tensor<4x2xf32>, tensor<4x16x64xf32> -> tensor<4x16x64xf32>
  return
}

// -----

// Tests that composition rejects weights when no model takes any.
func.func private @math(tensor<16x64xf32>) -> tensor<16x64xf32>
func.func @composition_weights_unused(%s: tensor<4x1xf32>, %x: tensor<4x16x64xf32>, %w: tensor<8x64xf32>) {
  // expected-error @+1 {{'moe.composition' op the models take 0 weights in all but the op has 1 weights operand}}
  %y = moe.composition %s, %x models [@math] weights(%w : tensor<8x64xf32>) : tensor<4x1xf32>, tensor<4x16x64xf32> -> tensor<4x16x64xf32>
  return
}

// -----

// Tests that composition weights must be ranked tensors.
func.func private @math(tensor<16x64xf32>, tensor<*xf32>) -> tensor<16x64xf32>
func.func @composition_weights_unranked(%s: tensor<4x1xf32>, %x: tensor<4x16x64xf32>, %w: tensor<*xf32>) {
  // expected-error @+1 {{'moe.composition' op operand #2 must be variadic of ranked tensor of any type values, but got 'tensor<*xf32>'}}
  %y = moe.composition %s, %x models [@math] weights(%w : tensor<*xf32>) : tensor<4x1xf32>, tensor<4x16x64xf32> -> tensor<4x16x64xf32>
  return
}

// -----

// Tests that a negative iteration count is reported as such (read signed).
func.func @chain_negative_iterations(%x: tensor<16x64xf32>, %r: tensor<2x64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'moe.chain' op iterations must be at least 1, got -5}}
  %y = moe.chain %x iterations -5 router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<2x64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the chain needs a static number of routers.
func.func @chain_dynamic_routers(%x: tensor<16x64xf32>, %r: tensor<?x64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>) {
  // expected-error @+1 {{'router_weight' dimension 0 must be static (one router per iteration)}}
  %y = moe.chain %x iterations 3 router %r experts up %u down %d routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<?x64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that null_experts rejects counts whose sum overflows.
func.func @null_count_overflow(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>, %w: tensor<16x2xf32>) {
  // expected-error @+1 {{the null expert counts overflow int64}}
  %n = moe.null_experts %x, %i, %w first 8 zero 9223372036854775807 copy 9223372036854775807 constant 2 : tensor<16x64xf32>, tensor<16x2xi32>, tensor<16x2xf32> -> tensor<16x64xf32>
  return
}

// -----

// Tests that dispatch rejects a number of experts whose offsets cannot exist.
func.func @dispatch_experts_too_large(%x: tensor<16x64xf32>, %i: tensor<16x2xi32>) {
  // expected-error @+1 {{num_experts (9223372036854775807) is too large}}
  %rows, %offsets, %sources = moe.dispatch %x, %i experts 9223372036854775807 : tensor<16x64xf32>, tensor<16x2xi32> -> tensor<32x64xf32>, tensor<9xi32>, tensor<32xi32>
  return
}

// -----

// Tests that shared_experts rejects a sigmoid gate of another element type.
func.func @shared_sigmoid_gate_type(%x: tensor<16x64xf32>, %u: tensor<64x256xf32>, %d: tensor<256x64xf32>, %sg: tensor<64xbf16>) {
  // expected-error @+1 {{'sigmoid_gate' element type 'bf16' differs from the element type 'f32' of 'tokens'}}
  %s = moe.shared_experts %x up %u down %d sigmoid_gate %sg activation gelu layout in_out : (tensor<16x64xf32>, tensor<64x256xf32>, tensor<256x64xf32>, tensor<64xbf16>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that the layer rejects a shared sigmoid gate of another element type.
func.func @layer_shared_sigmoid_gate_type(%x: tensor<16x64xf32>, %r: tensor<64x8xf32>, %u: tensor<8x64x128xf32>, %d: tensor<8x128x64xf32>, %su: tensor<64x256xf32>, %sd: tensor<256x64xf32>, %ssg: tensor<64xf16>) {
  // expected-error @+1 {{'shared_sigmoid_gate' element type 'f16' differs from the element type 'f32' of 'tokens'}}
  %y = moe.layer %x router %r experts up %u down %d shared_up %su shared_down %sd shared_sigmoid_gate %ssg routing <scoring = softmax, top_k = 2> activation silu layout in_out : (tensor<16x64xf32>, tensor<64x8xf32>, tensor<8x64x128xf32>, tensor<8x128x64xf32>, tensor<64x256xf32>, tensor<256x64xf32>, tensor<64xf16>) -> tensor<16x64xf32>
  return
}

// -----

// Tests that union_attention rejects a gate of another element type.
func.func @union_attention_gate_type(%x: tensor<2x16x64xf32>, %g: tensor<64x4xbf16>, %gb: tensor<4xf32>, %q: tensor<4x64x16xf32>, %k: tensor<4x64x16xf32>, %v: tensor<4x64x16xf32>, %o: tensor<4x16x64xf32>) {
  // expected-error @+1 {{'gate' element type 'bf16' differs from the element type 'f32' of 'tokens'}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 : (tensor<2x16x64xf32>, tensor<64x4xbf16>, tensor<4xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x16x64xf32>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_attention rejects an output projection of another element type.
func.func @union_attention_output_type(%x: tensor<2x16x64xf32>, %g: tensor<64x4xf32>, %gb: tensor<4xf32>, %q: tensor<4x64x16xf32>, %k: tensor<4x64x16xf32>, %v: tensor<4x64x16xf32>, %o: tensor<4x16x64xbf16>) {
  // expected-error @+1 {{'output' element type 'bf16' differs from the element type 'f32' of 'tokens'}}
  %y = moe.union_attention %x gate %g, %gb qkv %q, %k, %v output %o top_k 2 capacity 8 : (tensor<2x16x64xf32>, tensor<64x4xf32>, tensor<4xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x64x16xf32>, tensor<4x16x64xbf16>) -> tensor<2x16x64xf32>
  return
}

// -----

// Tests that union_ffn rejects a router of another element type.
func.func @union_ffn_router_type(%x: tensor<2x16x64xf32>, %r: tensor<64x4xf16>, %rb: tensor<4xf32>, %u: tensor<64x256xf32>, %d: tensor<256x64xf32>) {
  // expected-error @+1 {{'router' element type 'f16' differs from the element type 'f32' of 'tokens'}}
  %y = moe.union_ffn %x router %r, %rb ffn up %u down %d experts 4 activation gelu : (tensor<2x16x64xf32>, tensor<64x4xf16>, tensor<4xf32>, tensor<64x256xf32>, tensor<256x64xf32>) -> tensor<2x16x64xf32>
  return
}
