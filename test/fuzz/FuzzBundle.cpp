//===- FuzzBundle.cpp - libFuzzer target: bundle loader (C API) -----------===//
//
// Loads the input with moert_bundle_load_memory and, when it loads, queries
// everything the C API exposes about the bundle: target, functions (by index
// and by name), every input and output (dtype, shape, sizes), the reference
// programs, and out-of-range queries. Kernels are never loaded or run.
//
// An input that does not start with the bundle magic is taken as the JSON
// sections "MANIFEST\0SCHEDULE[\0REFERENCE]" and wrapped into a well-formed
// container (with a minimal x86-64 ELF header as KERNELS), so that mutations
// that change a section's length still reach the JSON validation instead of
// stopping at the header's size checks.
//
//===----------------------------------------------------------------------===//

#include "moert/moert.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

static void check(bool ok, const char *what) {
  if (ok)
    return;
  std::fprintf(stderr, "moe-fuzz-bundle: %s\n", what);
  std::abort();
}

/// Reads every field of `info` (ASan checks the pointers).
static void touch(const moert_tensor_info_t &info) {
  check(info.name && std::strlen(info.name) > 0, "a tensor without a name");
  size_t bytes = moert_dtype_size(info.dtype);
  check(bytes != 0, "a tensor with an invalid dtype");
  size_t elements = 1;
  for (size_t d = 0; d < info.rank; ++d) {
    check(info.shape[d] >= 0, "a negative dimension");
    elements *= size_t(info.shape[d]);
  }
  check(elements == info.element_count, "element_count is not the shape's");
  check(elements * bytes == info.byte_size, "byte_size is not the shape's");
}

/// A bundle holding the JSON sections `parts` (manifest, schedule and
/// optionally reference) and a minimal x86-64 ELF header as KERNELS.
static std::vector<uint8_t> wrapSections(const std::vector<std::string> &parts) {
  static const uint32_t kinds[] = {MOERT_BUNDLE_SECTION_MANIFEST,
                                   MOERT_BUNDLE_SECTION_SCHEDULE,
                                   MOERT_BUNDLE_SECTION_REFERENCE};
  std::string elf(64, '\0');
  std::memcpy(&elf[0], "\x7f" "ELF\x02\x01\x01", 7);
  elf[16] = 3;  // ET_DYN
  elf[18] = 62; // EM_X86_64
  std::vector<std::pair<uint32_t, const std::string *>> sections = {
      {MOERT_BUNDLE_SECTION_KERNELS, &elf}};
  for (size_t i = 0; i < parts.size() && i < 3; ++i)
    sections.push_back({kinds[i], &parts[i]});

  auto align = [](uint64_t n) {
    return (n + MOERT_BUNDLE_SECTION_ALIGNMENT - 1) /
           MOERT_BUNDLE_SECTION_ALIGNMENT * MOERT_BUNDLE_SECTION_ALIGNMENT;
  };
  uint64_t offset = align(MOERT_BUNDLE_HEADER_SIZE +
                          sections.size() * MOERT_BUNDLE_SECTION_ENTRY_SIZE);
  std::vector<moert_bundle_section_t> table;
  for (const auto &[kind, bytes] : sections) {
    table.push_back({kind, 0, offset, bytes->size()});
    offset = align(offset + bytes->size());
  }
  std::vector<uint8_t> out(offset, 0);
  moert_bundle_header_t header = {};
  std::memcpy(header.magic, MOERT_BUNDLE_MAGIC, MOERT_BUNDLE_MAGIC_SIZE);
  header.version = MOERT_BUNDLE_FORMAT_VERSION;
  header.section_count = uint32_t(sections.size());
  header.file_size = out.size();
  std::strcpy(header.target, MOERT_BUNDLE_TARGET_CPU_X86_64);
  std::memcpy(out.data(), &header, sizeof(header));
  std::memcpy(out.data() + sizeof(header), table.data(),
              table.size() * sizeof(moert_bundle_section_t));
  for (size_t i = 0; i < sections.size(); ++i)
    std::memcpy(out.data() + table[i].offset, sections[i].second->data(),
                sections[i].second->size());
  return out;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::vector<uint8_t> wrapped;
  if (size < MOERT_BUNDLE_MAGIC_SIZE ||
      std::memcmp(data, MOERT_BUNDLE_MAGIC, MOERT_BUNDLE_MAGIC_SIZE) != 0) {
    std::vector<std::string> parts(1);
    for (size_t i = 0; i < size; ++i) {
      if (data[i] == 0)
        parts.emplace_back();
      else
        parts.back() += char(data[i]);
    }
    wrapped = wrapSections(parts);
    data = wrapped.data();
    size = wrapped.size();
  }

  moert_bundle_t *bundle = nullptr;
  moert_status_t status = moert_bundle_load_memory(data, size, &bundle);
  if (status) {
    check(bundle == nullptr, "a failed load returned a bundle");
    check(moert_status_code(status) != MOERT_OK, "an error status with OK");
    const char *message = moert_status_message(status);
    check(message && *message, "an error status without a message");
    moert_status_free(status);
    return 0;
  }
  check(bundle != nullptr, "a successful load returned no bundle");

  const char *target = moert_bundle_target(bundle);
  check(target && *target, "no target");
  size_t functions = moert_bundle_function_count(bundle);
  for (size_t f = 0; f < functions; ++f) {
    const char *name = moert_bundle_function_name(bundle, f);
    check(name != nullptr, "a function without a name");
    size_t found = ~size_t(0);
    moert_status_t s = moert_bundle_find_function(bundle, name, &found);
    check(s == nullptr, "find_function misses a listed function");
    check(found < functions &&
              std::strcmp(moert_bundle_function_name(bundle, found), name) == 0,
          "find_function returns another function");
    size_t inputs = moert_bundle_input_count(bundle, f);
    size_t outputs = moert_bundle_output_count(bundle, f);
    moert_tensor_info_t info;
    for (size_t i = 0; i < inputs; ++i) {
      check(moert_bundle_input_info(bundle, f, i, &info) == nullptr,
            "input_info fails in range");
      touch(info);
    }
    for (size_t i = 0; i < outputs; ++i) {
      check(moert_bundle_output_info(bundle, f, i, &info) == nullptr,
            "output_info fails in range");
      touch(info);
    }
    // Out of range: an error, not a read past the end.
    if ((s = moert_bundle_input_info(bundle, f, inputs, &info)))
      moert_status_free(s);
    else
      check(false, "input_info succeeds out of range");
    if ((s = moert_bundle_output_info(bundle, f, outputs, &info)))
      moert_status_free(s);
    else
      check(false, "output_info succeeds out of range");
    if (const char *reference = moert_bundle_reference_program(bundle, f))
      (void)std::strlen(reference);
  }
  check(moert_bundle_function_name(bundle, functions) == nullptr,
        "function_name succeeds out of range");
  check(moert_bundle_input_count(bundle, functions) == 0,
        "input_count is not 0 out of range");
  check(moert_bundle_reference_program(bundle, functions) == nullptr,
        "reference_program succeeds out of range");
  size_t found = 0;
  if (moert_status_t s =
          moert_bundle_find_function(bundle, "\x01no such function", &found))
    moert_status_free(s);
  moert_bundle_release(bundle);
  return 0;
}
