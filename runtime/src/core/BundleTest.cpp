//===- BundleTest.cpp - bundle loader validation on corrupted bundles -----===//
//
// Every malformed bundle must give a clear error, never a crash or an
// out-of-bounds read (run under ASan to check the latter).
//
//===----------------------------------------------------------------------===//

#include "Bundle.h"
#include "TestBundles.h"
#include "moert/moert.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace {

using moert::testing::Section;

/// Lays out a bundle the way the writer does.
std::vector<uint8_t> buildBundle(const std::vector<Section> &sections,
                                 const char *target = "cpu-x86_64") {
  return moert::testing::layOutBundle(sections, target);
}

/// An ELF header of an x86-64 shared object (not loadable: no segments).
std::string fakeElf() {
  std::string elf(64, '\0');
  std::memcpy(&elf[0], "\x7f" "ELF", 4);
  elf[4] = 2;  // ELFCLASS64
  elf[5] = 1;  // little-endian
  elf[16] = 3; // ET_DYN
  elf[18] = 62; // EM_X86_64
  return elf;
}

const char *const kManifest = moert::testing::kMatmulManifest;
const char *const kSchedule = moert::testing::kMatmulSchedule;

const char *kReference =
    R"({"programs": [{"function": "mm", "values": [], "ops": [], "returns": []}]})";

std::vector<Section> validSections(std::string manifest = kManifest,
                                   std::string schedule = kSchedule) {
  return {{MOERT_BUNDLE_SECTION_MANIFEST, manifest},
          {MOERT_BUNDLE_SECTION_KERNELS, fakeElf()},
          {MOERT_BUNDLE_SECTION_SCHEDULE, schedule},
          {MOERT_BUNDLE_SECTION_REFERENCE, kReference}};
}

/// Parses `bytes`; returns the error ("" on success).
std::string parse(const std::vector<uint8_t> &bytes) {
  moert::Bundle bundle;
  std::string error;
  if (moert::parseBundle(bytes.data(), bytes.size(), bundle, error))
    return "";
  EXPECT_FALSE(error.empty());
  return error;
}

std::string replaced(std::string text, const std::string &from,
                     const std::string &to) {
  size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos)
    text.replace(at, from.size(), to);
  return text;
}

std::string scheduleError(const std::string &from, const std::string &to) {
  return parse(buildBundle(validSections(kManifest,
                                         replaced(kSchedule, from, to))));
}

std::string manifestError(const std::string &from, const std::string &to) {
  return parse(buildBundle(validSections(replaced(kManifest, from, to))));
}

#define EXPECT_ERROR(expr, text)                                               \
  do {                                                                         \
    std::string error_ = (expr);                                               \
    EXPECT_NE(error_.find(text), std::string::npos)                            \
        << "error: \"" << error_ << "\", expected \"" << text << "\"";         \
  } while (0)

TEST(BundleLoader, ValidBundleParses) {
  std::vector<uint8_t> bytes = buildBundle(validSections());
  moert::Bundle bundle;
  std::string error;
  ASSERT_TRUE(moert::parseBundle(bytes.data(), bytes.size(), bundle, error))
      << error;
  EXPECT_EQ(bundle.target, "cpu-x86_64");
  ASSERT_EQ(bundle.functions.size(), 1u);
  EXPECT_EQ(bundle.functions[0].inputs[1].name, "b");
  EXPECT_EQ(bundle.functions[0].inputs[1].type.byteSize, 48u);
  EXPECT_EQ(bundle.kernels[0].symbol, "_mlir_ciface_mm");
  EXPECT_EQ(bundle.programs[0].commands.size(), 6u);
  EXPECT_NE(bundle.functions[0].reference.find("\"function\":\"mm\""),
            std::string::npos);
}

TEST(BundleLoader, EveryTruncationFails) {
  std::vector<uint8_t> bytes = buildBundle(validSections());
  for (size_t size = 0; size < bytes.size(); ++size) {
    std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + size);
    std::string error = parse(prefix);
    EXPECT_FALSE(error.empty()) << "prefix of " << size << " bytes";
    if (size >= MOERT_BUNDLE_HEADER_SIZE)
      EXPECT_ERROR(error, "truncated");
  }
}

TEST(BundleLoader, TrailingBytes) {
  std::vector<uint8_t> bytes = buildBundle(validSections());
  bytes.push_back(0);
  EXPECT_ERROR(parse(bytes), "size mismatch");
}

TEST(BundleLoader, HeaderFields) {
  std::vector<uint8_t> good = buildBundle(validSections());
  auto patched = [&](size_t offset, const void *value, size_t size) {
    std::vector<uint8_t> bytes = good;
    std::memcpy(bytes.data() + offset, value, size);
    return parse(bytes);
  };
  EXPECT_ERROR(patched(0, "MOEBNDL2", 8), "wrong magic");
  uint32_t version = 2;
  EXPECT_ERROR(patched(offsetof(moert_bundle_header_t, version), &version, 4),
               "format version 2");
  uint32_t count = 0;
  EXPECT_ERROR(
      patched(offsetof(moert_bundle_header_t, section_count), &count, 4),
      "section count 0");
  count = 1000;
  EXPECT_ERROR(
      patched(offsetof(moert_bundle_header_t, section_count), &count, 4),
      "section count 1000");
  uint32_t flags = 1;
  EXPECT_ERROR(patched(offsetof(moert_bundle_header_t, flags), &flags, 4),
               "reserved header fields");
  char target[MOERT_BUNDLE_TARGET_SIZE];
  std::memset(target, 'x', sizeof(target));
  EXPECT_ERROR(patched(offsetof(moert_bundle_header_t, target), target,
                       sizeof(target)),
               "not zero-terminated");
  EXPECT_ERROR(patched(offsetof(moert_bundle_header_t, target), "", 1),
               "target is empty");
}

/// Patches entry `index` of the section table.
std::string patchSection(size_t index,
                         void (*patch)(moert_bundle_section_t &)) {
  std::vector<uint8_t> bytes = buildBundle(validSections());
  moert_bundle_section_t entry;
  uint8_t *at = bytes.data() + MOERT_BUNDLE_HEADER_SIZE +
                index * MOERT_BUNDLE_SECTION_ENTRY_SIZE;
  std::memcpy(&entry, at, sizeof(entry));
  patch(entry);
  std::memcpy(at, &entry, sizeof(entry));
  return parse(bytes);
}

TEST(BundleLoader, SectionTable) {
  EXPECT_ERROR(patchSection(1, [](auto &e) { e.kind = 9; }),
               "unknown kind 9");
  EXPECT_ERROR(patchSection(1, [](auto &e) { e.kind = 1; }),
               "two MANIFEST sections");
  EXPECT_ERROR(patchSection(3, [](auto &e) { e.reserved = 7; }),
               "reserved field");
  EXPECT_ERROR(patchSection(0, [](auto &e) { e.offset = 8; }),
               "outside the bundle's data");
  EXPECT_ERROR(patchSection(0, [](auto &e) { e.size = 1u << 30; }),
               "outside the bundle's data");
  EXPECT_ERROR(patchSection(2, [](auto &e) { e.offset = ~uint64_t(0) - 3; }),
               "outside the bundle's data");
  EXPECT_ERROR(patchSection(2, [](auto &e) { e.size = ~uint64_t(0); }),
               "outside the bundle's data");
  // KERNELS moved into the middle of MANIFEST (at 192, past the table).
  EXPECT_ERROR(patchSection(1, [](auto &e) { e.offset = 200; }), "overlap");
  EXPECT_ERROR(patchSection(2, [](auto &e) { e.kind = 4; }),
               "two REFERENCE sections");
}

TEST(BundleLoader, MissingSections) {
  std::vector<Section> sections = validSections();
  sections.erase(sections.begin() + 2);
  EXPECT_ERROR(parse(buildBundle(sections)), "no SCHEDULE section");
  sections = validSections();
  sections.erase(sections.begin() + 1);
  EXPECT_ERROR(parse(buildBundle(sections)), "no KERNELS section");
  // The reference is optional.
  sections = validSections();
  sections.pop_back();
  EXPECT_EQ(parse(buildBundle(sections)), "");
}

TEST(BundleLoader, BadJson) {
  EXPECT_ERROR(parse(buildBundle(validSections("{\"target\": "))),
               "MANIFEST section is not valid JSON");
  EXPECT_ERROR(parse(buildBundle(validSections("[1, 2]"))),
               "expected a JSON object");
  EXPECT_ERROR(parse(buildBundle(validSections(std::string(100000, '[') +
                                               std::string(100000, ']')))),
               "nested deeper");
  EXPECT_ERROR(parse(buildBundle(validSections(kManifest, "{\"kernels\":"))),
               "SCHEDULE section is not valid JSON");
  std::vector<Section> sections = validSections();
  sections[3].bytes = R"({"programs": [{"function": "nope"}]})";
  EXPECT_ERROR(parse(buildBundle(sections)), "no manifest function \"nope\"");
  sections[3].bytes = "{]";
  EXPECT_ERROR(parse(buildBundle(sections)), "REFERENCE section is not valid");
}

TEST(BundleLoader, Manifest) {
  EXPECT_ERROR(manifestError("\"target\": \"cpu-x86_64\"", "\"target\": \"x\""),
               "disagrees with the header");
  EXPECT_ERROR(manifestError("\"dtype\": \"f32\"", "\"dtype\": \"f8\""),
               "unknown dtype \"f8\"");
  EXPECT_ERROR(manifestError("[2, 3]", "[2, -3]"), "static shapes only");
  EXPECT_ERROR(manifestError("[2, 3]", "[2, \"3\"]"), "static shapes only");
  EXPECT_ERROR(manifestError("[2, 3]", "[4294967296, 4294967296, 4]"),
               "element count overflows");
  EXPECT_ERROR(manifestError("[2, 3]", "[1099511627776, 8]"),
               "larger than the limit");
  EXPECT_ERROR(manifestError("\"name\": \"b\"", "\"name\": \"a\""),
               "duplicate name \"a\"");
  EXPECT_ERROR(manifestError("\"symbol\": \"_mlir_ciface_mm\",", ""),
               "missing \"symbol\"");
  EXPECT_ERROR(manifestError("\"name\": \"mm\"", "\"name\": 3"),
               "expected a string");
  EXPECT_ERROR(manifestError("[2, 3]", "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]"),
               "more than the limit");
}

/// The matmul manifest with a top-level "grid" and extra fields on input
/// "a" (shape [2, 3]).
std::string shardedManifest(const std::string &grid,
                            const std::string &fields) {
  std::string manifest = replaced(kManifest, R"({"target": "cpu-x86_64",)",
                                  R"({"target": "cpu-x86_64", )" +
                                      (grid.empty() ? "" : "\"grid\": " +
                                                               grid + ",") +
                                      " ");
  return replaced(manifest, R"("shape": [2, 3]})",
                  R"("shape": [2, 3])" + fields + "}");
}

std::string shardError(const std::string &grid, const std::string &fields) {
  return parse(buildBundle(validSections(shardedManifest(grid, fields))));
}

TEST(BundleLoader, ShardedManifestParses) {
  std::vector<uint8_t> bytes = buildBundle(validSections(shardedManifest(
      "[1, 2, 2]", R"(, "split_axes": [[1], [2]], "full_shape": [4, 6],
                     "expert_permutation": [3, 0, 2, 1])")));
  moert::Bundle bundle;
  std::string error;
  ASSERT_TRUE(moert::parseBundle(bytes.data(), bytes.size(), bundle, error))
      << error;
  EXPECT_EQ(bundle.grid, (std::vector<int64_t>{1, 2, 2}));
  EXPECT_EQ(bundle.worldSize, 4);
  const moert::TensorInfo &a = bundle.functions[0].inputs[0];
  EXPECT_EQ(a.fullShape, (std::vector<int64_t>{4, 6}));
  EXPECT_EQ(a.splitAxes, (std::vector<uint32_t>{0b010, 0b100}));
  EXPECT_EQ(a.expertPermutation, (std::vector<int64_t>{3, 0, 2, 1}));
  // Replicated tensors of a sharded bundle: full shape = shape.
  const moert::TensorInfo &b = bundle.functions[0].inputs[1];
  EXPECT_TRUE(b.fullShape.empty());
  // Without the fields: one rank.
  EXPECT_EQ(parse(buildBundle(validSections(shardedManifest("[1, 2, 2]", "")))),
            "");
  EXPECT_EQ(parse(buildBundle(validSections(shardedManifest(
                "[2]", R"(, "split_axes": [[], []])")))),
            "");
}

TEST(BundleLoader, ShardedManifestGrid) {
  EXPECT_ERROR(shardError("4", ""), "MANIFEST.grid: expected an array");
  EXPECT_ERROR(shardError("[]", ""), "MANIFEST.grid: has 0 axes");
  EXPECT_ERROR(shardError("[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]", ""),
               "has 17 axes, expected 1 to 16");
  EXPECT_ERROR(shardError("[1, 0, 2]", ""),
               "MANIFEST.grid[1]: expected a positive axis size");
  EXPECT_ERROR(shardError("[1, -2, 2]", ""), "MANIFEST.grid[1]");
  EXPECT_ERROR(shardError("[1, 2.5, 2]", ""), "MANIFEST.grid[1]");
  EXPECT_ERROR(shardError("[1024, 1024, 2]", ""),
               "the grid has more than 1048576 ranks");
  EXPECT_ERROR(shardError("[18446744073709551615]", ""), "MANIFEST.grid[0]");
  EXPECT_ERROR(shardError("", R"(, "split_axes": [[0], []])"),
               "inputs[0].split_axes: a sharded tensor needs the manifest's "
               "\"grid\"");
  EXPECT_ERROR(shardError("", R"(, "full_shape": [2, 3])"),
               "inputs[0].full_shape: a sharded tensor needs");
  EXPECT_ERROR(shardError("", R"(, "expert_permutation": [0, 1])"),
               "inputs[0].expert_permutation: a sharded tensor needs");
}

TEST(BundleLoader, ShardedManifestSplitAxes) {
  const char *grid = "[1, 2, 2]";
  EXPECT_ERROR(shardError(grid, R"(, "split_axes": 1)"),
               "inputs[0].split_axes: expected an array");
  EXPECT_ERROR(shardError(grid, R"(, "split_axes": [[1]])"),
               "split_axes: has 1 entries for a tensor of rank 2");
  EXPECT_ERROR(shardError(grid, R"(, "split_axes": [1, []])"),
               "split_axes[0]: expected an array of grid axes");
  EXPECT_ERROR(shardError(grid, R"(, "split_axes": [[3], []])"),
               "split_axes[0][0]: expected a grid axis in [0, 3)");
  EXPECT_ERROR(shardError(grid, R"(, "split_axes": [[-1], []])"),
               "split_axes[0][0]: expected a grid axis");
  EXPECT_ERROR(shardError(grid, R"(, "split_axes": [["1"], []])"),
               "split_axes[0][0]: expected a grid axis");
  EXPECT_ERROR(shardError(grid, R"(, "split_axes": [[2, 1], []])"),
               "split_axes[0]: axes must be ascending, without repeats");
  EXPECT_ERROR(shardError(grid, R"(, "split_axes": [[1, 1], []])"),
               "axes must be ascending");
  EXPECT_ERROR(shardError(grid, R"(, "split_axes": [[1], [1]])"),
               "split_axes[1][0]: grid axis 1 splits two dimensions");
}

TEST(BundleLoader, ShardedManifestFullShape) {
  const char *grid = "[1, 2, 2]";
  const std::string split = R"(, "split_axes": [[1, 2], []])";
  EXPECT_EQ(shardError(grid, split + R"(, "full_shape": [8, 3])"), "");
  EXPECT_ERROR(shardError(grid, split + R"(, "full_shape": [2, 3])"),
               "full_shape[0]: 2, but shape[0] * the grid axes splitting it "
               "= 8");
  EXPECT_ERROR(shardError(grid, split + R"(, "full_shape": [8, 4])"),
               "full_shape[1]: 4, but shape[1]");
  EXPECT_ERROR(shardError(grid, split + R"(, "full_shape": [8])"),
               "full_shape: has 1 dimensions for a tensor of rank 2");
  EXPECT_ERROR(shardError(grid, split + R"(, "full_shape": "8x3")"),
               "full_shape: expected an array");
  EXPECT_ERROR(shardError(grid, split + R"(, "full_shape": [8, null])"),
               "full_shape[1]: not an integer");
  // Replicated: the full shape is the shape.
  EXPECT_ERROR(shardError(grid, R"(, "full_shape": [4, 3])"),
               "full_shape[0]: 4, but shape[0]");
  // A full tensor beyond the buffer limit.
  EXPECT_ERROR(parse(buildBundle(validSections(replaced(
                   shardedManifest("[1048576]", R"(, "split_axes": [[0], []])"),
                   "[2, 3]", "[1048576, 3]")))),
               "the full tensor of 3298534883328 elements is larger than the "
               "limit");
}

TEST(BundleLoader, ShardedManifestExpertPermutation) {
  const char *grid = "[1, 2, 2]";
  const std::string split = R"(, "split_axes": [[1], []])"; // full dim 0: 4
  EXPECT_EQ(shardError(grid, split + R"(, "expert_permutation": [1, 0, 3, 2])"),
            "");
  EXPECT_ERROR(shardError(grid, split + R"(, "expert_permutation": [0, 1])"),
               "expert_permutation: has 2 entries, the full dimension 0 has 4");
  EXPECT_ERROR(
      shardError(grid, split + R"(, "expert_permutation": [0, 0, 1, 2])"),
      "expert_permutation[1]: 0 appears twice (not a permutation)");
  EXPECT_ERROR(
      shardError(grid, split + R"(, "expert_permutation": [0, 1, 2, 4])"),
      "expert_permutation[3]: 4 is out of range (4 available)");
  EXPECT_ERROR(
      shardError(grid, split + R"(, "expert_permutation": [0, 1, 2, -1])"),
      "expert_permutation[3]: -1 is out of range");
  EXPECT_ERROR(shardError(grid, split + R"(, "expert_permutation": {})"),
               "expert_permutation: expected an array");
}

TEST(CApi, ShardingQueries) {
  std::vector<uint8_t> bytes = buildBundle(validSections(shardedManifest(
      "[1, 2, 2]", R"(, "split_axes": [[1, 2], []], "full_shape": [8, 3],
                     "expert_permutation": [7, 6, 5, 4, 3, 2, 1, 0])")));
  moert_bundle_t *bundle = nullptr;
  moert_status_t status =
      moert_bundle_load_memory(bytes.data(), bytes.size(), &bundle);
  ASSERT_EQ(status, nullptr) << moert_status_message(status);
  const int64_t *grid = nullptr;
  ASSERT_EQ(moert_bundle_grid(bundle, &grid), 3u);
  EXPECT_EQ(grid[0], 1);
  EXPECT_EQ(grid[2], 2);
  moert_tensor_split_t split;
  ASSERT_EQ(moert_bundle_input_split(bundle, 0, 0, &split), nullptr);
  ASSERT_EQ(split.rank, 2u);
  EXPECT_EQ(split.full_shape[0], 8);
  EXPECT_EQ(split.full_shape[1], 3);
  EXPECT_EQ(split.split_axes[0], 0b110u);
  EXPECT_EQ(split.split_axes[1], 0u);
  ASSERT_EQ(split.expert_permutation_size, 8u);
  EXPECT_EQ(split.expert_permutation[0], 7);
  // Replicated: the full shape is the shape, nothing split or permuted.
  ASSERT_EQ(moert_bundle_input_split(bundle, 0, 1, &split), nullptr);
  EXPECT_EQ(split.full_shape[0], 3);
  EXPECT_EQ(split.split_axes[0], 0u);
  EXPECT_EQ(split.expert_permutation, nullptr);
  ASSERT_EQ(moert_bundle_output_split(bundle, 0, 0, &split), nullptr);
  EXPECT_EQ(split.full_shape[1], 4);
  status = moert_bundle_output_split(bundle, 0, 1, &split);
  EXPECT_EQ(moert_status_code(status), MOERT_ERROR_NOT_FOUND);
  moert_status_free(status);
  status = moert_bundle_input_split(bundle, 0, 0, nullptr);
  EXPECT_EQ(moert_status_code(status), MOERT_ERROR_INVALID_ARGUMENT);
  moert_status_free(status);
  EXPECT_STREQ(moert_status_code_string(MOERT_ERROR_COLLECTIVE), "COLLECTIVE");
  moert_bundle_release(bundle);
  // A single-rank bundle has no grid.
  bytes = buildBundle(validSections());
  ASSERT_EQ(moert_bundle_load_memory(bytes.data(), bytes.size(), &bundle),
            nullptr);
  EXPECT_EQ(moert_bundle_grid(bundle, &grid), 0u);
  EXPECT_EQ(grid, nullptr);
  moert_bundle_release(bundle);
}

// Tests that a buffer's memory tier parses and that a host-tier buffer is
// only an input: never a kernel result or an output.
TEST(BundleLoader, ScheduleTiers) {
  const std::string input1 = R"({"dtype": "f32", "shape": [3, 4]},)";
  std::vector<uint8_t> bytes = buildBundle(validSections(
      kManifest, replaced(kSchedule, input1,
                          R"({"dtype": "f32", "shape": [3, 4], "tier": "host"},)")));
  moert::Bundle bundle;
  std::string error;
  ASSERT_TRUE(moert::parseBundle(bytes.data(), bytes.size(), bundle, error))
      << error;
  EXPECT_EQ(bundle.programs[0].hostTier, (std::vector<bool>{false, true, false}));
  EXPECT_ERROR(
      scheduleError(input1, R"({"dtype": "f32", "shape": [3, 4], "tier": "sram"},)"),
      "SCHEDULE.programs[0].buffers[1].tier: unknown memory tier \"sram\" "
      "(expected \"host\" or \"hbm\")");
  EXPECT_ERROR(
      scheduleError(input1, R"({"dtype": "f32", "shape": [3, 4], "tier": 1},)"),
      "buffers[1].tier: expected a string");
  const std::string result = "{\"dtype\": \"f32\", \"shape\": [2, 4]}],\n"
                             "   \"commands\"";
  EXPECT_ERROR(
      scheduleError(result, "{\"dtype\": \"f32\", \"shape\": [2, 4], "
                            "\"tier\": \"host\"}],\n   \"commands\""),
      "buffer 2 lives in host memory (tier \"host\") and cannot hold a "
      "kernel result");
  EXPECT_ERROR(
      parse(buildBundle(validSections(
          kManifest,
          replaced(replaced(kSchedule, input1,
                            R"({"dtype": "f32", "shape": [3, 4], "tier": "host"},)"),
                   "\"output\": 0, \"buffer\": 2", "\"output\": 0, \"buffer\": 1")))),
      "buffer 1 lives in host memory (tier \"host\") and cannot be an output");
}

/// Parses the composition test bundle with `from` replaced by `to` in its
/// manifest (`schedule`: in its schedule).
std::string compositionError(const std::string &from, const std::string &to,
                             bool schedule = false) {
  std::string manifest = moert::testing::kCompositionManifest;
  std::string program = moert::testing::kCompositionSchedule;
  (schedule ? program : manifest) =
      replaced(schedule ? program : manifest, from, to);
  return parse(buildBundle(validSections(manifest, program)));
}

TEST(BundleLoader, Composition) {
  std::vector<uint8_t> bytes =
      buildBundle(validSections(moert::testing::kCompositionManifest,
                                moert::testing::kCompositionSchedule));
  moert::Bundle bundle;
  std::string error;
  ASSERT_TRUE(moert::parseBundle(bytes.data(), bytes.size(), bundle, error))
      << error;
  ASSERT_EQ(bundle.functions.size(), 2u);
  EXPECT_FALSE(bundle.functions[0].isComposition);
  const moert::Function &serve = bundle.functions[1];
  ASSERT_TRUE(serve.isComposition);
  EXPECT_EQ(serve.composition.selector, 0u);
  EXPECT_EQ(serve.composition.requests, 1u);
  ASSERT_EQ(serve.composition.models.size(), 2u);
  EXPECT_EQ(serve.composition.models[1].function, 0u);
  EXPECT_EQ(serve.composition.models[1].inputs,
            (std::vector<uint32_t>{1, 3}));
  EXPECT_TRUE(bundle.programs[1].commands.empty());

  const std::string models = R"("models": [{"function": "mm", "inputs": [1, 2]},)";
  EXPECT_ERROR(compositionError(R"("selector": 0)", R"("selector": 4)"),
               "composition.selector: 4 is out of range (4 available)");
  EXPECT_ERROR(compositionError(R"("requests": 1)", R"("requests": 0)"),
               "the selector and the requests are the same input");
  EXPECT_ERROR(compositionError(R"("shape": [3, 2]})", R"("shape": [6]})"),
               "the selector must be a float [R, M] tensor, input 0 is f32[6]");
  EXPECT_ERROR(compositionError(R"("shape": [3, 2, 3]})", R"("shape": [4, 2, 3]})"),
               "composition.requests: the requests input is f32[4, 2, 3]; "
               "expected 3 requests (the selector's rows) in dimension 0");
  EXPECT_ERROR(compositionError(R"("shape": [3, 2, 4]})", R"("shape": [2, 2, 4]})"),
               "a composition has one output with the 3 requests in dimension 0");
  EXPECT_ERROR(compositionError(models, R"("models": [)"),
               "composition.models: 1 models for a selector of 2 columns");
  EXPECT_ERROR(compositionError(R"({"function": "mm", "inputs": [1, 3]})",
                                R"({"function": "nn", "inputs": [1, 3]})"),
               "models[1].function: no manifest function \"nn\"");
  EXPECT_ERROR(compositionError(R"({"function": "mm", "inputs": [1, 3]})",
                                R"({"function": "serve", "inputs": [1, 3]})"),
               "\"serve\" is a composition; a model is a compiled function");
  EXPECT_ERROR(compositionError(R"("inputs": [1, 3])", R"("inputs": [1])"),
               "models[1].inputs: 1 inputs for \"mm\", which takes 2");
  EXPECT_ERROR(compositionError(R"("inputs": [1, 3])", R"("inputs": [2, 3])"),
               "inputs[0]: a model's first input is the request");
  EXPECT_ERROR(compositionError(R"("inputs": [1, 3])", R"("inputs": [1, 1])"),
               "inputs[1]: only a model's first input takes the requests");
  EXPECT_ERROR(compositionError(R"("inputs": [1, 3])", R"("inputs": [1, 0])"),
               "inputs[1]: a model does not take the selector");
  EXPECT_ERROR(compositionError(R"({"name": "b1", "dtype": "f32", "shape": [3, 4]})",
                                R"({"name": "b1", "dtype": "f32", "shape": [4, 3]})"),
               "\"mm\" input 1 is f32[3, 4] but it is given f32[4, 3]");
  EXPECT_ERROR(compositionError(R"("shape": [3, 2, 4]})", R"("shape": [3, 2, 5]})"),
               "\"mm\" must return one f32[2, 5] (a request's result)");
  EXPECT_ERROR(compositionError(R"({"function": "serve", "buffers": [], "commands": []})",
                                R"({"function": "serve", "buffers": [{"dtype": "f32", "shape": [1]}], "commands": []})",
                                /*schedule=*/true),
               "the program of composition \"serve\" must have no buffers and "
               "no commands");
}

TEST(BundleLoader, Schedule) {
  EXPECT_ERROR(scheduleError("\"buffer\": 0}", "\"buffer\": 7}"),
               "7 is out of range (3 available)");
  EXPECT_ERROR(scheduleError("\"kernel\": 0", "\"kernel\": 1"),
               "1 is out of range (1 available)");
  EXPECT_ERROR(scheduleError("\"kernel\": 0", "\"kernel\": -1"),
               "-1 is out of range");
  EXPECT_ERROR(scheduleError("\"command\": \"allocate\", \"buffer\": 1}",
                             "\"command\": \"frobnicate\", \"buffer\": 1}"),
               "unknown command \"frobnicate\"");
  EXPECT_ERROR(scheduleError("{\"command\": \"allocate\", \"buffer\": 1},", ""),
               "bind_input needs an allocated buffer");
  EXPECT_ERROR(scheduleError("{\"command\": \"bind_input\", \"input\": 1, "
                             "\"buffer\": 1},",
                             ""),
               "input 1 (\"b\") is never bound");
  EXPECT_ERROR(scheduleError("\"output\": 0, \"buffer\": 2",
                             "\"output\": 0, \"buffer\": 1"),
               "buffer 1 is f32[3, 4] but output \"result0\" is f32[2, 4]");
  EXPECT_ERROR(scheduleError("\"arguments\": [0, 1]", "\"arguments\": [1, 0]"),
               "buffer 1 is f32[3, 4] but argument 0 of _mlir_ciface_mm");
  EXPECT_ERROR(scheduleError("\"arguments\": [0, 1]", "\"arguments\": [0]"),
               "1 buffers but kernel _mlir_ciface_mm has 2 arguments");
  EXPECT_ERROR(scheduleError("\"results\": [2]", "\"results\": [0]"),
               "buffer 0 is f32[2, 3] but result 0 of _mlir_ciface_mm");
  EXPECT_ERROR(scheduleError("\"command\": \"allocate\", \"buffer\": 1}",
                             "\"command\": \"allocate\", \"buffer\": 0}"),
               "buffer 0 is defined twice");
  EXPECT_ERROR(scheduleError("{\"command\": \"output\", \"output\": 0, "
                             "\"buffer\": 2}",
                             "{\"command\": \"output\", \"output\": 0, "
                             "\"buffer\": 2}, {\"command\": \"output\", "
                             "\"output\": 0, \"buffer\": 2}"),
               "output 0 is written twice");
  EXPECT_ERROR(scheduleError("\"function\": \"mm\"", "\"function\": \"mn\""),
               "\"mn\" but manifest function 0 is \"mm\"");
  EXPECT_ERROR(scheduleError("{\"dtype\": \"f32\", \"shape\": [2, 3]}, "
                             "{\"dtype\": \"f32\", \"shape\": [3, 4]},\n"
                             "               {\"dtype\": \"f32\", \"shape\": "
                             "[2, 4]}",
                             "{\"dtype\": \"f32\", \"shape\": [2, 3]}, "
                             "{\"dtype\": \"f32\", \"shape\": [3, 4]}"),
               "2 is out of range (2 available)");
}

TEST(BundleLoader, KernelImage) {
  std::vector<Section> sections = validSections();
  sections[1].bytes = "not an elf file at all, definitely not. "
                      "padding padding padding padding";
  EXPECT_ERROR(parse(buildBundle(sections)), "not an ELF shared object");
  sections[1].bytes = fakeElf();
  sections[1].bytes[18] = 40; // EM_ARM
  EXPECT_ERROR(parse(buildBundle(sections)),
               "not an x86-64 ELF shared object");
}

/// Flipping any bit of the header, the table or the JSON never crashes.
TEST(BundleLoader, BitFlipsNeverCrash) {
  std::vector<uint8_t> good = buildBundle(validSections());
  size_t accepted = 0;
  for (size_t byte = 0; byte < good.size(); ++byte)
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<uint8_t> bytes = good;
      bytes[byte] ^= uint8_t(1u << bit);
      moert::Bundle bundle;
      std::string error;
      if (moert::parseBundle(bytes.data(), bytes.size(), bundle, error))
        ++accepted;
      else
        EXPECT_FALSE(error.empty());
    }
  // Flips in padding, in names and in the fake ELF body are harmless.
  EXPECT_GT(accepted, 0u);
}

TEST(CApi, LoadErrorsCarryCodesAndMessages) {
  moert_bundle_t *bundle = nullptr;
  moert_status_t status = moert_bundle_load_memory("MOEBNDL1", 8, &bundle);
  ASSERT_NE(status, nullptr);
  EXPECT_EQ(moert_status_code(status), MOERT_ERROR_INVALID_BUNDLE);
  EXPECT_ERROR(std::string(moert_status_message(status)),
               "invalid bundle: truncated");
  EXPECT_EQ(bundle, nullptr);
  moert_status_free(status);

  status = moert_bundle_load_file("/nonexistent/x.bundle", &bundle);
  EXPECT_EQ(moert_status_code(status), MOERT_ERROR_NOT_FOUND);
  moert_status_free(status);

  status = moert_bundle_load_memory(nullptr, 0, nullptr);
  EXPECT_EQ(moert_status_code(status), MOERT_ERROR_INVALID_ARGUMENT);
  moert_status_free(status);
  EXPECT_STREQ(moert_status_code_string(MOERT_ERROR_KERNEL), "KERNEL");
}

TEST(CApi, QueriesAndSessionErrors) {
  std::vector<uint8_t> bytes = buildBundle(validSections());
  moert_bundle_t *bundle = nullptr;
  ASSERT_EQ(moert_bundle_load_memory(bytes.data(), bytes.size(), &bundle),
            nullptr);
  EXPECT_STREQ(moert_bundle_target(bundle), "cpu-x86_64");
  size_t function = 7;
  ASSERT_EQ(moert_bundle_find_function(bundle, "mm", &function), nullptr);
  EXPECT_EQ(function, 0u);
  moert_status_t status = moert_bundle_find_function(bundle, "x", &function);
  EXPECT_EQ(moert_status_code(status), MOERT_ERROR_NOT_FOUND);
  moert_status_free(status);
  moert_tensor_info_t info;
  ASSERT_EQ(moert_bundle_input_info(bundle, 0, 1, &info), nullptr);
  EXPECT_STREQ(info.name, "b");
  EXPECT_EQ(info.rank, 2u);
  EXPECT_EQ(info.shape[1], 4);
  status = moert_bundle_output_info(bundle, 0, 1, &info);
  EXPECT_EQ(moert_status_code(status), MOERT_ERROR_NOT_FOUND);
  moert_status_free(status);
  EXPECT_NE(moert_bundle_reference_program(bundle, 0), nullptr);

  moert_session_t *session = nullptr;
  status = moert_session_create_on_device(bundle, MOERT_DEVICE_CUDA, &session);
  EXPECT_EQ(moert_status_code(status), MOERT_ERROR_UNSUPPORTED);
  EXPECT_ERROR(std::string(moert_status_message(status)),
               "this bundle targets cpu");
  moert_status_free(status);
  // The fake ELF has no segments: dlopen refuses it with a message.
  status = moert_session_create(bundle, &session);
  EXPECT_EQ(moert_status_code(status), MOERT_ERROR_KERNEL);
  EXPECT_ERROR(std::string(moert_status_message(status)),
               "cannot load the bundle's kernels");
  moert_status_free(status);
  EXPECT_EQ(session, nullptr);
  moert_bundle_release(bundle);
}

} // namespace
