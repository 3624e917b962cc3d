// RUN: moe-opt %s --moe-plan-tiers="hbm-bytes=7000" | FileCheck %s --check-prefixes=CHECK,TIER
// RUN: moe-opt %s --moe-plan-tiers="hbm-bytes=7000 lookahead=2" | FileCheck %s --check-prefix=LA2
// RUN: moe-opt %s --moe-plan-tiers="hbm-bytes=1000000" | FileCheck %s --check-prefixes=FITS,TIER
// RUN: moe-opt %s --moe-plan-tiers="hbm-bytes=7000 explain=true" -mlir-print-op-on-diagnostic=false -o /dev/null 2>&1 | FileCheck %s --check-prefix=EXPLAIN
// RUN: moe-opt %s --moe-plan-tiers="hbm-bytes=1000000 explain=true" -mlir-print-op-on-diagnostic=false -o /dev/null 2>&1 | FileCheck %s --check-prefix=EXPLAIN-FITS
// RUN: moe-opt %s --moe-plan-tiers="hbm-bytes=7000" | moe-opt --moe-plan-tiers="hbm-bytes=7000 explain=true" -mlir-print-op-on-diagnostic=false 2>&1 | FileCheck %s --check-prefix=TWICE

// Weights are f32: a router [2, 8] is 64 bytes, an expert tensor [2, 16, 8]
// 1024, so a layer is 2112. Groups are numbered per function, in program
// order. Budget 7000 with lookahead 1: the staging is two groups, so one
// layer of four stays resident.

// Tests that the explanation gives the budget, the resident and streamed
// groups with their bytes (pinned weights counted as resident) and the
// staging bytes, or says that everything fits.
// EXPLAIN: remark: moe-plan-tiers: '@four_layers' with hbm-bytes 7000 and lookahead 1: resident groups 0 (2112 bytes, 0 of them pinned); streamed groups 1, 2, 3 (6336 bytes); staging 4224 bytes
// EXPLAIN: remark: moe-plan-tiers: '@weights_tier' with hbm-bytes 7000 and lookahead 1: resident groups 0 (4224 bytes, 2112 of them pinned); streamed groups 1 (2112 bytes); staging 2112 bytes
// EXPLAIN: remark: moe-plan-tiers: '@shared_router' with hbm-bytes 7000 and lookahead 1: resident groups 0 (2112 bytes, 64 of them pinned); streamed groups 1, 2, 3 (6144 bytes); staging 4096 bytes
// EXPLAIN: remark: moe-plan-tiers: '@decomposed' with hbm-bytes 7000 and lookahead 1: resident groups none (1024 bytes, 1024 of them pinned); streamed groups 0, 1, 2, 3 (7168 bytes); staging 4096 bytes
// EXPLAIN: remark: moe-plan-tiers: '@router_shared' with hbm-bytes 7000 and lookahead 1: resident groups 0, 1 (2112 bytes, 0 of them pinned); streamed groups 2, 3, 4 (6240 bytes); staging 4160 bytes
// EXPLAIN-NOT: remark
// EXPLAIN-FITS: remark: moe-plan-tiers: all 8448 bytes of weights of '@four_layers' fit in hbm-bytes 1000000; nothing streamed
// EXPLAIN-FITS: remark: moe-plan-tiers: '@weights_tier' with hbm-bytes 1000000 and lookahead 1: resident groups 0 (4224 bytes, 2112 of them pinned); streamed groups 1 (2112 bytes); staging 2112 bytes

// Tests that a second run leaves a planned function alone (no second copy)
// and that the planned IR parses again.
// TWICE: remark: moe-plan-tiers: '@four_layers' already has 'moe.tier' argument attributes; left unchanged
// TWICE-LABEL: func.func @four_layers(
// TWICE-COUNT-9: moeflow.prefetch
// TWICE-NOT: moeflow.prefetch
// TWICE: return

// Tests that four layers of 2112 bytes each (router 64, up 1024, down 1024)
// are streamed behind the first ones.
// CHECK-LABEL: func.func @four_layers(
// CHECK-SAME: %arg0: tensor<4x8xf32>, %arg1: tensor<2x8xf32>, %arg2: tensor<2x16x8xf32>, %arg3: tensor<2x8x16xf32>,
// CHECK-SAME: %arg4: tensor<2x8xf32> {moe.tier = #moe.tier<host>}, %arg5: tensor<2x16x8xf32> {moe.tier = #moe.tier<host>}, %arg6: tensor<2x8x16xf32> {moe.tier = #moe.tier<host>},
// CHECK-SAME: %arg7: tensor<2x8xf32> {moe.tier = #moe.tier<host>}, %arg8: tensor<2x16x8xf32> {moe.tier = #moe.tier<host>}, %arg9: tensor<2x8x16xf32> {moe.tier = #moe.tier<host>},
// CHECK-SAME: %arg10: tensor<2x8xf32> {moe.tier = #moe.tier<host>}, %arg11: tensor<2x16x8xf32> {moe.tier = #moe.tier<host>}, %arg12: tensor<2x8x16xf32> {moe.tier = #moe.tier<host>})
// CHECK-NEXT: %[[H:.*]] = arith.addf
// CHECK-NEXT: %[[R1:.*]] = moeflow.prefetch %arg4 from <host> to <hbm> : tensor<2x8xf32>
// CHECK-NEXT: %[[U1:.*]] = moeflow.prefetch %arg5 from <host> to <hbm> : tensor<2x16x8xf32>
// CHECK-NEXT: %[[D1:.*]] = moeflow.prefetch %arg6 from <host> to <hbm> : tensor<2x8x16xf32>
// CHECK-NEXT: %[[Y0:.*]] = moe.layer %[[H]] router %arg1 experts up %arg2 down %arg3
// CHECK-NEXT: %[[R2:.*]] = moeflow.prefetch %arg7
// CHECK-NEXT: %[[U2:.*]] = moeflow.prefetch %arg8
// CHECK-NEXT: %[[D2:.*]] = moeflow.prefetch %arg9
// CHECK-NEXT: %[[Y1:.*]] = moe.layer %[[Y0]] router %[[R1]] experts up %[[U1]] down %[[D1]]
// CHECK-NEXT: %[[R3:.*]] = moeflow.prefetch %arg10
// CHECK-NEXT: %[[U3:.*]] = moeflow.prefetch %arg11
// CHECK-NEXT: %[[D3:.*]] = moeflow.prefetch %arg12
// CHECK-NEXT: %[[Y2:.*]] = moe.layer %[[Y1]] router %[[R2]] experts up %[[U2]] down %[[D2]]
// CHECK-NEXT: %[[Y3:.*]] = moe.layer %[[Y2]] router %[[R3]] experts up %[[U3]] down %[[D3]]
// CHECK-NEXT: return %[[Y3]]

// With lookahead 2 the copies go two layers ahead: the staging grows to
// three layers (6336 bytes), so no layer fits beside it and all four
// stream; layers 0 and 1 are copied before the whole body.
// LA2-LABEL: func.func @four_layers(
// LA2-SAME: %arg1: tensor<2x8xf32> {moe.tier = #moe.tier<host>}
// LA2-NEXT: %[[R0:.*]] = moeflow.prefetch %arg1
// LA2-NEXT: %[[U0:.*]] = moeflow.prefetch %arg2
// LA2-NEXT: %[[D0:.*]] = moeflow.prefetch %arg3
// LA2-NEXT: %[[R1:.*]] = moeflow.prefetch %arg4
// LA2-NEXT: %[[U1:.*]] = moeflow.prefetch %arg5
// LA2-NEXT: %[[D1:.*]] = moeflow.prefetch %arg6
// LA2-NEXT: %[[H:.*]] = arith.addf
// LA2-NEXT: %[[R2:.*]] = moeflow.prefetch %arg7
// LA2-NEXT: %[[U2:.*]] = moeflow.prefetch %arg8
// LA2-NEXT: %[[D2:.*]] = moeflow.prefetch %arg9
// LA2-NEXT: %[[Y0:.*]] = moe.layer %[[H]] router %[[R0]] experts up %[[U0]] down %[[D0]]
// LA2-NEXT: %[[R3:.*]] = moeflow.prefetch %arg10
// LA2-NEXT: %[[U3:.*]] = moeflow.prefetch %arg11
// LA2-NEXT: %[[D3:.*]] = moeflow.prefetch %arg12
// LA2-NEXT: %[[Y1:.*]] = moe.layer %[[Y0]] router %[[R1]] experts up %[[U1]] down %[[D1]]
// LA2-NEXT: %[[Y2:.*]] = moe.layer %[[Y1]] router %[[R2]] experts up %[[U2]] down %[[D2]]
// LA2-NEXT: %[[Y3:.*]] = moe.layer %[[Y2]] router %[[R3]] experts up %[[U3]] down %[[D3]]

// FITS-LABEL: func.func @four_layers(
// FITS-NOT: moe.tier
// FITS-NOT: moeflow.prefetch
// FITS: return
func.func @four_layers(%x: tensor<4x8xf32>,
    %r0: tensor<2x8xf32>, %u0: tensor<2x16x8xf32>, %d0: tensor<2x8x16xf32>,
    %r1: tensor<2x8xf32>, %u1: tensor<2x16x8xf32>, %d1: tensor<2x8x16xf32>,
    %r2: tensor<2x8xf32>, %u2: tensor<2x16x8xf32>, %d2: tensor<2x8x16xf32>,
    %r3: tensor<2x8xf32>, %u3: tensor<2x16x8xf32>, %d3: tensor<2x8x16xf32>) -> tensor<4x8xf32> {
  %h = arith.addf %x, %x : tensor<4x8xf32>
  %y0 = moe.layer %h router %r0 experts up %u0 down %d0 routing <scoring = softmax, top_k = 1>
      activation gelu layout out_in
      : (tensor<4x8xf32>, tensor<2x8xf32>, tensor<2x16x8xf32>, tensor<2x8x16xf32>) -> tensor<4x8xf32>
  %y1 = moe.layer %y0 router %r1 experts up %u1 down %d1 routing <scoring = softmax, top_k = 1>
      activation gelu layout out_in
      : (tensor<4x8xf32>, tensor<2x8xf32>, tensor<2x16x8xf32>, tensor<2x8x16xf32>) -> tensor<4x8xf32>
  %y2 = moe.layer %y1 router %r2 experts up %u2 down %d2 routing <scoring = softmax, top_k = 1>
      activation gelu layout out_in
      : (tensor<4x8xf32>, tensor<2x8xf32>, tensor<2x16x8xf32>, tensor<2x8x16xf32>) -> tensor<4x8xf32>
  %y3 = moe.layer %y2 router %r3 experts up %u3 down %d3 routing <scoring = softmax, top_k = 1>
      activation gelu layout out_in
      : (tensor<4x8xf32>, tensor<2x8xf32>, tensor<2x16x8xf32>, tensor<2x8x16xf32>) -> tensor<4x8xf32>
  return %y3 : tensor<4x8xf32>
}

// Tests that a layer asking for host memory is streamed even though all
// weights fit, and that one asking for HBM is pinned there.
// TIER-LABEL: func.func @weights_tier(
// TIER-SAME: %arg1: tensor<2x8xf32>, %arg2: tensor<2x16x8xf32>, %arg3: tensor<2x8x16xf32>,
// TIER-SAME: %arg4: tensor<2x8xf32> {moe.tier = #moe.tier<host>}, %arg5: tensor<2x16x8xf32> {moe.tier = #moe.tier<host>}, %arg6: tensor<2x8x16xf32> {moe.tier = #moe.tier<host>},
// TIER-SAME: %arg7: tensor<2x8xf32>, %arg8: tensor<2x16x8xf32>, %arg9: tensor<2x8x16xf32>)
// TIER-NEXT: %[[R1:.*]] = moeflow.prefetch %arg4
// TIER-NEXT: %[[U1:.*]] = moeflow.prefetch %arg5
// TIER-NEXT: %[[D1:.*]] = moeflow.prefetch %arg6
// TIER-NEXT: %[[Y0:.*]] = moe.layer %arg0 router %arg1 experts up %arg2 down %arg3
// TIER-NEXT: %[[Y1:.*]] = moe.layer %[[Y0]] router %[[R1]] experts up %[[U1]] down %[[D1]] {{.*}}{weights_tier = #moe.tier<host>}
// TIER-NEXT: moe.layer %[[Y1]] router %arg7 experts up %arg8 down %arg9 {{.*}}{weights_tier = #moe.tier<hbm>}
func.func @weights_tier(%x: tensor<4x8xf32>,
    %r0: tensor<2x8xf32>, %u0: tensor<2x16x8xf32>, %d0: tensor<2x8x16xf32>,
    %r1: tensor<2x8xf32>, %u1: tensor<2x16x8xf32>, %d1: tensor<2x8x16xf32>,
    %r2: tensor<2x8xf32>, %u2: tensor<2x16x8xf32>, %d2: tensor<2x8x16xf32>) -> tensor<4x8xf32> {
  %y0 = moe.layer %x router %r0 experts up %u0 down %d0 routing <scoring = softmax, top_k = 1>
      activation gelu layout out_in
      : (tensor<4x8xf32>, tensor<2x8xf32>, tensor<2x16x8xf32>, tensor<2x8x16xf32>) -> tensor<4x8xf32>
  %y1 = moe.layer %y0 router %r1 experts up %u1 down %d1 routing <scoring = softmax, top_k = 1>
      activation gelu layout out_in {weights_tier = #moe.tier<host>}
      : (tensor<4x8xf32>, tensor<2x8xf32>, tensor<2x16x8xf32>, tensor<2x8x16xf32>) -> tensor<4x8xf32>
  %y2 = moe.layer %y1 router %r2 experts up %u2 down %d2 routing <scoring = softmax, top_k = 1>
      activation gelu layout out_in {weights_tier = #moe.tier<hbm>}
      : (tensor<4x8xf32>, tensor<2x8xf32>, tensor<2x16x8xf32>, tensor<2x8x16xf32>) -> tensor<4x8xf32>
  return %y2 : tensor<4x8xf32>
}

// Tests that a router weight shared by four layers stays resident while
// their experts stream.
// CHECK-LABEL: func.func @shared_router(
// CHECK-SAME: %arg1: tensor<2x8xf32>, %arg2: tensor<2x16x8xf32>, %arg3: tensor<2x8x16xf32>, %arg4: tensor<2x16x8xf32> {moe.tier = #moe.tier<host>}
// CHECK-NOT: moeflow.prefetch %arg1
// CHECK: moe.layer %arg0 router %arg1 experts up %arg2 down %arg3
// CHECK-COUNT-3: moe.layer %{{.*}} router %arg1 experts up %{{[0-9]+}} down %{{[0-9]+}}
func.func @shared_router(%x: tensor<4x8xf32>, %r: tensor<2x8xf32>,
    %u0: tensor<2x16x8xf32>, %d0: tensor<2x8x16xf32>,
    %u1: tensor<2x16x8xf32>, %d1: tensor<2x8x16xf32>,
    %u2: tensor<2x16x8xf32>, %d2: tensor<2x8x16xf32>,
    %u3: tensor<2x16x8xf32>, %d3: tensor<2x8x16xf32>) -> tensor<4x8xf32> {
  %y0 = moe.layer %x router %r experts up %u0 down %d0 routing <scoring = softmax, top_k = 1>
      activation gelu layout out_in
      : (tensor<4x8xf32>, tensor<2x8xf32>, tensor<2x16x8xf32>, tensor<2x8x16xf32>) -> tensor<4x8xf32>
  %y1 = moe.layer %y0 router %r experts up %u1 down %d1 routing <scoring = softmax, top_k = 1>
      activation gelu layout out_in
      : (tensor<4x8xf32>, tensor<2x8xf32>, tensor<2x16x8xf32>, tensor<2x8x16xf32>) -> tensor<4x8xf32>
  %y2 = moe.layer %y1 router %r experts up %u2 down %d2 routing <scoring = softmax, top_k = 1>
      activation gelu layout out_in
      : (tensor<4x8xf32>, tensor<2x8xf32>, tensor<2x16x8xf32>, tensor<2x8x16xf32>) -> tensor<4x8xf32>
  %y3 = moe.layer %y2 router %r experts up %u3 down %d3 routing <scoring = softmax, top_k = 1>
      activation gelu layout out_in
      : (tensor<4x8xf32>, tensor<2x8xf32>, tensor<2x16x8xf32>, tensor<2x8x16xf32>) -> tensor<4x8xf32>
  return %y3 : tensor<4x8xf32>
}

// Tests that each decomposed moe.experts is a group of its gate/up/down
// weights (not its rows and offsets), and that a weight with another use
// (here returned) stays resident while the rest of its group streams.
// CHECK-LABEL: func.func @decomposed(
// CHECK-SAME: %arg0: tensor<8x8xf32>, %arg1: tensor<3xi32>,
// CHECK-SAME: %arg2: tensor<2x16x8xf32> {moe.tier = #moe.tier<host>}, %arg3: tensor<2x8x16xf32> {moe.tier = #moe.tier<host>},
// CHECK-SAME: %arg4: tensor<2x16x8xf32>, %arg5: tensor<2x8x16xf32> {moe.tier = #moe.tier<host>},
// CHECK-NEXT: %[[U0:.*]] = moeflow.prefetch %arg2
// CHECK-NEXT: %[[D0:.*]] = moeflow.prefetch %arg3
// CHECK-NEXT: %[[D1:.*]] = moeflow.prefetch %arg5
// CHECK-NEXT: %[[E0:.*]] = moe.experts %arg0, %arg1 up %[[U0]] down %[[D0]]
// CHECK: moe.experts %[[E0]], %arg1 up %arg4 down %[[D1]]
// CHECK: return %{{.*}}, %arg4
func.func @decomposed(%rows: tensor<8x8xf32>, %offsets: tensor<3xi32>,
    %u0: tensor<2x16x8xf32>, %d0: tensor<2x8x16xf32>,
    %u1: tensor<2x16x8xf32>, %d1: tensor<2x8x16xf32>,
    %u2: tensor<2x16x8xf32>, %d2: tensor<2x8x16xf32>,
    %u3: tensor<2x16x8xf32>, %d3: tensor<2x8x16xf32>) -> (tensor<8x8xf32>, tensor<2x16x8xf32>) {
  %e0 = moe.experts %rows, %offsets up %u0 down %d0 activation gelu layout out_in
      : (tensor<8x8xf32>, tensor<3xi32>, tensor<2x16x8xf32>, tensor<2x8x16xf32>) -> tensor<8x8xf32>
  %e1 = moe.experts %e0, %offsets up %u1 down %d1 activation gelu layout out_in
      : (tensor<8x8xf32>, tensor<3xi32>, tensor<2x16x8xf32>, tensor<2x8x16xf32>) -> tensor<8x8xf32>
  %e2 = moe.experts %e1, %offsets up %u2 down %d2 activation gelu layout out_in
      : (tensor<8x8xf32>, tensor<3xi32>, tensor<2x16x8xf32>, tensor<2x8x16xf32>) -> tensor<8x8xf32>
  %e3 = moe.experts %e2, %offsets up %u3 down %d3 activation gelu layout out_in
      : (tensor<8x8xf32>, tensor<3xi32>, tensor<2x16x8xf32>, tensor<2x8x16xf32>) -> tensor<8x8xf32>
  return %e3, %u1 : tensor<8x8xf32>, tensor<2x16x8xf32>
}

// Tests that the router's selection bias and the shared experts' weights
// and sigmoid gate form groups too.
// CHECK-LABEL: func.func @router_shared(
// CHECK-SAME: %arg2: tensor<8xf32>, %arg3: tensor<32x8xf32>, %arg4: tensor<8x32xf32>, %arg5: tensor<8xf32>,
// CHECK-SAME: %arg6: tensor<32x8xf32> {moe.tier = #moe.tier<host>}, %arg7: tensor<8x32xf32> {moe.tier = #moe.tier<host>}, %arg8: tensor<8xf32> {moe.tier = #moe.tier<host>},
// CHECK-NEXT: moe.router %arg1 bias %arg2
// CHECK-NEXT: %[[SU1:.*]] = moeflow.prefetch %arg6
// CHECK-NEXT: %[[SD1:.*]] = moeflow.prefetch %arg7
// CHECK-NEXT: %[[SG1:.*]] = moeflow.prefetch %arg8
// CHECK-NEXT: %[[S0:.*]] = moe.shared_experts %arg0 up %arg3 down %arg4 sigmoid_gate %arg5
// CHECK: moe.shared_experts %[[S0]] up %[[SU1]] down %[[SD1]] sigmoid_gate %[[SG1]]
func.func @router_shared(%x: tensor<4x8xf32>, %logits: tensor<4x8xf32>, %bias: tensor<8xf32>,
    %su0: tensor<32x8xf32>, %sd0: tensor<8x32xf32>, %sg0: tensor<8xf32>,
    %su1: tensor<32x8xf32>, %sd1: tensor<8x32xf32>, %sg1: tensor<8xf32>,
    %su2: tensor<32x8xf32>, %sd2: tensor<8x32xf32>, %sg2: tensor<8xf32>,
    %su3: tensor<32x8xf32>, %sd3: tensor<8x32xf32>, %sg3: tensor<8xf32>) -> (tensor<4x8xf32>, tensor<4x2xf32>) {
  %w, %i = moe.router %logits bias %bias routing <scoring = sigmoid, top_k = 2>
      : tensor<4x8xf32>, tensor<8xf32> -> tensor<4x2xf32>, tensor<4x2xi32>
  %s0 = moe.shared_experts %x up %su0 down %sd0 sigmoid_gate %sg0 activation gelu layout out_in
      : (tensor<4x8xf32>, tensor<32x8xf32>, tensor<8x32xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %s1 = moe.shared_experts %s0 up %su1 down %sd1 sigmoid_gate %sg1 activation gelu layout out_in
      : (tensor<4x8xf32>, tensor<32x8xf32>, tensor<8x32xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %s2 = moe.shared_experts %s1 up %su2 down %sd2 sigmoid_gate %sg2 activation gelu layout out_in
      : (tensor<4x8xf32>, tensor<32x8xf32>, tensor<8x32xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %s3 = moe.shared_experts %s2 up %su3 down %sd3 sigmoid_gate %sg3 activation gelu layout out_in
      : (tensor<4x8xf32>, tensor<32x8xf32>, tensor<8x32xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  return %s3, %w : tensor<4x8xf32>, tensor<4x2xf32>
}

// Tests that private functions and declarations are not planned.
// CHECK-LABEL: func.func private @helper(
// CHECK-NOT: moe.tier
// CHECK-NOT: moeflow.prefetch
// CHECK: return
func.func private @helper(%x: tensor<4x8xf32>, %r: tensor<2x8xf32>, %u: tensor<2x128x8xf32>,
    %d: tensor<2x8x128xf32>) -> tensor<4x8xf32> {
  %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 1>
      activation gelu layout out_in
      : (tensor<4x8xf32>, tensor<2x8xf32>, tensor<2x128x8xf32>, tensor<2x8x128xf32>) -> tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}
func.func private @external(tensor<4x8xf32>) -> tensor<4x8xf32>

// Tests that a function without moe ops is unchanged.
// CHECK-LABEL: func.func @no_moe(%arg0: tensor<4xf32>) -> tensor<4xf32>
// CHECK-NEXT: arith.addf %arg0, %arg0
// CHECK-NEXT: return
func.func @no_moe(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = arith.addf %x, %x : tensor<4xf32>
  return %y : tensor<4xf32>
}
