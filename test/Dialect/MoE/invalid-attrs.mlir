// RUN: moe-opt %s -split-input-file -verify-diagnostics

// Tests that #moe.routing rejects top_k below 1.
// expected-error @+1 {{top_k must be at least 1, got 0}}
#routing = #moe.routing<scoring = softmax, top_k = 0>

// -----

// Tests that #moe.routing rejects a zero scaling_factor.
// expected-error @+1 {{scaling_factor must be positive and finite, got 0}}
#routing = #moe.routing<scoring = sigmoid, top_k = 8, scaling_factor = 0.0>

// -----

// Tests that #moe.routing rejects a negative scaling_factor.
// expected-error @+1 {{scaling_factor must be positive and finite, got -2.5}}
#routing = #moe.routing<scoring = sigmoid, top_k = 8, scaling_factor = -2.5>

// -----

// Tests that #moe.routing rejects an infinite scaling_factor.
// expected-error @+1 {{scaling_factor must be positive and finite, got INF}}
#routing = #moe.routing<scoring = sigmoid, top_k = 8, scaling_factor = 0x7FF0000000000000 : f64>

// -----

// Tests that #moe.routing rejects num_groups below 1.
// expected-error @+1 {{num_groups must be at least 1, got 0}}
#routing = #moe.routing<scoring = sigmoid, top_k = 8, num_groups = 0>

// -----

// Tests that #moe.routing rejects kept_groups below 1.
// expected-error @+1 {{kept_groups (0) must be between 1 and num_groups (8)}}
#routing = #moe.routing<scoring = sigmoid, top_k = 8, num_groups = 8, kept_groups = 0>

// -----

// Tests that #moe.routing rejects kept_groups above num_groups.
// expected-error @+1 {{kept_groups (9) must be between 1 and num_groups (8)}}
#routing = #moe.routing<scoring = sigmoid, top_k = 8, num_groups = 8, kept_groups = 9>

// -----

// Tests that #moe.routing rejects top_p of 0.
// expected-error @+1 {{top_p must be in (0, 1], got 0}}
#routing = #moe.routing<scoring = softmax, top_k = 4, top_p = 0.0, zero_experts = 1>

// -----

// Tests that #moe.routing rejects top_p above 1.
// expected-error @+1 {{top_p must be in (0, 1], got 1.5}}
#routing = #moe.routing<scoring = softmax, top_k = 4, top_p = 1.5, zero_experts = 1>

// -----

// Tests that #moe.routing rejects a NaN top_p.
// expected-error @+1 {{top_p must be in (0, 1], got nan}}
#routing = #moe.routing<scoring = softmax, top_k = 4, top_p = 0x7FF8000000000000 : f64, zero_experts = 1>

// -----

// Tests that #moe.routing rejects a negative number of zero experts.
// expected-error @+1 {{zero_experts must be non-negative, got -1}}
#routing = #moe.routing<scoring = softmax, top_k = 2, zero_experts = -1>

// -----

// Tests that #moe.routing rejects a negative number of copy experts.
// expected-error @+1 {{copy_experts must be non-negative, got -2}}
#routing = #moe.routing<scoring = softmax, top_k = 2, copy_experts = -2>

// -----

// Tests that #moe.routing rejects a negative number of constant experts.
// expected-error @+1 {{constant_experts must be non-negative, got -1}}
#routing = #moe.routing<scoring = softmax, top_k = 2, constant_experts = -1>

// -----

// Tests that #moe.routing rejects top_p without a zero expert for the unused slots.
// expected-error @+1 {{top_p routing needs at least one zero expert to point its unused slots at}}
#routing = #moe.routing<scoring = softmax, top_k = 4, top_p = 0.5>

// -----

// Tests that #moe.routing rejects group-limited selection together with null experts.
// expected-error @+1 {{group-limited selection cannot be combined with null experts}}
#routing = #moe.routing<scoring = sigmoid, top_k = 2, num_groups = 2, copy_experts = 1>

// -----

// Tests that the routing of an op is verified where it is parsed.
func.func @router_routing(%l: tensor<16x8xf32>) {
  // expected-error @+1 {{top_k must be at least 1, got -1}}
  %w, %i = moe.router %l routing <scoring = softmax, top_k = -1> : tensor<16x8xf32> -> tensor<16x1xf32>, tensor<16x1xi32>
  return
}

// -----

// Tests that #moe.parallel rejects an unknown attention parallelism.
// expected-error @+1 {{unknown attention parallelism 'ep'; expected one of: tp cp dp pp}}
#plan = #moe.parallel<attn = {tp = 2, ep = 2}, moe = {ep = 4}>

// -----

// Tests that #moe.parallel rejects an unknown MoE parallelism.
// expected-error @+1 {{unknown MoE parallelism 'tp'; expected one of: etp ep edp}}
#plan = #moe.parallel<attn = {tp = 2}, moe = {tp = 2}>

// -----

// Tests that #moe.parallel rejects an attention key given twice.
// expected-error @+1 {{'dp' is given twice in the attention group}}
#plan = #moe.parallel<attn = {dp = 2, dp = 2}, moe = {ep = 2}>

// -----

// Tests that #moe.parallel rejects a MoE key given twice.
// expected-error @+1 {{'ep' is given twice in the MoE group}}
#plan = #moe.parallel<attn = {dp = 4}, moe = {ep = 2, edp = 2, ep = 2}>

// -----

// Tests that #moe.parallel rejects a tp degree below 1.
// expected-error @+1 {{tp must be at least 1, got 0}}
#plan = #moe.parallel<attn = {tp = 0}, moe = {}>

// -----

// Tests that #moe.parallel rejects a cp degree below 1.
// expected-error @+1 {{cp must be at least 1, got -1}}
#plan = #moe.parallel<attn = {cp = -1}, moe = {}>

// -----

// Tests that #moe.parallel rejects a dp degree below 1.
// expected-error @+1 {{dp must be at least 1, got 0}}
#plan = #moe.parallel<attn = {dp = 0}, moe = {}>

// -----

// Tests that #moe.parallel rejects a pp degree below 1.
// expected-error @+1 {{pp must be at least 1, got 0}}
#plan = #moe.parallel<attn = {pp = 0}, moe = {}>

// -----

// Tests that #moe.parallel rejects an etp degree below 1.
// expected-error @+1 {{etp must be at least 1, got 0}}
#plan = #moe.parallel<attn = {}, moe = {etp = 0}>

// -----

// Tests that #moe.parallel rejects an ep degree below 1.
// expected-error @+1 {{ep must be at least 1, got -4}}
#plan = #moe.parallel<attn = {}, moe = {ep = -4}>

// -----

// Tests that #moe.parallel rejects an edp degree below 1.
// expected-error @+1 {{edp must be at least 1, got 0}}
#plan = #moe.parallel<attn = {}, moe = {edp = 0}>

// -----

// Tests that #moe.parallel needs the attention and MoE groupings to span the same devices.
// expected-error @+1 {{attention world tp*cp*dp*pp = 8 differs from MoE world etp*ep*edp*pp = 16}}
#plan = #moe.parallel<attn = {tp = 2, dp = 2, pp = 2}, moe = {ep = 8}>

// -----

// Tests that #moe.parallel rejects degrees whose product overflows int64.
// expected-error @+1 {{the parallel plan's world size overflows int64}}
#plan = #moe.parallel<attn = {tp = 4294967296, dp = 4294967296}, moe = {etp = 4294967296, ep = 4294967296}>

// -----

// Tests that #moe.tier rejects an unknown memory tier.
// expected-error @+2 {{expected ::mlir::moe::MemoryTier to be one of: sram, hbm, host}}
// expected-error @+1 {{failed to parse MoE_TierAttr parameter 'tier' which is to be a `::mlir::moe::MemoryTier`}}
#tier = #moe.tier<disk>

// -----

// Tests that the module attribute 'moe.parallel' must hold a #moe.parallel.
// expected-error @+1 {{'moe.parallel' must be a #moe.parallel attribute}}
module attributes {moe.parallel = 8 : i64} {
}

// -----

// Tests that the 'moe.parallel' attribute may only be attached to a module.
// expected-error @+1 {{'moe.parallel' may only be attached to a module}}
func.func @f() attributes {moe.parallel = #moe.parallel<attn = {dp = 2}, moe = {ep = 2}>} {
  return
}

// -----

// Tests that 'moe.independent_iterations' must be a unit attribute.
func.func @f(%n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  // expected-error @+1 {{'moe.independent_iterations' must be a unit attribute}}
  scf.for %i = %c0 to %n step %c1 {
  } {moe.independent_iterations = 1 : i64}
  return
}

// -----

// Tests that 'moe.independent_iterations' may only be attached to an scf.for.
// expected-error @+1 {{'moe.independent_iterations' may only be attached to an scf.for}}
func.func @f() attributes {moe.independent_iterations} {
  return
}

// -----

// Tests that the moe dialect rejects an unknown moe.* discardable attribute.
// expected-error @+1 {{unknown moe dialect attribute 'moe.plan'}}
module attributes {moe.plan = #moe.parallel<attn = {dp = 2}, moe = {ep = 2}>} {
}

// -----

// Tests that #moe.routing rejects null expert counts whose sum overflows.
// expected-error @+1 {{the null expert counts overflow int64}}
#routing = #moe.routing<scoring = softmax, top_k = 1, zero_experts = 9223372036854775807, copy_experts = 9223372036854775807, constant_experts = 2>

// -----

// Tests that moe.input must name a tensor.
// expected-error @+1 {{'moe.input' of argument 0 must be a non-empty string}}
func.func @input_not_string(%x: tensor<4xf32> {moe.input = 3 : i64}) {
  return
}

// -----

// Tests that unknown moe argument attributes are rejected.
// expected-error @+1 {{unknown moe dialect argument attribute 'moe.inptu'}}
func.func @input_misspelled(%x: tensor<4xf32> {moe.inptu = "x"}) {
  return
}
