#include "io/safetensors_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <random>
#include <string>

#include <gtest/gtest.h>

#include "io/mapped_file.h"
#include "io_test_util.h"
#include "test_util.h"
#include "util/error.h"

namespace octet {
namespace {

using ::octet::testing::ExpectError;
using ::octet::testing::RawSafetensors;
using ::octet::testing::ScratchDir;
using ::octet::testing::WriteFileBytes;

// One F32 tensor 'x' of shape [2] plus its 8 bytes, a known-good baseline for the malformed cases.
constexpr char kGoodHeader[] = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
const std::string kEightBytes(8, '\x01');

class SafetensorsMalformedTest : public ::testing::Test {
 protected:
  // Writes `contents` to a file and expects Open to fail naming that file and mentioning each of `parts`.
  void ExpectRejected(const std::string& contents, std::vector<std::string> parts) {
    const std::filesystem::path path = dir_ / "bad.safetensors";
    WriteFileBytes(path, contents);
    parts.insert(parts.begin(), path.string() + ": ");
    ExpectError([&] { SafetensorsFile::Open(path); }, parts);
  }
  ScratchDir dir_;
};

TEST_F(SafetensorsMalformedTest, BaselineIsAccepted) {
  const std::filesystem::path path = dir_ / "good.safetensors";
  WriteFileBytes(path, RawSafetensors(kGoodHeader, kEightBytes));
  const SafetensorsFile file = SafetensorsFile::Open(path);
  ASSERT_EQ(file.tensors().size(), 1u);
  EXPECT_EQ(file.tensors()[0].name, "x");
  EXPECT_EQ(file.tensors()[0].bytes.size(), 8u);
  EXPECT_EQ(file.tensors()[0].file, path.string());
  EXPECT_EQ(file.file_size(), 8 + sizeof(kGoodHeader) - 1 + 8);
}

TEST_F(SafetensorsMalformedTest, FileShorterThanEightBytes) {
  ExpectRejected("", {"0 bytes", "too short"});
  ExpectRejected(std::string("\x05\x00\x00", 3), {"3 bytes", "too short"});
}

TEST_F(SafetensorsMalformedTest, HeaderLengthPastEndOfFile) {
  ExpectRejected(RawSafetensors(kGoodHeader, kEightBytes, 1000), {"header length 1000", "runs past the end"});
  ExpectRejected(RawSafetensors("", "", static_cast<int64_t>(SafetensorsFile::kMaxHeaderBytes)), {"runs past"});
}

TEST_F(SafetensorsMalformedTest, HeaderLengthOverLimit) {
  ExpectRejected(RawSafetensors(kGoodHeader, kEightBytes, 100'000'001), {"100000001", "exceeds"});
  // The largest u64: 8 + N would overflow, must not wrap around.
  ExpectRejected(std::string(8, '\xff') + "{}", {"exceeds"});
}

TEST_F(SafetensorsMalformedTest, InvalidJson) {
  ExpectRejected(RawSafetensors(R"({"x":{"dtype":"F32",)", ""), {"not valid JSON"});
  ExpectRejected(RawSafetensors("{\"\xff\xfe\":1}", ""), {"not valid JSON"});  // Not UTF-8.
  // nlohmann stops at a NUL as if the input ended there; the reference reader rejects it, and so must we.
  ExpectRejected(RawSafetensors(std::string("{}\0\0\0\0\0\0", 8), ""), {"NUL"});
}

TEST_F(SafetensorsMalformedTest, DeeplyNestedHeaderIsNoStackOverflow) {
  ExpectRejected(RawSafetensors(std::string(2'000'000, '['), ""), {"not valid JSON"});
  ExpectRejected(RawSafetensors(std::string(500'000, '[') + std::string(500'000, ']'), ""), {"not an object"});
  ExpectRejected(RawSafetensors("{\"x\":" + std::string(500'000, '[') + std::string(500'000, ']') + "}", ""),
                 {"tensor 'x'", "not an object"});
}

TEST_F(SafetensorsMalformedTest, NotAnObject) {
  ExpectRejected(RawSafetensors("[1, 2]  ", ""), {"not an object"});
  ExpectRejected(RawSafetensors("\"text\"", ""), {"not an object"});
}

TEST_F(SafetensorsMalformedTest, BadEntry) {
  ExpectRejected(RawSafetensors(R"({"x":[1,2]})", ""), {"tensor 'x'", "not an object"});
  ExpectRejected(RawSafetensors(R"({"x":{"shape":[2],"data_offsets":[0,8]}})", kEightBytes),
                 {"tensor 'x'", "dtype"});
  ExpectRejected(RawSafetensors(R"({"x":{"dtype":"F32","data_offsets":[0,8]}})", kEightBytes),
                 {"tensor 'x'", "shape"});
  ExpectRejected(RawSafetensors(R"({"x":{"dtype":"F32","shape":[2]}})", kEightBytes),
                 {"tensor 'x'", "data_offsets"});
  ExpectRejected(RawSafetensors(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}})", kEightBytes),
                 {"tensor 'x'", "data_offsets"});
  ExpectRejected(RawSafetensors(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,-8]}})", kEightBytes),
                 {"tensor 'x'", "data_offsets"});
}

TEST_F(SafetensorsMalformedTest, UnknownDType) {
  ExpectRejected(RawSafetensors(R"({"x":{"dtype":"F8_E4M3FN","shape":[8],"data_offsets":[0,8]}})", kEightBytes),
                 {"tensor 'x'", "unknown dtype 'F8_E4M3FN'"});
}

TEST_F(SafetensorsMalformedTest, NegativeOrNonIntegerDimension) {
  ExpectRejected(RawSafetensors(R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", kEightBytes),
                 {"tensor 'x'", "negative number -2"});
  ExpectRejected(RawSafetensors(R"({"x":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", kEightBytes),
                 {"tensor 'x'", "non-integer"});
  ExpectRejected(RawSafetensors(R"({"x":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}})", kEightBytes),
                 {"tensor 'x'", "string"});
  ExpectRejected(
      RawSafetensors(R"({"x":{"dtype":"U8","shape":[9223372036854775808],"data_offsets":[0,8]}})", kEightBytes),
      {"tensor 'x'", "too large"});
}

TEST_F(SafetensorsMalformedTest, OffsetsReversed) {
  ExpectRejected(RawSafetensors(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", kEightBytes),
                 {"tensor 'x'", "[8, 0]", "end before they begin"});
}

TEST_F(SafetensorsMalformedTest, SpanDiffersFromShapeTimesDType) {
  ExpectRejected(RawSafetensors(R"({"model.layers.0.mlp.up_proj.weight":
                                    {"dtype":"F32","shape":[172,64],"data_offsets":[0,44000]}})",
                                std::string(44000, '\0')),
                 {"tensor 'model.layers.0.mlp.up_proj.weight': shape [172, 64] with dtype F32 needs 44032 bytes "
                  "but data_offsets span 44000"});
}

TEST_F(SafetensorsMalformedTest, NotAWholeNumberOfBytes) {
  ExpectRejected(RawSafetensors(R"({"x":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}})", "ab"),
                 {"tensor 'x'", "12 bits", "whole number of bytes"});
}

TEST_F(SafetensorsMalformedTest, Gap) {
  ExpectRejected(RawSafetensors(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},
                                    "b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                                std::string(12, '\0')),
                 {"tensor 'b'", "gap", "[4, 8)"});
  ExpectRejected(RawSafetensors(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", kEightBytes),
                 {"tensor 'a'", "gap"});
}

TEST_F(SafetensorsMalformedTest, Overlap) {
  ExpectRejected(RawSafetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
                                    "b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                std::string(12, '\0')),
                 {"tensor 'b'", "overlap tensor 'a'"});
  // Two names for the same bytes.
  ExpectRejected(RawSafetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
                                    "b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                                kEightBytes),
                 {"overlap"});
}

TEST_F(SafetensorsMalformedTest, TrailingBytes) {
  ExpectRejected(RawSafetensors(kGoodHeader, kEightBytes + "xyz"), {"3 trailing bytes"});
}

TEST_F(SafetensorsMalformedTest, TruncatedData) {
  ExpectRejected(RawSafetensors(kGoodHeader, "1234"), {"need 8 data bytes", "only 4", "truncated"});
}

TEST_F(SafetensorsMalformedTest, DuplicateKey) {
  ExpectRejected(RawSafetensors(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
                                    "x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                                kEightBytes),
                 {"duplicate key 'x'"});
  ExpectRejected(RawSafetensors(R"({"x":{"dtype":"I8","dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                                kEightBytes),
                 {"duplicate key 'dtype'"});
  // The same key in two different objects is fine.
  const std::filesystem::path path = dir_ / "ok.safetensors";
  WriteFileBytes(path, RawSafetensors(R"({"__metadata__":{"dtype":"x"},
                                          "x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                                      kEightBytes));
  EXPECT_EQ(SafetensorsFile::Open(path).metadata().at("dtype"), "x");
}

TEST_F(SafetensorsMalformedTest, BadMetadata) {
  ExpectRejected(RawSafetensors(R"({"__metadata__":{"format":1}})", ""), {"__metadata__", "'format'", "number"});
  ExpectRejected(RawSafetensors(R"({"__metadata__":"pt"})", ""), {"__metadata__", "not an object"});
}

TEST_F(SafetensorsMalformedTest, ShapeProductOverflow) {
  ExpectRejected(
      RawSafetensors(R"({"x":{"dtype":"U8","shape":[4294967296,4294967296,2],"data_offsets":[0,8]}})", kEightBytes),
      {"tensor 'x'", "64 bits"});
  // Fits in elements, overflows in bits.
  ExpectRejected(
      RawSafetensors(R"({"x":{"dtype":"F64","shape":[4294967296,1073741824],"data_offsets":[0,8]}})", kEightBytes),
      {"tensor 'x'", "64 bits"});
}

TEST_F(SafetensorsMalformedTest, AcceptsScalarsEmptyTensorsPaddingAndAnyKeyOrder) {
  const std::filesystem::path path = dir_ / "ok.safetensors";
  // Keys deliberately not in data order; an empty tensor between two others; trailing space padding.
  WriteFileBytes(path, RawSafetensors(R"({"z":{"dtype":"F32","shape":[],"data_offsets":[0,4]},
                                          "b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]},
                                          "a":{"dtype":"I64","shape":[0,3],"data_offsets":[4,4]},
                                          "__metadata__":{"format":"pt"}}     )",
                                      "abcdefgh"));
  const SafetensorsFile file = SafetensorsFile::Open(path);
  ASSERT_EQ(file.tensors().size(), 3u);
  EXPECT_EQ(file.tensors()[0].name, "z");
  EXPECT_EQ(file.tensors()[0].shape, Shape{});
  EXPECT_EQ(file.tensors()[0].num_elements(), 1u);
  EXPECT_EQ(file.tensors()[1].name, "a");
  EXPECT_TRUE(file.tensors()[1].bytes.empty());
  EXPECT_EQ(file.tensors()[2].name, "b");
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(file.tensors()[2].bytes.data()), 4), "efgh");
  EXPECT_EQ(file.metadata().at("format"), "pt");
  ASSERT_NE(file.Find("b"), nullptr);
  EXPECT_EQ(file.Find("b")->dtype, DType::kBF16);
  EXPECT_EQ(file.Find("nope"), nullptr);
  file.Release(*file.Find("b"));
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(file.Find("b")->bytes.data()), 4), "efgh");
}

TEST_F(SafetensorsMalformedTest, MissingFile) {
  ExpectError([&] { SafetensorsFile::Open(dir_ / "absent.safetensors"); },
              {(dir_ / "absent.safetensors").string(), "cannot open"});
}

// Cuts a real file at many lengths: every cut must be an error, never a crash or a wrong parse.
TEST(SafetensorsRobustnessTest, EveryTruncationIsAnError) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  const std::string whole = ::octet::testing::ReadFileBytes(model / "model.safetensors");
  ScratchDir dir;
  const std::filesystem::path path = dir / "cut.safetensors";
  std::vector<size_t> lengths;
  for (size_t n = 0; n < 700 && n < whole.size(); ++n) lengths.push_back(n);
  for (size_t n = 700; n < whole.size(); n += 4099) lengths.push_back(n);
  lengths.push_back(whole.size() - 1);
  WriteFileBytes(path, whole);
  EXPECT_EQ(SafetensorsFile::Open(path).tensors().size(), 38u);
  // Descending lengths, so one file can be cut shorter each time.
  for (auto it = lengths.rbegin(); it != lengths.rend(); ++it) {
    ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(*it)), 0);
    try {
      SafetensorsFile::Open(path);
      ADD_FAILURE() << "a file cut to " << *it << " bytes was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    }
  }
}

// Flips random single bits in the length prefix and the JSON header: each flip parses or throws octet::Error.
TEST(SafetensorsRobustnessTest, HeaderBitFlipsNeverCrash) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  const std::string whole = ::octet::testing::ReadFileBytes(model / "model.safetensors");
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | static_cast<uint8_t>(whole[i]);
  ScratchDir dir;
  const std::filesystem::path path = dir / "flipped.safetensors";
  WriteFileBytes(path, whole);
  const int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  std::mt19937 rng(1234);
  int accepted = 0;
  int rejected = 0;
  for (int trial = 0; trial < 1500; ++trial) {
    const size_t position = rng() % (8 + header_size);
    const char original = whole[position];
    const char flipped = static_cast<char>(original ^ (1 << (rng() % 8)));
    ASSERT_EQ(::pwrite(fd, &flipped, 1, static_cast<off_t>(position)), 1);
    try {
      const SafetensorsFile file = SafetensorsFile::Open(path);
      uint64_t total = 0;
      for (const TensorView& view : file.tensors()) {
        total += view.bytes.size();
        // Touch both ends: a view outside the map would crash here.
        if (!view.bytes.empty()) {
          [[maybe_unused]] volatile std::byte touched = view.bytes.front() | view.bytes.back();
        }
      }
      ASSERT_LE(total, file.file_size());
      ++accepted;
    } catch (const Error&) {
      ++rejected;
    }
    ASSERT_EQ(::pwrite(fd, &original, 1, static_cast<off_t>(position)), 1);
  }
  ::close(fd);
  EXPECT_GT(rejected, 0);
  EXPECT_EQ(accepted + rejected, 1500);
}

TEST(MappedFileTest, MapsContentsAndSurvivesRelease) {
  ScratchDir dir;
  const std::string contents(3 * 4096 + 17, 'q');
  WriteFileBytes(dir / "f", contents);
  const MappedFile map(dir / "f");
  ASSERT_EQ(map.size(), contents.size());
  map.AdviseSequential();
  map.Release(map.bytes().subspan(100, 5000));
  map.Release(map.bytes());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(map.bytes().data()), map.size()), contents);
}

TEST(MappedFileTest, EmptyFileMapsToEmptySpan) {
  ScratchDir dir;
  WriteFileBytes(dir / "empty", "");
  const MappedFile map(dir / "empty");
  EXPECT_EQ(map.size(), 0u);
  EXPECT_TRUE(map.bytes().empty());
  map.Release(map.bytes());
}

TEST(MappedFileTest, MissingFileOrDirectoryIsAnError) {
  ScratchDir dir;
  ExpectError([&] { MappedFile map(dir / "absent"); }, {(dir / "absent").string(), "cannot open"});
  ExpectError([&] { MappedFile map(dir.path()); }, {dir.path().string()});
}

}  // namespace
}  // namespace octet
