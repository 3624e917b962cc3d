//===- Executor.cpp - run a bundle program --------------------------------===//

#include "Executor.h"

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <unordered_set>
#include <utility>

namespace moert {

namespace {

/// A memref descriptor {allocated, aligned, offset, sizes[R], strides[R]} as
/// 64-bit words (the C layout of MLIR's `_mlir_ciface_` descriptors: every
/// field is pointer- or int64-sized, so a struct of descriptors is their
/// concatenation).
size_t descriptorWords(size_t rank) { return 3 + 2 * rank; }

void writeDescriptor(int64_t *words, void *allocated, void *aligned,
                     const std::vector<int64_t> &shape) {
  size_t rank = shape.size();
  std::memcpy(&words[0], &allocated, sizeof(void *));
  std::memcpy(&words[1], &aligned, sizeof(void *));
  words[2] = 0;
  int64_t stride = 1;
  for (size_t i = rank; i-- > 0;) {
    words[3 + i] = shape[i];
    words[3 + rank + i] = stride;
    stride *= shape[i];
  }
}

/// Calls `entry` with `count` pointer arguments. Kernels take memref
/// descriptors by pointer, so every kernel is called as void(void *, ...),
/// whatever C type its source gave the pointers: identical at the ABI level,
/// but a mismatch to -fsanitize=function when the kernel itself is built with
/// it (test kernels in the sanitizer build), hence the exemption.
using Entry = void *;
template <size_t... I>
#if defined(__clang__)
__attribute__((no_sanitize("function")))
#endif
void callWithPointers(Entry entry, void *const *args,
                      std::index_sequence<I...>) {
  using Fn = void (*)(decltype((void)I, (void *)nullptr)...);
  reinterpret_cast<Fn>(entry)(args[I]...);
}

template <size_t... N>
constexpr auto makeCallTable(std::index_sequence<N...>) {
  return std::array<void (*)(Entry, void *const *), sizeof...(N)>{
      [](Entry entry, void *const *args) {
        callWithPointers(entry, args, std::make_index_sequence<N>());
      }...};
}

// Arguments + one pointer to the results.
constexpr auto kCallTable =
    makeCallTable(std::make_index_sequence<MOERT_BUNDLE_MAX_KERNEL_ARGS + 2>());

/// Marker MLIR stores as the `allocated` pointer of constant globals.
const uintptr_t kGlobalMarker = 0xdeadbeef;

struct BufferState {
  /// Base of the dense row-major data (aligned + offset).
  void *data = nullptr;
  /// The runtime's or the kernel's allocation, to free; null for none.
  void *allocated = nullptr;
  bool defined = false;
};

/// The allocation that fails (setAllocationFault); 0: none, kUnread: not yet
/// read from MOERT_FAULT_ALLOC_FAIL_AT.
constexpr uint64_t kUnread = ~uint64_t(0);
std::atomic<uint64_t> allocationFaultAt{kUnread};
std::atomic<uint64_t> allocationCount{0};

uint64_t faultFromEnvironment() {
  const char *text = std::getenv("MOERT_FAULT_ALLOC_FAIL_AT");
  if (!text || !*text)
    return 0;
  char *end = nullptr;
  errno = 0;
  unsigned long long value = std::strtoull(text, &end, 10);
  if (errno || *end || text[0] == '-')
    return 0;
  return value;
}

/// True when this allocation is the one to fail.
bool injectedAllocationFault() {
  uint64_t at = allocationFaultAt.load(std::memory_order_relaxed);
  if (at == kUnread) {
    uint64_t fromEnvironment = faultFromEnvironment();
    allocationFaultAt.compare_exchange_strong(at, fromEnvironment);
    at = allocationFaultAt.load(std::memory_order_relaxed);
  }
  return at != 0 && allocationCount.fetch_add(1) + 1 == at;
}

/// Names the injected fault in out-of-memory messages, so that a test's
/// failure is never mistaken for a real one.
std::string faultNote() {
  uint64_t at = allocationFaultAt.load(std::memory_order_relaxed);
  if (at == 0 || at == kUnread || allocationCount.load() < at)
    return "";
  return " (fault injected at allocation " + std::to_string(at) +
         ": MOERT_FAULT_ALLOC_FAIL_AT)";
}

/// Owns every allocation of one run.
class RunState {
public:
  RunState(size_t bufferCount, RunMemory &memory)
      : buffers(bufferCount), memory(memory) {}
  ~RunState() {
    for (void *allocation : owned)
      memory.free(allocation);
    for (void *allocation : ownedHost)
      memory.freeHost(allocation);
  }

  std::vector<BufferState> buffers;

  /// A runtime allocation of `bytes` for `what` ("buffer 3"); MOERT_OK, or
  /// the failure with its message in `error`.
  /// `host`: a host-tier buffer (RunMemory::allocateHost).
  moert_status_code_t allocate(size_t bytes, const std::string &what,
                               void *&allocation, std::string &error,
                               bool host = false) {
    allocation = nullptr;
    std::string reason;
    moert_status_code_t code =
        injectedAllocationFault() ? MOERT_ERROR_OUT_OF_MEMORY
        : host ? memory.allocateHost(bytes, allocation, reason)
               : memory.allocate(bytes, allocation, reason);
    if (code != MOERT_OK) {
      error = (code == MOERT_ERROR_OUT_OF_MEMORY ? "out of memory "
                                                 : "failed ") +
              what + " (" + std::to_string(bytes) + " bytes)" + faultNote() +
              (reason.empty() ? "" : ": " + reason);
      return code;
    }
    if (allocation)
      (host ? ownedHost : owned).insert(allocation);
    return MOERT_OK;
  }
  /// Frees an allocation of this run before its end.
  void release(void *allocation) {
    if (owned.erase(allocation))
      memory.free(allocation);
    else if (ownedHost.erase(allocation))
      memory.freeHost(allocation);
  }
  /// Records caller memory that the run uses in place and must never free.
  void borrow(const void *memory) { borrowed.insert(memory); }
  /// Takes ownership of a kernel allocation unless it aliases one already
  /// owned or borrowed (a kernel may return its argument) or is no heap
  /// pointer.
  void adopt(void *allocation) {
    if (!allocation ||
        reinterpret_cast<uintptr_t>(allocation) == kGlobalMarker ||
        borrowed.count(allocation))
      return;
    owned.insert(allocation);
  }

private:
  RunMemory &memory;
  std::unordered_set<void *> owned, ownedHost;
  std::unordered_set<const void *> borrowed;
};

/// Copies a strided view of `type` into dense row-major `dst`.
void gatherStrided(const char *base, const std::vector<int64_t> &shape,
                   const int64_t *strides, size_t elementSize, char *dst) {
  size_t rank = shape.size();
  if (rank == 0) {
    std::memcpy(dst, base, elementSize);
    return;
  }
  for (int64_t d : shape)
    if (d == 0)
      return;
  std::vector<int64_t> index(rank, 0);
  while (true) {
    int64_t offset = 0;
    for (size_t i = 0; i < rank; ++i)
      offset += index[i] * strides[i];
    std::memcpy(dst, base + offset * int64_t(elementSize), elementSize);
    dst += elementSize;
    size_t i = rank;
    while (i > 0 && ++index[i - 1] == shape[i - 1])
      index[--i] = 0;
    if (i == 0)
      return;
  }
}

/// Host memory: 64-byte aligned heap allocations, inputs used in place.
class HostMemory final : public RunMemory {
public:
  moert_status_code_t allocate(size_t bytes, void *&memory,
                               std::string &) override {
    size_t rounded = (bytes + 63) / 64 * 64;
    memory = std::aligned_alloc(64, rounded ? rounded : 64);
    return memory ? MOERT_OK : MOERT_ERROR_OUT_OF_MEMORY;
  }
  void free(void *allocation) override { std::free(allocation); }
  // Inputs are used in place: kernels never write their arguments (the CPU
  // pipeline bufferizes them as read-only), so weights are not copied on
  // every run.
  bool usesInPlace(const TensorData &) const override { return true; }
  moert_status_code_t copyInput(void *buffer, const TensorData &input,
                                std::string &) override {
    if (input.byteSize)
      std::memcpy(buffer, input.data, input.byteSize);
    return MOERT_OK;
  }
  moert_status_code_t copyInputToHost(void *buffer, const TensorData &input,
                                      std::string &error) override {
    return copyInput(buffer, input, error);
  }
  moert_status_code_t copyOutput(const TensorData &output, const void *buffer,
                                 std::string &) override {
    if (output.byteSize)
      std::memcpy(output.data, buffer, output.byteSize);
    return MOERT_OK;
  }
  moert_status_code_t copyStrided(const void *base, const TensorType &type,
                                  const int64_t *strides, void *dense,
                                  std::string &) override {
    gatherStrided(static_cast<const char *>(base), type.shape, strides,
                  moert_dtype_size(type.dtype), static_cast<char *>(dense));
    return MOERT_OK;
  }
  moert_status_code_t afterCall(const Kernel &, std::string &) override {
    return MOERT_OK;
  }
};

} // namespace

RunMemory &hostMemory() {
  static HostMemory memory;
  return memory;
}

void setAllocationFault(uint64_t failAt) {
  allocationCount.store(0);
  allocationFaultAt.store(failAt);
}

bool runProgram(const Bundle &bundle, const Program &program,
                const std::vector<void *> &entries,
                const std::vector<TensorData> &inputs,
                const std::vector<TensorData> &outputs, RunMemory &memory,
                std::string &error, moert_status_code_t *code) {
  auto fail = [&](moert_status_code_t failure) {
    if (code)
      *code = failure;
    return false;
  };
  RunState run(program.buffers.size(), memory);
  std::vector<int64_t> argumentWords, resultWords;
  std::vector<void *> pointers;

  for (const Command &command : program.commands) {
    switch (command.kind) {
    case MOERT_BUNDLE_COMMAND_ALLOCATE: {
      const TensorType &type = program.buffers[command.buffer];
      void *allocation = nullptr;
      bool host = program.isHostTier(command.buffer);
      if (moert_status_code_t failure = run.allocate(
              type.byteSize,
              "allocating " + std::string(host ? "host-tier " : "") +
                  "buffer " + std::to_string(command.buffer),
              allocation, error, host))
        return fail(failure);
      run.buffers[command.buffer] = {allocation, allocation, true};
      break;
    }
    case MOERT_BUNDLE_COMMAND_BIND_INPUT: {
      const TensorType &type = program.buffers[command.buffer];
      const TensorData &input = inputs[command.index];
      if (input.byteSize != type.byteSize) {
        error = "input " + std::to_string(command.index) + " has " +
                std::to_string(input.byteSize) + " bytes, expected " +
                std::to_string(type.byteSize);
        return fail(MOERT_ERROR_INTERNAL);
      }
      BufferState &buffer = run.buffers[command.buffer];
      bool host = program.isHostTier(command.buffer);
      if (host ? !memory.usesInPlaceOnHost(input)
               : !memory.usesInPlace(input)) {
        if (moert_status_code_t failure =
                host ? memory.copyInputToHost(buffer.data, input, error)
                     : memory.copyInput(buffer.data, input, error)) {
          error = "input " + std::to_string(command.index) + ": " + error;
          return fail(failure);
        }
        break;
      }
      run.release(buffer.allocated);
      void *data = input.data;
      run.borrow(data);
      buffer.data = data;
      buffer.allocated = data;
      break;
    }
    case MOERT_BUNDLE_COMMAND_OUTPUT: {
      const TensorType &type = program.buffers[command.buffer];
      const TensorData &output = outputs[command.index];
      if (output.byteSize != type.byteSize) {
        error = "output " + std::to_string(command.index) + " has " +
                std::to_string(output.byteSize) + " bytes, expected " +
                std::to_string(type.byteSize);
        return fail(MOERT_ERROR_INTERNAL);
      }
      if (moert_status_code_t failure = memory.copyOutput(
              output, run.buffers[command.buffer].data, error)) {
        error = "output " + std::to_string(command.index) + ": " + error;
        return fail(failure);
      }
      break;
    }
    case MOERT_BUNDLE_COMMAND_CALL: {
      const Kernel &kernel = bundle.kernels[command.index];
      // Descriptors: results first (one struct of all of them), then one per
      // argument, each passed by pointer.
      size_t argumentTotal = 0, resultTotal = 0;
      for (uint32_t id : command.arguments)
        argumentTotal += descriptorWords(program.buffers[id].shape.size());
      for (uint32_t id : command.results)
        resultTotal += descriptorWords(program.buffers[id].shape.size());
      argumentWords.assign(argumentTotal, 0);
      resultWords.assign(resultTotal + 1, 0);
      pointers.clear();
      if (!command.results.empty())
        pointers.push_back(resultWords.data());
      size_t at = 0;
      for (uint32_t id : command.arguments) {
        const BufferState &buffer = run.buffers[id];
        writeDescriptor(&argumentWords[at], buffer.allocated, buffer.data,
                        program.buffers[id].shape);
        pointers.push_back(&argumentWords[at]);
        at += descriptorWords(program.buffers[id].shape.size());
      }
      memory.beforeCall(kernel);
      kCallTable[pointers.size()](entries[command.index], pointers.data());

      // Adopt every result allocation first, so that each is freed even when
      // the call failed or a result is invalid.
      at = 0;
      for (uint32_t id : command.results) {
        void *allocated = nullptr;
        std::memcpy(&allocated, &resultWords[at], sizeof(void *));
        run.adopt(allocated);
        at += descriptorWords(program.buffers[id].shape.size());
      }
      if (moert_status_code_t failure = memory.afterCall(kernel, error)) {
        error = "kernel " + kernel.symbol + ": " + error;
        return fail(failure);
      }

      at = 0;
      for (size_t r = 0; r < command.results.size(); ++r) {
        uint32_t id = command.results[r];
        const TensorType &type = program.buffers[id];
        size_t rank = type.shape.size();
        const int64_t *words = &resultWords[at];
        at += descriptorWords(rank);
        void *allocated = nullptr, *aligned = nullptr;
        std::memcpy(&allocated, &words[0], sizeof(void *));
        std::memcpy(&aligned, &words[1], sizeof(void *));
        const int64_t *sizes = &words[3];
        const int64_t *strides = &words[3 + rank];
        for (size_t i = 0; i < rank; ++i)
          if (sizes[i] != type.shape[i]) {
            error = "kernel " + kernel.symbol + " returned result " +
                    std::to_string(r) + " with dimension " +
                    std::to_string(i) + " = " + std::to_string(sizes[i]) +
                    ", expected " + type.str();
            return fail(MOERT_ERROR_INTERNAL);
          }
        if ((!aligned && type.byteSize) || words[2] < 0) {
          error = "kernel " + kernel.symbol + " returned an invalid result " +
                  std::to_string(r);
          return fail(MOERT_ERROR_INTERNAL);
        }
        char *base = static_cast<char *>(aligned) +
                     words[2] * int64_t(moert_dtype_size(type.dtype));
        // Dense row-major results are used in place; others are copied.
        bool dense = true;
        int64_t expected = 1;
        for (size_t i = rank; i-- > 0;) {
          if (type.shape[i] != 1 && strides[i] != expected)
            dense = false;
          expected *= type.shape[i];
        }
        BufferState &buffer = run.buffers[id];
        buffer.defined = true;
        if (dense) {
          buffer.data = base;
          buffer.allocated = allocated;
          continue;
        }
        void *copy = nullptr;
        if (moert_status_code_t failure = run.allocate(
                type.byteSize,
                "copying strided result " + std::to_string(r) +
                    " of kernel " + kernel.symbol,
                copy, error))
          return fail(failure);
        if (moert_status_code_t failure =
                memory.copyStrided(base, type, strides, copy, error)) {
          error = "strided result " + std::to_string(r) + " of kernel " +
                  kernel.symbol + ": " + error;
          return fail(failure);
        }
        buffer.data = copy;
        buffer.allocated = copy;
      }
      break;
    }
    }
  }
  return true;
}

} // namespace moert
