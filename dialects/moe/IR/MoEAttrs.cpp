//===- MoEAttrs.cpp - moe dialect attributes ------------------------------===//

#include "moe/IR/MoEAttrs.h"
#include "moe/IR/MoEDialect.h"
#include "moe/IR/MoEShapes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

using namespace mlir;
using namespace mlir::moe;

#include "moe/IR/MoEEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "moe/IR/MoEAttrs.cpp.inc"

//===----------------------------------------------------------------------===//
// RoutingAttr
//===----------------------------------------------------------------------===//

double RoutingAttr::getScale() const {
  if (FloatAttr scale = getScalingFactor())
    return scale.getValueAsDouble();
  return 1.0;
}

LogicalResult RoutingAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                  Scoring scoring, int64_t topK,
                                  bool renormalize, FloatAttr scalingFactor,
                                  int64_t numGroups,
                                  std::optional<int64_t> keptGroups,
                                  GroupScore groupScore, FloatAttr topP,
                                  int64_t zeroExperts, int64_t copyExperts,
                                  int64_t constantExperts) {
  if (topK < 1)
    return emitError() << "top_k must be at least 1, got " << topK;
  if (scalingFactor) {
    double scale = scalingFactor.getValueAsDouble();
    if (!std::isfinite(scale) || scale <= 0.0)
      return emitError() << "scaling_factor must be positive and finite, got "
                         << scale;
  }
  if (numGroups < 1)
    return emitError() << "num_groups must be at least 1, got " << numGroups;
  if (keptGroups && (*keptGroups < 1 || *keptGroups > numGroups))
    return emitError() << "kept_groups (" << *keptGroups
                       << ") must be between 1 and num_groups (" << numGroups
                       << ")";
  if (topP) {
    double p = topP.getValueAsDouble();
    if (!(p > 0.0 && p <= 1.0))
      return emitError() << "top_p must be in (0, 1], got " << p;
  }
  for (auto [name, count] : {std::pair<StringRef, int64_t>{"zero_experts",
                                                           zeroExperts},
                             {"copy_experts", copyExperts},
                             {"constant_experts", constantExperts}})
    if (count < 0)
      return emitError() << name << " must be non-negative, got " << count;
  int64_t numNull;
  if (__builtin_add_overflow(zeroExperts, copyExperts, &numNull) ||
      __builtin_add_overflow(numNull, constantExperts, &numNull))
    return emitError() << "the null expert counts overflow int64";
  if (topP && zeroExperts < 1)
    return emitError() << "top_p routing needs at least one zero expert to "
                          "point its unused slots at";
  if (numGroups > 1 && zeroExperts + copyExperts + constantExperts > 0)
    return emitError()
           << "group-limited selection cannot be combined with null experts";
  return success();
}

LogicalResult
RoutingAttr::verifyAgainst(function_ref<InFlightDiagnostic()> emitError,
                           int64_t numExperts) const {
  int64_t routed = numExperts - getNumNullExperts();
  if (routed < 1)
    return emitError() << "routing declares " << getNumNullExperts()
                       << " null experts but there are only " << numExperts
                       << " experts; at least one routed expert is needed";
  if (getTopK() > numExperts)
    return emitError() << "top_k (" << getTopK()
                       << ") exceeds the number of experts (" << numExperts
                       << ")";
  if (getNumGroups() == 1)
    return success();
  if (routed % getNumGroups() != 0)
    return emitError() << "num_groups (" << getNumGroups()
                       << ") does not divide the " << routed
                       << " routed experts";
  int64_t groupSize = routed / getNumGroups();
  if (getGroupScore() == GroupScore::top2_sum && groupSize < 2)
    return emitError() << "group_score top2_sum needs at least 2 experts per "
                          "group, got "
                       << groupSize;
  int64_t selectable = getNumKeptGroups() * groupSize;
  if (getTopK() > selectable)
    return emitError() << "top_k (" << getTopK() << ") exceeds the "
                       << selectable << " experts of the kept groups ("
                       << getNumKeptGroups() << " groups of " << groupSize
                       << ")";
  return success();
}

//===----------------------------------------------------------------------===//
// ParallelAttr
//===----------------------------------------------------------------------===//

/// Parses `{key = int, ...}` where keys come from `names`; every key defaults
/// to 1 and may appear once.
static ParseResult parseDegreeGroup(AsmParser &parser, StringRef groupName,
                                    ArrayRef<StringRef> names,
                                    MutableArrayRef<int64_t> values) {
  SmallVector<bool> seen(names.size(), false);
  auto parseEntry = [&]() -> ParseResult {
    SMLoc loc = parser.getCurrentLocation();
    std::string key;
    if (parser.parseKeywordOrString(&key))
      return failure();
    auto it = llvm::find(names, key);
    if (it == names.end()) {
      auto diag = parser.emitError(loc)
                  << "unknown " << groupName << " parallelism '" << key
                  << "'; expected one of:";
      for (StringRef name : names)
        diag << " " << name;
      return diag;
    }
    size_t index = it - names.begin();
    if (seen[index])
      return parser.emitError(loc)
             << "'" << key << "' is given twice in the " << groupName
             << " group";
    seen[index] = true;
    return failure(parser.parseEqual() || parser.parseInteger(values[index]));
  };
  return parser.parseCommaSeparatedList(AsmParser::Delimiter::Braces,
                                        parseEntry);
}

Attribute ParallelAttr::parse(AsmParser &parser, Type) {
  // attn: tp cp dp pp; moe: etp ep edp (pp is shared by both groupings).
  SmallVector<int64_t> attn(4, 1), moe(3, 1);
  if (parser.parseLess() || parser.parseKeyword("attn") ||
      parser.parseEqual() ||
      parseDegreeGroup(parser, "attention", {"tp", "cp", "dp", "pp"}, attn) ||
      parser.parseComma() || parser.parseKeyword("moe") ||
      parser.parseEqual() ||
      parseDegreeGroup(parser, "MoE", {"etp", "ep", "edp"}, moe) ||
      parser.parseGreater())
    return {};
  return parser.getChecked<ParallelAttr>(parser.getContext(), attn[0], attn[1],
                                         attn[2], attn[3], moe[0], moe[1],
                                         moe[2]);
}

void ParallelAttr::print(AsmPrinter &printer) const {
  printer << "<attn = {tp = " << getTp() << ", cp = " << getCp()
          << ", dp = " << getDp() << ", pp = " << getPp()
          << "}, moe = {etp = " << getEtp() << ", ep = " << getEp()
          << ", edp = " << getEdp() << "}>";
}

LogicalResult ParallelAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                   int64_t tp, int64_t cp, int64_t dp,
                                   int64_t pp, int64_t etp, int64_t ep,
                                   int64_t edp) {
  for (auto [name, degree] :
       {std::pair<StringRef, int64_t>{"tp", tp}, {"cp", cp}, {"dp", dp},
        {"pp", pp}, {"etp", etp}, {"ep", ep}, {"edp", edp}})
    if (degree < 1)
      return emitError() << name << " must be at least 1, got " << degree;
  int64_t attnWorld = mulDims(mulDims(mulDims(tp, cp), dp), pp);
  int64_t moeWorld = mulDims(mulDims(mulDims(etp, ep), edp), pp);
  if (ShapedType::isDynamic(attnWorld) || ShapedType::isDynamic(moeWorld))
    return emitError() << "the parallel plan's world size overflows int64";
  if (attnWorld != moeWorld)
    return emitError() << "attention world tp*cp*dp*pp = " << attnWorld
                       << " differs from MoE world etp*ep*edp*pp = "
                       << moeWorld;
  return success();
}

//===----------------------------------------------------------------------===//
// Registration
//===----------------------------------------------------------------------===//

void MoEDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "moe/IR/MoEAttrs.cpp.inc"
      >();
}
