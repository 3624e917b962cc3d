//===- SessionTest.cpp - running real kernels through the C API -----------===//
//
// A bundle around a real kernel (TestKernel.c, built as a shared object), run
// through the C API: from memory and from a file, with host views and with
// DLPack tensors, every argument error with its stable code, and many
// sessions on many threads at once.
//
//===----------------------------------------------------------------------===//

#include "moert/moert.h"
#include "TestBundles.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#ifndef MOERT_TEST_KERNEL
#error "MOERT_TEST_KERNEL must name the test kernel shared object"
#endif

namespace {

using moert::testing::readFile;

/// The matmul test bundle around the test kernel.
std::vector<uint8_t> buildBundle() {
  return moert::testing::layOutBundle(
      {{MOERT_BUNDLE_SECTION_MANIFEST, moert::testing::kMatmulManifest},
       {MOERT_BUNDLE_SECTION_SCHEDULE, moert::testing::kMatmulSchedule},
       {MOERT_BUNDLE_SECTION_KERNELS, readFile(MOERT_TEST_KERNEL)}});
}

/// Inputs of one run (scaled by `seed`) and the expected product.
struct Case {
  float a[6], b[12], expected[8];
  explicit Case(int seed) {
    for (int i = 0; i < 6; ++i)
      a[i] = float(i + seed);
    for (int i = 0; i < 12; ++i)
      b[i] = float(i % 5) - 1.5f * float(seed % 3);
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 4; ++j) {
        float sum = 0;
        for (int k = 0; k < 3; ++k)
          sum += a[i * 3 + k] * b[k * 4 + j];
        expected[i * 4 + j] = sum;
      }
  }
};

const int64_t kShapeA[] = {2, 3}, kShapeB[] = {3, 4}, kShapeOut[] = {2, 4};

/// Takes a status; returns its code and frees it.
moert_status_code_t codeOf(moert_status_t status, std::string *message = nullptr) {
  moert_status_code_t code = moert_status_code(status);
  if (message)
    *message = moert_status_message(status);
  moert_status_free(status);
  return code;
}

struct Loaded {
  moert_bundle_t *bundle = nullptr;
  moert_session_t *session = nullptr;
  Loaded() {
    std::vector<uint8_t> bytes = buildBundle();
    EXPECT_EQ(moert_bundle_load_memory(bytes.data(), bytes.size(), &bundle),
              nullptr);
    if (bundle)
      EXPECT_EQ(moert_session_create(bundle, &session), nullptr);
  }
  ~Loaded() {
    moert_session_release(session);
    moert_bundle_release(bundle);
  }
};

moert_status_code_t runViews(moert_session_t *session, Case &c, float *out,
                             std::string *message = nullptr) {
  moert_tensor_view_t in[2] = {
      {MOERT_DTYPE_F32, 2, kShapeA, c.a, sizeof(c.a)},
      {MOERT_DTYPE_F32, 2, kShapeB, c.b, sizeof(c.b)}};
  moert_tensor_view_t result = {MOERT_DTYPE_F32, 2, kShapeOut, out,
                                8 * sizeof(float)};
  return codeOf(moert_session_run(session, 0, in, 2, &result, 1), message);
}

moert_dl_tensor_t dlTensor(void *data, const int64_t *shape,
                           int64_t *strides = nullptr) {
  moert_dl_tensor_t tensor;
  tensor.data = data;
  tensor.device = {MOERT_DL_CPU, 0};
  tensor.ndim = 2;
  tensor.dtype = {MOERT_DL_FLOAT, 32, 1};
  tensor.shape = const_cast<int64_t *>(shape);
  tensor.strides = strides;
  tensor.byte_offset = 0;
  return tensor;
}

TEST(Session, RunsFromMemoryWithViews) {
  Loaded loaded;
  ASSERT_NE(loaded.session, nullptr);
  Case c(1);
  float out[8] = {};
  ASSERT_EQ(runViews(loaded.session, c, out), MOERT_OK);
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(out[i], c.expected[i]) << i;
}

TEST(Session, RunTimedReportsTheRunTime) {
  Loaded loaded;
  ASSERT_NE(loaded.session, nullptr);
  Case c(2);
  float out[8] = {};
  moert_tensor_view_t in[2] = {
      {MOERT_DTYPE_F32, 2, kShapeA, c.a, sizeof(c.a)},
      {MOERT_DTYPE_F32, 2, kShapeB, c.b, sizeof(c.b)}};
  moert_tensor_view_t result = {MOERT_DTYPE_F32, 2, kShapeOut, out,
                                sizeof(out)};
  double milliseconds = -1;
  ASSERT_EQ(codeOf(moert_session_run_timed(loaded.session, 0, in, 2, &result,
                                           1, &milliseconds)),
            MOERT_OK);
  EXPECT_GE(milliseconds, 0.0);
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(out[i], c.expected[i]) << i;
}

TEST(Session, DevicesAndTargetsMustAgree) {
  std::vector<uint8_t> bytes = buildBundle();
  moert_bundle_t *bundle = nullptr;
  ASSERT_EQ(moert_bundle_load_memory(bytes.data(), bytes.size(), &bundle),
            nullptr);
  moert_session_t *session = nullptr;
  std::string message;
  EXPECT_EQ(codeOf(moert_session_create_on_device_id(bundle, MOERT_DEVICE_CPU,
                                                     1, &session),
                   &message),
            MOERT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(message, "no cpu device 1 (the cpu is device 0)");
  EXPECT_EQ(codeOf(moert_session_create_on_device(bundle, MOERT_DEVICE_CUDA,
                                                  &session),
                   &message),
            MOERT_ERROR_UNSUPPORTED);
  EXPECT_EQ(message,
            "this bundle targets cpu (cpu-x86_64), not cuda: run it on the "
            "cpu device");
  moert_bundle_release(bundle);

  // The same kernels as a CUDA bundle: the cpu device does not run it.
  std::string manifest = moert::testing::kMatmulManifest;
  manifest.replace(manifest.find("cpu-x86_64"), 10, "cuda-sm_90");
  bytes = moert::testing::layOutBundle(
      {{MOERT_BUNDLE_SECTION_MANIFEST, manifest},
       {MOERT_BUNDLE_SECTION_SCHEDULE, moert::testing::kMatmulSchedule},
       {MOERT_BUNDLE_SECTION_KERNELS, readFile(MOERT_TEST_KERNEL)}},
      "cuda-sm_90");
  ASSERT_EQ(moert_bundle_load_memory(bytes.data(), bytes.size(), &bundle),
            nullptr);
  EXPECT_STREQ(moert_bundle_target(bundle), "cuda-sm_90");
  EXPECT_EQ(codeOf(moert_session_create(bundle, &session), &message),
            MOERT_ERROR_UNSUPPORTED);
  EXPECT_EQ(message, "this bundle targets cuda-sm_90, which the cpu device "
                     "does not run: run it on the cuda device");
  EXPECT_EQ(session, nullptr);
  moert_bundle_release(bundle);
}

TEST(Session, RunsFromFile) {
  std::vector<uint8_t> bytes = buildBundle();
  std::string path = ::testing::TempDir() + "moert-session-test-" +
                     std::to_string(::getpid()) + ".bundle";
  {
    std::ofstream file(path, std::ios::binary);
    file.write(reinterpret_cast<const char *>(bytes.data()), bytes.size());
  }
  moert_bundle_t *bundle = nullptr;
  ASSERT_EQ(moert_bundle_load_file(path.c_str(), &bundle), nullptr);
  std::remove(path.c_str());
  moert_session_t *session = nullptr;
  ASSERT_EQ(moert_session_create(bundle, &session), nullptr);
  // The session keeps the bundle alive.
  moert_bundle_release(bundle);
  Case c(2);
  float out[8] = {};
  ASSERT_EQ(runViews(session, c, out), MOERT_OK);
  EXPECT_EQ(std::memcmp(out, c.expected, sizeof(out)), 0);
  moert_session_release(session);
}

TEST(Session, ViewErrorsHaveStableCodes) {
  Loaded loaded;
  ASSERT_NE(loaded.session, nullptr);
  Case c(0);
  float out[8];
  std::string message;
  moert_tensor_view_t in[2] = {
      {MOERT_DTYPE_F32, 2, kShapeB, c.a, sizeof(c.a)},
      {MOERT_DTYPE_F32, 2, kShapeB, c.b, sizeof(c.b)}};
  moert_tensor_view_t result = {MOERT_DTYPE_F32, 2, kShapeOut, out,
                                sizeof(out)};
  EXPECT_EQ(codeOf(moert_session_run(loaded.session, 0, in, 2, &result, 1),
                   &message),
            MOERT_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(message.find("input 0 (\"a\") has shape [3, 4], expected f32[2, 3]"),
            std::string::npos)
      << message;
  EXPECT_EQ(codeOf(moert_session_run(loaded.session, 0, in, 1, &result, 1)),
            MOERT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(codeOf(moert_session_run(loaded.session, 3, in, 2, &result, 1)),
            MOERT_ERROR_NOT_FOUND);
  EXPECT_EQ(codeOf(moert_session_run(nullptr, 0, in, 2, &result, 1)),
            MOERT_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(moert_status_code_string(MOERT_ERROR_INVALID_ARGUMENT),
               "INVALID_ARGUMENT");
}

TEST(Session, RunsWithDLPackTensors) {
  Loaded loaded;
  ASSERT_NE(loaded.session, nullptr);
  Case c(3);
  // `a` sits 16 bytes into a larger allocation (byte_offset), `b` has
  // explicit compact strides, the output has none.
  float padded[4 + 6];
  std::memcpy(padded + 4, c.a, sizeof(c.a));
  int64_t stridesB[] = {4, 1};
  float out[8] = {};
  moert_dl_tensor_t in[2] = {dlTensor(padded, kShapeA),
                             dlTensor(c.b, kShapeB, stridesB)};
  in[0].byte_offset = 4 * sizeof(float);
  moert_dl_tensor_t result = dlTensor(out, kShapeOut);
  ASSERT_EQ(codeOf(moert_session_run_dl(loaded.session, 0, in, 2, &result, 1)),
            MOERT_OK);
  EXPECT_EQ(std::memcmp(out, c.expected, sizeof(out)), 0);

  moert_dl_dtype_t dtype;
  ASSERT_EQ(moert_dtype_to_dl(MOERT_DTYPE_BF16, &dtype), nullptr);
  EXPECT_EQ(dtype.code, MOERT_DL_BFLOAT);
  EXPECT_EQ(dtype.bits, 16);
  EXPECT_EQ(codeOf(moert_dtype_to_dl(MOERT_DTYPE_INVALID, &dtype)),
            MOERT_ERROR_INVALID_ARGUMENT);
}

TEST(Session, DLPackErrorsHaveStableCodes) {
  Loaded loaded;
  ASSERT_NE(loaded.session, nullptr);
  Case c(0);
  float out[8];
  std::string message;
  auto run = [&](moert_dl_tensor_t a) {
    moert_dl_tensor_t in[2] = {a, dlTensor(c.b, kShapeB)};
    moert_dl_tensor_t result = dlTensor(out, kShapeOut);
    return codeOf(moert_session_run_dl(loaded.session, 0, in, 2, &result, 1),
                  &message);
  };
  moert_dl_tensor_t device = dlTensor(c.a, kShapeA);
  device.device.device_type = MOERT_DL_CUDA;
  EXPECT_EQ(run(device), MOERT_ERROR_UNSUPPORTED);
  EXPECT_NE(message.find("is in CUDA device memory; a cpu session takes host "
                         "memory"),
            std::string::npos)
      << message;
  // Streams belong to cuda sessions.
  EXPECT_EQ(codeOf(moert_session_set_stream(loaded.session, nullptr),
                   &message),
            MOERT_ERROR_UNSUPPORTED);
  EXPECT_NE(message.find("streams belong to cuda sessions"), std::string::npos)
      << message;

  int64_t transposed[] = {1, 2};
  EXPECT_EQ(run(dlTensor(c.a, kShapeA, transposed)),
            MOERT_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(message.find("is not contiguous"), std::string::npos) << message;

  moert_dl_tensor_t halves = dlTensor(c.a, kShapeA);
  halves.dtype = {MOERT_DL_FLOAT, 16, 1};
  EXPECT_EQ(run(halves), MOERT_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(message.find("is f16, expected f32[2, 3]"), std::string::npos)
      << message;

  moert_dl_tensor_t vector = dlTensor(c.a, kShapeA);
  vector.dtype.lanes = 4;
  EXPECT_EQ(run(vector), MOERT_ERROR_INVALID_ARGUMENT);

  EXPECT_EQ(run(dlTensor(c.a, kShapeB)), MOERT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(run(dlTensor(nullptr, kShapeA)), MOERT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(codeOf(moert_session_run_dl(loaded.session, 0, nullptr, 2,
                                        nullptr, 1)),
            MOERT_ERROR_INVALID_ARGUMENT);
}

// Sessions on one shared bundle, each run from several threads at once, and
// every result checked: runs share nothing but the immutable bundle and the
// loaded kernels.
TEST(Session, ConcurrentSessionsAndRuns) {
  std::vector<uint8_t> bytes = buildBundle();
  moert_bundle_t *bundle = nullptr;
  ASSERT_EQ(moert_bundle_load_memory(bytes.data(), bytes.size(), &bundle),
            nullptr);
  const int kSessions = 3, kThreadsPerSession = 4, kRuns = 200;
  std::vector<moert_session_t *> sessions(kSessions, nullptr);
  for (moert_session_t *&session : sessions)
    ASSERT_EQ(moert_session_create(bundle, &session), nullptr);
  moert_bundle_release(bundle);

  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int s = 0; s < kSessions; ++s)
    for (int t = 0; t < kThreadsPerSession; ++t)
      threads.emplace_back([&, s, t] {
        for (int r = 0; r < kRuns; ++r) {
          Case c(s * 1000 + t * 100 + r);
          float out[8] = {};
          bool dl = (r % 2) == 1;
          moert_status_code_t code;
          if (dl) {
            moert_dl_tensor_t in[2] = {dlTensor(c.a, kShapeA),
                                       dlTensor(c.b, kShapeB)};
            moert_dl_tensor_t result = dlTensor(out, kShapeOut);
            code = codeOf(
                moert_session_run_dl(sessions[s], 0, in, 2, &result, 1));
          } else {
            code = runViews(sessions[s], c, out);
          }
          if (code != MOERT_OK ||
              std::memcmp(out, c.expected, sizeof(out)) != 0)
            failures.fetch_add(1);
        }
      });
  for (std::thread &thread : threads)
    thread.join();
  EXPECT_EQ(failures.load(), 0);
  for (moert_session_t *session : sessions)
    moert_session_release(session);
}

} // namespace

namespace {

/// The composition bundle (kCompositionManifest) around the test kernel.
std::vector<uint8_t> buildCompositionBundle() {
  return moert::testing::layOutBundle(
      {{MOERT_BUNDLE_SECTION_MANIFEST, moert::testing::kCompositionManifest},
       {MOERT_BUNDLE_SECTION_SCHEDULE, moert::testing::kCompositionSchedule},
       {MOERT_BUNDLE_SECTION_KERNELS, readFile(MOERT_TEST_KERNEL)}});
}

} // namespace

TEST(Session, ServesACompositionRequestByRequest) {
  std::vector<uint8_t> bytes = buildCompositionBundle();
  moert_bundle_t *bundle = nullptr;
  ASSERT_EQ(moert_bundle_load_memory(bytes.data(), bytes.size(), &bundle),
            nullptr);
  size_t serve = 0;
  ASSERT_EQ(moert_bundle_find_function(bundle, "serve", &serve), nullptr);
  moert_composition_info_t info{};
  ASSERT_EQ(moert_bundle_composition_info(bundle, serve, &info), nullptr);
  EXPECT_EQ(info.model_count, 2u);
  EXPECT_EQ(info.selector_input, 0u);
  EXPECT_EQ(info.requests_input, 1u);
  ASSERT_EQ(moert_bundle_composition_info(bundle, 0, &info), nullptr);
  EXPECT_EQ(info.model_count, 0u);
  size_t model = 7;
  ASSERT_EQ(moert_bundle_composition_model(bundle, serve, 1, &model), nullptr);
  EXPECT_EQ(model, 0u);
  std::string message;
  EXPECT_EQ(codeOf(moert_bundle_composition_model(bundle, serve, 2, &model),
                   &message),
            MOERT_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(message.find("model 2 is out of range"), std::string::npos);
  EXPECT_EQ(codeOf(moert_bundle_composition_model(bundle, 0, 0, &model),
                   &message),
            MOERT_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(message.find("is not a composition"), std::string::npos);

  moert_session_t *session = nullptr;
  ASSERT_EQ(moert_session_create(bundle, &session), nullptr);
  // Row 0 picks model 1, row 1 ties (model 0), row 2 has a NaN in column 0,
  // which nothing beats (model 0, as the compiled lowering).
  float selector[6] = {0.5f, 2.0f, 1.0f, 1.0f, NAN, 3.0f};
  float requests[18], b0[12], b1[12], out[24] = {};
  for (int i = 0; i < 18; ++i)
    requests[i] = float(i % 7) - 2.0f;
  for (int i = 0; i < 12; ++i) {
    b0[i] = float(i % 5) - 1.0f;
    b1[i] = 0.5f * float(i % 3);
  }
  const int64_t shapeSelector[] = {3, 2}, shapeRequests[] = {3, 2, 3},
                shapeOut[] = {3, 2, 4};
  moert_tensor_view_t in[4] = {
      {MOERT_DTYPE_F32, 2, shapeSelector, selector, sizeof(selector)},
      {MOERT_DTYPE_F32, 3, shapeRequests, requests, sizeof(requests)},
      {MOERT_DTYPE_F32, 2, kShapeB, b0, sizeof(b0)},
      {MOERT_DTYPE_F32, 2, kShapeB, b1, sizeof(b1)}};
  moert_tensor_view_t result = {MOERT_DTYPE_F32, 3, shapeOut, out,
                                sizeof(out)};
  ASSERT_EQ(codeOf(moert_session_run(session, serve, in, 4, &result, 1)),
            MOERT_OK);
  const int chosen[3] = {1, 0, 0};
  for (int r = 0; r < 3; ++r) {
    const float *b = chosen[r] ? b1 : b0;
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 4; ++j) {
        float sum = 0;
        for (int k = 0; k < 3; ++k)
          sum += requests[r * 6 + i * 3 + k] * b[k * 4 + j];
        EXPECT_EQ(out[r * 8 + i * 4 + j], sum) << r << " " << i << " " << j;
      }
  }
  ASSERT_EQ(moert_session_last_request_count(session), 3u);
  for (int r = 0; r < 3; ++r) {
    moert_request_stats_t stats{};
    ASSERT_EQ(moert_session_last_request_stats(session, r, &stats), nullptr);
    EXPECT_EQ(stats.model, size_t(chosen[r])) << r;
    EXPECT_GE(stats.milliseconds, 0.0);
  }
  moert_request_stats_t stats{};
  EXPECT_EQ(codeOf(moert_session_last_request_stats(session, 3, &stats),
                   &message),
            MOERT_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(message.find("the last run served 3 requests"), std::string::npos);

  // A plain run after it serves no requests.
  Case c(1);
  float plain[8] = {};
  ASSERT_EQ(runViews(session, c, plain), MOERT_OK);
  EXPECT_EQ(moert_session_last_request_count(session), 0u);
  EXPECT_EQ(codeOf(moert_session_last_request_stats(session, 0, &stats),
                   &message),
            MOERT_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(message.find("ran no composition"), std::string::npos);
  moert_session_release(session);
  moert_bundle_release(bundle);
}
