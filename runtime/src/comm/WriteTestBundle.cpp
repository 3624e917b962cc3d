//===- WriteTestBundle.cpp - a sharded bundle for moe-run tests -----------===//
//
// moert-write-test-bundle KERNEL_SO OUT RANKS: writes a cpu bundle on the grid
// [1, RANKS, 1] whose function `add` is the per-rank program of
// out = x + y over [2 * RANKS, 3] tensors split along dimension 0 over axis 1
// (with the same expert permutation on x, y and the output), with the
// reference program (arith.addf on the full tensors) that `moe-run --check`
// compares with. The kernel is _mlir_ciface_add of TestCommKernel.c.
//
//===----------------------------------------------------------------------===//

#include "TestBundles.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

int main(int argc, char **argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: moert-write-test-bundle KERNEL_SO OUT RANKS\n");
    return 1;
  }
  int ranks = std::atoi(argv[3]);
  if (ranks < 1 || ranks > 64) {
    std::fprintf(stderr, "RANKS must be 1 to 64\n");
    return 1;
  }
  std::string full = "[" + std::to_string(2 * ranks) + ", 3]";
  // Reverse the rows: every rank's block holds rows of other ranks.
  std::string permutation = "[";
  for (int i = 2 * ranks - 1; i >= 0; --i)
    permutation += std::to_string(i) + (i ? ", " : "]");
  std::string sharded = R"("dtype": "f32", "shape": [2, 3], "split_axes": [[1], []], "full_shape": )" +
                        full + R"(, "expert_permutation": )" + permutation;
  std::string manifest =
      R"({"target": "cpu-x86_64", "grid": [1, )" + std::to_string(ranks) +
      R"(, 1], "functions": [{"name": "add", "symbol": "_mlir_ciface_add",
        "inputs": [{"name": "x", )" + sharded + R"(}, {"name": "y", )" +
      sharded + R"(}], "outputs": [{"name": "result0", )" + sharded + "}]}]}";
  std::string type = R"({"dtype": "f32", "shape": [2, 3]})";
  std::string schedule =
      R"({"kernels": [{"symbol": "_mlir_ciface_add", "arguments": [)" + type +
      ", " + type + R"(], "results": [)" + type +
      R"(]}], "programs": [{"function": "add", "buffers": [)" + type + ", " +
      type + ", " + type + R"(], "commands": [
        {"command": "allocate", "buffer": 0}, {"command": "bind_input", "input": 0, "buffer": 0},
        {"command": "allocate", "buffer": 1}, {"command": "bind_input", "input": 1, "buffer": 1},
        {"command": "call", "kernel": 0, "arguments": [0, 1], "results": [2]},
        {"command": "output", "output": 0, "buffer": 2}]}]})";
  std::string value = R"({"dtype": "f32", "shape": )" + full + "}";
  std::string reference =
      R"({"programs": [{"function": "add", "values": [)" + value + ", " +
      value + ", " + value +
      R"(], "ops": [{"op": "arith.addf", "operands": {"lhs": 0, "rhs": 1}, "results": [2]}], "returns": [2]}]})";
  std::vector<uint8_t> bytes = moert::testing::layOutBundle(
      {{MOERT_BUNDLE_SECTION_MANIFEST, manifest},
       {MOERT_BUNDLE_SECTION_KERNELS, moert::testing::readFile(argv[1])},
       {MOERT_BUNDLE_SECTION_SCHEDULE, schedule},
       {MOERT_BUNDLE_SECTION_REFERENCE, reference}});
  std::ofstream out(argv[2], std::ios::binary);
  out.write(reinterpret_cast<const char *>(bytes.data()),
            std::streamsize(bytes.size()));
  return out ? 0 : 1;
}
