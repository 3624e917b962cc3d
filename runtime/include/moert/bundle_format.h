/*===- bundle_format.h - the artifact bundle: compiler/runtime contract ---===*
 *
 * Written once, included by both sides: the bundle writer
 * (`moe-translate --moe-to-bundle`, lib/Target/Bundle) and the runtime loader
 * (runtime/src/core). Plain C, no MLIR, no LLVM.
 *
 * Layout (all integers little-endian):
 *
 *   moert_bundle_header_t            fixed, MOERT_BUNDLE_HEADER_SIZE bytes
 *   moert_bundle_section_t[count]    section table, right after the header
 *   section bytes                    each at its own offset (aligned to
 *                                    MOERT_BUNDLE_SECTION_ALIGNMENT), inside
 *                                    the file, never overlapping the header,
 *                                    the table or another section
 *
 * Sections (each kind at most once):
 *
 *   MANIFEST   (required) JSON:
 *     {"target": "cpu-x86_64",
 *      "functions": [{"name": "mm", "symbol": "_mlir_ciface_mm",
 *                     "inputs":  [{"name": "x", "dtype": "f32", "shape": [2, 3]}],
 *                     "outputs": [{"name": "result0", "dtype": "f32", "shape": [2, 4]}]}]}
 *              Sharded (multi-rank) bundles add (docs/multi-rank.md §3; all
 *              absent: one rank):
 *                "grid": [EDP, EP, ETP]   top level: the rank grid, 1 to
 *                    MOERT_BUNDLE_MAX_GRID_RANK positive sizes, product at
 *                    most MOERT_BUNDLE_MAX_WORLD_SIZE; world rank of
 *                    coordinates (d, e, t) = (d * EP + e) * ETP + t. The
 *                    bundle runs in a world of exactly prod(grid) ranks.
 *              and on any input or output (each needs "grid"):
 *                "split_axes": [[0, 1], []]  one list of grid axes per
 *                    dimension (ascending, in range, each axis in at most one
 *                    list): dimension i of the full tensor is cut into
 *                    prod(grid[a]) blocks, and the rank holds block number =
 *                    its mixed-radix index over those axes (first most
 *                    significant). Absent or [] = replicated.
 *                "full_shape": [T, H]   must equal shape[i] * prod(grid[a]
 *                    for a in split_axes[i]); "shape" stays the local block.
 *                "expert_permutation": [...]  a permutation of
 *                    0 .. full_shape[0] - 1: the full tensor is permuted
 *                    along dimension 0 first (full'[i] = full[perm[i]]),
 *                    then split.
 *              A function may be a composition of experts (moe.composition,
 *              docs/composition.md) that the runtime serves; it has no
 *              "symbol" and instead
 *                "composition": {"selector": 0, "requests": 1,
 *                                "models": [{"function": "chat",
 *                                            "inputs": [1, 2, 3]}, ...]}
 *                    input "selector" is float [R, M] with one column per
 *                    model; input "requests" is [R, ...]; the one output is
 *                    [R, ...]. Per request r the runtime runs the model m =
 *                    argmax selector[r] (a strict > scan from column 0:
 *                    ties to the lower index, a NaN never wins past column
 *                    0) on its manifest function, whose input j is the
 *                    composition's input inputs[j]: input 0 is request r of
 *                    "requests", the others (weights) whole, and whose one
 *                    output is row r of the result. Single-rank bundles only;
 *                    its SCHEDULE program has no buffers and no commands.
 *   KERNELS    (required) the compiled kernels: for "cpu-x86_64" an ELF shared
 *              object whose `_mlir_ciface_<name>` functions take memref
 *              descriptors by pointer (results first).
 *              For a CUDA target ("cuda-sm_90a", MOERT_BUNDLE_TARGET_CUDA_PREFIX)
 *              also an x86-64 ELF shared object with the same entry points:
 *              the host code of MLIR's GPU lowering, with the device code
 *              (cubin or PTX) inside it. Every data pointer in its memref
 *              descriptors (arguments and results) is a CUDA device pointer.
 *              It leaves the `mgpu*` functions below undefined: the runtime
 *              defines them (they resolve when it loads the object), with
 *              these semantics:
 *                - mgpuModuleLoad runs from the object's constructor while it
 *                  is loaded, mgpuModuleUnload from its destructor;
 *                - mgpuStreamCreate returns the session's stream (the
 *                  runtime's own, or the caller's: moert_session_set_stream)
 *                  and mgpuStreamDestroy of it does nothing; a null stream
 *                  argument means that stream too;
 *                - mgpuMemAlloc/mgpuMemFree are stream-ordered
 *                  (cuMemAllocFromPoolAsync from the runtime's own pool,
 *                  cuMemAllocAsync where there is none; cuMemFreeAsync;
 *                  0 bytes: NULL; host-shared memory is refused), and `call`
 *                  results are such allocations, which the runtime frees;
 *                - mgpuStreamSynchronize does nothing while the stream is
 *                  being captured into a CUDA graph;
 *                - a failing driver call is recorded (the first one, with its
 *                  arguments and the driver's error name and text) and ends
 *                  the run with a MOERT_ERROR_KERNEL status once the kernel
 *                  function returns; later mgpu calls of that run do no work
 *                  except releasing memory. Nothing aborts the process.
 *              See MOERT_BUNDLE_CUDA_ABI below for the list.
 *   SCHEDULE   (required) JSON, one program of flat commands per manifest
 *              function, in the same order:
 *     {"kernels": [{"symbol": "_mlir_ciface_mm",
 *                   "arguments": [{"dtype": "f32", "shape": [2, 3]}, ...],
 *                   "results":   [{"dtype": "f32", "shape": [2, 4]}]}],
 *      "programs": [{"function": "mm",
 *                    "buffers": [{"dtype": "f32", "shape": [2, 3]}, ...],
 *                    "commands": [{"command": "allocate",   "buffer": 0},
 *                                 {"command": "bind_input", "input": 0, "buffer": 0},
 *                                 {"command": "call", "kernel": 0,
 *                                  "arguments": [0, 1], "results": [2]},
 *                                 {"command": "output", "output": 0, "buffer": 2}]}]}
 *     A buffer is defined exactly once, by `allocate` (runtime-owned memory)
 *     or as a `call` result (memory the kernel allocated; the runtime frees
 *     it); it is used only after. `bind_input` copies input data into an
 *     allocated buffer; `output` copies a buffer out. Every input is bound and
 *     every output written exactly once. Dtypes and shapes of buffers agree
 *     with the kernel signature and the manifest. A buffer may carry
 *     "tier": "host" (default "hbm"): it lives in host memory (page-locked on
 *     CUDA) and the kernels copy it up themselves (moert_tier_fetch_*,
 *     docs/memory-tiers.md); it is only allocated, bound to an input and
 *     passed to calls, never a call result or an output.
 *   REFERENCE  (optional) JSON {"programs": [<reference program>, ...]}: the
 *              tensor-level program of a function, for `moe-run --check`
 *              (schema: runtime/src/reference/ReferenceProgram.h). Functions
 *              with ops the reference cannot express have none.
 *
 *===----------------------------------------------------------------------===*/

#ifndef MOERT_BUNDLE_FORMAT_H
#define MOERT_BUNDLE_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/*===----------------------------------------------------------------------===*
 * Header and section table
 *===----------------------------------------------------------------------===*/

/* The first 8 bytes of every bundle (no terminating zero in the file). */
#define MOERT_BUNDLE_MAGIC "MOEBNDL1"
#define MOERT_BUNDLE_MAGIC_SIZE 8
/* Bumped on every incompatible change; the loader accepts exactly this one. */
#define MOERT_BUNDLE_FORMAT_VERSION 1u

/* Target strings (header `target` field and manifest "target"). */
#define MOERT_BUNDLE_TARGET_CPU_X86_64 "cpu-x86_64"
/* CUDA targets: "cuda-sm_<NN>[a]", the chip of the device code, e.g.
 * "cuda-sm_90a" (compute capability 9.0 exactly: the `a` features are not
 * forward compatible) or "cuda-sm_80" (8.0 or later). */
#define MOERT_BUNDLE_TARGET_CUDA_PREFIX "cuda-"
#define MOERT_BUNDLE_TARGET_SIZE 32

typedef struct moert_bundle_header_t {
  char magic[MOERT_BUNDLE_MAGIC_SIZE]; /* MOERT_BUNDLE_MAGIC */
  uint32_t version;                    /* MOERT_BUNDLE_FORMAT_VERSION */
  uint32_t section_count;              /* entries in the section table */
  uint64_t file_size;                  /* total bundle size in bytes */
  uint32_t flags;                      /* reserved, 0 */
  uint32_t reserved;                   /* reserved, 0 */
  char target[MOERT_BUNDLE_TARGET_SIZE]; /* zero-padded, zero-terminated */
} moert_bundle_header_t;

typedef struct moert_bundle_section_t {
  uint32_t kind;     /* moert_bundle_section_kind_t */
  uint32_t reserved; /* 0 */
  uint64_t offset;   /* from the start of the bundle */
  uint64_t size;     /* in bytes */
} moert_bundle_section_t;

#define MOERT_BUNDLE_HEADER_SIZE 64
#define MOERT_BUNDLE_SECTION_ENTRY_SIZE 24
#define MOERT_BUNDLE_SECTION_ALIGNMENT 64

#ifdef __cplusplus
static_assert(sizeof(moert_bundle_header_t) == MOERT_BUNDLE_HEADER_SIZE,
              "bundle header layout");
static_assert(sizeof(moert_bundle_section_t) == MOERT_BUNDLE_SECTION_ENTRY_SIZE,
              "bundle section entry layout");
#else
_Static_assert(sizeof(moert_bundle_header_t) == MOERT_BUNDLE_HEADER_SIZE,
               "bundle header layout");
_Static_assert(sizeof(moert_bundle_section_t) ==
                   MOERT_BUNDLE_SECTION_ENTRY_SIZE,
               "bundle section entry layout");
#endif

typedef enum moert_bundle_section_kind_t {
  MOERT_BUNDLE_SECTION_MANIFEST = 1,
  MOERT_BUNDLE_SECTION_KERNELS = 2,
  MOERT_BUNDLE_SECTION_SCHEDULE = 3,
  MOERT_BUNDLE_SECTION_REFERENCE = 4,
} moert_bundle_section_kind_t;

static inline const char *
moert_bundle_section_kind_name(uint32_t kind) {
  switch (kind) {
  case MOERT_BUNDLE_SECTION_MANIFEST: return "MANIFEST";
  case MOERT_BUNDLE_SECTION_KERNELS: return "KERNELS";
  case MOERT_BUNDLE_SECTION_SCHEDULE: return "SCHEDULE";
  case MOERT_BUNDLE_SECTION_REFERENCE: return "REFERENCE";
  default: return NULL;
  }
}

/* For a CUDA target "cuda-sm_<NN>[a]": 1, with `*sm` = NN (the compute
 * capability as major * 10 + minor: 90 for sm_90a, 100 for sm_100a) and
 * `*arch_specific` = 1 for the `a` suffix; 0 for any other string. */
static inline int moert_bundle_target_parse_cuda(const char *target,
                                                 unsigned *sm,
                                                 int *arch_specific) {
  const char *prefix = MOERT_BUNDLE_TARGET_CUDA_PREFIX "sm_";
  size_t prefix_size = strlen(prefix);
  unsigned value = 0;
  size_t digits = 0;
  if (strncmp(target, prefix, prefix_size) != 0)
    return 0;
  target += prefix_size;
  for (; *target >= '0' && *target <= '9'; ++target, ++digits) {
    if (digits == 4)
      return 0;
    value = value * 10 + (unsigned)(*target - '0');
  }
  if (digits < 2 || (target[0] != 0 && (target[0] != 'a' || target[1] != 0)))
    return 0;
  *sm = value;
  *arch_specific = target[0] == 'a';
  return 1;
}

/* The C ABI that the host code of a CUDA bundle's KERNELS calls (MLIR's GPU
 * host lowering, `mgpu*`), implemented and exported by the runtime. X(name)
 * once per function; the runtime checks with this list that it exports each.
 *   void *mgpuModuleLoad(void *data, uint64_t size);
 *   void *mgpuModuleLoadJIT(void *ptx, int optLevel);
 *   void  mgpuModuleUnload(void *module);
 *   void *mgpuModuleGetFunction(void *module, const char *name);
 *   void  mgpuLaunchKernel(void *function, intptr_t gridX, gridY, gridZ,
 *             intptr_t blockX, blockY, blockZ, int32_t smem, void *stream,
 *             void **params, void **extra, size_t paramsCount);
 *   void  mgpuLaunchClusterKernel(void *function, intptr_t clusterX,
 *             clusterY, clusterZ, <then as mgpuLaunchKernel>);
 *   void *mgpuStreamCreate(void);   void mgpuStreamDestroy(void *stream);
 *   void  mgpuStreamSynchronize(void *stream);
 *   void  mgpuStreamWaitEvent(void *stream, void *event);
 *   void *mgpuEventCreate(void);    void mgpuEventDestroy(void *event);
 *   void  mgpuEventSynchronize(void *event);
 *   void  mgpuEventRecord(void *event, void *stream);
 *   void *mgpuMemAlloc(uint64_t bytes, void *stream, bool isHostShared);
 *   void  mgpuMemFree(void *pointer, void *stream);
 *   void  mgpuMemcpy(void *dst, void *src, size_t bytes, void *stream);
 *   void  mgpuMemset32(void *dst, unsigned value, size_t count, void *stream);
 *   void  mgpuMemset16(void *dst, unsigned short value, size_t count,
 *             void *stream);
 *   void  mgpuSetDefaultDevice(int32_t device);
 *   void *mgpuTensorMapEncodeTiledMemref(int64_t rank, void *descriptor,
 *             int32_t dataType, int32_t interleave, int32_t swizzle,
 *             int32_t l2Promotion, int32_t oobFill, int64_t *boxDimensions);
 *         (a device pointer to the CUtensorMap (128 bytes, aligned), valid until
 *         the end of the kernel function's call) */
#define MOERT_BUNDLE_CUDA_ABI(X)                                               \
  X(mgpuModuleLoad) X(mgpuModuleLoadJIT) X(mgpuModuleUnload)                   \
  X(mgpuModuleGetFunction) X(mgpuLaunchKernel) X(mgpuLaunchClusterKernel)      \
  X(mgpuStreamCreate) X(mgpuStreamDestroy) X(mgpuStreamSynchronize)           \
  X(mgpuStreamWaitEvent) X(mgpuEventCreate) X(mgpuEventDestroy)               \
  X(mgpuEventSynchronize) X(mgpuEventRecord) X(mgpuMemAlloc) X(mgpuMemFree)   \
  X(mgpuMemcpy) X(mgpuMemset32) X(mgpuMemset16) X(mgpuSetDefaultDevice)       \
  X(mgpuTensorMapEncodeTiledMemref)

/*===----------------------------------------------------------------------===*
 * Schedule commands (the "command" strings of SCHEDULE programs)
 *===----------------------------------------------------------------------===*/

typedef enum moert_bundle_command_kind_t {
  /* {"buffer": b}: runtime-owned memory for buffer b. */
  MOERT_BUNDLE_COMMAND_ALLOCATE = 1,
  /* {"input": i, "buffer": b}: copy input i of the function into buffer b. */
  MOERT_BUNDLE_COMMAND_BIND_INPUT = 2,
  /* {"kernel": k, "arguments": [b...], "results": [b...]}: call kernel k;
   * its results become the (kernel-allocated) result buffers. */
  MOERT_BUNDLE_COMMAND_CALL = 3,
  /* {"output": o, "buffer": b}: copy buffer b into output o. */
  MOERT_BUNDLE_COMMAND_OUTPUT = 4,
} moert_bundle_command_kind_t;

static inline const char *
moert_bundle_command_kind_name(uint32_t kind) {
  switch (kind) {
  case MOERT_BUNDLE_COMMAND_ALLOCATE: return "allocate";
  case MOERT_BUNDLE_COMMAND_BIND_INPUT: return "bind_input";
  case MOERT_BUNDLE_COMMAND_CALL: return "call";
  case MOERT_BUNDLE_COMMAND_OUTPUT: return "output";
  default: return NULL;
  }
}

/* 0 when `name` is no command kind. */
static inline uint32_t moert_bundle_command_kind_parse(const char *name) {
  uint32_t kind;
  for (kind = MOERT_BUNDLE_COMMAND_ALLOCATE;
       kind <= MOERT_BUNDLE_COMMAND_OUTPUT; ++kind)
    if (strcmp(name, moert_bundle_command_kind_name(kind)) == 0)
      return kind;
  return 0;
}

/*===----------------------------------------------------------------------===*
 * Element types (the "dtype" strings of MANIFEST and SCHEDULE)
 *===----------------------------------------------------------------------===*/

typedef enum moert_dtype_t {
  MOERT_DTYPE_INVALID = 0,
  MOERT_DTYPE_F32 = 1,
  MOERT_DTYPE_F16 = 2,
  MOERT_DTYPE_BF16 = 3,
  MOERT_DTYPE_I32 = 4,
  MOERT_DTYPE_I64 = 5,
} moert_dtype_t;

static inline const char *moert_dtype_name(moert_dtype_t dtype) {
  switch (dtype) {
  case MOERT_DTYPE_F32: return "f32";
  case MOERT_DTYPE_F16: return "f16";
  case MOERT_DTYPE_BF16: return "bf16";
  case MOERT_DTYPE_I32: return "i32";
  case MOERT_DTYPE_I64: return "i64";
  default: return NULL;
  }
}

/* MOERT_DTYPE_INVALID when `name` is no dtype. */
static inline moert_dtype_t moert_dtype_parse(const char *name) {
  int dtype;
  for (dtype = MOERT_DTYPE_F32; dtype <= MOERT_DTYPE_I64; ++dtype)
    if (strcmp(name, moert_dtype_name((moert_dtype_t)dtype)) == 0)
      return (moert_dtype_t)dtype;
  return MOERT_DTYPE_INVALID;
}

/* Bytes per element; 0 for MOERT_DTYPE_INVALID. */
static inline size_t moert_dtype_size(moert_dtype_t dtype) {
  switch (dtype) {
  case MOERT_DTYPE_F32: return 4;
  case MOERT_DTYPE_F16: return 2;
  case MOERT_DTYPE_BF16: return 2;
  case MOERT_DTYPE_I32: return 4;
  case MOERT_DTYPE_I64: return 8;
  default: return 0;
  }
}

/*===----------------------------------------------------------------------===*
 * Limits (the writer refuses, the loader rejects anything beyond them)
 *===----------------------------------------------------------------------===*/

#define MOERT_BUNDLE_MAX_SECTIONS 16
#define MOERT_BUNDLE_MAX_JSON_BYTES (64ull << 20)      /* per JSON section */
#define MOERT_BUNDLE_MAX_KERNELS_BYTES (4ull << 30)    /* KERNELS section */
#define MOERT_BUNDLE_MAX_FUNCTIONS 4096
#define MOERT_BUNDLE_MAX_TENSORS 4096  /* inputs or outputs of a function */
#define MOERT_BUNDLE_MAX_RANK 16
#define MOERT_BUNDLE_MAX_NAME 1024     /* bytes in a name or symbol */
#define MOERT_BUNDLE_MAX_KERNEL_ARGS 64 /* arguments + results of a call */
#define MOERT_BUNDLE_MAX_BUFFERS 65536  /* per program */
#define MOERT_BUNDLE_MAX_COMMANDS 1048576 /* per program */
#define MOERT_BUNDLE_MAX_BUFFER_BYTES (1ull << 40) /* one buffer */
#define MOERT_BUNDLE_MAX_GRID_RANK 16   /* axes of "grid" */
#define MOERT_BUNDLE_MAX_WORLD_SIZE (1u << 20) /* prod(grid) */

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MOERT_BUNDLE_FORMAT_H */
