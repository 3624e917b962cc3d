//===- SafetensorsTest.cpp - Safetensors reader and writer ---------------===//

#include "Safetensors.h"
#include "WeightsTestUtil.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace moert;
using namespace moert::testing;

namespace {

class WeightsSafetensors : public ::testing::Test {
protected:
  void SetUp() override { ASSERT_TRUE(dir.ok()); }

  /// Writes `bytes` to a file and expects open() to fail with a message that
  /// names the file and contains `needle`.
  void expectOpenError(const std::string &bytes, const std::string &needle) {
    std::string path = dir.file("bad.safetensors");
    writeBytes(path, bytes);
    std::string error;
    auto file = SafetensorsFile::open(path, error);
    EXPECT_EQ(file, nullptr) << "opened although: " << needle;
    EXPECT_NE(error.find(path), std::string::npos) << error;
    EXPECT_NE(error.find(needle), std::string::npos)
        << "expected '" << needle << "' in: " << error;
  }

  /// A header entry.
  static std::string entry(const std::string &name, const std::string &dtype,
                           const std::string &shape, const std::string &offsets) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
           ",\"data_offsets\":" + offsets + "}";
  }

  TempDir dir;
};

} // namespace

// Tests writing tensors of every dtype with metadata and reading them back.
TEST_F(WeightsSafetensors, RoundTrip) {
  std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f, 1e-30f, 7.0f};
  std::vector<uint16_t> b = {0x3f80, 0xc000};
  std::vector<int64_t> c = {-1, int64_t(1) << 40, 3};
  std::vector<uint8_t> d = {1, 0, 1};
  double e = 2.5;
  std::vector<SafetensorsTensorRef> tensors = {
      {"layer.a", DType::F32, {2, 3}, a.data()},
      {"b", DType::BF16, {2}, b.data()},
      {"c", DType::I64, {3, 1}, c.data()},
      {"d", DType::Bool, {3}, d.data()},
      {"scalar", DType::F64, {}, &e},
      {"empty", DType::F16, {0, 4}, nullptr},
  };
  std::string path = dir.file("rt.safetensors"), error;
  ASSERT_TRUE(writeSafetensors(path, tensors, {{"format", "pt"}, {"k", "v"}}, error))
      << error;

  auto file = SafetensorsFile::open(path, error);
  ASSERT_NE(file, nullptr) << error;
  EXPECT_EQ(file->path(), path);
  ASSERT_EQ(file->tensors().size(), tensors.size());
  EXPECT_EQ(file->metadata().at("format"), "pt");
  EXPECT_EQ(file->metadata().at("k"), "v");
  for (size_t i = 1; i < file->tensors().size(); ++i) // sorted by name
    EXPECT_LT(file->tensors()[i - 1].name, file->tensors()[i].name);
  for (const auto &ref : tensors) {
    const SafetensorsTensor *t = file->find(ref.name);
    ASSERT_NE(t, nullptr) << ref.name;
    EXPECT_EQ(t->dtype, ref.dtype);
    EXPECT_EQ(t->shape, ref.shape);
    uint64_t n = 1;
    for (int64_t dim : ref.shape)
      n *= uint64_t(dim);
    EXPECT_EQ(t->numElements, n);
    EXPECT_EQ(t->byteSize, n * dtypeSize(ref.dtype));
    if (t->byteSize)
      EXPECT_EQ(std::memcmp(file->data(*t), ref.data, t->byteSize), 0) << ref.name;
  }
  EXPECT_EQ(file->find("nope"), nullptr);
  EXPECT_EQ(file->find("__metadata__"), nullptr);
}

// Tests the exact bytes written: little-endian length, compact JSON padded
// with spaces to 8 bytes, contiguous offsets, the data.
TEST_F(WeightsSafetensors, WriterLayout) {
  std::vector<float> x = {1.0f, 2.0f};
  std::vector<uint8_t> y = {5};
  std::string path = dir.file("layout.safetensors"), error;
  ASSERT_TRUE(writeSafetensors(path,
                               {{"x", DType::F32, {2}, x.data()},
                                {"y", DType::U8, {1}, y.data()}},
                               {}, error))
      << error;
  std::string header =
      "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"y\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[8,9]}}";
  header.append((8 - header.size() % 8) % 8, ' ');
  EXPECT_EQ(readBytes(path), safetensorsBytes(header, rawBytes(x) + rawBytes(y)));
}

// Tests reading bytes as the reference Python implementation writes them
// (metadata first, tensors sorted, header padded with spaces).
TEST_F(WeightsSafetensors, ReadsReferenceLayout) {
  std::string header =
      "{\"__metadata__\":{\"format\":\"pt\"},"
      "\"w\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,8]}}";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::vector<uint16_t> w = {0x3f80, 0x4000, 0x4040, 0x4080};
  std::string path = dir.file("ref.safetensors"), error;
  writeBytes(path, safetensorsBytes(header, rawBytes(w)));
  auto file = SafetensorsFile::open(path, error);
  ASSERT_NE(file, nullptr) << error;
  const SafetensorsTensor *t = file->find("w");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dtype, DType::BF16);
  EXPECT_EQ(t->shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(std::memcmp(file->data(*t), w.data(), 8), 0);
}

// Tests that tensors need not start at offset 0 nor be packed (gaps are
// allowed; only overlap is an error), and that empty tensors may share
// offsets.
TEST_F(WeightsSafetensors, GapsAndEmptyTensors) {
  std::string header = "{" + entry("a", "U8", "[2]", "[4,6]") + "," +
                       entry("e1", "F32", "[0]", "[4,4]") + "," +
                       entry("e2", "F32", "[3,0]", "[5,5]") + "}";
  std::string path = dir.file("gaps.safetensors"), error;
  writeBytes(path, safetensorsBytes(header, "\x01\x02\x03\x04\x05\x06\x07\x08"));
  auto file = SafetensorsFile::open(path, error);
  ASSERT_NE(file, nullptr) << error;
  EXPECT_EQ(static_cast<const char *>(file->data(*file->find("a")))[0], '\x05');
}

// Tests the file-level errors: missing, too short, header length, start.
TEST_F(WeightsSafetensors, FileErrors) {
  std::string error;
  std::string missing = dir.file("missing.safetensors");
  EXPECT_EQ(SafetensorsFile::open(missing, error), nullptr);
  EXPECT_NE(error.find(missing + ": cannot open"), std::string::npos) << error;

  std::string directory = dir.file("");
  EXPECT_EQ(SafetensorsFile::open(directory, error), nullptr);
  EXPECT_NE(error.find("not a regular file"), std::string::npos) << error;

  expectOpenError("", "file is 0 bytes, too short");
  expectOpenError(std::string("\x10\0\0\0\0\0\0", 7), "file is 7 bytes, too short");
  // A huge N (2^63) and one just past the 100 MB cap.
  expectOpenError(lengthPrefix(uint64_t(1) << 63) + "{}", "exceeds the limit");
  expectOpenError(lengthPrefix(100000001) + "{}", "exceeds the limit");
  // N larger than the file: a truncated header.
  std::string header = "{" + entry("a", "F32", "[1]", "[0,4]") + "}";
  expectOpenError(lengthPrefix(header.size()) + header.substr(0, 20),
                  "runs past the end of the file");
  expectOpenError(lengthPrefix(0), "does not start with '{'");
  expectOpenError(safetensorsBytes("[1, 2]", ""), "does not start with '{'");
  expectOpenError(safetensorsBytes(" {}", ""), "does not start with '{'");
}

// Tests JSON-level errors.
TEST_F(WeightsSafetensors, JsonErrors) {
  expectOpenError(safetensorsBytes("{\"a\":", ""), "not valid JSON");
  expectOpenError(safetensorsBytes("{\"a\":{}} x", ""), "not valid JSON");
  expectOpenError(safetensorsBytes("{\"a\xff\":1}", ""), "not valid JSON");
  expectOpenError(
      safetensorsBytes("{" + entry("a", "U8", "[1]", "[0,1]") + "," +
                           entry("a", "U8", "[1]", "[1,2]") + "}",
                       "xy"),
      "duplicate tensor name 'a'");
  expectOpenError(
      safetensorsBytes("{\"a\":{\"dtype\":\"U8\",\"dtype\":\"F32\",\"shape\":[1],"
                       "\"data_offsets\":[0,1]}}",
                       "x"),
      "duplicate key 'dtype'");
  std::string deep = "{\"__metadata__\":" + std::string(20, '[') +
                     std::string(20, ']') + "}";
  expectOpenError(safetensorsBytes(deep, ""), "nested deeper");
  expectOpenError(safetensorsBytes("{\"__metadata__\":[]}", ""),
                  "\"__metadata__\" is a JSON array");
  expectOpenError(safetensorsBytes("{\"__metadata__\":{\"k\":1}}", ""),
                  "entry 'k' is a JSON number, expected a string");
}

// Tests errors in tensor entries, each naming the tensor.
TEST_F(WeightsSafetensors, EntryErrors) {
  auto bad = [&](const std::string &oneEntry, const std::string &data,
                 const std::string &needle) {
    SCOPED_TRACE(oneEntry);
    expectOpenError(safetensorsBytes("{" + oneEntry + "}", data), needle);
    std::string error;
    SafetensorsFile::open(dir.file("bad.safetensors"), error);
    EXPECT_NE(error.find(": tensor 't': "), std::string::npos) << error;
  };
  bad("\"t\":5", "", "entry is a JSON number, expected an object");
  bad("\"t\":{\"shape\":[1],\"data_offsets\":[0,1]}", "x", "no \"dtype\"");
  bad("\"t\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}", "x", "no \"shape\"");
  bad("\"t\":{\"dtype\":\"U8\",\"shape\":[1]}", "x", "no \"data_offsets\"");
  bad(entry("t", "F8_E4M3", "[1]", "[0,1]"), "x", "unsupported dtype 'F8_E4M3'");
  bad(entry("t", "f32", "[1]", "[0,4]"), "xxxx", "unsupported dtype 'f32'");
  bad("\"t\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,1]}", "x",
      "\"dtype\" is a JSON number");
  bad(entry("t", "U8", "3", "[0,3]"), "xxx", "\"shape\" is a JSON number");
  bad(entry("t", "U8", "[-1]", "[0,0]"), "", "shape[0] = -1 is not a non-negative");
  bad(entry("t", "U8", "[2,1.5]", "[0,3]"), "xxx", "shape[1] = 1.5");
  bad(entry("t", "U8", "[\"2\"]", "[0,2]"), "xx", "shape[0] = \"2\"");
  bad(entry("t", "U8", "[18446744073709551615]", "[0,0]"), "", "shape[0]");
  bad(entry("t", "F32", "[4294967296,4294967296,2]", "[0,0]"), "",
      "more bytes than fit 64 bits");
  // Overflow hidden behind a later zero dimension is still an error.
  bad(entry("t", "F32", "[4294967296,4294967296,4294967296,0]", "[0,0]"), "",
      "more bytes than fit 64 bits");
  bad(entry("t", "U8", "[1]", "[0]"), "x", "expected [begin, end]");
  bad(entry("t", "U8", "[1]", "[0,1,2]"), "x", "expected [begin, end]");
  bad(entry("t", "U8", "[1]", "[0,\"1\"]"), "x", "expected [begin, end]");
  bad(entry("t", "U8", "[1]", "[-1,0]"), "x", "expected [begin, end]");
  bad(entry("t", "U8", "[1]", "[0,1e0]"), "x", "expected [begin, end]");
  bad(entry("t", "U8", "[1]", "{}"), "x", "expected [begin, end]");
  bad(entry("t", "U8", "[0]", "[1,0]"), "x", "begin after end");
  // Offsets out of range: past the data, and a truncated data section.
  bad(entry("t", "U8", "[4]", "[4,8]"), "xxxx", "run past the data section (4 bytes");
  bad(entry("t", "F32", "[4]", "[0,16]"), std::string(12, 'x'),
      "run past the data section (12 bytes");
  bad(entry("t", "U8", "[1]", "[18446744073709551615,18446744073709551615]"), "x",
      "expected [begin, end]");
  // Wrong byte count.
  bad(entry("t", "F32", "[3]", "[0,8]"), "xxxxxxxx",
      "span 8 bytes, but shape [3] of F32 needs 12");
  bad(entry("t", "BF16", "[2,2]", "[0,4]"), "xxxx", "needs 8");
}

// Tests overlap detection between tensors.
TEST_F(WeightsSafetensors, Overlap) {
  expectOpenError(
      safetensorsBytes("{" + entry("a", "F32", "[2]", "[0,8]") + "," +
                           entry("b", "F32", "[2]", "[4,12]") + "}",
                       std::string(12, 'x')),
      "tensor 'b' (bytes 4..12) overlaps tensor 'a' (bytes 0..8)");
  expectOpenError(
      safetensorsBytes("{" + entry("a", "U8", "[4]", "[0,4]") + "," +
                           entry("b", "U8", "[4]", "[0,4]") + "}",
                       "xxxx"),
      "overlaps");
  // A tensor inside another.
  expectOpenError(
      safetensorsBytes("{" + entry("a", "U8", "[8]", "[0,8]") + "," +
                           entry("b", "U8", "[2]", "[3,5]") + "}",
                       std::string(8, 'x')),
      "overlaps");
}

// Tests that hostile names are quoted harmlessly in messages.
TEST_F(WeightsSafetensors, HostileNameQuoted) {
  expectOpenError(safetensorsBytes("{" + entry("a\\nb'", "X", "[1]", "[0,1]") + "}", "x"),
                  "tensor 'a\\x0ab\\x27': unsupported dtype 'X'");
}

// Tests that every truncation of a valid file is rejected and that random
// byte corruption never crashes the reader.
TEST_F(WeightsSafetensors, TruncationsAndCorruption) {
  std::vector<float> a = {1, 2, 3, 4};
  std::vector<int32_t> b = {5, 6};
  std::string path = dir.file("ok.safetensors"), error;
  ASSERT_TRUE(writeSafetensors(path,
                               {{"a", DType::F32, {2, 2}, a.data()},
                                {"b", DType::I32, {2}, b.data()}},
                               {{"m", "n"}}, error));
  const std::string good = readBytes(path);
  std::string bad = dir.file("cut.safetensors");
  for (size_t len = 0; len < good.size(); ++len) {
    writeBytes(bad, good.substr(0, len));
    EXPECT_EQ(SafetensorsFile::open(bad, error), nullptr) << len;
    EXPECT_FALSE(error.empty());
  }
  const char replacements[] = {'\0', '\xff', '"', '{', '}', '[', ']', '9', '-', ',', ':', ' '};
  size_t opened = 0;
  for (size_t pos = 0; pos < good.size() - 24; ++pos) {
    for (char r : replacements) {
      std::string corrupt = good;
      corrupt[pos] = r;
      writeBytes(bad, corrupt);
      auto file = SafetensorsFile::open(bad, error);
      if (!file)
        continue;
      ++opened;
      // Whatever opened must be readable within the file.
      for (const auto &t : file->tensors()) {
        const auto *p = static_cast<const unsigned char *>(file->data(t));
        volatile unsigned sum = 0;
        for (uint64_t i = 0; i < t.byteSize; ++i)
          sum += p[i];
        EXPECT_LE(t.dataBegin + t.byteSize + 8, file->fileSize());
      }
    }
  }
  EXPECT_GT(opened, 0u); // e.g. changes inside the data or padding
}

// Tests the writer's validation.
TEST_F(WeightsSafetensors, WriterErrors) {
  float x = 1;
  std::string path = dir.file("w.safetensors"), error;
  EXPECT_FALSE(writeSafetensors(
      path, {{"a", DType::F32, {1}, &x}, {"a", DType::F32, {1}, &x}}, {}, error));
  EXPECT_NE(error.find("tensor 'a': duplicate tensor name"), std::string::npos) << error;
  EXPECT_FALSE(writeSafetensors(path, {{"__metadata__", DType::F32, {1}, &x}}, {}, error));
  EXPECT_NE(error.find("reserved"), std::string::npos) << error;
  EXPECT_FALSE(writeSafetensors(path, {{"a", DType::F32, {-1}, &x}}, {}, error));
  EXPECT_NE(error.find("negative dimension -1"), std::string::npos) << error;
  EXPECT_FALSE(writeSafetensors(path, {{"a", DType::F32, {2}, nullptr}}, {}, error));
  EXPECT_NE(error.find("no data"), std::string::npos) << error;
  EXPECT_FALSE(writeSafetensors(path, {{"a\xff", DType::F32, {1}, &x}}, {}, error));
  EXPECT_NE(error.find("not valid UTF-8"), std::string::npos) << error;
  EXPECT_FALSE(writeSafetensors(path, {}, {{"k", "\xc3"}}, error));
  EXPECT_NE(error.find("not valid UTF-8"), std::string::npos) << error;
  EXPECT_FALSE(writeSafetensors(
      path, {{"a", DType::F32, {int64_t(1) << 62, int64_t(1) << 62}, &x}}, {}, error));
  EXPECT_NE(error.find("overflows"), std::string::npos) << error;
  std::string nowhere = dir.file("no/such/dir.safetensors");
  EXPECT_FALSE(writeSafetensors(nowhere, {{"a", DType::F32, {1}, &x}}, {}, error));
  EXPECT_NE(error.find(nowhere), std::string::npos) << error;
  // Nothing was left behind by the failures.
  EXPECT_EQ(readBytes(path), "");
  // An empty file set is valid.
  ASSERT_TRUE(writeSafetensors(path, {}, {}, error)) << error;
  auto file = SafetensorsFile::open(path, error);
  ASSERT_NE(file, nullptr) << error;
  EXPECT_TRUE(file->tensors().empty());
}

// Tests that openFromMemory reads what open reads, from a copy of the bytes,
// and rejects what open rejects, naming the buffer.
TEST_F(WeightsSafetensors, OpenFromMemory) {
  std::string header = "{" + entry("a", "U8", "[2]", "[4,6]") + "," +
                       entry("e", "F32", "[0]", "[4,4]") + "}";
  std::string bytes = safetensorsBytes(header, "\x01\x02\x03\x04\x05\x06");
  std::string error;
  auto file = SafetensorsFile::openFromMemory(bytes.data(), bytes.size(),
                                              "<memory>", error);
  ASSERT_NE(file, nullptr) << error;
  EXPECT_EQ(file->path(), "<memory>");
  EXPECT_EQ(file->fileSize(), bytes.size());
  ASSERT_EQ(file->tensors().size(), 2u);
  bytes.assign(bytes.size(), '\0'); // the file holds its own copy
  EXPECT_EQ(static_cast<const char *>(file->data(*file->find("a")))[1], '\x06');

  for (const auto &[bad, needle] : std::vector<std::pair<std::string, std::string>>{
           {"", "too short"},
           {"1234567", "too short"},
           {safetensorsBytes(header, "\x01"), "run past the data section"},
           {safetensorsBytes("[]", ""), "does not start with '{'"},
           {safetensorsBytes("{\"a\":1,\"a\":2}", ""), "duplicate tensor name"}}) {
    EXPECT_EQ(SafetensorsFile::openFromMemory(bad.data(), bad.size(), "<memory>",
                                              error),
              nullptr)
        << needle;
    EXPECT_EQ(error.rfind("<memory>: ", 0), 0u) << error;
    EXPECT_NE(error.find(needle), std::string::npos)
        << "expected '" << needle << "' in: " << error;
  }
  EXPECT_EQ(SafetensorsFile::openFromMemory(nullptr, 8, "<memory>", error), nullptr);
  EXPECT_NE(error.find("no data"), std::string::npos) << error;
}
