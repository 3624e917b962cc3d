//===- UnionOfExperts.cpp - reference of moe.union_attention / union_ffn --===//
//
// Choices where the op descriptions leave a detail open:
//  * "the masked gate is normalised over the batch axis": every entry is
//    divided by the sum of the masked gate over the batch axis at the same
//    (position, head), g[b,s,n] = m[b,s,n] / Σ_b' m[b',s,n] (0 where that sum
//    is 0), as `gate / gate.sum(dim=0)` on a [B, S, N] tensor.
//  * Each (head, sequence) keeps exactly `capacity` tokens, even when fewer
//    than `capacity` have a non-zero gate: "its capacity tokens of largest
//    gate value", ties to the lower position.
//  * RoPE pairs dimension j with j + Dh/2 ("rotate half", as Hugging Face
//    Llama), frequency rope_theta^(-2j/Dh), at the compacted position (the
//    token's index in its head's ascending kept list).
//  * Positions no head keeps get 0 (the op has no residual).
//
//===----------------------------------------------------------------------===//

#include "FFN.h"
#include "Numerics.h"
#include "Reference.h"
#include "TensorChecks.h"

#include <cmath>

namespace moert::reference {

/// p[b, s, :] = softmax(x[b, s] · router + bias) over the N columns.
static std::vector<double> tokenSoftmax(const HostTensor &tokens,
                                        const HostTensor &router,
                                        const HostTensor &bias) {
  int64_t numTokens = tokens.shape[0] * tokens.shape[1];
  int64_t model = tokens.shape[2], columns = router.shape[1];
  std::vector<double> p(static_cast<size_t>(numTokens * columns));
  for (int64_t t = 0; t < numTokens; ++t) {
    double *row = p.data() + t * columns;
    for (int64_t n = 0; n < columns; ++n) {
      double sum = bias.data[n];
      for (int64_t d = 0; d < model; ++d)
        sum += tokens.data[t * model + d] * router.data[d * columns + n];
      row[n] = sum;
    }
    softmaxInPlace(row, columns);
  }
  return p;
}

/// Rotates v[0..Dh) in place by RoPE at `position` (rotate-half pairing).
static void applyRope(double *v, int64_t headDim, int64_t position,
                      double theta) {
  int64_t half = headDim / 2;
  for (int64_t j = 0; j < half; ++j) {
    double frequency =
        std::pow(theta, -2.0 * static_cast<double>(j) / headDim);
    double angle = static_cast<double>(position) * frequency;
    double c = std::cos(angle), s = std::sin(angle);
    double a = v[j], b = v[j + half];
    v[j] = a * c - b * s;
    v[j + half] = b * c + a * s;
  }
}

/// x · W for W = weight[n] of shape [D, Dh].
static std::vector<double> projectHead(const double *x, const HostTensor &weight,
                                       int64_t n) {
  int64_t model = weight.shape[1], headDim = weight.shape[2];
  const double *w = weight.data.data() + n * model * headDim;
  std::vector<double> y(static_cast<size_t>(headDim), 0.0);
  for (int64_t d = 0; d < model; ++d)
    for (int64_t j = 0; j < headDim; ++j)
      y[j] += x[d] * w[d * headDim + j];
  return y;
}

static bool checkUnionAttention(const UnionAttentionOperands &ops,
                                int64_t topK, int64_t capacity,
                                double ropeTheta, std::string &error) {
  if (!ops.tokens || !ops.gate || !ops.gateBias || !ops.query || !ops.key ||
      !ops.value || !ops.output) {
    error = "union_attention needs all of tokens, gate, gate_bias, query, "
            "key, value, output";
    return false;
  }
  if (!checkFloat(*ops.tokens, "tokens", 3, "[B, S, D]", error) ||
      !checkFloat(*ops.gate, "gate", 2, "[D, N]", error) ||
      !checkFloat(*ops.gateBias, "gate_bias", 1, "[N]", error) ||
      !checkFloat(*ops.query, "query", 3, "[N, D, Dh]", error) ||
      !checkFloat(*ops.output, "output", 3, "[N, Dh, D]", error))
    return false;
  int64_t seq = ops.tokens->shape[1], model = ops.tokens->shape[2];
  int64_t heads = ops.gate->shape[1], headDim = ops.query->shape[2];
  if (!checkDim(*ops.gate, "gate", 0, model, "the model size", error) ||
      !checkDim(*ops.gateBias, "gate_bias", 0, heads, "the heads of 'gate'",
                error))
    return false;
  for (auto [tensor, name] : {std::pair{ops.query, "query"},
                              {ops.key, "key"}, {ops.value, "value"}})
    if (!checkFloat(*tensor, name, 3, "[N, D, Dh]", error) ||
        !checkDim(*tensor, name, 0, heads, "the heads of 'gate'", error) ||
        !checkDim(*tensor, name, 1, model, "the model size", error) ||
        !checkDim(*tensor, name, 2, headDim, "the head size of 'query'",
                  error))
      return false;
  if (!checkDim(*ops.output, "output", 0, heads, "the heads of 'gate'",
                error) ||
      !checkDim(*ops.output, "output", 1, headDim, "the head size of 'query'",
                error) ||
      !checkDim(*ops.output, "output", 2, model, "the model size", error))
    return false;
  if (headDim % 2 != 0) {
    error = "head size " + std::to_string(headDim) +
            " must be even (RoPE rotates pairs)";
    return false;
  }
  if (topK < 1 || topK > heads) {
    error = "top_k (" + std::to_string(topK) + ") must be in [1, " +
            std::to_string(heads) + "] (the heads)";
    return false;
  }
  if (capacity < 1 || capacity > seq) {
    error = "capacity (" + std::to_string(capacity) + ") must be in [1, " +
            std::to_string(seq) + "] (the sequence length)";
    return false;
  }
  if (!(ropeTheta > 0.0) || !std::isfinite(ropeTheta)) {
    error = "rope_theta must be positive and finite";
    return false;
  }
  return true;
}

bool unionAttention(const UnionAttentionOperands &ops, int64_t topK,
                    int64_t capacity, double ropeTheta, HostTensor &result,
                    std::string &error) {
  if (!checkUnionAttention(ops, topK, capacity, ropeTheta, error))
    return false;
  const HostTensor &tokens = *ops.tokens;
  int64_t batch = tokens.shape[0], seq = tokens.shape[1];
  int64_t model = tokens.shape[2], heads = ops.gate->shape[1];
  int64_t headDim = ops.query->shape[2];

  // Gate, top-k mask over heads, normalisation over the batch axis.
  std::vector<double> gate = tokenSoftmax(tokens, *ops.gate, *ops.gateBias);
  for (int64_t t = 0; t < batch * seq; ++t) {
    std::vector<double> row(gate.begin() + t * heads,
                            gate.begin() + (t + 1) * heads);
    std::vector<int64_t> order = orderDescending(row);
    for (int64_t rank = topK; rank < heads; ++rank)
      gate[t * heads + order[rank]] = 0.0;
  }
  std::vector<double> normalised(gate.size(), 0.0);
  for (int64_t s = 0; s < seq; ++s)
    for (int64_t n = 0; n < heads; ++n) {
      double sum = 0.0;
      for (int64_t b = 0; b < batch; ++b)
        sum += gate[(b * seq + s) * heads + n];
      if (sum > 0.0)
        for (int64_t b = 0; b < batch; ++b)
          normalised[(b * seq + s) * heads + n] =
              gate[(b * seq + s) * heads + n] / sum;
    }

  HostTensor out = zeroTensor(tokens.dtype, {batch, seq, model});
  double scale = 1.0 / std::sqrt(static_cast<double>(headDim));
  for (int64_t n = 0; n < heads; ++n)
    for (int64_t b = 0; b < batch; ++b) {
      std::vector<double> column(static_cast<size_t>(seq));
      for (int64_t s = 0; s < seq; ++s)
        column[s] = normalised[(b * seq + s) * heads + n];
      std::vector<int64_t> kept = topCountAscending(column, capacity);

      std::vector<std::vector<double>> q, k, v;
      for (int64_t i = 0; i < capacity; ++i) {
        const double *x = tokens.data.data() + (b * seq + kept[i]) * model;
        q.push_back(projectHead(x, *ops.query, n));
        k.push_back(projectHead(x, *ops.key, n));
        v.push_back(projectHead(x, *ops.value, n));
        applyRope(q.back().data(), headDim, i, ropeTheta);
        applyRope(k.back().data(), headDim, i, ropeTheta);
      }
      const double *projection = ops.output->data.data() + n * headDim * model;
      for (int64_t i = 0; i < capacity; ++i) {
        std::vector<double> scores(static_cast<size_t>(i + 1));
        for (int64_t j = 0; j <= i; ++j) {
          double dot = 0.0;
          for (int64_t d = 0; d < headDim; ++d)
            dot += q[i][d] * k[j][d];
          scores[j] = dot * scale;
        }
        softmaxInPlace(scores.data(), i + 1);
        std::vector<double> attended(static_cast<size_t>(headDim), 0.0);
        for (int64_t j = 0; j <= i; ++j)
          for (int64_t d = 0; d < headDim; ++d)
            attended[d] += scores[j] * v[j][d];
        double *y = out.data.data() + (b * seq + kept[i]) * model;
        for (int64_t m = 0; m < model; ++m) {
          double sum = 0.0;
          for (int64_t d = 0; d < headDim; ++d)
            sum += attended[d] * projection[d * model + m];
          y[m] += sum;
        }
      }
    }
  result = std::move(out);
  return true;
}

bool unionFFN(const UnionFFNOperands &ops, int64_t numExperts,
              std::optional<int64_t> capacity, Activation activation,
              HostTensor &result, std::string &error) {
  if (!ops.tokens || !ops.router || !ops.routerBias || !ops.upWeight ||
      !ops.downWeight) {
    error = "union_ffn needs tokens, router, router_bias, up_weight and "
            "down_weight";
    return false;
  }
  const HostTensor &tokens = *ops.tokens;
  if (!checkFloat(tokens, "tokens", 3, "[B, S, D]", error) ||
      !checkFloat(*ops.router, "router", 2, "[D, N]", error) ||
      !checkFloat(*ops.routerBias, "router_bias", 1, "[N]", error))
    return false;
  int64_t batch = tokens.shape[0], seq = tokens.shape[1];
  int64_t model = tokens.shape[2];
  if (numExperts < 1) {
    error = "num_experts must be positive";
    return false;
  }
  int64_t intermediate, unusedExperts;
  if (!checkDim(*ops.router, "router", 0, model, "the model size", error) ||
      !checkDim(*ops.router, "router", 1, numExperts, "num_experts", error) ||
      !checkDim(*ops.routerBias, "router_bias", 0, numExperts, "num_experts",
                error) ||
      !checkFFNWeights(ops.gateWeight, *ops.upWeight, *ops.downWeight,
                       WeightLayout::inOut, /*perExpert=*/false, model,
                       unusedExperts, intermediate, "", error))
    return false;
  if (intermediate % numExperts != 0) {
    error = "num_experts (" + std::to_string(numExperts) +
            ") does not divide the FFN intermediate size (" +
            std::to_string(intermediate) + ")";
    return false;
  }
  int64_t kept = capacity.value_or(seq / 2);
  if (kept < 0 || kept > seq) {
    error = "capacity (" + std::to_string(kept) +
            ") exceeds the sequence length (" + std::to_string(seq) + ")";
    return false;
  }

  std::vector<double> p = tokenSoftmax(tokens, *ops.router, *ops.routerBias);
  int64_t sliceSize = intermediate / numExperts;
  HostTensor out = zeroTensor(tokens.dtype, {batch, seq, model});
  std::vector<double> y(static_cast<size_t>(model));
  for (int64_t e = 0; e < numExperts; ++e) {
    FFNView slice = makeFFNView(ops.gateWeight, *ops.upWeight, *ops.downWeight,
                                WeightLayout::inOut, 0, model, intermediate,
                                e * sliceSize, sliceSize);
    for (int64_t b = 0; b < batch; ++b) {
      std::vector<double> column(static_cast<size_t>(seq));
      for (int64_t s = 0; s < seq; ++s)
        column[s] = p[(b * seq + s) * numExperts + e];
      for (int64_t s : topCountAscending(column, kept)) {
        int64_t at = (b * seq + s) * model;
        applyFFN(slice, activation, tokens.data.data() + at, y.data());
        for (int64_t m = 0; m < model; ++m)
          out.data[at + m] += y[m];
      }
    }
  }
  result = std::move(out);
  return true;
}

} // namespace moert::reference
