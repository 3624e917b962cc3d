//===- embed_host.cpp - MoE-MLIR as a library: compile in memory, run -----===//
//
// What a framework does to use MoE-MLIR as its MoE backend, against the
// installed package (find_package(MoEMLIR)):
//   1. registers the dialects into its own DialectRegistry/MLIRContext,
//   2. builds a Mixtral-shaped moe.layer (here parsed from text; a framework
//      would build it with OpBuilder from its graph),
//   3. puts the CPU pipeline into its own PassManager with typed options
//      (here stopping at loops, to show the IR a host could keep lowering),
//   4. compiles the module to a bundle in memory (no files, no tools),
//   5. runs the bundle through the runtime C API and checks the result
//      against a plain C++ loop reference of the Mixtral block.
// Exit 0 when every output matches.
//
//===----------------------------------------------------------------------===//

#include <moe/Compiler/Compiler.h>
#include <moert/moert.h>

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace {

// Mixtral's block, scaled down: T tokens, hidden H, expert intermediate F,
// E experts, top-K; Hugging Face weight layout (out_in).
constexpr int T = 8, H = 16, F = 32, E = 4, K = 2;

std::string layerSource() {
  auto t = [](std::initializer_list<int> dims) {
    std::string s = "tensor<";
    for (int d : dims)
      s += std::to_string(d) + "x";
    return s + "f32>";
  };
  std::string x = t({T, H}), router = t({E, H}), w13 = t({E, F, H}),
              w2 = t({E, H, F});
  return "func.func @mixtral_moe(%x: " + x + ", %router: " + router +
         ", %w1: " + w13 + ", %w3: " + w13 + ", %w2: " + w2 + ") -> " + x +
         " {\n"
         "  %y = moe.layer %x router %router experts gate %w1 up %w3 down %w2\n"
         "      routing <scoring = softmax, top_k = " + std::to_string(K) +
         ", renormalize = true>\n"
         "      activation silu layout out_in\n"
         "      : (" + x + ", " + router + ", " + w13 + ", " + w13 + ", " + w2 +
         ") -> " + x + "\n"
         "  return %y : " + x + "\n"
         "}\n";
}

/// Deterministic inputs in [-scale, scale).
std::vector<float> values(size_t count, unsigned seed, float scale) {
  std::vector<float> out(count);
  unsigned state = seed * 2654435761u + 1;
  for (float &v : out) {
    state = state * 1664525u + 1013904223u;
    v = scale * (float((state >> 8) & 0xffff) / 32768.0f - 1.0f);
  }
  return out;
}

/// The Mixtral block in plain loops (HF MixtralSparseMoeBlock): softmax over
/// the router logits, top-K (lower index wins ties), renormalise, SwiGLU
/// experts w2(silu(w1 x) * w3 x), weighted sum.
std::vector<float> reference(const std::vector<float> &x,
                             const std::vector<float> &router,
                             const std::vector<float> &w1,
                             const std::vector<float> &w3,
                             const std::vector<float> &w2) {
  std::vector<float> y(T * H, 0.0f);
  for (int t = 0; t < T; ++t) {
    const float *xt = &x[t * H];
    std::vector<double> scores(E);
    double maxLogit = -INFINITY, sum = 0;
    for (int e = 0; e < E; ++e) {
      double logit = 0;
      for (int h = 0; h < H; ++h)
        logit += double(xt[h]) * router[e * H + h];
      scores[e] = logit;
      maxLogit = std::max(maxLogit, logit);
    }
    for (double &s : scores)
      sum += (s = std::exp(s - maxLogit));
    for (double &s : scores)
      s /= sum;
    std::vector<int> order(E);
    for (int e = 0; e < E; ++e)
      order[e] = e;
    std::sort(order.begin(), order.end(), [&](int a, int b) {
      return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
    });
    double chosen = 0;
    for (int k = 0; k < K; ++k)
      chosen += scores[order[k]];
    for (int k = 0; k < K; ++k) {
      int e = order[k];
      double weight = scores[e] / chosen;
      std::vector<double> hidden(F);
      for (int f = 0; f < F; ++f) {
        double gate = 0, up = 0;
        for (int h = 0; h < H; ++h) {
          gate += double(w1[(e * F + f) * H + h]) * xt[h];
          up += double(w3[(e * F + f) * H + h]) * xt[h];
        }
        hidden[f] = gate / (1 + std::exp(-gate)) * up;
      }
      for (int h = 0; h < H; ++h) {
        double out = 0;
        for (int f = 0; f < F; ++f)
          out += double(w2[(e * H + h) * F + f]) * hidden[f];
        y[t * H + h] += float(weight * out);
      }
    }
  }
  return y;
}

bool check(moert_status_t status, const char *what) {
  if (!status)
    return true;
  std::fprintf(stderr, "%s failed [%s]: %s\n", what,
               moert_status_code_string(moert_status_code(status)),
               moert_status_message(status));
  moert_status_free(status);
  return false;
}

} // namespace

int main() {
  // 1. The host's registry and context.
  mlir::DialectRegistry registry;
  mlir::moe::registerDialects(registry);
  mlir::MLIRContext context(registry);
  llvm::SourceMgr sourceMgr;
  mlir::SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);

  // 2. The module.
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(layerSource(), &context);
  if (!module)
    return 1;

  // 3. The CPU pipeline in the host's own pass manager, with typed options.
  {
    mlir::OwningOpRef<mlir::ModuleOp> lowered = module->clone();
    mlir::PassManager pm(&context);
    mlir::moe::CPUPipelineOptions options;
    options.lowerToLLVM = false;
    mlir::moe::buildCPUPipeline(pm, options);
    if (mlir::failed(pm.run(*lowered)))
      return 1;
    size_t loops = 0, moeOps = 0;
    lowered->walk([&](mlir::Operation *op) {
      loops += op->getName().getStringRef() == "scf.for";
      moeOps += op->getDialect() &&
                op->getDialect()->getNamespace() == "moe";
    });
    std::printf("pipeline (lower-to-llvm=false): %zu scf.for loops, %zu moe "
                "ops left\n",
                loops, moeOps);
    if (moeOps != 0 || loops == 0)
      return 1;
  }

  // 4. The bundle, in memory.
  mlir::FailureOr<std::string> bytes = mlir::moe::compileToBundle(*module);
  if (mlir::failed(bytes))
    return 1;
  std::printf("bundle: %zu bytes\n", bytes->size());

  // 5. Run it through the runtime C API.
  moert_bundle_t *bundle = nullptr;
  if (!check(moert_bundle_load_memory(bytes->data(), bytes->size(), &bundle),
             "moert_bundle_load_memory"))
    return 1;
  size_t function = 0;
  if (!check(moert_bundle_find_function(bundle, "mixtral_moe", &function),
             "moert_bundle_find_function"))
    return 1;
  moert_session_t *session = nullptr;
  if (!check(moert_session_create(bundle, &session), "moert_session_create"))
    return 1;

  std::vector<float> x = values(T * H, 1, 1.0f);
  std::vector<float> router = values(E * H, 2, 0.5f);
  std::vector<float> w1 = values(E * F * H, 3, 0.25f);
  std::vector<float> w3 = values(E * F * H, 4, 0.25f);
  std::vector<float> w2 = values(E * H * F, 5, 0.25f);
  std::vector<float> y(T * H, NAN);
  const std::vector<float> *in[] = {&x, &router, &w1, &w3, &w2};

  // Inputs and outputs as DLPack-style tensors (what framework tensors
  // export); moert_tensor_view_t works the same way.
  std::vector<moert_dl_tensor_t> inputs;
  std::vector<std::vector<int64_t>> shapes;
  moert_dl_dtype_t f32;
  if (!check(moert_dtype_to_dl(MOERT_DTYPE_F32, &f32), "moert_dtype_to_dl"))
    return 1;
  shapes.reserve(6);
  for (size_t i = 0; i < 5; ++i) {
    moert_tensor_info_t info;
    if (!check(moert_bundle_input_info(bundle, function, i, &info),
               "moert_bundle_input_info"))
      return 1;
    shapes.emplace_back(info.shape, info.shape + info.rank);
    inputs.push_back({const_cast<float *>(in[i]->data()),
                      {MOERT_DL_CPU, 0},
                      int32_t(info.rank),
                      f32,
                      shapes.back().data(),
                      nullptr,
                      0});
  }
  int64_t outShape[] = {T, H};
  moert_dl_tensor_t output = {y.data(), {MOERT_DL_CPU, 0}, 2, f32, outShape,
                              nullptr, 0};
  if (!check(moert_session_run_dl(session, function, inputs.data(),
                                  inputs.size(), &output, 1),
             "moert_session_run_dl"))
    return 1;

  std::vector<float> expected = reference(x, router, w1, w3, w2);
  double maxError = 0, maxValue = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    maxError = std::max(maxError, double(std::fabs(y[i] - expected[i])));
    maxValue = std::max(maxValue, double(std::fabs(expected[i])));
  }
  std::printf("y[0, 0:4] = %.6f %.6f %.6f %.6f\n", y[0], y[1], y[2], y[3]);
  std::printf("ref[0, 0:4] = %.6f %.6f %.6f %.6f\n", expected[0], expected[1],
              expected[2], expected[3]);
  // fp32 tolerance of DESIGN §9, scaled by the reduction lengths.
  double tolerance = 1e-5 * std::max(1.0, maxValue);
  std::printf("max |y - reference| = %.3g (tolerance %.3g)\n", maxError,
              tolerance);

  // A wrong shape is an error with a stable code, not a crash.
  int64_t wrongShape[] = {T, H + 1};
  output.shape = wrongShape;
  moert_status_t status = moert_session_run_dl(
      session, function, inputs.data(), inputs.size(), &output, 1);
  std::printf("wrong output shape -> %s: %s\n",
              moert_status_code_string(moert_status_code(status)),
              moert_status_message(status));
  bool rejected = moert_status_code(status) == MOERT_ERROR_INVALID_ARGUMENT;
  moert_status_free(status);
  moert_session_release(session);
  moert_bundle_release(bundle);

  if (!(maxError <= tolerance) || !rejected) {
    std::printf("embed-host: FAILED\n");
    return 1;
  }
  std::printf("embed-host: OK\n");
  return 0;
}
