/*===- moert.h - the MoE-MLIR runtime C API --------------------------------===*
 *
 * The one public header of the runtime: load and validate an artifact bundle
 * (written by `moe-translate --moe-to-bundle`), inspect its manifest, and run
 * its functions. Plain C; builds and links without MLIR or LLVM.
 *
 * Errors: every fallible function returns a `moert_status_t`; NULL is success,
 * anything else carries a stable code and a message and must be released with
 * moert_status_free. Nothing here aborts the host process.
 *
 * Threads: a loaded bundle is immutable and may be shared. A session may run
 * functions from several threads at once (each run has its own buffers), and
 * any number of sessions may run concurrently.
 *
 * Inputs and outputs are memory the caller owns: host memory as
 * moert_tensor_view_t (dtype, shape, pointer, bytes), or a DLPack DLTensor
 * (moert_dl_tensor_t), which may also be CUDA device memory on a cuda
 * session. Sessions run on the CPU or on a CUDA device ("CUDA sessions"
 * below), on the runtime's own CUDA stream or the caller's.
 *
 *   moert_bundle_t *bundle = NULL;
 *   moert_status_t s = moert_bundle_load_file("model.bundle", &bundle);
 *   if (s) { fprintf(stderr, "%s\n", moert_status_message(s)); ... }
 *   moert_session_t *session = NULL;
 *   s = moert_session_create(bundle, &session);
 *   s = moert_session_run(session, 0, inputs, n_in, outputs, n_out);
 *   moert_session_release(session); moert_bundle_release(bundle);
 *
 *===----------------------------------------------------------------------===*/

#ifndef MOERT_MOERT_H
#define MOERT_MOERT_H

#include "moert/bundle_format.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define MOERT_API
#else
#define MOERT_API __attribute__((visibility("default")))
#endif

/*===----------------------------------------------------------------------===*
 * Status
 *===----------------------------------------------------------------------===*/

/* Stable error codes: values never change meaning. */
typedef enum moert_status_code_t {
  MOERT_OK = 0,
  MOERT_ERROR_INVALID_ARGUMENT = 1, /* bad argument to an API call */
  MOERT_ERROR_NOT_FOUND = 2,        /* no such file, function, tensor */
  MOERT_ERROR_IO = 3,               /* a file could not be read */
  MOERT_ERROR_INVALID_BUNDLE = 4,   /* the bundle failed validation */
  MOERT_ERROR_UNSUPPORTED = 5,      /* target / feature not built here */
  MOERT_ERROR_OUT_OF_MEMORY = 6,
  MOERT_ERROR_KERNEL = 7,           /* kernels failed to load or resolve */
  MOERT_ERROR_INTERNAL = 8,
  MOERT_ERROR_COLLECTIVE = 9,       /* a collective of a multi-rank run failed
                                       (timeout, mismatch, peer gone) */
} moert_status_code_t;

/* NULL means success. */
typedef struct moert_status_s *moert_status_t;

MOERT_API moert_status_code_t moert_status_code(moert_status_t status);
/* The message; valid until moert_status_free. "OK" for NULL. */
MOERT_API const char *moert_status_message(moert_status_t status);
MOERT_API void moert_status_free(moert_status_t status);
/* "OK", "INVALID_ARGUMENT", ...; never NULL. */
MOERT_API const char *moert_status_code_string(moert_status_code_t code);

/*===----------------------------------------------------------------------===*
 * Bundles
 *===----------------------------------------------------------------------===*/

typedef struct moert_bundle_s moert_bundle_t;

/* Reads and validates the bundle at `path`. */
MOERT_API moert_status_t moert_bundle_load_file(const char *path,
                                                moert_bundle_t **out_bundle);
/* Validates `size` bytes at `data` (copied; the caller keeps `data`). */
MOERT_API moert_status_t moert_bundle_load_memory(const void *data,
                                                  size_t size,
                                                  moert_bundle_t **out_bundle);
MOERT_API void moert_bundle_release(moert_bundle_t *bundle);

/* Target string, e.g. "cpu-x86_64". */
MOERT_API const char *moert_bundle_target(const moert_bundle_t *bundle);
MOERT_API size_t moert_bundle_function_count(const moert_bundle_t *bundle);
/* NULL when `function` is out of range. */
MOERT_API const char *moert_bundle_function_name(const moert_bundle_t *bundle,
                                                 size_t function);
MOERT_API moert_status_t moert_bundle_find_function(
    const moert_bundle_t *bundle, const char *name, size_t *out_function);

/* A tensor of the manifest; pointers live as long as the bundle. */
typedef struct moert_tensor_info_t {
  const char *name;
  moert_dtype_t dtype;
  size_t rank;
  const int64_t *shape;   /* `rank` dimensions */
  size_t element_count;
  size_t byte_size;
} moert_tensor_info_t;

MOERT_API size_t moert_bundle_input_count(const moert_bundle_t *bundle,
                                          size_t function);
MOERT_API size_t moert_bundle_output_count(const moert_bundle_t *bundle,
                                           size_t function);
MOERT_API moert_status_t moert_bundle_input_info(const moert_bundle_t *bundle,
                                                 size_t function, size_t input,
                                                 moert_tensor_info_t *out_info);
MOERT_API moert_status_t moert_bundle_output_info(
    const moert_bundle_t *bundle, size_t function, size_t output,
    moert_tensor_info_t *out_info);

/* The function's reference program (JSON), or NULL when the bundle has none
 * for it. Lives as long as the bundle. */
MOERT_API const char *
moert_bundle_reference_program(const moert_bundle_t *bundle, size_t function);

/* Compositions of experts (moe.composition, docs/composition.md): a function
 * the runtime serves by running, per request r, the model m = argmax of row r
 * of the selector input (ties to the lower column) on request r. */
typedef struct moert_composition_info_t {
  /* The number of models; 0 when the function is not a composition (then the
   * other fields are 0 too). */
  size_t model_count;
  /* The inputs holding the selector [R, M] and the requests [R, ...]. */
  size_t selector_input;
  size_t requests_input;
} moert_composition_info_t;
MOERT_API moert_status_t moert_bundle_composition_info(
    const moert_bundle_t *bundle, size_t function,
    moert_composition_info_t *out_info);
/* The manifest function that model `model` of composition `function` runs
 * as. */
MOERT_API moert_status_t moert_bundle_composition_model(
    const moert_bundle_t *bundle, size_t function, size_t model,
    size_t *out_function);

/* Multi-rank bundles (docs/multi-rank.md): the rank grid. Returns its number
 * of axes (0 for a single-rank bundle) and points `*out_shape` (when not
 * NULL) at the sizes, which live as long as the bundle. */
MOERT_API size_t moert_bundle_grid(const moert_bundle_t *bundle,
                                   const int64_t **out_shape);

/* How an input or output of a multi-rank bundle is split over the grid; the
 * arrays live as long as the bundle. A tensor of a single-rank bundle, or a
 * replicated one, has full_shape == its shape and every split_axes 0. */
typedef struct moert_tensor_split_t {
  size_t rank;
  const int64_t *full_shape;  /* `rank` dims: the tensor on all ranks */
  /* `rank` masks: bit a set when grid axis a splits the dimension; the
   * rank's block index is its mixed-radix number over those axes, the lowest
   * axis most significant. */
  const uint32_t *split_axes;
  /* full'[i] = full[expert_permutation[i]] along dimension 0 before the
   * split; NULL (size 0) when none. */
  const int64_t *expert_permutation;
  size_t expert_permutation_size;
} moert_tensor_split_t;

MOERT_API moert_status_t moert_bundle_input_split(
    const moert_bundle_t *bundle, size_t function, size_t input,
    moert_tensor_split_t *out_split);
MOERT_API moert_status_t moert_bundle_output_split(
    const moert_bundle_t *bundle, size_t function, size_t output,
    moert_tensor_split_t *out_split);

/*===----------------------------------------------------------------------===*
 * The world: multi-rank runs
 *
 * A bundle with a grid runs SPMD on prod(grid) processes, one session per
 * process, started by an MPI launcher (`mpirun -np N`; the launcher's
 * OMPI_COMM_WORLD_* / PMI_* variables, or RANK/WORLD_SIZE/LOCAL_RANK, which
 * must then agree with what MPI started). Creating a session of such a bundle
 * joins the world (moert_world_join) and fails with
 * MOERT_ERROR_INVALID_ARGUMENT when the world's size differs from
 * prod(grid), MOERT_ERROR_UNSUPPORTED when the runtime has no MPI (or, on
 * CUDA, NCCL cannot be loaded: libnccl.so.2, or MOERT_NCCL_LIBRARY). Every
 * rank creates its multi-rank sessions in the same order and runs the same
 * functions in the same order; a multi-rank session runs one function at a
 * time. Every collective has a deadline (MOERT_COLLECTIVE_TIMEOUT_S seconds,
 * default 60, or moert_session_set_collective_timeout): a timeout, a rank
 * that issues another collective or other sizes, or a peer that is gone ends
 * the run with MOERT_ERROR_COLLECTIVE on every rank that sees it, naming the
 * collective, its sequence number in the run, the group and the rank.
 * Nothing hangs and nothing aborts the process.
 *===----------------------------------------------------------------------===*/

typedef struct moert_world_info_t {
  int32_t rank;
  int32_t size;
  int32_t local_rank; /* on this host (e.g. the CUDA device to use) */
  int32_t uses_mpi;   /* 0: a world of this process alone */
} moert_world_info_t;

/* Joins the world this process was started in (MPI_Init unless the host
 * program initialized MPI itself; nothing for a world of one process) and
 * describes it; later calls return the same world. */
MOERT_API moert_status_t moert_world_join(moert_world_info_t *out_info);
/* Reduces `count` doubles in place over every rank of the world (op 0 sum,
 * 1 max, 2 min, 3 prod), with the collective deadline: e.g. combining
 * per-rank results in a launcher. Every rank calls it. */
MOERT_API moert_status_t moert_world_all_reduce_f64(double *values,
                                                    size_t count, int32_t op);
/* MPI_Finalize when moert_world_join initialized MPI; release every
 * multi-rank session first. No multi-rank session can start after it. Call
 * it before a rank exits: mpirun takes a rank that ends without finalizing
 * MPI for a failed one and ends the job. */
MOERT_API moert_status_t moert_world_finalize(void);

/*===----------------------------------------------------------------------===*
 * Sessions
 *===----------------------------------------------------------------------===*/

typedef struct moert_session_s moert_session_t;

typedef enum moert_device_t {
  MOERT_DEVICE_CPU = 0,
  MOERT_DEVICE_CUDA = 1,
} moert_device_t;

/* Loads the bundle's kernels for running on the CPU. The session keeps the
 * bundle alive (the caller may release its own reference). */
MOERT_API moert_status_t moert_session_create(moert_bundle_t *bundle,
                                              moert_session_t **out_session);
/* As moert_session_create, on `device` (CUDA: device 0):
 * MOERT_ERROR_UNSUPPORTED when the bundle's target does not run there
 * (a "cpu-x86_64" bundle on cuda, a "cuda-sm_*" one on the cpu), the backend
 * is not built into this runtime, or, for CUDA, there is no usable driver or
 * GPU, or the device's compute capability does not run the bundle's chip. */
MOERT_API moert_status_t moert_session_create_on_device(
    moert_bundle_t *bundle, moert_device_t device,
    moert_session_t **out_session);
/* As moert_session_create_on_device, on device `device_id` of `device`: the
 * CUDA device ordinal (DLPack's device_id; CUDA_VISIBLE_DEVICES applies), 0
 * for the CPU. */
MOERT_API moert_status_t moert_session_create_on_device_id(
    moert_bundle_t *bundle, moert_device_t device, int32_t device_id,
    moert_session_t **out_session);
MOERT_API void moert_session_release(moert_session_t *session);
/* The deadline of each collective of the session's later runs, in seconds
 * (> 0); MOERT_ERROR_INVALID_ARGUMENT otherwise. */
MOERT_API moert_status_t
moert_session_set_collective_timeout(moert_session_t *session, double seconds);

/*===----------------------------------------------------------------------===*
 * CUDA sessions
 *
 * The CUDA driver (libcuda.so.1, or the library that the environment variable
 * MOERT_CUDA_DRIVER_LIBRARY names) is loaded when the first cuda session is
 * created; nothing links it. Creating a session checks the device's compute
 * capability against the bundle's chip ("cuda-sm_90a": exactly 9.0;
 * "cuda-sm_80": 8.0 or later) and its free memory against what the largest
 * function holds (its buffers and outputs), then loads the kernels and their
 * device code into the device's primary context (the one the CUDA runtime
 * and PyTorch use).
 *
 * A run enqueues all its work (copies, allocations, kernels, frees) on the
 * session's stream, a stream of its own unless moert_session_set_stream gave
 * it the caller's, and returns once that work is complete, outputs written;
 * while the stream is being captured into a CUDA graph it returns once the
 * work is enqueued (nothing synchronizes). Host tensors are copied to and
 * from the device; CUDA device tensors (moert_session_run_dl, kDLCUDA on the
 * session's device) are read in place and written device to device. A failing
 * driver call, inside a kernel's launch code or after it (an asynchronous
 * fault found when the run synchronizes), ends the run with
 * MOERT_ERROR_KERNEL and a message naming the call, its arguments and the
 * driver's error; a fault that breaks the CUDA context (an illegal address)
 * leaves later runs in this process failing too, as in any CUDA program.
 *===----------------------------------------------------------------------===*/

/* Runs later work of the cuda session on `cu_stream`, a CUstream of the
 * session's device (the primary context), e.g. PyTorch's
 * torch.cuda.current_stream().cuda_stream; NULL is the legacy default
 * stream, as in CUDA. Work the caller enqueued on it before a run is done
 * before the run reads its inputs. Not while a run of the session is in
 * progress. MOERT_ERROR_UNSUPPORTED on a cpu session. */
MOERT_API moert_status_t moert_session_set_stream(moert_session_t *session,
                                                  void *cu_stream);
/* Back to the session's own stream. */
MOERT_API moert_status_t moert_session_reset_stream(moert_session_t *session);

/* Caps the device memory a run of the cuda session may hold at once
 * (runtime buffers, kernel allocations and scratch together), in bytes; 0
 * removes the cap. An allocation past it fails the run with
 * MOERT_ERROR_OUT_OF_MEMORY, naming the limit. For running a model within an
 * HBM budget (memory tiers, docs/memory-tiers.md) and checking that it does.
 * MOERT_ERROR_UNSUPPORTED on a cpu session. */
MOERT_API moert_status_t
moert_session_set_device_memory_limit(moert_session_t *session,
                                      uint64_t bytes);

/* What the session's last run did besides computing. */
typedef struct moert_run_stats_t {
  /* Copies of host-tier buffers into run memory (moert_tier_fetch_*: the
   * weights a memory-tier plan keeps in host memory), and their bytes. */
  uint64_t tier_fetches;
  uint64_t tier_fetched_bytes;
  /* cuda: the most device memory the run held at once (what
   * moert_session_set_device_memory_limit caps); 0 on the cpu. */
  uint64_t peak_device_bytes;
  /* Fetches the tier cache served without a copy (hits) and fetches that
   * copied (misses): hits + misses == tier_fetches, and tier_fetched_bytes
   * counts the misses' bytes only. Without a tier cache every fetch is a
   * miss. */
  uint64_t tier_hits;
  uint64_t tier_misses;
  /* cuda: the bytes the session's tier cache holds after the run. */
  uint64_t tier_cached_bytes;
  /* Expert fetches (moert_tier_fetch_experts_*: only the slices of the
   * experts predicted ahead of a layer, then those its router chose and the
   * prediction missed), counted in distinct experts per fetch: routed
   * experts already copied by the prediction (hits), routed experts copied
   * after the router (misses), and predicted experts no token was routed to
   * (copies not needed). Each expert fetch is also one of tier_fetches and
   * of tier_misses (it never uses the tier cache), and tier_fetched_bytes
   * counts only the slices it copied. Hit rate: hits / (hits + misses). */
  uint64_t tier_expert_hits;
  uint64_t tier_expert_misses;
  uint64_t tier_expert_unused;
} moert_run_stats_t;
/* The stats of the session's last run (zeros before the first); for a
 * composition, its requests' model runs together (the peak of the largest). */
MOERT_API moert_status_t moert_session_last_run_stats(
    const moert_session_t *session, moert_run_stats_t *out_stats);

/* Keeps the host-tier weights the runs of the cuda session fetch
 * (moert_tier_fetch_*, docs/memory-tiers.md §5) in device memory across
 * runs, up to `capacity_bytes` (0, the default, turns the cache off and frees
 * what it holds): a later fetch of the same host buffer copies nothing (a
 * hit). Least recently used entries are evicted when a new one needs the
 * room, or when an allocation of the session fails for lack of device memory
 * (or against moert_session_set_device_memory_limit, which counts the
 * cache's bytes). While the cache is on, the session treats host-tier inputs
 * as immutable weights identified by their address and size: it keeps a
 * page-locked copy of each (filled once, at its first fetch) instead of
 * copying the input into page-locked memory on every run, and a buffer whose
 * contents change under the same address is not seen again until
 * moert_session_clear_tier_cache. Not while a run of the session is in
 * progress. MOERT_ERROR_UNSUPPORTED on a cpu session. */
MOERT_API moert_status_t moert_session_set_tier_cache(moert_session_t *session,
                                                      uint64_t capacity_bytes);
/* Frees the tier cache's device buffers and the page-locked copies of
 * host-tier inputs (the capacity stays). Not while a run of the session is
 * in progress. MOERT_ERROR_UNSUPPORTED on a cpu session. */
MOERT_API moert_status_t
moert_session_clear_tier_cache(moert_session_t *session);

/* Host data of one input or output. `shape` must equal the manifest's and
 * `byte_size` the tensor's size; data is dense row-major. */
typedef struct moert_tensor_view_t {
  moert_dtype_t dtype;
  size_t rank;
  const int64_t *shape;
  void *data;
  size_t byte_size;
} moert_tensor_view_t;

/* Runs `function` with `inputs` (manifest order) and writes its `outputs`
 * (manifest order, caller-allocated). */
MOERT_API moert_status_t moert_session_run(moert_session_t *session,
                                           size_t function,
                                           const moert_tensor_view_t *inputs,
                                           size_t input_count,
                                           const moert_tensor_view_t *outputs,
                                           size_t output_count);
/* As moert_session_run, and stores in `*out_milliseconds` (when not NULL) how
 * long the run took: on a cuda session the device time between CUDA events
 * recorded on the session's stream before its first and after its last kernel
 * call (the layer itself: input and output copies are not counted; -1 while
 * the stream is being captured), on the cpu the wall-clock time of the run. */
MOERT_API moert_status_t moert_session_run_timed(
    moert_session_t *session, size_t function,
    const moert_tensor_view_t *inputs, size_t input_count,
    const moert_tensor_view_t *outputs, size_t output_count,
    double *out_milliseconds);

/* A run of a composition runs one model per request, one request after the
 * other; what each request did. */
typedef struct moert_request_stats_t {
  /* The model the request's selector row chose (its column). */
  size_t model;
  /* Host wall-clock time from the start of the request's model run until its
   * result is in the caller's memory (weights brought up included). */
  double milliseconds;
  /* The model run's stats (its host-tier fetches among them). */
  moert_run_stats_t run;
} moert_request_stats_t;
/* The number of requests of the session's last run when it ran a
 * composition, 0 otherwise; the stats of request `request` of it. */
MOERT_API size_t
moert_session_last_request_count(const moert_session_t *session);
MOERT_API moert_status_t moert_session_last_request_stats(
    const moert_session_t *session, size_t request,
    moert_request_stats_t *out_stats);

/*===----------------------------------------------------------------------===*
 * DLPack-style tensors
 *
 * moert_dl_tensor_t has the layout of DLPack's DLTensor (dlpack.h 0.6 and
 * later, including 1.x), so a host holding a DLManagedTensor (from
 * torch.utils.dlpack.to_dlpack, JAX, CuPy, TVM, ...) passes
 * `&managed->dl_tensor` as is; this header does not need dlpack.h. The
 * runtime only borrows the memory for the duration of the call.
 *
 * Accepted: CPU (and pinned CUDA-host) memory on any session, CUDA device
 * memory (MOERT_DL_CUDA) of the session's device on a cuda session
 * (MOERT_ERROR_UNSUPPORTED on a cpu session, MOERT_ERROR_INVALID_ARGUMENT for
 * another device_id), lanes == 1, the dtype of the manifest, and a compact
 * row-major layout (strides NULL, or equal to the row-major strides;
 * dimensions of size 1 may carry any stride).
 *===----------------------------------------------------------------------===*/

/* DLDeviceType values. */
enum {
  MOERT_DL_CPU = 1,
  MOERT_DL_CUDA = 2,
  MOERT_DL_CUDA_HOST = 3,
};

/* DLDataTypeCode values. */
enum {
  MOERT_DL_INT = 0,
  MOERT_DL_UINT = 1,
  MOERT_DL_FLOAT = 2,
  MOERT_DL_BFLOAT = 4,
};

typedef struct moert_dl_device_t {
  int32_t device_type; /* MOERT_DL_CPU, ... (DLDeviceType) */
  int32_t device_id;
} moert_dl_device_t;

typedef struct moert_dl_dtype_t {
  uint8_t code; /* MOERT_DL_FLOAT, ... (DLDataTypeCode) */
  uint8_t bits;
  uint16_t lanes;
} moert_dl_dtype_t;

typedef struct moert_dl_tensor_t {
  void *data;
  moert_dl_device_t device;
  int32_t ndim;
  moert_dl_dtype_t dtype;
  int64_t *shape;       /* `ndim` dimensions */
  int64_t *strides;     /* in elements; NULL for compact row-major */
  uint64_t byte_offset; /* added to `data` */
} moert_dl_tensor_t;

/* The DLPack dtype of `dtype`; MOERT_ERROR_INVALID_ARGUMENT for
 * MOERT_DTYPE_INVALID. */
MOERT_API moert_status_t moert_dtype_to_dl(moert_dtype_t dtype,
                                           moert_dl_dtype_t *out_dtype);

/* As moert_session_run, with DLPack-style tensors. Checks every tensor
 * (device, dtype, shape, layout) against the manifest before running. */
MOERT_API moert_status_t moert_session_run_dl(moert_session_t *session,
                                              size_t function,
                                              const moert_dl_tensor_t *inputs,
                                              size_t input_count,
                                              const moert_dl_tensor_t *outputs,
                                              size_t output_count);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MOERT_MOERT_H */
