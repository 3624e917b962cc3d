// Round trip of every moeflow op: print -> parse -> print is stable, in the
// custom and in the generic form.
// RUN: moe-opt %s | moe-opt | FileCheck %s
// RUN: moe-opt %s --mlir-print-op-generic | moe-opt | FileCheck %s

shard.grid @world(shape = 4x2)
shard.grid @elastic(shape = ?x2)

// Tests that a ragged dispatch all-to-all over expert-parallel ranks round-trips.
// CHECK-LABEL: func.func @all_to_all_v
// CHECK: %[[OUT:.*]], %[[RECV:.*]] = moeflow.all_to_all_v %{{.*}}, %{{.*}} group @world axes [0] : tensor<?x64xbf16>, tensor<4xi64> -> (tensor<256x64xbf16>, tensor<4xi64>)
// CHECK: return %[[OUT]], %[[RECV]]
func.func @all_to_all_v(%rows: tensor<?x64xbf16>, %counts: tensor<4xi64>) -> (tensor<256x64xbf16>, tensor<4xi64>) {
  %out, %recv = moeflow.all_to_all_v %rows, %counts group @world axes [0]
      : tensor<?x64xbf16>, tensor<4xi64> -> (tensor<256x64xbf16>, tensor<4xi64>)
  return %out, %recv : tensor<256x64xbf16>, tensor<4xi64>
}

// Tests a group over two axes, i32 counts and rank-3 rows.
// CHECK-LABEL: func.func @all_to_all_v_two_axes
// CHECK: moeflow.all_to_all_v %{{.*}}, %{{.*}} group @world axes [1, 0] : tensor<32x4x16xf32>, tensor<8xi32> -> (tensor<64x4x16xf32>, tensor<8xi32>)
func.func @all_to_all_v_two_axes(%rows: tensor<32x4x16xf32>, %counts: tensor<8xi32>) -> tensor<64x4x16xf32> {
  %out, %recv = moeflow.all_to_all_v %rows, %counts group @world axes [1, 0]
      : tensor<32x4x16xf32>, tensor<8xi32> -> (tensor<64x4x16xf32>, tensor<8xi32>)
  return %out : tensor<64x4x16xf32>
}

// Tests that a group of dynamic size takes counts of any length.
// CHECK-LABEL: func.func @all_to_all_v_dynamic_group
// CHECK: moeflow.all_to_all_v %{{.*}}, %{{.*}} group @elastic axes [0] : tensor<16x8xf16>, tensor<?xi64> -> (tensor<128x8xf16>, tensor<?xi64>)
func.func @all_to_all_v_dynamic_group(%rows: tensor<16x8xf16>, %counts: tensor<?xi64>) -> tensor<128x8xf16> {
  %out, %recv = moeflow.all_to_all_v %rows, %counts group @elastic axes [0]
      : tensor<16x8xf16>, tensor<?xi64> -> (tensor<128x8xf16>, tensor<?xi64>)
  return %out : tensor<128x8xf16>
}

// Tests that an all-gather multiplying the gathered dimension round-trips.
// CHECK-LABEL: func.func @all_gather
// CHECK: moeflow.all_gather %{{.*}} group @world axes [1] dim 1 : tensor<64x128xf32> -> tensor<64x256xf32>
func.func @all_gather(%part: tensor<64x128xf32>) -> tensor<64x256xf32> {
  %full = moeflow.all_gather %part group @world axes [1] dim 1 : tensor<64x128xf32> -> tensor<64x256xf32>
  return %full : tensor<64x256xf32>
}

// Tests a reduce-scatter with each reduction kind.
// CHECK-LABEL: func.func @reduce_scatter
// CHECK: moeflow.reduce_scatter %{{.*}} group @world axes [0] dim 0 reduction sum : tensor<64x32xbf16> -> tensor<16x32xbf16>
// CHECK: moeflow.reduce_scatter %{{.*}} group @world axes [0, 1] dim 1 reduction max : tensor<64x32xbf16> -> tensor<64x4xbf16>
// CHECK: moeflow.reduce_scatter %{{.*}} group @elastic axes [0] dim 0 reduction min : tensor<64x32xbf16> -> tensor<?x32xbf16>
func.func @reduce_scatter(%y: tensor<64x32xbf16>) -> (tensor<16x32xbf16>, tensor<64x4xbf16>, tensor<?x32xbf16>) {
  %a = moeflow.reduce_scatter %y group @world axes [0] dim 0 reduction sum : tensor<64x32xbf16> -> tensor<16x32xbf16>
  %b = moeflow.reduce_scatter %y group @world axes [0, 1] dim 1 reduction max : tensor<64x32xbf16> -> tensor<64x4xbf16>
  %c = moeflow.reduce_scatter %y group @elastic axes [0] dim 0 reduction min : tensor<64x32xbf16> -> tensor<?x32xbf16>
  return %a, %b, %c : tensor<16x32xbf16>, tensor<64x4xbf16>, tensor<?x32xbf16>
}

// Tests that an all-reduce round-trips.
// CHECK-LABEL: func.func @all_reduce
// CHECK: moeflow.all_reduce %{{.*}} group @world axes [0, 1] reduction sum : tensor<16x64xf32>
func.func @all_reduce(%x: tensor<16x64xf32>) -> tensor<16x64xf32> {
  %y = moeflow.all_reduce %x group @world axes [0, 1] reduction sum : tensor<16x64xf32>
  return %y : tensor<16x64xf32>
}

// Tests point-to-point sends and receives with absolute and relative peers.
// CHECK-LABEL: func.func @send_recv
// CHECK: moeflow.send %{{.*}} group @world axes [0] to 3 : tensor<16x64xf32>
// CHECK: moeflow.send %{{.*}} group @world axes [0] to offset 1 : tensor<16x64xf32>
// CHECK: moeflow.recv group @world axes [0] from 0 : tensor<16x64xf32>
// CHECK: moeflow.recv group @world axes [0] from offset -1 : tensor<16x64xf32>
func.func @send_recv(%x: tensor<16x64xf32>) -> (tensor<16x64xf32>, tensor<16x64xf32>) {
  moeflow.send %x group @world axes [0] to 3 : tensor<16x64xf32>
  moeflow.send %x group @world axes [0] to offset 1 : tensor<16x64xf32>
  %a = moeflow.recv group @world axes [0] from 0 : tensor<16x64xf32>
  %b = moeflow.recv group @world axes [0] from offset -1 : tensor<16x64xf32>
  return %a, %b : tensor<16x64xf32>, tensor<16x64xf32>
}

// Tests that tier-to-tier prefetches round-trip.
// CHECK-LABEL: func.func @prefetch
// CHECK: moeflow.prefetch %{{.*}} from <host> to <hbm> : tensor<8x64x128xbf16>
// CHECK: moeflow.prefetch %{{.*}} from <hbm> to <sram> : tensor<8x64x128xbf16>
func.func @prefetch(%w: tensor<8x64x128xbf16>) -> tensor<8x64x128xbf16> {
  %h = moeflow.prefetch %w from <host> to <hbm> : tensor<8x64x128xbf16>
  %s = moeflow.prefetch %h from <hbm> to <sram> : tensor<8x64x128xbf16>
  return %s : tensor<8x64x128xbf16>
}

// Tests that prefetches by expert and their awaits round-trip, with and
// without a prediction.
// CHECK-LABEL: func.func @prefetch_experts
// CHECK: %[[P:.*]] = moeflow.prefetch_experts %{{.*}} predicted(%{{.*}} : tensor<16x2xi32>) from <host> to <hbm> : tensor<8x64x128xbf16>
// CHECK: moeflow.await_experts %[[P]] routed(%{{.*}} : tensor<16x2xi32>) : tensor<8x64x128xbf16>
// CHECK: %[[Q:.*]] = moeflow.prefetch_experts %{{.*}} from <host> to <hbm> : tensor<8x64x128xbf16>
// CHECK: moeflow.await_experts %[[Q]] routed(%{{.*}} : tensor<32xi32>) : tensor<8x64x128xbf16>
func.func @prefetch_experts(%w: tensor<8x64x128xbf16>, %guess: tensor<16x2xi32>,
    %routed: tensor<16x2xi32>, %flat: tensor<32xi32>)
    -> (tensor<8x64x128xbf16>, tensor<8x64x128xbf16>) {
  %p = moeflow.prefetch_experts %w predicted(%guess : tensor<16x2xi32>)
      from <host> to <hbm> : tensor<8x64x128xbf16>
  %a = moeflow.await_experts %p routed(%routed : tensor<16x2xi32>)
      : tensor<8x64x128xbf16>
  %q = moeflow.prefetch_experts %w from <host> to <hbm> : tensor<8x64x128xbf16>
  %b = moeflow.await_experts %q routed(%flat : tensor<32xi32>)
      : tensor<8x64x128xbf16>
  return %a, %b : tensor<8x64x128xbf16>, tensor<8x64x128xbf16>
}
