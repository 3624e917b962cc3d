//===- FuzzSafetensors.cpp - libFuzzer target: safetensors reader ---------===//
//
// Opens the input with SafetensorsFile::openFromMemory and, when it opens,
// reads every tensor's bytes (ASan checks they lie inside the buffer) and
// looks each one up by name.
//
//===----------------------------------------------------------------------===//

#include "Safetensors.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string error;
  auto file = moert::SafetensorsFile::openFromMemory(data, size, "<fuzz>", error);
  if (!file) {
    if (error.empty()) {
      std::fprintf(stderr, "moe-fuzz-safetensors: failed without a message\n");
      std::abort();
    }
    return 0;
  }
  volatile uint8_t sink = 0;
  for (const moert::SafetensorsTensor &tensor : file->tensors()) {
    if (file->find(tensor.name) != &tensor) {
      std::fprintf(stderr, "moe-fuzz-safetensors: find() misses a tensor\n");
      std::abort();
    }
    const auto *bytes = static_cast<const uint8_t *>(file->data(tensor));
    if (tensor.byteSize) {
      sink ^= bytes[0];
      sink ^= bytes[tensor.byteSize - 1];
    }
  }
  for (const auto &[key, value] : file->metadata())
    sink ^= uint8_t(key.size() + value.size());
  (void)sink;
  return 0;
}
