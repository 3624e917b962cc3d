//===- FFN.h - one feed-forward network read in place from its weights -*- C++ -*-===//
//
// A routed expert, the shared expert and a union_ffn slice are all the same
// computation, `down(act(gate·x) ⊙ up·x)` (gated) or `down(act(up·x))`
// (plain), over different views of the weight tensors. FFNView is such a
// view: base pointers plus strides, so layouts and slices need no copies.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_REFERENCE_FFN_H
#define MOERT_REFERENCE_FFN_H

#include "Reference.h"

#include <string>

namespace moert::reference {

struct FFNView {
  const double *gate = nullptr; ///< null for a plain FFN
  const double *up = nullptr;
  const double *down = nullptr;
  int64_t hidden = 0;
  int64_t intermediate = 0;
  /// up(h, f) = up[h·upStrideH + f·upStrideF]; gate alike.
  int64_t upStrideH = 0, upStrideF = 0;
  /// down(f, h) = down[f·downStrideF + h·downStrideH].
  int64_t downStrideF = 0, downStrideH = 0;
};

/// Checks gate (optional) / up / down against hidden size `hidden` in
/// `layout`: with `perExpert`, [E, H, F] / [E, F, H] (in_out) or [E, F, H] /
/// [E, H, F] (out_in); without, the same minus the leading E. Sets `experts`
/// (1 without `perExpert`) and `intermediate`. `prefix` ("shared_") goes in
/// front of the operand names in messages.
bool checkFFNWeights(const HostTensor *gate, const HostTensor &up,
                     const HostTensor &down, WeightLayout layout,
                     bool perExpert, int64_t hidden, int64_t &experts,
                     int64_t &intermediate, const std::string &prefix,
                     std::string &error);

/// The view of expert `expert` (0 without a leading expert dimension),
/// restricted to intermediate columns [sliceBegin, sliceBegin + sliceSize).
/// Weights must have passed checkFFNWeights with intermediate size
/// `intermediate`.
FFNView makeFFNView(const HostTensor *gate, const HostTensor &up,
                    const HostTensor &down, WeightLayout layout,
                    int64_t expert, int64_t hidden, int64_t intermediate,
                    int64_t sliceBegin, int64_t sliceSize);

/// y[0..H) = FFN(x[0..H)), accumulated in double; y is overwritten.
void applyFFN(const FFNView &ffn, Activation activation, const double *x,
              double *y);

} // namespace moert::reference

#endif // MOERT_REFERENCE_FFN_H
