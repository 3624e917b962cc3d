//===- moe-run.cpp - run a function of an artifact bundle -----------------===//
//
// A thin client of the runtime C API (moert.h): loads a bundle, binds inputs
// from safetensors files (random ones from a seed otherwise), runs a function,
// prints each output's summary and the run time, and with --check compares
// with the bundle's reference program. Never links MLIR or LLVM.
//
// A sharded bundle (a manifest "grid", docs/multi-rank.md) runs under
// `mpirun -np N`: every rank makes the same full tensors, takes its block,
// runs its program, and checks its block of the output against the same block
// of the reference program run on the full tensors; rank 0 prints the summary
// (errors as the maximum over ranks).
//
//===----------------------------------------------------------------------===//

#include "moert/moert.h"
#include "Serve.h"

#include "DType.h"
#include "Random.h"
#include "Safetensors.h"
#include "WeightBinder.h"

#ifdef MOE_RUN_HAVE_REFERENCE
#include "ReferenceProgram.h"
#endif

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

const char *kUsage = R"(usage: moe-run BUNDLE [options]

Runs a function of an artifact bundle (written by moe-translate --moe-to-bundle)
and prints each output's name, dtype, shape and summary (min, max, mean, L2),
and the run time.

options:
  --function NAME    the function to run (needed when the bundle has several)
  --weights FILE, --inputs FILE
                     a .safetensors file to bind inputs from, by their names
                     (the moe.input argument attributes); may be repeated
  --seed N           seed of the random inputs (default 0): inputs not found in
                     the weights files are uniform in +-1/sqrt(last dim); the
                     token inputs in +-1; integer inputs in [0, 1]
  --check            also run the bundle's reference program on the same inputs
                     and compare: PASS when max_abs_err <= tol * max(1, max|ref|),
                     tol = 1e-4 (f32), 2e-3 (f16), 1.6e-2 (bf16), 0 (integers)
  --repeat N         run N times (default 1) and report the median time; on
                     cuda the device time of the kernel calls between CUDA
                     events (input/output copies excluded), after one warm-up
                     run when N > 1
  --device auto|cpu|cuda
                     where to run (default auto: cuda for a bundle of a cuda-*
                     target, cpu otherwise)
  --print-outputs    also print every output element
  --collective-timeout SECONDS
                     deadline of each collective of a multi-rank run (default
                     60, or MOERT_COLLECTIVE_TIMEOUT_S)
  --device-memory-limit BYTES
                     cuda: fail a run that holds more device memory than this
                     at once (a memory-tier plan's HBM budget, checked); 0 is
                     no limit. Accepts K/M/G suffixes (powers of 1024)
  --tier-cache BYTES  cuda: keep weights fetched from host memory (a memory-tier
                     plan's, a composition's) in an HBM cache of this size across
                     runs and requests, least recently used out first; 0 (the
                     default) copies them on every run. Accepts K/M/G suffixes
  --route LIST       a composition of experts (moe.composition): the model of
                     each request, as model columns or names ("0,2,chat,...",
                     one per request), written into the selector; moe-run
                     prints each request's latency, model switch and weights
                     fetched
  --help             this text

Sharded bundles (with a grid) run on prod(grid) ranks: mpirun -np N moe-run
BUNDLE --seed S --check (or with the RANK/WORLD_SIZE/LOCAL_RANK variables of
an MPI launcher). Every rank makes the same full tensors (from --seed and
--weights), takes its block (after the expert permutation) and checks its
block of the outputs; rank 0 prints the summary, errors as the maximum over
ranks; on cuda each rank uses the device of its LOCAL_RANK.

exit status: 0 success, 1 error, 2 --check FAIL.
)";

/// "rank 3: " in a multi-rank run, "" otherwise.
std::string rankPrefix;

[[noreturn]] void die(const std::string &message) {
  std::fprintf(stderr, "moe-run: error: %s%s\n", rankPrefix.c_str(),
               message.c_str());
  std::fflush(stderr);
  std::exit(1);
}

/// Dies with the status message; frees nothing (the process ends).
void check(moert_status_t status, const char *context = nullptr) {
  if (!status)
    return;
  std::string message = moert_status_message(status);
  moert_status_free(status);
  die(context ? std::string(context) + ": " + message : message);
}

struct Options {
  std::string bundle;
  std::string function;
  std::vector<std::string> weights;
  uint64_t seed = 0;
  bool check = false;
  bool printOutputs = false;
  uint64_t repeat = 1;
  std::string device = "auto";
  std::string collectiveTimeout;
  uint64_t deviceMemoryLimit = 0;
  std::string route;
  /// --tier-cache: unset, or the cache's capacity in bytes.
  std::optional<uint64_t> tierCache;
};

bool parseUnsigned(const std::string &text, uint64_t &out) {
  if (text.empty() || text.size() > 20 ||
      text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  errno = 0;
  char *end = nullptr;
  unsigned long long value = std::strtoull(text.c_str(), &end, 10);
  if (errno || *end)
    return false;
  out = value;
  return true;
}

/// "512", "64K", "3M", "2G" (powers of 1024).
bool parseBytes(const std::string &text, uint64_t &out) {
  if (text.empty())
    return false;
  uint64_t scale = 1;
  std::string digits = text;
  switch (text.back()) {
  case 'K': scale = uint64_t(1) << 10; break;
  case 'M': scale = uint64_t(1) << 20; break;
  case 'G': scale = uint64_t(1) << 30; break;
  default: break;
  }
  if (scale != 1)
    digits.pop_back();
  uint64_t value = 0;
  if (!parseUnsigned(digits, value) || value > UINT64_MAX / scale)
    return false;
  out = value * scale;
  return true;
}

Options parseOptions(int argc, char **argv) {
  Options options;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (arg.size() < 2 || arg.compare(0, 2, "--") != 0 || arg == "--") {
      if (arg.size() > 1 && arg[0] == '-')
        die("unknown option '" + arg + "' (see --help)");
      positional.push_back(arg);
      continue;
    }
    std::string name = arg, value;
    bool inlineValue = false;
    if (size_t eq = arg.find('='); eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      inlineValue = true;
    }
    auto takeValue = [&]() {
      if (inlineValue)
        return value;
      if (i + 1 >= argc)
        die("option '" + name + "' needs a value");
      return std::string(argv[++i]);
    };
    auto noValue = [&]() {
      if (inlineValue)
        die("option '" + name + "' takes no value");
    };
    if (name == "--function") {
      options.function = takeValue();
    } else if (name == "--weights" || name == "--inputs") {
      // Activations and weights bind the same way, by name.
      options.weights.push_back(takeValue());
    } else if (name == "--seed") {
      std::string text = takeValue();
      if (!parseUnsigned(text, options.seed))
        die("--seed: '" + text + "' is not a non-negative integer");
    } else if (name == "--repeat") {
      std::string text = takeValue();
      if (!parseUnsigned(text, options.repeat) || options.repeat == 0 ||
          options.repeat > 1000000)
        die("--repeat: '" + text + "' is not an integer in [1, 1000000]");
    } else if (name == "--device") {
      options.device = takeValue();
      if (options.device != "auto" && options.device != "cpu" &&
          options.device != "cuda")
        die("--device: '" + options.device +
            "' is not 'auto', 'cpu' or 'cuda'");
    } else if (name == "--collective-timeout") {
      std::string text = takeValue();
      char *end = nullptr;
      errno = 0;
      double seconds = std::strtod(text.c_str(), &end);
      if (text.empty() || errno || *end || !std::isfinite(seconds) ||
          seconds <= 0 || seconds > 7 * 24 * 3600.0)
        die("--collective-timeout: '" + text +
            "' is not a number of seconds (> 0, at most a week)");
      options.collectiveTimeout = text;
    } else if (name == "--device-memory-limit") {
      std::string text = takeValue();
      if (!parseBytes(text, options.deviceMemoryLimit))
        die("--device-memory-limit: '" + text +
            "' is not a byte count (an integer, optionally with K, M or G)");
    } else if (name == "--tier-cache") {
      std::string text = takeValue();
      uint64_t bytes = 0;
      if (!parseBytes(text, bytes))
        die("--tier-cache: '" + text +
            "' is not a byte count (an integer, optionally with K, M or G)");
      options.tierCache = bytes;
    } else if (name == "--route") {
      options.route = takeValue();
    } else if (name == "--check") {
      noValue();
      options.check = true;
    } else if (name == "--print-outputs") {
      noValue();
      options.printOutputs = true;
    } else {
      die("unknown option '" + name + "' (see --help)");
    }
  }
  if (positional.empty())
    die("no bundle given (usage: moe-run BUNDLE [options]; see --help)");
  if (positional.size() > 1)
    die("more than one bundle given ('" + positional[0] + "', '" +
        positional[1] + "')");
  options.bundle = positional[0];
  return options;
}

/// A host tensor of the run: the manifest's type and its bytes.
struct Tensor {
  moert_tensor_info_t info;
  moert::DType dtype;
  std::vector<unsigned char> bytes;
  /// Where an input came from, for the report.
  std::string source;
};

moert::DType toDType(moert_dtype_t dtype) {
  moert::DType out = moert::DType::F32;
  const char *name = moert_dtype_name(dtype);
  if (!name || !moert::parseDType(name, out))
    die(std::string("unsupported dtype ") + (name ? name : "?"));
  return out;
}

std::string shapeText(const moert_tensor_info_t &info) {
  std::string text = "[";
  for (size_t i = 0; i < info.rank; ++i)
    text += (i ? ", " : "") + std::to_string(info.shape[i]);
  return text + "]";
}

std::vector<double> toDoubles(const Tensor &tensor) {
  std::vector<double> values(tensor.info.element_count);
  size_t size = moert::dtypeSize(tensor.dtype);
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = moert::loadElement(tensor.dtype, tensor.bytes.data() + i * size);
  return values;
}

/// The names of inputs used as "tokens" operands by a reference program.
std::vector<bool> tokenInputs(const char *program, size_t inputCount) {
  std::vector<bool> tokens(inputCount, false);
  if (!program) {
    if (inputCount)
      tokens[0] = true; // without a program: the first input
    return tokens;
  }
  // Light scan of the JSON: "tokens": <id> pairs (value ids of arguments
  // are the input indices).
  const char *key = "\"tokens\":";
  for (const char *at = std::strstr(program, key); at;
       at = std::strstr(at + 1, key)) {
    const char *digits = at + std::strlen(key);
    while (*digits == ' ')
      ++digits;
    char *end = nullptr;
    unsigned long long id = std::strtoull(digits, &end, 10);
    if (end != digits && id < inputCount)
      tokens[id] = true;
  }
  return tokens;
}

struct Summary {
  double min = 0, max = 0, mean = 0, l2 = 0;
  size_t nonFinite = 0;
};

Summary summarize(const std::vector<double> &values) {
  Summary s;
  if (values.empty())
    return s;
  s.min = INFINITY;
  s.max = -INFINITY;
  double sum = 0, squares = 0;
  size_t finite = 0;
  for (double v : values) {
    if (!std::isfinite(v)) {
      ++s.nonFinite;
      continue;
    }
    ++finite;
    s.min = std::min(s.min, v);
    s.max = std::max(s.max, v);
    sum += v;
    squares += v * v;
  }
  if (!finite)
    s.min = s.max = NAN;
  s.mean = finite ? sum / double(finite) : NAN;
  s.l2 = std::sqrt(squares);
  return s;
}

double tolerance(moert::DType dtype) {
  switch (dtype) {
  case moert::DType::F32:
    return 1e-4;
  case moert::DType::F16:
    return 2e-3;
  case moert::DType::BF16:
    return 1.6e-2;
  default:
    return 0.0;
  }
}

} // namespace

/// moert::fillRandom split over the hardware threads (the generator is
/// counter based, so each thread fills its own range with the same bytes a
/// single call would write): full-size expert weights are billions of
/// elements.
bool fillRandomParallel(uint64_t seed, const std::string &name,
                        moert::DType dtype, size_t count, double low,
                        double high, void *out, std::string &error) {
  constexpr size_t kMinimumPerThread = size_t(1) << 22;
  size_t threads = std::max<size_t>(1, std::thread::hardware_concurrency());
  threads = std::min(threads, std::max<size_t>(1, count / kMinimumPerThread));
  if (threads == 1)
    return moert::fillRandom(seed, name, dtype, count, low, high, out, error);
  size_t chunk = (count + threads - 1) / threads;
  size_t elementSize = moert::dtypeSize(dtype);
  std::vector<std::string> errors(threads);
  std::vector<char> ok(threads, 1);
  std::vector<std::thread> workers;
  for (size_t t = 0; t < threads; ++t) {
    size_t first = t * chunk;
    if (first >= count)
      break;
    size_t n = std::min(chunk, count - first);
    workers.emplace_back([&, t, first, n] {
      ok[t] = moert::fillRandomRange(
          seed, name, dtype, first, n, low, high,
          static_cast<char *>(out) + first * elementSize, errors[t]);
    });
  }
  for (std::thread &worker : workers)
    worker.join();
  for (size_t t = 0; t < threads; ++t)
    if (!ok[t]) {
      error = errors[t];
      return false;
    }
  return true;
}

/// A rank's place in a sharded run: the world and the bundle's grid.
struct Sharding {
  moert_world_info_t world = {0, 1, 0, 0};
  std::vector<int64_t> grid;
  /// This rank's grid coordinates (the last axis fastest).
  std::vector<int64_t> coords;
  bool multiRank() const { return !grid.empty(); }
};

/// The index of this rank's block of a dimension split over the axes in
/// `mask` (mixed radix, the lowest axis most significant), and the count.
std::pair<int64_t, int64_t> blockOf(const Sharding &sharding, uint32_t mask) {
  int64_t index = 0, count = 1;
  for (size_t a = 0; a < sharding.grid.size(); ++a)
    if (mask & (1u << a)) {
      index = index * sharding.grid[a] + sharding.coords[a];
      count *= sharding.grid[a];
    }
  return {index, count};
}

/// Permutes dimension 0 of the dense tensor `full` (full'[i] =
/// full[perm[i]]).
std::vector<unsigned char> permuteRows(const std::vector<unsigned char> &full,
                                       const int64_t *perm, size_t rows) {
  if (!perm || rows == 0)
    return full;
  size_t rowBytes = full.size() / rows;
  std::vector<unsigned char> out(full.size());
  for (size_t i = 0; i < rows; ++i)
    std::memcpy(out.data() + i * rowBytes, full.data() + perm[i] * rowBytes,
                rowBytes);
  return out;
}

/// This rank's block of the dense tensor `full` (of `split`'s full shape,
/// elements of `elementSize` bytes) into `block` (the local shape).
void takeBlock(const Sharding &sharding, const moert_tensor_split_t &split,
               const int64_t *localShape, size_t elementSize,
               const unsigned char *full, unsigned char *block) {
  size_t rank = split.rank;
  if (rank == 0) {
    std::memcpy(block, full, elementSize);
    return;
  }
  std::vector<int64_t> offset(rank);
  for (size_t d = 0; d < rank; ++d)
    offset[d] = blockOf(sharding, split.split_axes[d]).first * localShape[d];
  for (size_t d = 0; d < rank; ++d)
    if (localShape[d] == 0)
      return;
  // Row by row of the last dimension.
  size_t rowBytes = size_t(localShape[rank - 1]) * elementSize;
  std::vector<int64_t> index(rank, 0);
  while (true) {
    int64_t at = 0;
    for (size_t d = 0; d < rank; ++d)
      at = at * split.full_shape[d] + offset[d] + index[d];
    std::memcpy(block, full + size_t(at) * elementSize, rowBytes);
    block += rowBytes;
    size_t d = rank - 1;
    while (d > 0 && ++index[d - 1] == localShape[d - 1])
      index[--d] = 0;
    if (d == 0)
      return;
  }
}

int main(int argc, char **argv) {
  Options options = parseOptions(argc, argv);

  moert_bundle_t *bundle = nullptr;
  check(moert_bundle_load_file(options.bundle.c_str(), &bundle));

  size_t function = 0;
  size_t functionCount = moert_bundle_function_count(bundle);
  if (!options.function.empty()) {
    check(moert_bundle_find_function(bundle, options.function.c_str(),
                                     &function));
  } else if (functionCount != 1) {
    std::string names;
    for (size_t i = 0; i < functionCount; ++i)
      names += (i ? ", " : "") +
               std::string(moert_bundle_function_name(bundle, i));
    die("the bundle has " + std::to_string(functionCount) +
        " functions (" + names + "); choose one with --function");
  }
  // The world: a sharded bundle needs prod(grid) ranks (checked before any
  // kernel runs); a single-rank bundle runs in a world of one.
  if (!options.collectiveTimeout.empty())
    setenv("MOERT_COLLECTIVE_TIMEOUT_S", options.collectiveTimeout.c_str(), 1);
  Sharding sharding;
  check(moert_world_join(&sharding.world));
  const int64_t *gridShape = nullptr;
  size_t gridRank = moert_bundle_grid(bundle, &gridShape);
  sharding.grid.assign(gridShape, gridShape + gridRank);
  if (sharding.world.size > 1)
    rankPrefix = "rank " + std::to_string(sharding.world.rank) + ": ";
  if (gridRank == 0 && sharding.world.size > 1)
    die("the bundle is not sharded (its manifest has no grid) but the world "
        "has " + std::to_string(sharding.world.size) +
        " ranks: run it without mpirun, or compile it for several ranks");
  // A world of another size than prod(grid): creating the session says so,
  // before any kernel runs.
  {
    int64_t rest = sharding.world.rank;
    sharding.coords.assign(gridRank, 0);
    for (size_t a = gridRank; a-- > 0;) {
      sharding.coords[a] = rest % sharding.grid[a];
      rest /= sharding.grid[a];
    }
  }
  bool leader = sharding.world.rank == 0;

  const char *functionName = moert_bundle_function_name(bundle, function);
  const char *reference = moert_bundle_reference_program(bundle, function);
  if (options.check && !reference)
    die(std::string("--check: the bundle has no reference program for "
                    "function '") +
        functionName + "' (it holds ops outside the moe dialect)");
#ifndef MOE_RUN_HAVE_REFERENCE
  if (options.check)
    die("--check: moe-run was built without the reference library");
#endif

  if (options.device == "auto")
    options.device = std::strncmp(moert_bundle_target(bundle),
                                  MOERT_BUNDLE_TARGET_CUDA_PREFIX,
                                  std::strlen(MOERT_BUNDLE_TARGET_CUDA_PREFIX))
                             ? "cpu"
                             : "cuda";
  bool cuda = options.device == "cuda";
  moert_session_t *session = nullptr;
  check(moert_session_create_on_device_id(
      bundle, cuda ? MOERT_DEVICE_CUDA : MOERT_DEVICE_CPU,
      cuda && sharding.multiRank() ? sharding.world.local_rank : 0, &session));
  if (options.deviceMemoryLimit)
    check(moert_session_set_device_memory_limit(session,
                                                options.deviceMemoryLimit),
          "--device-memory-limit");
  if (options.tierCache)
    check(moert_session_set_tier_cache(session, *options.tierCache),
          "--tier-cache");

  // Weights files.
  std::vector<std::unique_ptr<moert::SafetensorsFile>> files;
  std::vector<const moert::SafetensorsFile *> filePointers;
  for (const std::string &path : options.weights) {
    std::string error;
    std::unique_ptr<moert::SafetensorsFile> file =
        moert::SafetensorsFile::open(path, error);
    if (!file)
      die("--weights: " + error);
    filePointers.push_back(file.get());
    files.push_back(std::move(file));
  }
  moert::WeightBinder binder(filePointers);
  auto inWeights = [&](const std::string &name) {
    std::string concrete = moert::hasExpertPlaceholder(name)
                               ? moert::expandExpertName(name, 0)
                               : name;
    for (const moert::SafetensorsFile *file : filePointers)
      if (file->find(concrete))
        return true;
    return false;
  };

  if (leader)
    std::printf("bundle   %s (target %s)\nfunction %s on %s\n",
                options.bundle.c_str(), moert_bundle_target(bundle),
                functionName, options.device.c_str());
  if (leader && sharding.multiRank())
    std::printf("world    %d ranks (grid %s)%s\n", sharding.world.size,
                [&] {
                  std::string text = "[";
                  for (size_t a = 0; a < gridRank; ++a)
                    text += (a ? ", " : "") + std::to_string(gridShape[a]);
                  return text + "]";
                }()
                    .c_str(),
                "; shapes below are rank 0's blocks");

  // Inputs.
  size_t inputCount = moert_bundle_input_count(bundle, function);
  std::vector<bool> tokens = tokenInputs(reference, inputCount);
  std::vector<Tensor> inputs(inputCount);
  // Multi-rank with --check: the full (unpermuted) inputs, for the reference.
  std::vector<std::vector<unsigned char>> fullInputs(inputCount);
  for (size_t i = 0; i < inputCount; ++i) {
    Tensor &input = inputs[i];
    check(moert_bundle_input_info(bundle, function, i, &input.info));
    moert_tensor_split_t split;
    check(moert_bundle_input_split(bundle, function, i, &split));
    input.dtype = toDType(input.info.dtype);
    input.bytes.assign(input.info.byte_size, 0);
    // The full tensor, the same on every rank; this rank's block of it.
    std::vector<int64_t> fullShape(split.full_shape,
                                   split.full_shape + split.rank);
    size_t fullCount = 1;
    for (int64_t d : fullShape)
      fullCount *= size_t(d);
    size_t elementSize = moert::dtypeSize(input.dtype);
    std::vector<unsigned char> full;
    std::vector<unsigned char> *target =
        sharding.multiRank() ? &full : &input.bytes;
    if (sharding.multiRank())
      full.assign(fullCount * elementSize, 0);
    std::string error;
    if (inWeights(input.info.name)) {
      if (!binder.bind(input.info.name, input.dtype, fullShape,
                       target->data(), target->size(), error))
        die("--weights: " + error);
      input.source = "weights";
    } else {
      double low, high;
      if (!moert::isFloatDType(input.dtype)) {
        low = 0;
        high = 1;
      } else if (tokens[i]) {
        low = -1;
        high = 1;
      } else {
        int64_t last = split.rank ? fullShape[split.rank - 1] : 1;
        high = 1.0 / std::sqrt(double(std::max<int64_t>(last, 1)));
        low = -high;
      }
      if (!fillRandomParallel(options.seed, input.info.name, input.dtype,
                              fullCount, low, high, target->data(), error))
        die("random input '" + std::string(input.info.name) + "': " + error);
      char range[64];
      std::snprintf(range, sizeof(range), "random in [%g, %g]", low, high);
      input.source = range;
    }
    if (!sharding.multiRank())
      continue;
    std::vector<unsigned char> permuted =
        permuteRows(full, split.expert_permutation,
                    split.expert_permutation ? size_t(fullShape[0]) : 0);
    takeBlock(sharding, split, input.info.shape, elementSize, permuted.data(),
              input.bytes.data());
    bool isSplit = false;
    for (size_t d = 0; d < split.rank; ++d)
      isSplit = isSplit || split.split_axes[d];
    if (isSplit)
      input.source += ", block of " + shapeText({input.info.name,
                                                  input.info.dtype, split.rank,
                                                  split.full_shape, 0, 0});
    if (split.expert_permutation)
      input.source += ", experts permuted";
    if (options.check)
      fullInputs[i] = std::move(full);
  }
  if (!options.route.empty()) {
    moert_composition_info_t composition{};
    check(moert_bundle_composition_info(bundle, function, &composition));
    std::string error;
    Tensor &selector = inputs[composition.selector_input];
    if (!moe_run::routeSelector(bundle, function, options.route,
                                selector.info, selector.bytes, error))
      die("--route: " + error);
    selector.source = "--route " + options.route;
  }
  if (leader)
    for (const Tensor &input : inputs)
      std::printf("input    %s %s %s  (%s)\n", input.info.name,
                  moert_dtype_name(input.info.dtype),
                  shapeText(input.info).c_str(), input.source.c_str());

  // Outputs and the runs.
  size_t outputCount = moert_bundle_output_count(bundle, function);
  std::vector<Tensor> outputs(outputCount);
  for (size_t o = 0; o < outputCount; ++o) {
    check(moert_bundle_output_info(bundle, function, o, &outputs[o].info));
    outputs[o].dtype = toDType(outputs[o].info.dtype);
    outputs[o].bytes.assign(outputs[o].info.byte_size, 0);
  }
  auto views = [](std::vector<Tensor> &tensors) {
    std::vector<moert_tensor_view_t> out;
    for (Tensor &t : tensors)
      out.push_back({t.info.dtype, t.info.rank, t.info.shape, t.bytes.data(),
                     t.bytes.size()});
    return out;
  };
  std::vector<moert_tensor_view_t> inputViews = views(inputs);
  std::vector<moert_tensor_view_t> outputViews = views(outputs);
  // On cuda a warm-up run first keeps first-use costs (the driver's lazy
  // loading, the memory pool's growth) out of the timed runs.
  std::vector<double> times;
  for (uint64_t r = 0; r < options.repeat + (cuda && options.repeat > 1);
       ++r) {
    double milliseconds = -1;
    check(moert_session_run_timed(session, function, inputViews.data(),
                                  inputViews.size(), outputViews.data(),
                                  outputViews.size(), &milliseconds));
    if (!cuda || options.repeat == 1 || r > 0)
      times.push_back(milliseconds);
  }

  std::vector<std::vector<double>> results;
  for (const Tensor &output : outputs) {
    results.push_back(toDoubles(output));
    if (!leader)
      continue;
    Summary s = summarize(results.back());
    std::printf("output   %s %s %s  min %.6g max %.6g mean %.6g l2 %.6g",
                output.info.name, moert_dtype_name(output.info.dtype),
                shapeText(output.info).c_str(), s.min, s.max, s.mean, s.l2);
    if (s.nonFinite)
      std::printf("  (%zu non-finite)", s.nonFinite);
    std::printf("\n");
    if (options.printOutputs) {
      std::printf("values   %s =", output.info.name);
      for (double v : results.back())
        std::printf(" %.6g", v);
      std::printf("\n");
    }
  }
  std::sort(times.begin(), times.end());
  double median = times.size() % 2
                      ? times[times.size() / 2]
                      : 0.5 * (times[times.size() / 2 - 1] +
                               times[times.size() / 2]);
  if (sharding.multiRank()) {
    // The slowest rank's median.
    moert_status_t status = moert_world_all_reduce_f64(&median, 1, 1);
    check(status, "combining the ranks' times");
  }
  if (leader)
    std::printf("time     median %.4f ms over %zu run%s%s\n", median,
                times.size(), times.size() == 1 ? "" : "s",
                sharding.multiRank() ? " (the slowest rank)" : "");
  // What the last run moved besides computing: weights fetched from the host
  // tier (a memory-tier plan), and on cuda its peak device memory.
  moert_run_stats_t stats{};
  check(moert_session_last_run_stats(session, &stats));
  if (leader && (stats.tier_fetches || cuda)) {
    std::printf("memory   %llu host-tier fetch%s (%llu bytes)",
                (unsigned long long)stats.tier_fetches,
                stats.tier_fetches == 1 ? "" : "es",
                (unsigned long long)stats.tier_fetched_bytes);
    if (options.tierCache)
      std::printf(", cache %llu hits %llu misses (%llu bytes held)",
                  (unsigned long long)stats.tier_hits,
                  (unsigned long long)stats.tier_misses,
                  (unsigned long long)stats.tier_cached_bytes);
    // Expert fetches (only the predicted experts copied ahead of a layer):
    // how often the prediction had the routed experts there already.
    uint64_t routed = stats.tier_expert_hits + stats.tier_expert_misses;
    if (routed || stats.tier_expert_unused) {
      std::printf(", experts: %llu hits, %llu misses, %llu unused",
                  (unsigned long long)stats.tier_expert_hits,
                  (unsigned long long)stats.tier_expert_misses,
                  (unsigned long long)stats.tier_expert_unused);
      if (routed)
        std::printf(" (hit rate %.1f%%)",
                    100.0 * double(stats.tier_expert_hits) / double(routed));
    }
    if (cuda)
      std::printf(", peak device %llu bytes",
                  (unsigned long long)stats.peak_device_bytes);
    std::printf("\n");
  }

  if (leader)
    moe_run::printRequests(bundle, function, session);

  int status = 0;
#ifdef MOE_RUN_HAVE_REFERENCE
  if (options.check) {
    std::vector<moert::reference::HostTensor> arguments, expected;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const Tensor &input = inputs[i];
      if (!sharding.multiRank()) {
        arguments.push_back(
            {moert_dtype_name(input.info.dtype),
             std::vector<int64_t>(input.info.shape,
                                  input.info.shape + input.info.rank),
             toDoubles(input)});
        continue;
      }
      // The reference runs on the full, unpermuted tensors.
      moert_tensor_split_t split;
      check(moert_bundle_input_split(bundle, function, i, &split));
      Tensor full = input;
      full.info.shape = split.full_shape;
      full.info.element_count = fullInputs[i].size() /
                                std::max<size_t>(1, moert::dtypeSize(input.dtype));
      full.bytes = std::move(fullInputs[i]);
      arguments.push_back(
          {moert_dtype_name(input.info.dtype),
           std::vector<int64_t>(split.full_shape,
                                split.full_shape + split.rank),
           toDoubles(full)});
    }
    std::string error;
    if (!moert::reference::runProgram(reference, arguments, expected, error))
      die("--check: the reference program failed: " + error);
    if (expected.size() != outputs.size())
      die("--check: the reference program returns " +
          std::to_string(expected.size()) + " values, the function " +
          std::to_string(outputs.size()));
    bool pass = true;
    for (size_t o = 0; o < outputs.size(); ++o) {
      const Tensor &output = outputs[o];
      moert::reference::HostTensor ref = expected[o];
      if (sharding.multiRank()) {
        // The same block of the reference's full output.
        moert_tensor_split_t split;
        check(moert_bundle_output_split(bundle, function, o, &split));
        size_t fullCount = 1;
        for (size_t d = 0; d < split.rank; ++d)
          fullCount *= size_t(split.full_shape[d]);
        if (ref.data.size() != fullCount)
          die("--check: the reference result " + std::to_string(o) +
              " has " + std::to_string(ref.data.size()) +
              " elements, the full output " + std::to_string(fullCount));
        std::vector<unsigned char> fullBytes(fullCount * sizeof(double));
        std::memcpy(fullBytes.data(), ref.data.data(), fullBytes.size());
        fullBytes = permuteRows(fullBytes, split.expert_permutation,
                                split.expert_permutation
                                    ? size_t(split.full_shape[0])
                                    : 0);
        std::vector<double> block(output.info.element_count);
        takeBlock(sharding, split, output.info.shape, sizeof(double),
                  fullBytes.data(),
                  reinterpret_cast<unsigned char *>(block.data()));
        ref.data = std::move(block);
      }
      if (ref.data.size() != results[o].size())
        die("--check: the reference result " + std::to_string(o) + " has " +
            std::to_string(ref.data.size()) + " elements, the output " +
            std::to_string(results[o].size()));
      double maxError = 0, maxRef = 0;
      bool nanMismatch = false;
      for (size_t i = 0; i < ref.data.size(); ++i) {
        double a = results[o][i], b = ref.data[i];
        if (std::isnan(a) != std::isnan(b)) {
          nanMismatch = true;
          continue;
        }
        if (std::isnan(a))
          continue;
        maxError = std::max(maxError, std::fabs(a - b));
        maxRef = std::max(maxRef, std::fabs(b));
      }
      if (sharding.multiRank()) {
        // Over every rank's block: the largest error and |ref|.
        double combined[3] = {maxError, maxRef, nanMismatch ? 1.0 : 0.0};
        check(moert_world_all_reduce_f64(combined, 3, 1),
              "--check: combining the ranks' errors");
        maxError = combined[0];
        maxRef = combined[1];
        nanMismatch = combined[2] != 0;
      }
      double tol = tolerance(output.dtype);
      double bound = tol * std::max(1.0, maxRef);
      bool ok = !nanMismatch && maxError <= bound;
      pass = pass && ok;
      if (leader)
        std::printf("check    %s max_abs_err %.3g (bound %.3g = %g * max(1, "
                    "max|ref| %.6g))%s %s\n",
                    output.info.name, maxError, bound, tol, maxRef,
                    nanMismatch ? " NaN mismatch" : "", ok ? "PASS" : "FAIL");
    }
    if (leader)
      std::printf("check    %s%s\n", pass ? "PASS" : "FAIL",
                  sharding.multiRank()
                      ? (" (" + std::to_string(sharding.world.size) +
                         " ranks, errors over every rank's block)")
                            .c_str()
                      : "");
    status = pass ? 0 : 2;
  }
#endif

  moert_session_release(session);
  moert_bundle_release(bundle);
  check(moert_world_finalize());
  return status;
}
