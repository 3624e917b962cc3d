//===- CApi.cpp - the moert_* C API ---------------------------------------===//

#include "moert/moert.h"

#include "Backend.h"
#include "Bundle.h"
#include "Comm.h"
#include "CommAbi.h"
#include "Composition.h"
#include "Executor.h"
#include "World.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>

struct moert_status_s {
  moert_status_code_t code;
  std::string message;
};

struct moert_bundle_s {
  moert::Bundle bundle;
  std::atomic<int> references{1};
};

struct moert_session_s {
  moert_bundle_t *bundle = nullptr;
  /// The session's collectives: its own MPI communicator in a multi-rank
  /// session, the world of this process alone otherwise. Declared before the
  /// backend, so that the backend (NCCL communicators) goes first.
  std::shared_ptr<moert::comm::Communicator> communicator;
  std::unique_ptr<moert::Backend> backend;
  /// The requests of the last run when it ran a composition (empty
  /// otherwise).
  std::vector<moert::RequestStats> lastRequests;
};

namespace {

/// Returned when there is no memory for a status itself; never freed.
moert_status_s outOfMemoryStatus{MOERT_ERROR_OUT_OF_MEMORY, "out of memory"};

moert_status_t makeStatus(moert_status_code_t code, std::string message) {
  try {
    return new moert_status_s{code, std::move(message)};
  } catch (...) {
    return &outOfMemoryStatus;
  }
}

moert_status_t invalidArgument(const std::string &message) {
  return makeStatus(MOERT_ERROR_INVALID_ARGUMENT, message);
}

moert_status_t makeStatus(const moert::Failure &failure) {
  return makeStatus(failure.code, failure.message);
}

void retain(moert_bundle_t *bundle) { bundle->references.fetch_add(1); }

/// Runs `body`, turning C++ exceptions (std::bad_alloc from containers) into
/// statuses: nothing escapes through the C API.
template <typename Body> moert_status_t guarded(Body body) {
  try {
    return body();
  } catch (const std::bad_alloc &) {
    return makeStatus(MOERT_ERROR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception &e) {
    return makeStatus(MOERT_ERROR_INTERNAL, e.what());
  } catch (...) {
    return makeStatus(MOERT_ERROR_INTERNAL, "unknown internal error");
  }
}

moert_status_t loadBytes(const uint8_t *data, size_t size,
                         moert_bundle_t **out_bundle) {
  auto bundle = std::make_unique<moert_bundle_s>();
  std::string error;
  if (!moert::parseBundle(data, size, bundle->bundle, error))
    return makeStatus(MOERT_ERROR_INVALID_BUNDLE, "invalid bundle: " + error);
  *out_bundle = bundle.release();
  return nullptr;
}

/// NOT_FOUND unless `function` indexes a function of `bundle`.
static moert_status_t checkFunction(const moert::Bundle &bundle,
                                    size_t function) {
  if (function < bundle.functions.size())
    return nullptr;
  return makeStatus(MOERT_ERROR_NOT_FOUND,
                    "no function " + std::to_string(function));
}

/// Input or output `index` of `function`, or a NOT_FOUND status.
moert_status_t findTensor(const moert::Bundle &bundle, size_t function,
                          size_t index, bool input,
                          const moert::TensorInfo *&found) {
  if (moert_status_t status = checkFunction(bundle, function))
    return status;
  const moert::Function &f = bundle.functions[function];
  const auto &list = input ? f.inputs : f.outputs;
  if (index >= list.size())
    return makeStatus(MOERT_ERROR_NOT_FOUND,
                      std::string("function \"") + f.name + "\" has no " +
                          (input ? "input " : "output ") +
                          std::to_string(index));
  found = &list[index];
  return nullptr;
}

moert_status_t tensorInfo(const moert_bundle_t *bundle, size_t function,
                          size_t index, bool input,
                          moert_tensor_info_t *out_info) {
  if (!bundle || !out_info)
    return invalidArgument("null bundle or info");
  const moert::TensorInfo *found = nullptr;
  if (moert_status_t status =
          findTensor(bundle->bundle, function, index, input, found))
    return status;
  const moert::TensorInfo &info = *found;
  out_info->name = info.name.c_str();
  out_info->dtype = info.type.dtype;
  out_info->rank = info.type.shape.size();
  out_info->shape = info.type.shape.data();
  out_info->element_count = info.type.elementCount;
  out_info->byte_size = info.type.byteSize;
  return nullptr;
}

/// The number of `what`s given against the function's, and a non-null array
/// when there are any.
moert_status_t checkCount(const moert::Function &function,
                          const std::vector<moert::TensorInfo> &tensors,
                          size_t count, const void *array, const char *what) {
  if (count != tensors.size())
    return invalidArgument("function \"" + function.name + "\" takes " +
                           std::to_string(tensors.size()) + " " + what +
                           "s, got " + std::to_string(count));
  if (count && !array)
    return invalidArgument(std::string("null ") + what + "s");
  return nullptr;
}

/// Checks views against the manifest's tensors; `device[i]` (when given)
/// says that view i is device memory of the session's device.
moert_status_t checkViews(const moert::Function &function,
                          const std::vector<moert::TensorInfo> &tensors,
                          const moert_tensor_view_t *views, size_t count,
                          const char *what, const std::vector<bool> *device,
                          std::vector<moert::TensorData> &buffers) {
  if (moert_status_t status =
          checkCount(function, tensors, count, views, what))
    return status;
  for (size_t i = 0; i < count; ++i) {
    const moert_tensor_view_t &view = views[i];
    const moert::TensorInfo &info = tensors[i];
    std::string at = std::string(what) + " " + std::to_string(i) + " (\"" +
                     info.name + "\")";
    if (view.dtype != info.type.dtype) {
      const char *name = moert_dtype_name(view.dtype);
      return invalidArgument(at + " is " + (name ? name : "an unknown dtype") +
                             ", expected " + info.type.str());
    }
    if (view.rank != info.type.shape.size() ||
        (view.rank && !view.shape) ||
        (view.rank && std::memcmp(view.shape, info.type.shape.data(),
                                  view.rank * sizeof(int64_t)) != 0)) {
      std::string shape = "[";
      for (size_t d = 0; view.shape && d < view.rank; ++d)
        shape += (d ? ", " : "") + std::to_string(view.shape[d]);
      return invalidArgument(at + " has shape " + shape +
                             "], expected " + info.type.str());
    }
    if (view.byte_size != info.type.byteSize)
      return invalidArgument(at + " has " + std::to_string(view.byte_size) +
                             " bytes, expected " +
                             std::to_string(info.type.byteSize));
    if (!view.data && view.byte_size)
      return invalidArgument(at + " has no data");
    buffers.push_back({view.data, view.byte_size, device && (*device)[i]});
  }
  return nullptr;
}

/// The moert dtype of a DLPack dtype; MOERT_DTYPE_INVALID when none.
moert_dtype_t dtypeFromDL(moert_dl_dtype_t dtype) {
  if (dtype.lanes != 1)
    return MOERT_DTYPE_INVALID;
  for (int d = MOERT_DTYPE_F32; d <= MOERT_DTYPE_I64; ++d) {
    moert_dl_dtype_t dl;
    if (!moert_dtype_to_dl(static_cast<moert_dtype_t>(d), &dl) &&
        dl.code == dtype.code && dl.bits == dtype.bits)
      return static_cast<moert_dtype_t>(d);
  }
  return MOERT_DTYPE_INVALID;
}

/// Turns DLPack tensors into views, checking what views cannot say (device,
/// lanes, layout); checkViews checks dtype, shape and size after. CUDA
/// tensors are accepted on the CUDA device `backend` runs on, and marked in
/// `device`.
moert_status_t viewsFromDL(const moert::Function &function,
                           const std::vector<moert::TensorInfo> &tensors,
                           const moert_dl_tensor_t *dl, size_t count,
                           const char *what, const moert::Backend &backend,
                           std::vector<moert_tensor_view_t> &views,
                           std::vector<bool> &device) {
  if (moert_status_t status = checkCount(function, tensors, count, dl, what))
    return status;
  for (size_t i = 0; i < count; ++i) {
    const moert_dl_tensor_t &tensor = dl[i];
    std::string at = std::string(what) + " " + std::to_string(i) + " (\"" +
                     tensors[i].name + "\")";
    int32_t type = tensor.device.device_type;
    bool onCuda = backend.device() == MOERT_DEVICE_CUDA;
    if (type == MOERT_DL_CUDA && !onCuda)
      return makeStatus(MOERT_ERROR_UNSUPPORTED,
                        at + " is in CUDA device memory; a cpu session takes "
                             "host memory (copy it to the host, or run the "
                             "bundle on a cuda session)");
    if (type == MOERT_DL_CUDA && tensor.device.device_id != backend.deviceId())
      return invalidArgument(at + " is on CUDA device " +
                             std::to_string(tensor.device.device_id) +
                             "; the session runs on CUDA device " +
                             std::to_string(backend.deviceId()));
    if (type != MOERT_DL_CPU && type != MOERT_DL_CUDA_HOST &&
        type != MOERT_DL_CUDA)
      return makeStatus(MOERT_ERROR_UNSUPPORTED,
                        at + " is on DLPack device type " +
                            std::to_string(type) +
                            (onCuda ? "; only host memory (kDLCPU, "
                                      "kDLCUDAHost) and the session's CUDA "
                                      "device (kDLCUDA) are supported"
                                    : "; only host memory (kDLCPU, "
                                      "kDLCUDAHost) is supported"));
    if (tensor.ndim < 0 || (tensor.ndim > 0 && !tensor.shape))
      return invalidArgument(at + " has no valid shape");
    moert_tensor_view_t view;
    view.dtype = dtypeFromDL(tensor.dtype);
    if (view.dtype == MOERT_DTYPE_INVALID)
      return invalidArgument(
          at + " has DLPack dtype (code " + std::to_string(tensor.dtype.code) +
          ", bits " + std::to_string(tensor.dtype.bits) + ", lanes " +
          std::to_string(tensor.dtype.lanes) + "), expected " +
          tensors[i].type.str());
    view.rank = static_cast<size_t>(tensor.ndim);
    view.shape = tensor.shape;
    size_t elements = 1;
    for (size_t d = 0; d < view.rank; ++d)
      elements *= tensor.shape[d] < 0 ? 0 : static_cast<size_t>(tensor.shape[d]);
    if (tensor.strides) {
      int64_t expected = 1;
      for (size_t d = view.rank; d-- > 0;) {
        if (tensor.shape[d] != 1 && tensor.strides[d] != expected)
          return invalidArgument(at + " is not contiguous (stride " +
                                 std::to_string(tensor.strides[d]) +
                                 " in dimension " + std::to_string(d) +
                                 ", expected " + std::to_string(expected) +
                                 "); pass a compact row-major tensor");
        expected *= tensor.shape[d];
      }
    }
    view.byte_size = elements * moert_dtype_size(view.dtype);
    view.data = tensor.data ? static_cast<char *>(tensor.data) +
                                  tensor.byte_offset
                            : nullptr;
    views.push_back(view);
    device.push_back(type == MOERT_DL_CUDA);
  }
  return nullptr;
}

/// Runs `body(backend, failure)`, a setting of the session's backend that
/// returns false with `failure`, as a C API call (exceptions caught).
template <typename Body>
moert_status_t onBackend(moert_session_t *session, Body body) {
  if (!session)
    return invalidArgument("null session");
  return guarded([&]() -> moert_status_t {
    moert::Failure failure;
    if (!body(*session->backend, failure))
      return makeStatus(failure);
    return nullptr;
  });
}

/// The C form of a run's stats.
moert_run_stats_t toRunStats(const moert::RunStats &stats) {
  moert_run_stats_t out{};
  out.tier_fetches = stats.tier.fetches;
  out.tier_fetched_bytes = stats.tier.bytes;
  out.peak_device_bytes = stats.peakDeviceBytes;
  out.tier_hits = stats.tier.hits;
  out.tier_misses = stats.tier.misses;
  out.tier_cached_bytes = stats.tierCachedBytes;
  out.tier_expert_hits = stats.tier.expertHits;
  out.tier_expert_misses = stats.tier.expertMisses;
  out.tier_expert_unused = stats.tier.expertUnused;
  return out;
}

/// Checks `inputs`/`outputs` against the manifest and runs `function`;
/// `inputDevice`/`outputDevice` (when given) mark device memory.
moert_status_t runChecked(moert_session_t *session, size_t function,
                          const moert_tensor_view_t *inputs,
                          size_t input_count,
                          const moert_tensor_view_t *outputs,
                          size_t output_count,
                          const std::vector<bool> *inputDevice = nullptr,
                          const std::vector<bool> *outputDevice = nullptr,
                          double *time = nullptr) {
  const moert::Bundle &bundle = session->bundle->bundle;
  const moert::Function &f = bundle.functions[function];
  std::vector<moert::TensorData> in, out;
  if (moert_status_t status = checkViews(f, f.inputs, inputs, input_count,
                                         "input", inputDevice, in))
    return status;
  if (moert_status_t status = checkViews(f, f.outputs, outputs, output_count,
                                         "output", outputDevice, out))
    return status;
  moert::Failure failure;
  moert::comm::RunContext collectives(*session->communicator);
  bool ok;
  session->lastRequests.clear();
  {
    moert::comm::RunScope scope(collectives);
    ok = f.isComposition
             ? moert::runComposition(*session->backend, bundle, function, in,
                                     out, session->lastRequests, failure, time)
             : session->backend->run(bundle, function, in, out, failure, time);
  }
  // The first collective failure is the cause of whatever followed it.
  if (collectives.failed())
    return makeStatus(MOERT_ERROR_COLLECTIVE, "running \"" + f.name +
                                                  "\": " +
                                                  collectives.failure());
  if (!ok)
    return makeStatus(failure.code,
                      "running \"" + f.name + "\": " + failure.message);
  return nullptr;
}

/// "grid [1, 2, 2]".
std::string gridText(const moert::Bundle &bundle) {
  return "grid " + moert::comm::formatShape(bundle.grid);
}

/// For a bundle with a grid: the world can be joined and has prod(grid)
/// ranks, and the collective deadline in the environment is valid.
moert_status_t checkWorld(const moert::Bundle &bundle) {
  if (bundle.grid.empty())
    return nullptr;
  std::string error;
  double timeout = 0;
  if (!moert::comm::timeoutFromEnvironment(timeout, error))
    return invalidArgument(error);
  moert::comm::WorldInfo world;
  if (!moert::comm::joinWorld(world, error))
    return makeStatus(MOERT_ERROR_UNSUPPORTED,
                      "this bundle runs on " +
                          std::to_string(bundle.worldSize) + " ranks (" +
                          gridText(bundle) +
                          "), but the world cannot be joined: " + error);
  if (world.size != bundle.worldSize) {
    std::string hint;
#ifndef MOERT_HAVE_MPI
    hint = " (this runtime is built without MPI: configure with "
           "-DMOE_ENABLE_MPI=ON where OpenMPI is installed)";
#else
    hint = " (start it with mpirun -np " + std::to_string(bundle.worldSize) +
           ")";
#endif
    return invalidArgument("this bundle runs on " +
                           std::to_string(bundle.worldSize) + " ranks (" +
                           gridText(bundle) + "); this world has " +
                           std::to_string(world.size) + hint);
  }
  return nullptr;
}

/// Every rank of the world loaded the same bundle: a rank started with
/// another bundle (another plan, shape or kernel) would issue other
/// collectives or read other sizes, so it is caught here, before any kernel,
/// on every rank, within the collective deadline. The fingerprint's two
/// 32-bit halves are exact in a double; one max all-reduce of the halves and
/// their negations gives the world's max and -min, equal for one bundle.
moert_status_t checkSameBundle(const moert::Bundle &bundle, double timeout) {
  double high = double(bundle.fingerprint >> 32);
  double low = double(bundle.fingerprint & 0xffffffffu);
  double extremes[4] = {high, low, -high, -low};
  std::string error;
  if (!moert::comm::worldAllReduce(extremes, 4, MOERT_COMM_MAX, timeout,
                                   error))
    return makeStatus(MOERT_ERROR_COLLECTIVE,
                      "checking that every rank loaded the same bundle: " +
                          error);
  if (extremes[0] != -extremes[2] || extremes[1] != -extremes[3]) {
    char text[96];
    std::snprintf(text, sizeof(text), "%016llx",
                  static_cast<unsigned long long>(bundle.fingerprint));
    return makeStatus(
        MOERT_ERROR_INVALID_ARGUMENT,
        "the ranks of this world loaded different bundles (this rank's "
        "fingerprint is " +
            std::string(text) +
            "): every rank must run the same bundle file");
  }
  return nullptr;
}

/// Gives `session` its communicator: a transport of its own in a multi-rank
/// world (every rank creates its sessions in the same order), and lets the
/// backend prepare its collectives.
moert_status_t joinCollectives(const moert::Bundle &bundle,
                               moert_session_s &session) {
  std::string error;
  double timeout = moert::comm::kDefaultTimeoutSeconds;
  if (!bundle.grid.empty() &&
      !moert::comm::timeoutFromEnvironment(timeout, error))
    return invalidArgument(error);
  std::shared_ptr<moert::comm::Transport> transport;
  if (bundle.worldSize > 1) {
    transport = moert::comm::sessionTransport(timeout, error);
    if (!transport)
      return makeStatus(MOERT_ERROR_COLLECTIVE,
                        "setting up the collectives of a multi-rank session: " +
                            error);
  } else {
    transport = moert::comm::createSelfTransport();
  }
  if (bundle.worldSize > 1)
    if (moert_status_t status = checkSameBundle(bundle, timeout))
      return status;
  session.communicator = std::make_shared<moert::comm::Communicator>(
      transport, bundle.grid, timeout);
  moert::Failure failure;
  if (bundle.worldSize > 1 &&
      !session.backend->prepareCollectives(*session.communicator, failure))
    return makeStatus(failure);
  return nullptr;
}

moert_status_t tensorSplit(const moert_bundle_t *bundle, size_t function,
                           size_t index, bool input,
                           moert_tensor_split_t *out_split) {
  if (!bundle || !out_split)
    return invalidArgument("null bundle or split");
  const moert::TensorInfo *found = nullptr;
  if (moert_status_t status =
          findTensor(bundle->bundle, function, index, input, found))
    return status;
  const moert::TensorInfo &info = *found;
  static const uint32_t kNoSplit[MOERT_BUNDLE_MAX_RANK] = {};
  out_split->rank = info.type.shape.size();
  out_split->full_shape = info.fullShape.empty() ? info.type.shape.data()
                                                 : info.fullShape.data();
  out_split->split_axes =
      info.splitAxes.empty() ? kNoSplit : info.splitAxes.data();
  out_split->expert_permutation = info.expertPermutation.empty()
                                      ? nullptr
                                      : info.expertPermutation.data();
  out_split->expert_permutation_size = info.expertPermutation.size();
  return nullptr;
}

} // namespace

extern "C" {

//===----------------------------------------------------------------------===//
// Status
//===----------------------------------------------------------------------===//

moert_status_code_t moert_status_code(moert_status_t status) {
  return status ? status->code : MOERT_OK;
}

const char *moert_status_message(moert_status_t status) {
  return status ? status->message.c_str() : "OK";
}

void moert_status_free(moert_status_t status) {
  if (status != &outOfMemoryStatus)
    delete status;
}

const char *moert_status_code_string(moert_status_code_t code) {
  switch (code) {
  case MOERT_OK: return "OK";
  case MOERT_ERROR_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
  case MOERT_ERROR_NOT_FOUND: return "NOT_FOUND";
  case MOERT_ERROR_IO: return "IO";
  case MOERT_ERROR_INVALID_BUNDLE: return "INVALID_BUNDLE";
  case MOERT_ERROR_UNSUPPORTED: return "UNSUPPORTED";
  case MOERT_ERROR_OUT_OF_MEMORY: return "OUT_OF_MEMORY";
  case MOERT_ERROR_KERNEL: return "KERNEL";
  case MOERT_ERROR_INTERNAL: return "INTERNAL";
  case MOERT_ERROR_COLLECTIVE: return "COLLECTIVE";
  }
  return "UNKNOWN";
}

//===----------------------------------------------------------------------===//
// Bundles
//===----------------------------------------------------------------------===//

moert_status_t moert_bundle_load_file(const char *path,
                                      moert_bundle_t **out_bundle) {
  if (!path || !out_bundle)
    return invalidArgument("null path or bundle");
  *out_bundle = nullptr;
  return guarded([&]() -> moert_status_t {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
      int err = errno;
      return makeStatus(err == ENOENT ? MOERT_ERROR_NOT_FOUND : MOERT_ERROR_IO,
                        std::string("cannot open bundle '") + path +
                            "': " + std::strerror(err));
    }
    std::vector<uint8_t> bytes;
    char chunk[1 << 16];
    while (file.read(chunk, sizeof(chunk)) || file.gcount() > 0) {
      bytes.insert(bytes.end(), chunk, chunk + file.gcount());
      if (bytes.size() > MOERT_BUNDLE_MAX_KERNELS_BYTES +
                             4 * MOERT_BUNDLE_MAX_JSON_BYTES)
        return makeStatus(MOERT_ERROR_INVALID_BUNDLE,
                          std::string("invalid bundle: '") + path +
                              "' is larger than any valid bundle");
    }
    if (file.bad())
      return makeStatus(MOERT_ERROR_IO,
                        std::string("cannot read bundle '") + path + "'");
    moert_status_t status = loadBytes(bytes.data(), bytes.size(), out_bundle);
    if (status && status != &outOfMemoryStatus)
      status->message = std::string(path) + ": " + status->message;
    return status;
  });
}

moert_status_t moert_bundle_load_memory(const void *data, size_t size,
                                        moert_bundle_t **out_bundle) {
  if (!out_bundle || (!data && size))
    return invalidArgument("null data or bundle");
  *out_bundle = nullptr;
  return guarded([&] {
    static const uint8_t empty = 0;
    return loadBytes(data ? static_cast<const uint8_t *>(data) : &empty, size,
                     out_bundle);
  });
}

void moert_bundle_release(moert_bundle_t *bundle) {
  if (bundle && bundle->references.fetch_sub(1) == 1)
    delete bundle;
}

const char *moert_bundle_target(const moert_bundle_t *bundle) {
  return bundle ? bundle->bundle.target.c_str() : nullptr;
}

size_t moert_bundle_function_count(const moert_bundle_t *bundle) {
  return bundle ? bundle->bundle.functions.size() : 0;
}

const char *moert_bundle_function_name(const moert_bundle_t *bundle,
                                       size_t function) {
  if (!bundle || function >= bundle->bundle.functions.size())
    return nullptr;
  return bundle->bundle.functions[function].name.c_str();
}

moert_status_t moert_bundle_find_function(const moert_bundle_t *bundle,
                                          const char *name,
                                          size_t *out_function) {
  if (!bundle || !name || !out_function)
    return invalidArgument("null bundle, name or index");
  return guarded([&]() -> moert_status_t {
    const auto &functions = bundle->bundle.functions;
    for (size_t i = 0; i < functions.size(); ++i)
      if (functions[i].name == name) {
        *out_function = i;
        return nullptr;
      }
    std::string known;
    for (const moert::Function &f : functions)
      known += (known.empty() ? "" : ", ") + f.name;
    return makeStatus(MOERT_ERROR_NOT_FOUND,
                      std::string("no function \"") + name +
                          "\" in the bundle (it has: " + known + ")");
  });
}

size_t moert_bundle_input_count(const moert_bundle_t *bundle,
                                size_t function) {
  if (!bundle || function >= bundle->bundle.functions.size())
    return 0;
  return bundle->bundle.functions[function].inputs.size();
}

size_t moert_bundle_output_count(const moert_bundle_t *bundle,
                                 size_t function) {
  if (!bundle || function >= bundle->bundle.functions.size())
    return 0;
  return bundle->bundle.functions[function].outputs.size();
}

moert_status_t moert_bundle_input_info(const moert_bundle_t *bundle,
                                       size_t function, size_t input,
                                       moert_tensor_info_t *out_info) {
  return tensorInfo(bundle, function, input, /*input=*/true, out_info);
}

moert_status_t moert_bundle_output_info(const moert_bundle_t *bundle,
                                        size_t function, size_t output,
                                        moert_tensor_info_t *out_info) {
  return tensorInfo(bundle, function, output, /*input=*/false, out_info);
}

const char *moert_bundle_reference_program(const moert_bundle_t *bundle,
                                           size_t function) {
  if (!bundle || function >= bundle->bundle.functions.size())
    return nullptr;
  const std::string &reference = bundle->bundle.functions[function].reference;
  return reference.empty() ? nullptr : reference.c_str();
}

moert_status_t moert_bundle_composition_info(const moert_bundle_t *bundle,
                                             size_t function,
                                             moert_composition_info_t *out_info) {
  if (!bundle || !out_info)
    return invalidArgument(!bundle ? "null bundle" : "null out_info");
  if (moert_status_t status = checkFunction(bundle->bundle, function))
    return status;
  const moert::Function &f = bundle->bundle.functions[function];
  *out_info = {};
  if (f.isComposition)
    *out_info = {f.composition.models.size(), f.composition.selector,
                 f.composition.requests};
  return nullptr;
}

moert_status_t moert_bundle_composition_model(const moert_bundle_t *bundle,
                                              size_t function, size_t model,
                                              size_t *out_function) {
  if (!bundle || !out_function)
    return invalidArgument(!bundle ? "null bundle" : "null out_function");
  if (moert_status_t status = checkFunction(bundle->bundle, function))
    return status;
  const moert::Function &f = bundle->bundle.functions[function];
  if (!f.isComposition)
    return invalidArgument("function \"" + f.name +
                           "\" is not a composition");
  if (model >= f.composition.models.size())
    return invalidArgument("model " + std::to_string(model) +
                           " is out of range: \"" + f.name + "\" has " +
                           std::to_string(f.composition.models.size()));
  *out_function = f.composition.models[model].function;
  return nullptr;
}

//===----------------------------------------------------------------------===//
// Sessions
//===----------------------------------------------------------------------===//

moert_status_t moert_session_create(moert_bundle_t *bundle,
                                    moert_session_t **out_session) {
  return moert_session_create_on_device(bundle, MOERT_DEVICE_CPU,
                                        out_session);
}

moert_status_t moert_session_create_on_device(moert_bundle_t *bundle,
                                              moert_device_t device,
                                              moert_session_t **out_session) {
  return moert_session_create_on_device_id(bundle, device, 0, out_session);
}

moert_status_t moert_session_create_on_device_id(
    moert_bundle_t *bundle, moert_device_t device, int32_t device_id,
    moert_session_t **out_session) {
  if (!bundle || !out_session)
    return invalidArgument("null bundle or session");
  *out_session = nullptr;
  return guarded([&]() -> moert_status_t {
    const moert::Bundle &b = bundle->bundle;
    moert::Failure failure;
    auto session = std::make_unique<moert_session_s>();
    if (moert_status_t status = checkWorld(b))
      return status;
    if (device == MOERT_DEVICE_CPU) {
      if (device_id != 0)
        return invalidArgument("no cpu device " + std::to_string(device_id) +
                               " (the cpu is device 0)");
      session->backend = moert::createCpuBackend(b, failure);
    } else if (device == MOERT_DEVICE_CUDA) {
      if (b.target == MOERT_BUNDLE_TARGET_CPU_X86_64)
        return makeStatus(MOERT_ERROR_UNSUPPORTED,
                          "this bundle targets cpu (" + b.target +
                              "), not cuda: run it on the cpu device");
#ifdef MOERT_HAVE_CUDA
      session->backend = moert::createCudaBackend(b, device_id, failure);
#else
      return makeStatus(MOERT_ERROR_UNSUPPORTED,
                        "the CUDA backend is not built in this runtime "
                        "(configure with -DMOE_ENABLE_CUDA=ON where the CUDA "
                        "toolkit's headers are installed); bundle target " +
                            b.target);
#endif
    } else {
      return invalidArgument("unknown device " +
                             std::to_string(static_cast<int>(device)));
    }
    if (!session->backend)
      return makeStatus(failure);
    if (moert_status_t status = joinCollectives(b, *session))
      return status;
    retain(bundle);
    session->bundle = bundle;
    *out_session = session.release();
    return nullptr;
  });
}

size_t moert_bundle_grid(const moert_bundle_t *bundle,
                         const int64_t **out_shape) {
  if (out_shape)
    *out_shape = nullptr;
  if (!bundle)
    return 0;
  if (out_shape && !bundle->bundle.grid.empty())
    *out_shape = bundle->bundle.grid.data();
  return bundle->bundle.grid.size();
}

moert_status_t moert_bundle_input_split(const moert_bundle_t *bundle,
                                        size_t function, size_t input,
                                        moert_tensor_split_t *out_split) {
  return tensorSplit(bundle, function, input, /*input=*/true, out_split);
}

moert_status_t moert_bundle_output_split(const moert_bundle_t *bundle,
                                         size_t function, size_t output,
                                         moert_tensor_split_t *out_split) {
  return tensorSplit(bundle, function, output, /*input=*/false, out_split);
}

moert_status_t moert_world_join(moert_world_info_t *out_info) {
  if (!out_info)
    return invalidArgument("null world info");
  return guarded([&]() -> moert_status_t {
    moert::comm::WorldInfo world;
    std::string error;
    if (!moert::comm::joinWorld(world, error))
      return makeStatus(MOERT_ERROR_UNSUPPORTED,
                        "cannot join the world of ranks: " + error);
    *out_info = {world.rank, world.size, world.localRank, world.mpi ? 1 : 0};
    return nullptr;
  });
}

moert_status_t moert_world_all_reduce_f64(double *values, size_t count,
                                          int32_t op) {
  if (!values && count)
    return invalidArgument("null values");
  if (op < 0 || op > 3)
    return invalidArgument("unknown reduction " + std::to_string(op) +
                           " (0 sum, 1 max, 2 min, 3 prod)");
  return guarded([&]() -> moert_status_t {
    std::string error;
    double timeout = 0;
    if (!moert::comm::timeoutFromEnvironment(timeout, error))
      return invalidArgument(error);
    if (!moert::comm::worldAllReduce(values, count, op, timeout, error))
      return makeStatus(MOERT_ERROR_COLLECTIVE,
                        "moert_world_all_reduce_f64: " + error);
    return nullptr;
  });
}

moert_status_t moert_world_finalize(void) {
  return guarded([&]() -> moert_status_t {
    std::string error;
    if (!moert::comm::finalizeWorld(error))
      return makeStatus(MOERT_ERROR_INTERNAL, error);
    return nullptr;
  });
}

moert_status_t moert_session_set_collective_timeout(moert_session_t *session,
                                                    double seconds) {
  if (!session)
    return invalidArgument("null session");
  return guarded([&]() -> moert_status_t {
    if (!(seconds > 0) || seconds > moert::comm::kMaxTimeoutSeconds)
      return invalidArgument(
          "collective timeout " + std::to_string(seconds) +
          " s: expected a number of seconds > 0, at most " +
          std::to_string(int64_t(moert::comm::kMaxTimeoutSeconds)));
    session->communicator->setTimeout(seconds);
    return nullptr;
  });
}

void moert_session_release(moert_session_t *session) {
  if (!session)
    return;
  moert_bundle_t *bundle = session->bundle;
  delete session;
  moert_bundle_release(bundle);
}

moert_status_t moert_session_run(moert_session_t *session, size_t function,
                                 const moert_tensor_view_t *inputs,
                                 size_t input_count,
                                 const moert_tensor_view_t *outputs,
                                 size_t output_count) {
  return moert_session_run_timed(session, function, inputs, input_count,
                                 outputs, output_count, nullptr);
}

moert_status_t moert_session_run_timed(moert_session_t *session,
                                       size_t function,
                                       const moert_tensor_view_t *inputs,
                                       size_t input_count,
                                       const moert_tensor_view_t *outputs,
                                       size_t output_count,
                                       double *out_milliseconds) {
  if (!session)
    return invalidArgument("null session");
  return guarded([&]() -> moert_status_t {
    const moert::Bundle &bundle = session->bundle->bundle;
    if (moert_status_t status = checkFunction(bundle, function))
      return status;
    return runChecked(session, function, inputs, input_count, outputs,
                      output_count, nullptr, nullptr, out_milliseconds);
  });
}

size_t moert_session_last_request_count(const moert_session_t *session) {
  return session ? session->lastRequests.size() : 0;
}

moert_status_t moert_session_last_request_stats(
    const moert_session_t *session, size_t request,
    moert_request_stats_t *out_stats) {
  if (!session || !out_stats)
    return invalidArgument(!session ? "null session" : "null out_stats");
  if (request >= session->lastRequests.size())
    return invalidArgument(
        "request " + std::to_string(request) +
        " is out of range: the last "
        "run " +
        (session->lastRequests.empty()
             ? std::string("ran no composition")
             : "served " + std::to_string(session->lastRequests.size()) +
                   " requests"));
  const moert::RequestStats &stats = session->lastRequests[request];
  *out_stats = {};
  out_stats->model = stats.model;
  out_stats->milliseconds = stats.milliseconds;
  out_stats->run = toRunStats(stats.run);
  return nullptr;
}

moert_status_t moert_session_set_stream(moert_session_t *session,
                                        void *cu_stream) {
  return onBackend(
      session, [&](moert::Backend &backend, moert::Failure &failure) {
        return backend.setStream(cu_stream, /*own=*/false, failure);
      });
}

moert_status_t moert_session_reset_stream(moert_session_t *session) {
  return onBackend(session,
                   [&](moert::Backend &backend, moert::Failure &failure) {
                     return backend.setStream(nullptr, /*own=*/true, failure);
                   });
}

moert_status_t moert_session_set_device_memory_limit(moert_session_t *session,
                                                     uint64_t bytes) {
  return onBackend(session,
                   [&](moert::Backend &backend, moert::Failure &failure) {
                     return backend.setDeviceMemoryLimit(bytes, failure);
                   });
}

moert_status_t moert_session_last_run_stats(const moert_session_t *session,
                                            moert_run_stats_t *out_stats) {
  if (!session || !out_stats)
    return invalidArgument(!session ? "null session" : "null out_stats");
  if (session->lastRequests.empty()) {
    *out_stats = toRunStats(session->backend->lastRunStats());
    return nullptr;
  }
  // A composition: its requests' model runs together (the cache as the last
  // one left it, the peak of the largest).
  moert::RunStats total;
  for (const moert::RequestStats &request : session->lastRequests) {
    total.tier += request.run.tier;
    total.tierCachedBytes = request.run.tierCachedBytes;
    total.peakDeviceBytes =
        std::max(total.peakDeviceBytes, request.run.peakDeviceBytes);
  }
  *out_stats = toRunStats(total);
  return nullptr;
}

moert_status_t moert_session_set_tier_cache(moert_session_t *session,
                                            uint64_t capacity_bytes) {
  return onBackend(session,
                   [&](moert::Backend &backend, moert::Failure &failure) {
                     return backend.setTierCache(capacity_bytes, failure);
                   });
}

moert_status_t moert_session_clear_tier_cache(moert_session_t *session) {
  return onBackend(session,
                   [&](moert::Backend &backend, moert::Failure &failure) {
                     return backend.clearTierCache(failure);
                   });
}

moert_status_t moert_dtype_to_dl(moert_dtype_t dtype,
                                 moert_dl_dtype_t *out_dtype) {
  if (!out_dtype)
    return invalidArgument("null dtype");
  switch (dtype) {
  case MOERT_DTYPE_F32:
    *out_dtype = {MOERT_DL_FLOAT, 32, 1};
    return nullptr;
  case MOERT_DTYPE_F16:
    *out_dtype = {MOERT_DL_FLOAT, 16, 1};
    return nullptr;
  case MOERT_DTYPE_BF16:
    *out_dtype = {MOERT_DL_BFLOAT, 16, 1};
    return nullptr;
  case MOERT_DTYPE_I32:
    *out_dtype = {MOERT_DL_INT, 32, 1};
    return nullptr;
  case MOERT_DTYPE_I64:
    *out_dtype = {MOERT_DL_INT, 64, 1};
    return nullptr;
  case MOERT_DTYPE_INVALID:
    break;
  }
  return invalidArgument("dtype " + std::to_string(static_cast<int>(dtype)) +
                         " has no DLPack equivalent");
}

moert_status_t moert_session_run_dl(moert_session_t *session, size_t function,
                                    const moert_dl_tensor_t *inputs,
                                    size_t input_count,
                                    const moert_dl_tensor_t *outputs,
                                    size_t output_count) {
  if (!session)
    return invalidArgument("null session");
  return guarded([&]() -> moert_status_t {
    const moert::Bundle &bundle = session->bundle->bundle;
    if (moert_status_t status = checkFunction(bundle, function))
      return status;
    const moert::Function &f = bundle.functions[function];
    std::vector<moert_tensor_view_t> in, out;
    std::vector<bool> inDevice, outDevice;
    const moert::Backend &backend = *session->backend;
    if (moert_status_t status = viewsFromDL(f, f.inputs, inputs, input_count,
                                            "input", backend, in, inDevice))
      return status;
    if (moert_status_t status =
            viewsFromDL(f, f.outputs, outputs, output_count, "output", backend,
                        out, outDevice))
      return status;
    return runChecked(session, function, in.data(), in.size(), out.data(),
                      out.size(), &inDevice, &outDevice);
  });
}

} // extern "C"
