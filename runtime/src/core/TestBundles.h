//===- TestBundles.h - bundles laid out by hand for runtime tests -*- C++ -*-===//
//
// The runtime's unit tests build bundles byte by byte (to corrupt them, or to
// wrap test kernels) the way moe-translate --moe-to-bundle lays them out.
//
//===----------------------------------------------------------------------===//

#ifndef MOERT_SRC_CORE_TESTBUNDLES_H
#define MOERT_SRC_CORE_TESTBUNDLES_H

#include "moert/bundle_format.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace moert::testing {

struct Section {
  uint32_t kind;
  std::string bytes;
};

/// Header, section table and 64-byte aligned sections, as the writer does.
inline std::vector<uint8_t> layOutBundle(const std::vector<Section> &sections,
                                         const char *target = "cpu-x86_64") {
  size_t offset = MOERT_BUNDLE_HEADER_SIZE +
                  sections.size() * MOERT_BUNDLE_SECTION_ENTRY_SIZE;
  std::vector<moert_bundle_section_t> table;
  for (const Section &s : sections) {
    offset = (offset + MOERT_BUNDLE_SECTION_ALIGNMENT - 1) /
             MOERT_BUNDLE_SECTION_ALIGNMENT * MOERT_BUNDLE_SECTION_ALIGNMENT;
    table.push_back({s.kind, 0, offset, s.bytes.size()});
    offset += s.bytes.size();
  }
  std::vector<uint8_t> out(offset, 0);
  moert_bundle_header_t header = {};
  std::memcpy(header.magic, MOERT_BUNDLE_MAGIC, MOERT_BUNDLE_MAGIC_SIZE);
  header.version = MOERT_BUNDLE_FORMAT_VERSION;
  header.section_count = static_cast<uint32_t>(sections.size());
  header.file_size = out.size();
  std::strncpy(header.target, target, MOERT_BUNDLE_TARGET_SIZE - 1);
  std::memcpy(out.data(), &header, sizeof(header));
  for (size_t i = 0; i < table.size(); ++i) {
    std::memcpy(out.data() + MOERT_BUNDLE_HEADER_SIZE +
                    i * MOERT_BUNDLE_SECTION_ENTRY_SIZE,
                &table[i], sizeof(table[i]));
    std::memcpy(out.data() + table[i].offset, sections[i].bytes.data(),
                sections[i].bytes.size());
  }
  return out;
}

/// MANIFEST of one function `mm`: result0[2, 4] = a[2, 3] · b[3, 4] (f32).
inline const char *const kMatmulManifest = R"({"target": "cpu-x86_64", "functions": [
  {"name": "mm", "symbol": "_mlir_ciface_mm",
   "inputs": [{"name": "a", "dtype": "f32", "shape": [2, 3]},
              {"name": "b", "dtype": "f32", "shape": [3, 4]}],
   "outputs": [{"name": "result0", "dtype": "f32", "shape": [2, 4]}]}]})";

/// SCHEDULE of `mm`: bind both inputs, call the kernel, output its result.
inline const char *const kMatmulSchedule = R"({"kernels": [{"symbol": "_mlir_ciface_mm",
   "arguments": [{"dtype": "f32", "shape": [2, 3]}, {"dtype": "f32", "shape": [3, 4]}],
   "results": [{"dtype": "f32", "shape": [2, 4]}]}],
 "programs": [{"function": "mm",
   "buffers": [{"dtype": "f32", "shape": [2, 3]}, {"dtype": "f32", "shape": [3, 4]},
               {"dtype": "f32", "shape": [2, 4]}],
   "commands": [{"command": "allocate", "buffer": 0},
                {"command": "bind_input", "input": 0, "buffer": 0},
                {"command": "allocate", "buffer": 1},
                {"command": "bind_input", "input": 1, "buffer": 1},
                {"command": "call", "kernel": 0, "arguments": [0, 1], "results": [2]},
                {"command": "output", "output": 0, "buffer": 2}]}]})";

/// MANIFEST of `mm` and of `serve`, a composition of two models that both run
/// as `mm`, model 0 with weight b0 and model 1 with b1: per request r (of 3),
/// result[r] = requests[r] x b_m, m = argmax selector[r].
inline const char *const kCompositionManifest = R"({"target": "cpu-x86_64", "functions": [
  {"name": "mm", "symbol": "_mlir_ciface_mm",
   "inputs": [{"name": "a", "dtype": "f32", "shape": [2, 3]},
              {"name": "b", "dtype": "f32", "shape": [3, 4]}],
   "outputs": [{"name": "result0", "dtype": "f32", "shape": [2, 4]}]},
  {"name": "serve",
   "inputs": [{"name": "selector", "dtype": "f32", "shape": [3, 2]},
              {"name": "requests", "dtype": "f32", "shape": [3, 2, 3]},
              {"name": "b0", "dtype": "f32", "shape": [3, 4]},
              {"name": "b1", "dtype": "f32", "shape": [3, 4]}],
   "outputs": [{"name": "result0", "dtype": "f32", "shape": [3, 2, 4]}],
   "composition": {"selector": 0, "requests": 1,
                   "models": [{"function": "mm", "inputs": [1, 2]},
                              {"function": "mm", "inputs": [1, 3]}]}}]})";

/// SCHEDULE of kCompositionManifest: mm's program, and serve's empty one.
inline const std::string kCompositionSchedule = [] {
  std::string schedule = kMatmulSchedule;
  // Before the closing "]}" of the programs list.
  schedule.insert(schedule.size() - 2,
                  R"(,
  {"function": "serve", "buffers": [], "commands": []})");
  return schedule;
}();

/// The bytes of a file (a test kernel shared object).
inline std::string readFile(const char *path) {
  std::ifstream file(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(file), {});
}

} // namespace moert::testing

#endif // MOERT_SRC_CORE_TESTBUNDLES_H
