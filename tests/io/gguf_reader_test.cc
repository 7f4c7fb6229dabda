// GgufFile on malformed input: every check of gguf_init_from_file_impl (ggml src/gguf.cpp) that applies, plus
// octet's own (overlaps, bounds), each one clear line naming the file, never a crash or a huge allocation.
#include "io/gguf_reader.h"

#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "io/gguf_test_util.h"
#include "io/gguf_writer.h"
#include "io/io_test_util.h"
#include "test_util.h"

namespace octet {
namespace {

using testing::ExpectError;
using testing::RawGguf;
using testing::ScratchDir;
using testing::WriteFileBytes;

class GgufReaderTest : public ::testing::Test {
 protected:
  // Writes `bytes` to bad.gguf and expects Open to fail with a message holding the file name and `parts`.
  void ExpectOpenFails(const std::string& bytes, std::vector<std::string> parts) {
    WriteFileBytes(path(), bytes);
    parts.insert(parts.begin(), "bad.gguf: ");
    ExpectError([&] { GgufFile::Open(path()); }, parts);
  }
  std::filesystem::path path() const { return dir_ / "bad.gguf"; }

  ScratchDir dir_;
};

TEST_F(GgufReaderTest, AcceptsAHandWrittenVersion2File) {
  // v2 has the v3 layout (v3 only added big-endian files); an F32 {2} tensor at offset 0.
  const std::string bytes = RawGguf()
                                .Header(1, 1, /*version=*/2)
                                .Str("general.name").U32(8).Str("tiny")
                                .Tensor("w", {2}, 0, 0)
                                .PadTo(32)
                                .F32(1.5f).F32(-2.0f)
                                .bytes();
  WriteFileBytes(path(), bytes);
  const GgufFile file = GgufFile::Open(path());
  EXPECT_EQ(file.version(), 2u);
  EXPECT_EQ(file.GetString("general.name"), "tiny");
  ASSERT_EQ(file.tensors().size(), 1u);
  float values[2];
  std::memcpy(values, file.tensors()[0].bytes.data(), 8);
  EXPECT_EQ(values[0], 1.5f);
  EXPECT_EQ(values[1], -2.0f);
}

TEST_F(GgufReaderTest, AcceptsGapsAndAnyOrderButNotOverlaps) {
  // ggml's own loader wants tensors packed in info order; octet only needs them aligned, inside, disjoint.
  const std::string ok = RawGguf()
                             .Header(2, 0)
                             .Tensor("a", {8}, 0, 64)
                             .Tensor("b", {8}, 0, 0)
                             .PadTo(32)
                             .Zeros(96)
                             .bytes();
  WriteFileBytes(path(), ok);
  EXPECT_EQ(GgufFile::Open(path()).tensors()[0].offset, 64u);

  const std::string overlap = RawGguf()
                                  .Header(2, 0)
                                  .Tensor("a", {16}, 0, 0)
                                  .Tensor("b", {8}, 0, 32)
                                  .PadTo(32)
                                  .Zeros(96)
                                  .bytes();
  ExpectOpenFails(overlap, {"tensor 'b'", "overlaps tensor 'a'"});
}

TEST_F(GgufReaderTest, RejectsBadMagicAndVersion) {
  ExpectOpenFails("", {"too short"});
  ExpectOpenFails("GGU", {"too short"});
  ExpectOpenFails(std::string("\x89PNG\r\n\x1a\n", 8) + std::string(32, '\0'), {"not a GGUF file", "'?PNG'"});
  ExpectOpenFails(RawGguf().Header(0, 0, 1).bytes(), {"version 1", "obsolete"});
  ExpectOpenFails(RawGguf().Header(0, 0, 4).bytes(), {"unsupported GGUF version 4"});
  ExpectOpenFails(RawGguf().Header(0, 0, 0).bytes(), {"unsupported GGUF version 0"});
  ExpectOpenFails(RawGguf().Header(0, 0, 0x03000000).bytes(), {"big-endian"});
  ExpectOpenFails("GGUF\x03", {"while reading the version", "truncated"});
}

TEST_F(GgufReaderTest, RejectsCountsTheFileCannotHold) {
  ExpectOpenFails(RawGguf().Header(std::numeric_limits<uint64_t>::max(), 0).bytes(), {"tensor count"});
  ExpectOpenFails(RawGguf().Header(0, uint64_t{1} << 62).bytes(), {"metadata count"});
  ExpectOpenFails(RawGguf().Header(0, 1).Str("k").U32(9).U32(0).U64(uint64_t{1} << 60).bytes(),
                  {"metadata key 'k'", "array of", "remaining bytes"});
  ExpectOpenFails(RawGguf().Header(0, 1).Str("k").U32(9).U32(8).U64(1000).Zeros(100).bytes(),
                  {"metadata key 'k'", "1000 str elements"});
  // String lengths: past the end, and above GGUF_MAX_STRING_LENGTH.
  ExpectOpenFails(RawGguf().Header(0, 1).U64(uint64_t{1} << 40).Zeros(16).bytes(), {"metadata key #0", "limit"});
  ExpectOpenFails(RawGguf().Header(0, 1).U64(1000).Zeros(16).bytes(), {"metadata key #0", "length 1000",
                                                                         "truncated"});
  ExpectOpenFails(RawGguf().Header(0, 1).Str("k").U32(8).U64(std::numeric_limits<uint64_t>::max()).bytes(),
                  {"metadata key 'k'", "limit"});
}

TEST_F(GgufReaderTest, RejectsBadMetadata) {
  ExpectOpenFails(RawGguf().Header(0, 1).Str("k").U32(13).U32(0).bytes(), {"'k'", "unknown GGUF value type 13"});
  ExpectOpenFails(RawGguf().Header(0, 1).Str("k").U32(9).U32(77).U64(0).bytes(),
                  {"'k'", "unknown GGUF value type 77"});
  ExpectOpenFails(RawGguf().Header(0, 1).Str("k").U32(7).U8(2).bytes(), {"'k'", "bool stored as 2"});
  ExpectOpenFails(RawGguf().Header(0, 1).Str("").U32(0).U8(0).Zeros(8).bytes(), {"metadata key #0 is empty"});
  ExpectOpenFails(RawGguf().Header(0, 2).Str("k").U32(0).U8(0).Str("k").U32(0).U8(1).bytes(),
                  {"duplicate metadata key 'k'"});
  // Arrays nested past the limit.
  RawGguf deep;
  deep.Header(0, 1).Str("k").U32(9);
  for (int i = 0; i < 20; ++i) deep.U32(9).U64(1);
  ExpectOpenFails(deep.U32(0).U64(0).bytes(), {"'k'", "nests arrays"});
  // general.alignment: must be u32, a power of two, at most 1 MiB.
  ExpectOpenFails(RawGguf().Header(0, 1).Str("general.alignment").U32(10).U64(32).bytes(),
                  {"'general.alignment'", "expected u32"});
  ExpectOpenFails(RawGguf().Header(0, 1).Str("general.alignment").U32(4).U32(0).bytes(), {"not a power of two"});
  ExpectOpenFails(RawGguf().Header(0, 1).Str("general.alignment").U32(4).U32(96).bytes(), {"not a power of two"});
  ExpectOpenFails(RawGguf().Header(0, 1).Str("general.alignment").U32(4).U32(1u << 30).bytes(), {"maximum"});
}

TEST_F(GgufReaderTest, RejectsBadTensorInfos) {
  auto one = [](const std::string& name, std::initializer_list<int64_t> ne, uint32_t type, uint64_t offset) {
    return RawGguf().Header(1, 0).Tensor(name, ne, type, offset).PadTo(32).Zeros(256).bytes();
  };
  ExpectOpenFails(one(std::string(64, 'x'), {1}, 0, 0), {"tensor #0 name", "limit of 63"});
  ExpectOpenFails(one("t", {}, 0, 0), {"tensor 't'", "0 dimensions"});
  ExpectOpenFails(one("t", {1, 1, 1, 1, 1}, 0, 0), {"tensor 't'", "5 dimensions"});
  ExpectOpenFails(one("t", {4, 0}, 0, 0), {"tensor 't'", "ne[1] is 0"});
  ExpectOpenFails(one("t", {-4}, 0, 0), {"tensor 't'", "ne[0] is -4"});
  ExpectOpenFails(one("t", {1ll << 32, 1ll << 32}, 0, 0), {"tensor 't'", "too many elements"});
  ExpectOpenFails(one("t", {1}, 4, 0), {"tensor 't'", "unknown ggml type 4"});
  ExpectOpenFails(one("t", {1}, 1000, 0), {"tensor 't'", "unknown ggml type 1000"});
  ExpectOpenFails(one("t", {33}, 8, 0), {"tensor 't'", "Q8_0", "ne[0] = 33", "block size 32"});
  ExpectOpenFails(one("t", {8}, 0, 16), {"tensor 't'", "offset 16", "alignment 32"});
  ExpectOpenFails(one("t", {8}, 0, 256), {"tensor 't'", "runs past the end"});
  ExpectOpenFails(one("t", {1024}, 0, 0), {"tensor 't'", "F32 {1024}", "4096 bytes", "runs past the end"});
  ExpectOpenFails(one("t", {8}, 0, std::numeric_limits<uint64_t>::max() - 31), {"tensor 't'"});
  ExpectOpenFails(RawGguf().Header(2, 0).Tensor("t", {8}, 0, 0).Tensor("t", {8}, 0, 32).PadTo(32).Zeros(64).bytes(),
                  {"duplicate tensor 't'"});
  // Data section start past the end of the file.
  ExpectOpenFails(RawGguf().Header(1, 0).Tensor("t", {8}, 0, 0).bytes(), {"data section", "past the end"});
}

TEST_F(GgufReaderTest, UnsupportedButKnownTypesOpen) {
  // A Q4_K tensor: the file opens (its metadata is usable), decoding says what is missing.
  WriteFileBytes(path(), RawGguf().Header(1, 0).Tensor("k", {256, 2}, 12, 0).PadTo(32).Zeros(288).bytes());
  const GgufFile file = GgufFile::Open(path());
  EXPECT_EQ(file.tensors()[0].type, GgmlType::kQ4_K);
  EXPECT_EQ(file.tensors()[0].bytes.size(), 288u);
}

// Every truncation of a valid file that cuts into its header or tensor bytes is a clean error.
TEST_F(GgufReaderTest, EveryTruncationFailsCleanly) {
  const std::vector<GgufTensorSpec> specs = {{"a", GgmlType::kQ8_0, {64, 2}}, {"b", GgmlType::kF32, {3}}};
  std::vector<std::byte> a(136), b(12);
  WriteGguf(dir_ / "good.gguf",
            {{"general.architecture", GgufValue::String("llama")},
             {"tokens", GgufValue::StringArray({"<s>", "a", "bc"})},
             {"scores", GgufValue::Float32Array({0, -1, -2})},
             {"nested", GgufValue::Array(GgufValueType::kArray, {GgufValue::Int32Array({1})})},
             {"flag", GgufValue::Bool(true)}},
            specs, {std::span<const std::byte>(a), std::span<const std::byte>(b)});
  const std::string good = testing::ReadFileBytes(dir_ / "good.gguf");
  const GgufFile file = GgufFile::Open(dir_ / "good.gguf");
  const uint64_t needed = file.data_offset() + file.tensors()[1].offset + 12;
  for (size_t length = 0; length < needed; ++length) {
    WriteFileBytes(path(), good.substr(0, length));
    try {
      GgufFile::Open(path());
      ADD_FAILURE() << "truncated to " << length << " bytes opened";
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_EQ(message.rfind(path().string() + ": ", 0), 0u) << message;
      EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    }
  }
  // Cutting only the last tensor's padding leaves a valid file.
  WriteFileBytes(path(), good.substr(0, needed));
  EXPECT_EQ(GgufFile::Open(path()).tensors().size(), 2u);
}

}  // namespace
}  // namespace octet
