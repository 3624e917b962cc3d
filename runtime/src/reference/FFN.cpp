//===- FFN.cpp - one feed-forward network read in place from its weights --===//

#include "FFN.h"
#include "TensorChecks.h"

#include <vector>

namespace moert::reference {

bool checkFFNWeights(const HostTensor *gate, const HostTensor &up,
                     const HostTensor &down, WeightLayout layout,
                     bool perExpert, int64_t hidden, int64_t &experts,
                     int64_t &intermediate, const std::string &prefix,
                     std::string &error) {
  bool inOut = layout == WeightLayout::inOut;
  size_t lead = perExpert ? 1 : 0;
  const char *upHint = perExpert ? (inOut ? "[E, H, F]" : "[E, F, H]")
                                 : (inOut ? "[H, F]" : "[F, H]");
  const char *downHint = perExpert ? (inOut ? "[E, F, H]" : "[E, H, F]")
                                   : (inOut ? "[F, H]" : "[H, F]");
  std::string upName = prefix + "up_weight", downName = prefix + "down_weight",
              gateName = prefix + "gate_weight";
  if (!checkFloat(up, upName.c_str(), lead + 2, upHint, error) ||
      !checkFloat(down, downName.c_str(), lead + 2, downHint, error))
    return false;
  size_t hDim = inOut ? lead : lead + 1, fDim = inOut ? lead + 1 : lead;
  experts = perExpert ? up.shape[0] : 1;
  intermediate = up.shape[fDim];
  if (!checkDim(up, upName.c_str(), hDim, hidden, "the hidden size", error) ||
      (perExpert && !checkDim(down, downName.c_str(), 0, experts,
                              "the experts of the up weight", error)) ||
      !checkDim(down, downName.c_str(), fDim, hidden, "the hidden size",
                error) ||
      !checkDim(down, downName.c_str(), hDim, intermediate,
                "the intermediate size of the up weight", error))
    return false;
  if (!gate)
    return true;
  if (!checkFloat(*gate, gateName.c_str(), lead + 2, upHint, error))
    return false;
  if (gate->shape != up.shape) {
    error = "'" + gateName + "' shape " + shapeToString(gate->shape) +
            " differs from '" + upName + "' shape " + shapeToString(up.shape);
    return false;
  }
  return true;
}

FFNView makeFFNView(const HostTensor *gate, const HostTensor &up,
                    const HostTensor &down, WeightLayout layout,
                    int64_t expert, int64_t hidden, int64_t intermediate,
                    int64_t sliceBegin, int64_t sliceSize) {
  FFNView view;
  view.hidden = hidden;
  view.intermediate = sliceSize;
  if (layout == WeightLayout::inOut) {
    view.upStrideH = intermediate, view.upStrideF = 1;  // up [H, F]
    view.downStrideF = hidden, view.downStrideH = 1;    // down [F, H]
  } else {
    view.upStrideH = 1, view.upStrideF = hidden;        // up [F, H]
    view.downStrideF = 1, view.downStrideH = intermediate; // down [H, F]
  }
  size_t expertBase = static_cast<size_t>(expert * hidden * intermediate);
  size_t upBase = expertBase + static_cast<size_t>(sliceBegin * view.upStrideF);
  size_t downBase =
      expertBase + static_cast<size_t>(sliceBegin * view.downStrideF);
  view.up = up.data.data() + upBase;
  view.down = down.data.data() + downBase;
  if (gate)
    view.gate = gate->data.data() + upBase;
  return view;
}

void applyFFN(const FFNView &ffn, Activation activation, const double *x,
              double *y) {
  std::vector<double> inner(static_cast<size_t>(ffn.intermediate));
  for (int64_t f = 0; f < ffn.intermediate; ++f) {
    double up = 0.0, gate = 0.0;
    for (int64_t h = 0; h < ffn.hidden; ++h) {
      int64_t at = h * ffn.upStrideH + f * ffn.upStrideF;
      up += x[h] * ffn.up[at];
      if (ffn.gate)
        gate += x[h] * ffn.gate[at];
    }
    inner[f] = ffn.gate ? activate(activation, gate) * up
                        : activate(activation, up);
  }
  for (int64_t h = 0; h < ffn.hidden; ++h) {
    double sum = 0.0;
    for (int64_t f = 0; f < ffn.intermediate; ++f)
      sum += inner[f] * ffn.down[f * ffn.downStrideF + h * ffn.downStrideH];
    y[h] = sum;
  }
}

} // namespace moert::reference
