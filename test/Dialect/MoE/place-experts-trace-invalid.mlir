// Tests that every malformed field of a routing trace is an error naming the
// file and the field (a JSON path), and that the pass stops there. Top-level
// fields are reported on the module, a layer's fields on the op it describes.

// Tests a file that is not JSON.
// RUN: echo '{"format": ' > %t.notjson.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.notjson.json" 2>&1 | FileCheck %s --check-prefix=NOTJSON
// NOTJSON: place-experts-trace-invalid.mlir:159:1: error: routing trace '{{.*}}notjson.json' is not valid JSON: [2:0, byte=12]: Unexpected EOF

// Tests a top level that is not an object.
// RUN: echo '[1, 2]' > %t.top.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.top.json" 2>&1 | FileCheck %s --check-prefix=TOP
// TOP: place-experts-trace-invalid.mlir:159:1: error: routing trace '{{.*}}top.json': top level: must be a JSON object

// Tests an unknown top-level field (a typo).
// RUN: echo '{"format": "moe-routing-trace", "version": 1, "layer": []}' > %t.unknown.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.unknown.json" 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// UNKNOWN: place-experts-trace-invalid.mlir:159:1: error: routing trace '{{.*}}unknown.json': top level: unknown field 'layer' (expected one of 'format' 'version' 'tokens' 'top_k' 'source' 'layers')

// Tests a missing format.
// RUN: echo '{"version": 1, "layers": []}' > %t.noformat.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.noformat.json" 2>&1 | FileCheck %s --check-prefix=NOFORMAT
// NOFORMAT: place-experts-trace-invalid.mlir:159:1: error: routing trace '{{.*}}noformat.json': format: is missing (expected "moe-routing-trace")

// Tests a format that is not a string.
// RUN: echo '{"format": 1, "version": 1, "layers": []}' > %t.formattype.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.formattype.json" 2>&1 | FileCheck %s --check-prefix=FORMATTYPE
// FORMATTYPE: place-experts-trace-invalid.mlir:159:1: error: routing trace '{{.*}}': format: must be a string

// Tests another format.
// RUN: echo '{"format": "chrome-trace", "version": 1, "layers": []}' > %t.format.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.format.json" 2>&1 | FileCheck %s --check-prefix=FORMAT
// FORMAT: place-experts-trace-invalid.mlir:159:1: error: routing trace '{{.*}}': format: is "chrome-trace", expected "moe-routing-trace"

// Tests a missing version.
// RUN: echo '{"format": "moe-routing-trace", "layers": []}' > %t.noversion.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.noversion.json" 2>&1 | FileCheck %s --check-prefix=NOVERSION
// NOVERSION: place-experts-trace-invalid.mlir:159:1: error: routing trace '{{.*}}': version: is missing

// Tests a version that is not an integer.
// RUN: echo '{"format": "moe-routing-trace", "version": "1", "layers": []}' > %t.versiontype.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.versiontype.json" 2>&1 | FileCheck %s --check-prefix=VERSIONTYPE
// VERSIONTYPE: place-experts-trace-invalid.mlir:159:1: error: routing trace '{{.*}}': version: must be a positive integer

// Tests an unsupported version.
// RUN: echo '{"format": "moe-routing-trace", "version": 2, "layers": []}' > %t.version.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.version.json" 2>&1 | FileCheck %s --check-prefix=VERSION
// VERSION: place-experts-trace-invalid.mlir:159:1: error: routing trace '{{.*}}': version: 2 is not supported (this pass reads version 1)

// Tests a negative token count.
// RUN: echo '{"format": "moe-routing-trace", "version": 1, "tokens": -1, "layers": []}' > %t.tokens.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.tokens.json" 2>&1 | FileCheck %s --check-prefix=TOKENS
// TOKENS: place-experts-trace-invalid.mlir:159:1: error: routing trace '{{.*}}': tokens: must be a non-negative integer, got -1

// Tests a top_k of 0.
// RUN: echo '{"format": "moe-routing-trace", "version": 1, "top_k": 0, "layers": []}' > %t.topk.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.topk.json" 2>&1 | FileCheck %s --check-prefix=TOPK
// TOPK: place-experts-trace-invalid.mlir:159:1: error: routing trace '{{.*}}': top_k: must be a positive integer, got 0

// Tests a source that is not a string.
// RUN: echo '{"format": "moe-routing-trace", "version": 1, "source": 3, "layers": []}' > %t.source.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.source.json" 2>&1 | FileCheck %s --check-prefix=SOURCE
// SOURCE: place-experts-trace-invalid.mlir:159:1: error: routing trace '{{.*}}': source: must be a string

// Tests missing layers.
// RUN: echo '{"format": "moe-routing-trace", "version": 1}' > %t.nolayers.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.nolayers.json" 2>&1 | FileCheck %s --check-prefix=NOLAYERS
// NOLAYERS: place-experts-trace-invalid.mlir:159:1: error: routing trace '{{.*}}': layers: is missing

// Tests layers that are not an array.
// RUN: echo '{"format": "moe-routing-trace", "version": 1, "layers": {}}' > %t.layerstype.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.layerstype.json" 2>&1 | FileCheck %s --check-prefix=LAYERSTYPE
// LAYERSTYPE: place-experts-trace-invalid.mlir:159:1: error: routing trace '{{.*}}': layers: must be an array

// Tests a trace with fewer layers than the module.
// RUN: echo '{"format": "moe-routing-trace", "version": 1, "layers": [{"tokens_per_expert": [1, 1, 1, 1]}]}' > %t.layercount.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.layercount.json" 2>&1 | FileCheck %s --check-prefix=LAYERCOUNT
// LAYERCOUNT: place-experts-trace-invalid.mlir:159:1: error: routing trace '{{.*}}': layers: has 1 layer(s) but the module has 2 moe.layer/moe.experts op(s) to place (one per layer, in program order)

// Tests a layer that is not an object.
// RUN: echo '{"format": "moe-routing-trace", "version": 1, "layers": [{"tokens_per_expert": [1, 1, 1, 1]}, 7]}' > %t.layertype.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.layertype.json" 2>&1 | FileCheck %s --check-prefix=LAYERTYPE
// LAYERTYPE: place-experts-trace-invalid.mlir:164:10: error: routing trace '{{.*}}': layers[1]: must be a JSON object

// Tests an unknown layer field.
// RUN: echo '{"format": "moe-routing-trace", "version": 1, "layers": [{"tokens_per_expert": [1, 1, 1, 1], "pairs": []}, {"tokens_per_expert": [1, 1, 1, 1]}]}' > %t.layerkey.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.layerkey.json" 2>&1 | FileCheck %s --check-prefix=LAYERKEY
// LAYERKEY: place-experts-trace-invalid.mlir:161:10: error: routing trace '{{.*}}': layers[0]: unknown field 'pairs' (expected one of 'tokens_per_expert' 'pairs_with_next')

// Tests a layer without tokens_per_expert.
// RUN: echo '{"format": "moe-routing-trace", "version": 1, "layers": [{"tokens_per_expert": [1, 1, 1, 1]}, {}]}' > %t.notokens.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.notokens.json" 2>&1 | FileCheck %s --check-prefix=NOTOKENS
// NOTOKENS: place-experts-trace-invalid.mlir:164:10: error: routing trace '{{.*}}': layers[1].tokens_per_expert: is missing

// Tests tokens_per_expert that is not an array.
// RUN: echo '{"format": "moe-routing-trace", "version": 1, "layers": [{"tokens_per_expert": 4}, {"tokens_per_expert": [1, 1, 1, 1]}]}' > %t.tokenstype.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.tokenstype.json" 2>&1 | FileCheck %s --check-prefix=TOKENSTYPE
// TOKENSTYPE: place-experts-trace-invalid.mlir:161:10: error: routing trace '{{.*}}': layers[0].tokens_per_expert: must be an array

// Tests tokens_per_expert of the wrong length.
// RUN: echo '{"format": "moe-routing-trace", "version": 1, "layers": [{"tokens_per_expert": [1, 1, 1]}, {"tokens_per_expert": [1, 1, 1, 1]}]}' > %t.tokenslen.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.tokenslen.json" 2>&1 | FileCheck %s --check-prefix=TOKENSLEN
// TOKENSLEN: place-experts-trace-invalid.mlir:161:10: error: routing trace '{{.*}}': layers[0].tokens_per_expert: has 3 entries, expected 4 (the routed experts of this moe.layer)

// Tests a negative token count of an expert.
// RUN: echo '{"format": "moe-routing-trace", "version": 1, "layers": [{"tokens_per_expert": [1, 1, 1, 1]}, {"tokens_per_expert": [1, 1, -5, 1]}]}' > %t.tokensneg.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.tokensneg.json" 2>&1 | FileCheck %s --check-prefix=TOKENSNEG
// TOKENSNEG: place-experts-trace-invalid.mlir:164:10: error: routing trace '{{.*}}': layers[1].tokens_per_expert[2]: must be a non-negative integer, got -5

// Tests a fractional token count.
// RUN: echo '{"format": "moe-routing-trace", "version": 1, "layers": [{"tokens_per_expert": [1, 1.5, 1, 1]}, {"tokens_per_expert": [1, 1, 1, 1]}]}' > %t.tokensfrac.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.tokensfrac.json" 2>&1 | FileCheck %s --check-prefix=TOKENSFRAC
// TOKENSFRAC: place-experts-trace-invalid.mlir:161:10: error: routing trace '{{.*}}': layers[0].tokens_per_expert[1]: must be a non-negative integer

// Tests pairs_with_next that is not an array.
// RUN: echo '{"format": "moe-routing-trace", "version": 1, "layers": [{"tokens_per_expert": [1, 1, 1, 1], "pairs_with_next": 3}, {"tokens_per_expert": [1, 1, 1, 1]}]}' > %t.pairstype.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.pairstype.json" 2>&1 | FileCheck %s --check-prefix=PAIRSTYPE
// PAIRSTYPE: place-experts-trace-invalid.mlir:161:10: error: routing trace '{{.*}}': layers[0].pairs_with_next: must be an array

// Tests pairs on the last layer.
// RUN: echo '{"format": "moe-routing-trace", "version": 1, "layers": [{"tokens_per_expert": [1, 1, 1, 1]}, {"tokens_per_expert": [1, 1, 1, 1], "pairs_with_next": [[0, 0, 1]]}]}' > %t.pairslast.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.pairslast.json" 2>&1 | FileCheck %s --check-prefix=PAIRSLAST
// PAIRSLAST: place-experts-trace-invalid.mlir:164:10: error: routing trace '{{.*}}': layers[1].pairs_with_next: the last layer has no next layer to pair with

// Tests a pair that is not a triple.
// RUN: echo '{"format": "moe-routing-trace", "version": 1, "layers": [{"tokens_per_expert": [1, 1, 1, 1], "pairs_with_next": [[0, 1, 1], [0, 1]]}, {"tokens_per_expert": [1, 1, 1, 1]}]}' > %t.pairshape.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.pairshape.json" 2>&1 | FileCheck %s --check-prefix=PAIRSHAPE
// PAIRSHAPE: place-experts-trace-invalid.mlir:161:10: error: routing trace '{{.*}}': layers[0].pairs_with_next[1]: must be an array [expert, next-layer expert, count]

// Tests a pair naming an expert out of range.
// RUN: echo '{"format": "moe-routing-trace", "version": 1, "layers": [{"tokens_per_expert": [1, 1, 1, 1], "pairs_with_next": [[4, 1, 1]]}, {"tokens_per_expert": [1, 1, 1, 1]}]}' > %t.pairfrom.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.pairfrom.json" 2>&1 | FileCheck %s --check-prefix=PAIRFROM
// PAIRFROM: place-experts-trace-invalid.mlir:161:10: error: routing trace '{{.*}}': layers[0].pairs_with_next[0][0]: expert 4 is out of range [0, 4) of layer 0

// Tests a pair naming a next-layer expert out of range.
// RUN: echo '{"format": "moe-routing-trace", "version": 1, "layers": [{"tokens_per_expert": [1, 1, 1, 1], "pairs_with_next": [[0, 9, 1]]}, {"tokens_per_expert": [1, 1, 1, 1]}]}' > %t.pairto.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.pairto.json" 2>&1 | FileCheck %s --check-prefix=PAIRTO
// PAIRTO: place-experts-trace-invalid.mlir:161:10: error: routing trace '{{.*}}': layers[0].pairs_with_next[0][1]: expert 9 is out of range [0, 4) of layer 1

// Tests a negative expert index.
// RUN: echo '{"format": "moe-routing-trace", "version": 1, "layers": [{"tokens_per_expert": [1, 1, 1, 1], "pairs_with_next": [[-1, 0, 1]]}, {"tokens_per_expert": [1, 1, 1, 1]}]}' > %t.pairindex.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.pairindex.json" 2>&1 | FileCheck %s --check-prefix=PAIRINDEX
// PAIRINDEX: place-experts-trace-invalid.mlir:161:10: error: routing trace '{{.*}}': layers[0].pairs_with_next[0][0]: must be a non-negative integer, got -1

// Tests a negative pair count.
// RUN: echo '{"format": "moe-routing-trace", "version": 1, "layers": [{"tokens_per_expert": [1, 1, 1, 1], "pairs_with_next": [[0, 0, -2]]}, {"tokens_per_expert": [1, 1, 1, 1]}]}' > %t.paircount.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.paircount.json" 2>&1 | FileCheck %s --check-prefix=PAIRCOUNT
// PAIRCOUNT: place-experts-trace-invalid.mlir:161:10: error: routing trace '{{.*}}': layers[0].pairs_with_next[0][2]: must be a non-negative integer, got -2

// Tests a repeated pair.
// RUN: echo '{"format": "moe-routing-trace", "version": 1, "layers": [{"tokens_per_expert": [1, 1, 1, 1], "pairs_with_next": [[0, 1, 1], [2, 3, 1], [0, 1, 4]]}, {"tokens_per_expert": [1, 1, 1, 1]}]}' > %t.pairdup.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.pairdup.json" 2>&1 | FileCheck %s --check-prefix=PAIRDUP
// PAIRDUP: place-experts-trace-invalid.mlir:161:10: error: routing trace '{{.*}}': layers[0].pairs_with_next[2]: repeats the pair of experts (0, 1) of layers[0].pairs_with_next[0]

// Tests a pair through an expert without tokens.
// RUN: echo '{"format": "moe-routing-trace", "version": 1, "layers": [{"tokens_per_expert": [1, 1, 1, 1], "pairs_with_next": [[0, 3, 2]]}, {"tokens_per_expert": [1, 1, 1, 0]}]}' > %t.pairidle.json
// RUN: not moe-opt %s --moe-place-experts="trace=%t.pairidle.json" 2>&1 | FileCheck %s --check-prefix=PAIRIDLE
// PAIRIDLE: place-experts-trace-invalid.mlir:161:10: error: routing trace '{{.*}}': layers[0].pairs_with_next[0]: counts 2 token(s) through expert 3 of layer 1, which has no tokens (layers[1].tokens_per_expert[3] is 0)
module attributes {moe.parallel = #moe.parallel<attn = {dp = 2}, moe = {ep = 2}>} {
  func.func @two_layers(%x: tensor<4x8xf32>, %r: tensor<4x8xf32>, %u: tensor<4x16x8xf32>, %d: tensor<4x8x16xf32>, %u2: tensor<4x16x8xf32>, %d2: tensor<4x8x16xf32>) -> tensor<4x8xf32> {
    %y = moe.layer %x router %r experts up %u down %d routing <scoring = softmax, top_k = 1>
        activation gelu layout out_in
        : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<4x8xf32>
    %z = moe.layer %y router %r experts up %u2 down %d2 routing <scoring = softmax, top_k = 1>
        activation gelu layout out_in
        : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<4x8xf32>
    return %z : tensor<4x8xf32>
  }
}
