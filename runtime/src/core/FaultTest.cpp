//===- FaultTest.cpp - runtime faults through the C API -------------------===//
//
// Faults a run must survive with a clear status: no crash, no hang, no leak
// (scripts/sanitize.sh runs this under ASan with LeakSanitizer). Every buffer
// allocation of a run failing in turn (the setAllocationFault hook behind
// MOERT_FAULT_ALLOC_FAIL_AT), also from several threads; kernel images that
// do not load (no segments; truncated at every length; a segment pointing
// past the image); a bundle truncated on disk, and one changed on disk or in
// the caller's memory after it was loaded.
//
//===----------------------------------------------------------------------===//

#include "Executor.h"
#include "moert/moert.h"
#include "TestBundles.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#ifndef MOERT_FAULT_TEST_KERNEL
#error "MOERT_FAULT_TEST_KERNEL must name the fault-test kernel shared object"
#endif

namespace {

// Two functions of a[2x3] * b[3x4]: "mm" (dense result) and "mmt" (a strided
// result the runtime copies). A run of either allocates buffers 0 and 1; one
// of "mmt" also allocates the copy: 2 and 3 allocations.
const char *kManifest = R"({"target": "cpu-x86_64", "functions": [
  {"name": "mm", "symbol": "_mlir_ciface_mm",
   "inputs": [{"name": "a", "dtype": "f32", "shape": [2, 3]},
              {"name": "b", "dtype": "f32", "shape": [3, 4]}],
   "outputs": [{"name": "result0", "dtype": "f32", "shape": [2, 4]}]},
  {"name": "mmt", "symbol": "_mlir_ciface_mmt",
   "inputs": [{"name": "a", "dtype": "f32", "shape": [2, 3]},
              {"name": "b", "dtype": "f32", "shape": [3, 4]}],
   "outputs": [{"name": "result0", "dtype": "f32", "shape": [2, 4]}]}]})";

std::string program(const char *function, int kernel) {
  return std::string(R"({"function": ")") + function + R"(",
   "buffers": [{"dtype": "f32", "shape": [2, 3]}, {"dtype": "f32", "shape": [3, 4]},
               {"dtype": "f32", "shape": [2, 4]}],
   "commands": [{"command": "allocate", "buffer": 0},
                {"command": "bind_input", "input": 0, "buffer": 0},
                {"command": "allocate", "buffer": 1},
                {"command": "bind_input", "input": 1, "buffer": 1},
                {"command": "call", "kernel": )" +
         std::to_string(kernel) + R"(, "arguments": [0, 1], "results": [2]},
                {"command": "output", "output": 0, "buffer": 2}]})";
}

std::string schedule() {
  const char *kernel = R"(
   "arguments": [{"dtype": "f32", "shape": [2, 3]}, {"dtype": "f32", "shape": [3, 4]}],
   "results": [{"dtype": "f32", "shape": [2, 4]}]})";
  return std::string(R"({"kernels": [{"symbol": "_mlir_ciface_mm",)") +
         kernel + R"(, {"symbol": "_mlir_ciface_mmt",)" + kernel +
         "], \"programs\": [" + program("mm", 0) + ", " + program("mmt", 1) +
         "]}";
}

using moert::testing::readFile;

const std::string &kernelImage() {
  static const std::string image = readFile(MOERT_FAULT_TEST_KERNEL);
  return image;
}

/// The two-function test bundle with `kernels` as its image.
std::vector<uint8_t> buildBundle(const std::string &kernels) {
  return moert::testing::layOutBundle(
      {{MOERT_BUNDLE_SECTION_MANIFEST, kManifest},
       {MOERT_BUNDLE_SECTION_SCHEDULE, schedule()},
       {MOERT_BUNDLE_SECTION_KERNELS, kernels}});
}

/// The status's code and message, freeing it ("" and MOERT_OK for success).
struct Outcome {
  moert_status_code_t code;
  std::string message;
};
Outcome take(moert_status_t status) {
  Outcome outcome{moert_status_code(status),
                  status ? moert_status_message(status) : ""};
  moert_status_free(status);
  return outcome;
}

/// A loaded bundle and a session on it, released at the end of the scope.
struct Loaded {
  moert_bundle_t *bundle = nullptr;
  moert_session_t *session = nullptr;
  ~Loaded() {
    moert_session_release(session);
    moert_bundle_release(bundle);
  }
};

void loadAndStart(Loaded &loaded, const std::string &kernels = kernelImage()) {
  std::vector<uint8_t> bytes = buildBundle(kernels);
  ASSERT_EQ(take(moert_bundle_load_memory(bytes.data(), bytes.size(),
                                          &loaded.bundle))
                .code,
            MOERT_OK);
  Outcome started = take(moert_session_create(loaded.bundle, &loaded.session));
  ASSERT_EQ(started.code, MOERT_OK) << started.message;
}

/// Runs `function` (0: mm, 1: mmt) on fixed inputs; on success checks the
/// product [[1,2,3,6],[4,5,6,15]] times `scale`.
Outcome run(moert_session_t *session, size_t function, float scale = 1) {
  float a[6] = {1, 2, 3, 4, 5, 6};
  float b[12] = {1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1};
  float out[8] = {};
  const int64_t shapeA[2] = {2, 3}, shapeB[2] = {3, 4}, shapeOut[2] = {2, 4};
  moert_tensor_view_t inputs[2] = {
      {MOERT_DTYPE_F32, 2, shapeA, a, sizeof(a)},
      {MOERT_DTYPE_F32, 2, shapeB, b, sizeof(b)}};
  moert_tensor_view_t outputs[1] = {
      {MOERT_DTYPE_F32, 2, shapeOut, out, sizeof(out)}};
  Outcome outcome =
      take(moert_session_run(session, function, inputs, 2, outputs, 1));
  if (outcome.code == MOERT_OK) {
    const float expected[8] = {1, 2, 3, 6, 4, 5, 6, 15};
    for (int i = 0; i < 8; ++i)
      EXPECT_EQ(out[i], scale * expected[i])
          << "function " << function << " at " << i;
  }
  return outcome;
}

/// Turns the allocation fault off when a test ends, whatever happened.
struct FaultOff {
  ~FaultOff() { moert::setAllocationFault(0); }
};

// Tests that each allocation of a run, failing, ends that run with
// OUT_OF_MEMORY naming the buffer and the injected fault, frees what the run
// held (the kernel's result included: LeakSanitizer checks), and leaves the
// session able to run again.
TEST(AllocationFaults, EachAllocationOfARunFailsCleanly) {
  Loaded loaded;
  ASSERT_NO_FATAL_FAILURE(loadAndStart(loaded));
  FaultOff off;
  for (size_t function : {0, 1}) {
    size_t allocations = function == 0 ? 2 : 3;
    for (uint64_t at = 1; at <= allocations; ++at) {
      moert::setAllocationFault(at);
      Outcome failed = run(loaded.session, function);
      EXPECT_EQ(failed.code, MOERT_ERROR_OUT_OF_MEMORY)
          << "function " << function << ", allocation " << at;
      EXPECT_NE(failed.message.find("out of memory"), std::string::npos)
          << failed.message;
      EXPECT_NE(failed.message.find("MOERT_FAULT_ALLOC_FAIL_AT"),
                std::string::npos)
          << failed.message;
      if (function == 1 && at == 3)
        EXPECT_NE(failed.message.find("strided result 0 of kernel "
                                      "_mlir_ciface_mmt"),
                  std::string::npos)
            << failed.message;
      Outcome again = run(loaded.session, function);
      EXPECT_EQ(again.code, MOERT_OK) << again.message;
    }
    // One past the run's allocations: this run succeeds, the next one fails
    // (allocations are counted over runs).
    moert::setAllocationFault(allocations + 1);
    EXPECT_EQ(run(loaded.session, function).code, MOERT_OK);
    EXPECT_EQ(run(loaded.session, function).code, MOERT_ERROR_OUT_OF_MEMORY);
    EXPECT_EQ(run(loaded.session, function).code, MOERT_OK);
  }
}

// Tests that with many threads running at once exactly one run sees the
// injected failure and every other run succeeds.
TEST(AllocationFaults, ThreadsSeeExactlyOneFailure) {
  Loaded loaded;
  ASSERT_NO_FATAL_FAILURE(loadAndStart(loaded));
  FaultOff off;
  moert::setAllocationFault(37);
  std::atomic<int> ok{0}, outOfMemory{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 16; ++i) {
        moert_status_code_t code = run(loaded.session, (t + i) % 2).code;
        (code == MOERT_OK                    ? ok
         : code == MOERT_ERROR_OUT_OF_MEMORY ? outOfMemory
                                             : other)++;
      }
    });
  for (std::thread &thread : threads)
    thread.join();
  EXPECT_EQ(outOfMemory.load(), 1);
  EXPECT_EQ(ok.load(), 63);
  EXPECT_EQ(other.load(), 0);
}

/// Loads `kernels` in a bundle and starts a session; the outcome of the first
/// step that failed.
Outcome startWithKernels(const std::string &kernels) {
  std::vector<uint8_t> bytes = buildBundle(kernels);
  Loaded loaded;
  Outcome loadedOutcome = take(
      moert_bundle_load_memory(bytes.data(), bytes.size(), &loaded.bundle));
  if (loadedOutcome.code != MOERT_OK)
    return loadedOutcome;
  Outcome started = take(moert_session_create(loaded.bundle, &loaded.session));
  if (started.code != MOERT_OK)
    return started;
  return run(loaded.session, 0);
}

// Tests that an ELF header without segments is loaded by nobody: a KERNEL
// error from dlopen, no session.
TEST(KernelFaults, ImageWithoutSegmentsFailsToLoad) {
  std::string image = kernelImage().substr(0, 64);
  std::memset(&image[32], 0, 8);  // e_phoff
  std::memset(&image[56], 0, 2);  // e_phnum
  std::memset(&image[40], 0, 8);  // e_shoff
  std::memset(&image[60], 0, 4);  // e_shnum, e_shstrndx
  Outcome outcome = startWithKernels(image);
  EXPECT_EQ(outcome.code, MOERT_ERROR_KERNEL) << outcome.message;
  EXPECT_NE(outcome.message.find("cannot load the bundle's kernels"),
            std::string::npos)
      << outcome.message;
}

// Tests that a kernel image cut at any length is rejected by the loader or
// fails to load, or (cut only in what is not mapped, such as the section
// headers) runs; never a crash. Regression: the dynamic loader maps segments
// without checking the file's size, so before the loader checked the
// segments, a truncated image ended the process with SIGBUS inside dlopen.
TEST(KernelFaults, TruncatedImageNeverCrashes) {
  const std::string &image = kernelImage();
  ASSERT_GT(image.size(), 4096u);
  size_t rejected = 0, failedToLoad = 0, ran = 0;
  for (size_t length = 64; length < image.size(); length += 61) {
    Outcome outcome = startWithKernels(image.substr(0, length));
    if (outcome.code == MOERT_ERROR_INVALID_BUNDLE) {
      EXPECT_NE(outcome.message.find("truncated or corrupt ELF"),
                std::string::npos)
          << length << ": " << outcome.message;
      ++rejected;
    } else if (outcome.code == MOERT_ERROR_KERNEL) {
      ++failedToLoad;
    } else {
      EXPECT_EQ(outcome.code, MOERT_OK) << length << ": " << outcome.message;
      ++ran;
    }
  }
  EXPECT_GT(rejected, 0u);
  std::printf("truncated images: %zu rejected, %zu failed to load, %zu ran\n",
              rejected, failedToLoad, ran);
}

// Tests that a program header whose segment lies past the image is rejected
// with the segment's range (regression for the SIGBUS above).
TEST(KernelFaults, SegmentPastTheImageIsRejected) {
  std::string image = kernelImage();
  uint64_t phoff;
  std::memcpy(&phoff, &image[32], 8);
  uint64_t offset = uint64_t(1) << 40;
  std::memcpy(&image[phoff + 8], &offset, 8); // first p_offset
  Outcome outcome = startWithKernels(image);
  EXPECT_EQ(outcome.code, MOERT_ERROR_INVALID_BUNDLE) << outcome.message;
  EXPECT_NE(outcome.message.find("segment 0 [1099511627776, +"),
            std::string::npos)
      << outcome.message;
}

// Tests that two bundles loaded at once each run their own kernels, also
// after a session of the first is gone. Regression: kernels were loaded from
// /proc/self/fd/N of a memfd closed right after dlopen, so the next bundle's
// memfd got the same N and dlopen returned the first bundle's library, already
// loaded under that name: the second bundle silently ran the first's code.
TEST(KernelFaults, TwoBundlesAtOnceRunTheirOwnKernels) {
  const std::string doubled = readFile(MOERT_FAULT_TEST_KERNEL2);
  ASSERT_FALSE(doubled.empty());
  Loaded first, second;
  ASSERT_NO_FATAL_FAILURE(loadAndStart(first));
  ASSERT_NO_FATAL_FAILURE(loadAndStart(second, doubled));
  EXPECT_EQ(run(first.session, 0, 1).code, MOERT_OK);
  EXPECT_EQ(run(second.session, 0, 2).code, MOERT_OK);
  EXPECT_EQ(run(second.session, 1, 2).code, MOERT_OK);
  {
    Loaded third;
    ASSERT_NO_FATAL_FAILURE(loadAndStart(third));
    EXPECT_EQ(run(third.session, 1, 1).code, MOERT_OK);
  }
  Loaded fourth;
  ASSERT_NO_FATAL_FAILURE(loadAndStart(fourth, doubled));
  EXPECT_EQ(run(fourth.session, 0, 2).code, MOERT_OK);
  EXPECT_EQ(run(first.session, 1, 1).code, MOERT_OK);
}

/// A private temporary file holding `bytes`; removed at the end of the scope.
struct TempFile {
  std::string path;
  explicit TempFile(const std::vector<uint8_t> &bytes) {
    const char *dir = std::getenv("TMPDIR");
    std::string pattern =
        std::string(dir && *dir ? dir : "/tmp") + "/moert-fault-XXXXXX";
    std::vector<char> name(pattern.begin(), pattern.end());
    name.push_back('\0');
    int fd = ::mkstemp(name.data());
    EXPECT_GE(fd, 0);
    path = name.data();
    if (fd >= 0) {
      EXPECT_EQ(::write(fd, bytes.data(), bytes.size()),
                static_cast<ssize_t>(bytes.size()));
      ::close(fd);
    }
  }
  ~TempFile() { std::remove(path.c_str()); }
};

// Tests that a bundle file truncated on disk is INVALID_BUNDLE naming the
// file and the sizes.
TEST(BundleFaults, TruncatedFileIsRejected) {
  std::vector<uint8_t> bytes = buildBundle(kernelImage());
  bytes.resize(bytes.size() - 100);
  TempFile file(bytes);
  moert_bundle_t *bundle = nullptr;
  Outcome outcome = take(moert_bundle_load_file(file.path.c_str(), &bundle));
  EXPECT_EQ(outcome.code, MOERT_ERROR_INVALID_BUNDLE);
  EXPECT_EQ(bundle, nullptr);
  EXPECT_NE(outcome.message.find(file.path + ": invalid bundle: truncated: " +
                                 std::to_string(bytes.size()) + " of"),
            std::string::npos)
      << outcome.message;
}

// Tests that truncating and overwriting the bundle file after it was loaded
// changes nothing: the runtime holds its own validated copy.
TEST(BundleFaults, FileChangedAfterLoadStillRuns) {
  TempFile file(buildBundle(kernelImage()));
  Loaded loaded;
  ASSERT_EQ(take(moert_bundle_load_file(file.path.c_str(), &loaded.bundle))
                .code,
            MOERT_OK);
  ASSERT_EQ(::truncate(file.path.c_str(), 100), 0);
  { std::ofstream(file.path, std::ios::binary | std::ios::app) << "garbage"; }
  Outcome started = take(moert_session_create(loaded.bundle, &loaded.session));
  ASSERT_EQ(started.code, MOERT_OK) << started.message;
  EXPECT_EQ(run(loaded.session, 0).code, MOERT_OK);
  EXPECT_EQ(run(loaded.session, 1).code, MOERT_OK);
}

// Tests that the caller overwriting the memory a bundle was loaded from
// changes nothing (moert_bundle_load_memory copies).
TEST(BundleFaults, CallerMemoryChangedAfterLoadStillRuns) {
  std::vector<uint8_t> bytes = buildBundle(kernelImage());
  Loaded loaded;
  ASSERT_EQ(take(moert_bundle_load_memory(bytes.data(), bytes.size(),
                                          &loaded.bundle))
                .code,
            MOERT_OK);
  std::memset(bytes.data(), 0xff, bytes.size());
  bytes.resize(10);
  Outcome started = take(moert_session_create(loaded.bundle, &loaded.session));
  ASSERT_EQ(started.code, MOERT_OK) << started.message;
  EXPECT_EQ(run(loaded.session, 0).code, MOERT_OK);
}

} // namespace
