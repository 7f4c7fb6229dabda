// GgufWriter: byte layout against a hand-written file, round trip through GgufFile with every metadata type,
// streaming writes in pieces from several threads, and crash safety (.partial, rename on Finish).
#include "io/gguf_writer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "io/gguf_reader.h"
#include "io/io_test_util.h"
#include "io/gguf_test_util.h"
#include "test_util.h"

namespace octet {
namespace {

using testing::ExpectError;
using testing::RawGguf;
using testing::ReadFileBytes;
using testing::ScratchDir;

std::span<const std::byte> Bytes(const std::vector<std::byte>& v) { return v; }

TEST(GgufWriter, WritesTheLayoutGgmlSpecifies) {
  // docs/gguf.md: header, kv, tensor infos, zero padding to 32, data; every tensor padded to 32.
  ScratchDir dir;
  const std::vector<std::byte> data = {std::byte{0x00}, std::byte{0x00}, std::byte{0x80}, std::byte{0x3f}};
  WriteGguf(dir / "a.gguf", {{"a", GgufValue::Uint8(7)}}, {{"t", GgmlType::kF32, {1}}}, {Bytes(data)});
  const std::string expected = RawGguf()
                                   .Header(1, 1)
                                   .Str("a").U32(0).U8(7)
                                   .Tensor("t", {1}, 0, 0)
                                   .PadTo(32)
                                   .F32(1.0f)
                                   .PadTo(32)
                                   .bytes();
  EXPECT_EQ(expected.size(), 128u);
  EXPECT_EQ(ReadFileBytes(dir / "a.gguf"), expected);
  EXPECT_FALSE(std::filesystem::exists(dir / "a.gguf.partial"));
}

std::vector<GgufKeyValue> EveryType() {
  return {
      {"general.architecture", GgufValue::String("llama")},
      {"u8", GgufValue::Uint8(255)},
      {"i8", GgufValue::Int8(-128)},
      {"u16", GgufValue::Uint16(65535)},
      {"i16", GgufValue::Int16(-32768)},
      {"u32", GgufValue::Uint32(4000000000u)},
      {"i32", GgufValue::Int32(-2000000000)},
      {"u64", GgufValue::Uint64(std::numeric_limits<uint64_t>::max())},
      {"i64", GgufValue::Int64(std::numeric_limits<int64_t>::min())},
      {"f32", GgufValue::Float32(0.1f)},
      {"f64", GgufValue::Float64(0.1)},
      {"bool.true", GgufValue::Bool(true)},
      {"bool.false", GgufValue::Bool(false)},
      {"empty.string", GgufValue::String("")},
      {"utf8", GgufValue::String("h\xC3\xA9llo \xE2\x96\x81")},
      {"strings", GgufValue::StringArray({"a", "", "\xE2\x96\x81the"})},
      {"floats", GgufValue::Float32Array({1.5f, -0.0f, 1e30f})},
      {"ints", GgufValue::Int32Array({1, -2, 3})},
      {"u64s", GgufValue::Array(GgufValueType::kUint64, {GgufValue::Uint64(1), GgufValue::Uint64(2)})},
      {"bools", GgufValue::Array(GgufValueType::kBool, {GgufValue::Bool(true), GgufValue::Bool(false)})},
      {"empty.array", GgufValue::Array(GgufValueType::kInt8, {})},
      {"nested", GgufValue::Array(GgufValueType::kArray,
                                  {GgufValue::Int32Array({1, 2}), GgufValue::StringArray({"x"}),
                                   GgufValue::Array(GgufValueType::kFloat64, {GgufValue::Float64(2.5)})})},
  };
}

TEST(GgufWriter, RoundTripsEveryMetadataTypeAndTensors) {
  ScratchDir dir;
  std::vector<float> matrix(3 * 64);
  for (size_t i = 0; i < matrix.size(); ++i) matrix[i] = std::sin(static_cast<float>(i));
  std::vector<std::byte> f32(matrix.size() * 4), q8(3 * 2 * 34), q4(3 * 2 * 18), f16(matrix.size() * 2);
  std::memcpy(f32.data(), matrix.data(), f32.size());
  for (int r = 0; r < 3; ++r) {
    std::span<const float> row(matrix.data() + 64 * r, 64);
    QuantizeRowQ8_0(row, std::span(q8).subspan(68 * r, 68));
    QuantizeRowQ4_0(row, std::span(q4).subspan(36 * r, 36));
    QuantizeGgmlRow(GgmlType::kF16, row, std::span(f16).subspan(128 * r, 128));
  }
  const std::vector<GgufTensorSpec> specs = {
      {"blk.0.attn_q.weight", GgmlType::kQ8_0, {64, 3}},
      {"blk.0.attn_k.weight", GgmlType::kQ4_0, {64, 3}},
      {"token_embd.weight", GgmlType::kF32, GgufNeFromShape({3, 64})},
      {"output_norm.weight", GgmlType::kF16, {64, 1, 3}},
  };
  WriteGguf(dir / "m.gguf", EveryType(), specs, {Bytes(q8), Bytes(q4), Bytes(f32), Bytes(f16)});

  const GgufFile file = GgufFile::Open(dir / "m.gguf");
  EXPECT_EQ(file.version(), 3u);
  EXPECT_EQ(file.alignment(), 32u);
  EXPECT_EQ(file.data_offset() % 32, 0u);
  EXPECT_EQ(file.metadata(), EveryType());  // same keys, types, values and order
  EXPECT_EQ(file.GetString("general.architecture"), "llama");
  EXPECT_EQ(file.GetUint("u32"), 4000000000u);
  EXPECT_EQ(file.GetInt("i8"), -128);
  EXPECT_EQ(file.GetUint("u64"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(file.GetFloat("f32"), 0.1f);
  EXPECT_EQ(file.GetFloat("f64"), 0.1);
  EXPECT_TRUE(file.GetBool("bool.true"));
  EXPECT_EQ(file.GetStringArray("strings"), (std::vector<std::string>{"a", "", "\xE2\x96\x81the"}));
  EXPECT_EQ(file.GetIntArray("ints"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(file.GetFloatArray("floats")[2], 1e30f);
  EXPECT_EQ(file.GetArray("nested").elements[2].AsArray().elements[0].AsDouble(), 2.5);
  EXPECT_FALSE(file.FindUint("absent").has_value());

  ASSERT_EQ(file.tensors().size(), 4u);
  uint64_t expected_offset = 0;
  const std::vector<std::vector<std::byte>*> payloads = {&q8, &q4, &f32, &f16};
  for (size_t i = 0; i < 4; ++i) {
    const GgufTensorInfo& t = file.tensors()[i];
    EXPECT_EQ(t.name, specs[i].name);
    EXPECT_EQ(t.type, specs[i].type);
    EXPECT_EQ(t.ne, specs[i].ne);
    EXPECT_EQ(t.offset, expected_offset) << t.name;  // packed in order, as gguf.cpp's loader demands
    expected_offset = (expected_offset + payloads[i]->size() + 31) / 32 * 32;
    ASSERT_EQ(t.bytes.size(), payloads[i]->size());
    EXPECT_EQ(std::memcmp(t.bytes.data(), payloads[i]->data(), t.bytes.size()), 0) << t.name;
  }
  EXPECT_EQ(file.file_size(), file.data_offset() + expected_offset);
  const GgufTensorInfo* embd = file.FindTensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->shape(), (Shape{3, 64}));
  EXPECT_EQ(embd->num_rows(), 3u);
  const TensorView view = file.View(*embd);
  EXPECT_EQ(view.dtype, DType::kF32);
  EXPECT_EQ(view.shape, (Shape{3, 64}));
  EXPECT_EQ(file.FindTensor("output_norm.weight")->shape(), (Shape{3, 1, 64}));
  ExpectError([&] { file.View(file.tensors()[0]); }, {"m.gguf", "blk.0.attn_q.weight", "Q8_0"});
  // Dequantized Q8_0 through the reader equals dequantizing the bytes we wrote.
  std::vector<float> y(64);
  DequantizeGgmlRow(GgmlType::kQ8_0, file.tensors()[0].bytes.subspan(68, 68), y);
  EXPECT_NEAR(y[5], matrix[64 + 5], 0.01f);
}

TEST(GgufWriter, TypedGettersNameTheFileAndKey) {
  ScratchDir dir;
  WriteGguf(dir / "k.gguf", {{"llama.block_count", GgufValue::String("4")}, {"neg", GgufValue::Int32(-1)}}, {},
            {});
  const GgufFile file = GgufFile::Open(dir / "k.gguf");
  ExpectError([&] { file.GetUint("llama.block_count"); },
              {"k.gguf: metadata key 'llama.block_count' is a string, expected an integer"});
  ExpectError([&] { file.GetUint("llama.missing"); }, {"k.gguf: metadata key 'llama.missing' is missing"});
  ExpectError([&] { file.GetUint("neg"); }, {"'neg'", "-1", "non-negative"});
  EXPECT_EQ(file.GetInt("neg"), -1);
  ExpectError([&] { file.GetFloat("neg"); }, {"'neg'", "expected a float"});
  ExpectError([&] { file.GetStringArray("neg"); }, {"'neg'", "expected an array"});
}

TEST(GgufWriter, HonoursGeneralAlignment) {
  ScratchDir dir;
  std::vector<std::byte> a(34), b(34 * 2);
  WriteGguf(dir / "a.gguf", {{"general.alignment", GgufValue::Uint32(64)}},
            {{"a", GgmlType::kQ8_0, {32}}, {"b", GgmlType::kQ8_0, {64}}}, {Bytes(a), Bytes(b)});
  const GgufFile file = GgufFile::Open(dir / "a.gguf");
  EXPECT_EQ(file.alignment(), 64u);
  EXPECT_EQ(file.data_offset() % 64, 0u);
  EXPECT_EQ(file.tensors()[1].offset, 64u);
  ExpectError([&] { WriteGguf(dir / "b.gguf", {{"general.alignment", GgufValue::Uint32(48)}}, {}, {}); },
              {"b.gguf", "general.alignment", "power of two"});
  ExpectError([&] { WriteGguf(dir / "b.gguf", {{"general.alignment", GgufValue::Uint64(64)}}, {}, {}); },
              {"b.gguf", "general.alignment", "u32"});
  EXPECT_FALSE(std::filesystem::exists(dir / "b.gguf"));
  EXPECT_FALSE(std::filesystem::exists(dir / "b.gguf.partial"));
}

TEST(GgufWriter, StreamsPiecesFromThreadsToIdenticalBytes) {
  ScratchDir dir;
  const std::vector<GgufTensorSpec> specs = {
      {"a", GgmlType::kQ4_0, {256, 5}}, {"b", GgmlType::kF32, {7}}, {"c", GgmlType::kQ8_0, {32, 3, 2}}};
  std::vector<std::vector<std::byte>> payloads;
  for (size_t i = 0; i < specs.size(); ++i) payloads.push_back(testing::RandomBytes(specs[i].byte_size(), i + 1));
  WriteGguf(dir / "one.gguf", {{"k", GgufValue::String("v")}}, specs,
            {Bytes(payloads[0]), Bytes(payloads[1]), Bytes(payloads[2])});

  {
    GgufWriter writer(dir / "many.gguf", {{"k", GgufValue::String("v")}}, specs);
    EXPECT_TRUE(std::filesystem::exists(dir / "many.gguf.partial"));
    EXPECT_FALSE(std::filesystem::exists(dir / "many.gguf"));
    std::vector<std::thread> threads;
    for (size_t t = 0; t < specs.size(); ++t) {
      threads.emplace_back([&, t] {
        // Pieces of 5 bytes, written back to front.
        const std::vector<std::byte>& p = payloads[t];
        for (size_t end = p.size(); end > 0;) {
          const size_t begin = end >= 5 ? end - 5 : 0;
          writer.Write(t, begin, std::span(p).subspan(begin, end - begin));
          end = begin;
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    writer.Finish();
  }
  EXPECT_EQ(ReadFileBytes(dir / "many.gguf"), ReadFileBytes(dir / "one.gguf"));
  EXPECT_FALSE(std::filesystem::exists(dir / "many.gguf.partial"));
}

TEST(GgufWriter, IsCrashSafe) {
  ScratchDir dir;
  const std::vector<GgufTensorSpec> specs = {{"a", GgmlType::kF32, {4}}};
  const std::vector<std::byte> data(16);
  {
    // Abandoned (an error before Finish): neither the file nor the .partial is left.
    GgufWriter writer(dir / "x.gguf", {}, specs);
    writer.Write(0, 0, data);
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "x.gguf"));
  EXPECT_FALSE(std::filesystem::exists(dir / "x.gguf.partial"));

  {
    GgufWriter writer(dir / "x.gguf", {}, specs);
    writer.Write(0, 0, std::span(data).subspan(0, 8));
    ExpectError([&] { writer.Finish(); }, {"x.gguf", "tensor 'a'", "8 of its 16 bytes"});
    ExpectError([&] { writer.Write(0, 8, std::span(data)); }, {"x.gguf", "tensor 'a'", "runs past"});
    // A second writer on the same destination is refused while the first holds the lock.
    ExpectError([&] { GgufWriter second(dir / "x.gguf", {}, specs); }, {"x.gguf.partial", "another octet process"});
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "x.gguf"));

  WriteGguf(dir / "x.gguf", {}, specs, {Bytes(data)});
  ExpectError([&] { WriteGguf(dir / "x.gguf", {}, specs, {Bytes(data)}); }, {"x.gguf", "already exists"});
  std::vector<std::byte> ones(16, std::byte{1});
  WriteGguf(dir / "x.gguf", {}, specs, {Bytes(ones)}, /*overwrite=*/true);
  EXPECT_EQ(GgufFile::Open(dir / "x.gguf").tensors()[0].bytes[0], std::byte{1});
}

TEST(GgufWriter, RejectsBadSpecsAndMetadata) {
  ScratchDir dir;
  const auto path = dir / "bad.gguf";
  ExpectError([&] { GgufWriter w(path, {}, {{"a", GgmlType::kQ8_0, {33}}}); }, {"bad.gguf", "'a'", "multiple"});
  ExpectError([&] { GgufWriter w(path, {}, {{"a", GgmlType::kF32, {0}}}); }, {"'a'", "> 0"});
  ExpectError([&] { GgufWriter w(path, {}, {{"a", GgmlType::kF32, {1, 1, 1, 1, 1}}}); }, {"'a'", "dimensions"});
  ExpectError([&] { GgufWriter w(path, {}, {{std::string(64, 'n'), GgmlType::kF32, {1}}}); }, {"limit of 63"});
  ExpectError([&] { GgufWriter w(path, {}, {{"a", GgmlType::kF32, {1}}, {"a", GgmlType::kF32, {1}}}); },
              {"duplicate", "'a'"});
  ExpectError([&] { GgufWriter w(path, {{"k", GgufValue::Bool(true)}, {"k", GgufValue::Bool(false)}}, {}); },
              {"duplicate", "'k'"});
  ExpectError([&] { GgufValue::Array(GgufValueType::kInt32, {GgufValue::Uint8(1)}); }, {"element 0"});
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(dir / "bad.gguf.partial"));
}

}  // namespace
}  // namespace octet

namespace octet {
namespace {

// fuzz/make_corpus.py builds its GGUF seeds with an independent Python encoder (struct.pack after docs/gguf.md);
// octet's writer must produce the same bytes for the same content, and the reader must accept every valid seed.
TEST(GgufWriter, MatchesTheIndependentPythonEncoder) {
  const std::filesystem::path corpus =
      std::filesystem::path(OCTET_SOURCE_DIR) / "fuzz" / "corpus" / "gguf_reader_fuzzer";
  ScratchDir dir;
  std::vector<std::byte> q8(68), q4(18), f32(16), f16(8);
  for (int b = 0; b < 2; ++b) {
    q8[34 * b] = std::byte{0x00};
    q8[34 * b + 1] = std::byte{0x38};  // F16 0.5
    for (int i = 0; i < 32; ++i) q8[34 * b + 2 + i] = static_cast<std::byte>(i);
  }
  q4[0] = std::byte{0x00};
  q4[1] = std::byte{0xBC};  // F16 -1.0
  for (int i = 0; i < 16; ++i) q4[2 + i] = static_cast<std::byte>(i % 2 == 0 ? 0x0F : 0xF0);
  const float f32_values[4] = {1.0f, -2.0f, 0.5f, 3.0f};
  std::memcpy(f32.data(), f32_values, 16);
  const uint16_t f16_values[4] = {0x3C00, 0x4000, 0x4200, 0x4400};  // 1 2 3 4
  std::memcpy(f16.data(), f16_values, 8);
  WriteGguf(dir / "mixed.gguf",
            {{"general.architecture", GgufValue::String("llama")},
             {"llama.block_count", GgufValue::Uint32(1)},
             {"llama.rope.freq_base", GgufValue::Float32(10000.0f)},
             {"general.flag", GgufValue::Bool(true)},
             {"general.i64", GgufValue::Int64(-5)},
             {"general.f64", GgufValue::Float64(0.25)},
             {"general.u8s", GgufValue::Array(GgufValueType::kUint8,
                                              {GgufValue::Uint8(1), GgufValue::Uint8(2), GgufValue::Uint8(3)})},
             {"general.nested",
              GgufValue::Array(GgufValueType::kArray, {GgufValue::Int32Array({1, 2}), GgufValue::Int32Array({3})})}},
            {{"blk.0.attn_q.weight", GgmlType::kQ8_0, {32, 2}},
             {"blk.0.attn_k.weight", GgmlType::kQ4_0, {32}},
             {"output_norm.weight", GgmlType::kF32, {4}},
             {"token_embd.weight", GgmlType::kF16, {2, 2}}},
            {Bytes(q8), Bytes(q4), Bytes(f32), Bytes(f16)});
  ASSERT_TRUE(std::filesystem::exists(corpus / "valid_mixed"));
  EXPECT_EQ(ReadFileBytes(dir / "mixed.gguf"), ReadFileBytes(corpus / "valid_mixed"));

  for (const char* name : {"valid_mixed", "valid_v2", "valid_align64", "valid_metadata_only", "valid_unpadded_tail",
                           "valid_q4k", "vocab_llama", "vocab_gpt2"}) {
    EXPECT_NO_THROW(GgufFile::Open(corpus / name)) << name;
  }
  for (const char* name : {"truncated_data", "truncated_header", "bad_magic", "bad_version", "huge_tensor_count",
                           "huge_kv_count", "huge_string", "misaligned_offset", "overlapping_tensors",
                           "offset_out_of_range", "unknown_type", "bad_block_multiple", "duplicate_key",
                           "duplicate_tensor", "bad_bool"}) {
    EXPECT_THROW(GgufFile::Open(corpus / name), Error) << name;
  }
}

}  // namespace
}  // namespace octet
