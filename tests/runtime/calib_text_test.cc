// `convert --calib-text / --calib-data` with --calib-samples / --calib-seq-len (calib/calib_data.h), end to end.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "calib/calib_data.h"
#include "io/checkpoint.h"
#include "runtime/text_windows.h"
#include "runtime/token_file.h"
#include "test_util.h"
#include "tokenizer/load_tokenizer.h"
#include "util/error.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::map<std::string, float> InputScales(const fs::path& dir) {
  const Checkpoint checkpoint = Checkpoint::Open(dir);
  std::map<std::string, float> scales;
  for (const TensorView& t : checkpoint.tensors()) {
    if (!t.name.ends_with(".input_scale")) continue;
    EXPECT_EQ(t.dtype, DType::kF32);
    float value;
    std::memcpy(&value, t.bytes.data(), 4);
    scales[t.name] = value;
  }
  return scales;
}

std::string ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

testing::CommandResult ConvertStatic(const fs::path& model, const fs::path& out, const std::string& calib) {
  return testing::RunCli(fmt::format("convert {} -o {} -q fp8 --activations static --quiet --threads 2 {}",
                                     model.string(), out.string(), calib));
}

TEST(CalibTextTest, TextGivesTheScalesOfTheIdsOfTheSameWindows) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  testing::ScratchDir scratch;
  const fs::path text = dir / "sample_text.txt";
  const auto from_text = ConvertStatic(dir, scratch / "text", "--calib-text " + text.string() +
                                                                  " --calib-samples 5 --calib-seq-len 64");
  ASSERT_EQ(from_text.exit_code, 0) << from_text.output;

  // The same windows by hand: the whole file's ids (with BOS), then per sample BOS + the next 63 ids, as
  // llama-imatrix cuts chunks of 64.
  const auto tokenizer = LoadTokenizer(dir);
  std::ifstream in(text, std::ios::binary);
  const std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::vector<int32_t> ids = tokenizer->Encode(contents, true);
  {
    std::ofstream windows(scratch / "windows.txt");
    for (size_t i = 0; i < 5; ++i) {
      std::vector<int32_t> sample(ids.begin() + static_cast<std::ptrdiff_t>(i * 64),
                                  ids.begin() + static_cast<std::ptrdiff_t>((i + 1) * 64));
      sample[0] = 1;
      windows << fmt::format("{}\n", fmt::join(sample, " "));
    }
  }
  const auto from_ids = ConvertStatic(dir, scratch / "ids", "--calib-data " + (scratch / "windows.txt").string());
  ASSERT_EQ(from_ids.exit_code, 0) << from_ids.output;

  const std::map<std::string, float> text_scales = InputScales(scratch / "text");
  EXPECT_EQ(text_scales.size(), 28u);  // 4 layers x 7 linears
  EXPECT_EQ(text_scales, InputScales(scratch / "ids"));
  EXPECT_EQ(ReadBytes(scratch / "text" / "model.safetensors"), ReadBytes(scratch / "ids" / "model.safetensors"));
  // Fewer samples see different activations: the flags are not ignored.
  const auto fewer = ConvertStatic(dir, scratch / "fewer", "--calib-text " + text.string() +
                                                               " --calib-samples 1 --calib-seq-len 64");
  ASSERT_EQ(fewer.exit_code, 0) << fewer.output;
  EXPECT_NE(InputScales(scratch / "fewer"), text_scales);
}

TEST(CalibTextTest, TokenIdsAreLimitedAndCutTheSameWay) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  testing::ScratchDir scratch;
  const std::vector<TokenSequence> lines = ReadTokenFile(dir / "sample_tokens.txt");
  ASSERT_GE(lines.size(), 3u);
  {
    std::ofstream cut(scratch / "cut.txt");
    for (size_t i = 0; i < 3; ++i) {
      cut << fmt::format("{}\n", fmt::join(lines[i].begin(), lines[i].begin() + 40, " "));
    }
  }
  const auto limited = ConvertStatic(dir, scratch / "limited", "--calib-data " +
                                                                   (dir / "sample_tokens.txt").string() +
                                                                   " --calib-samples 3 --calib-seq-len 40");
  ASSERT_EQ(limited.exit_code, 0) << limited.output;
  const auto by_hand = ConvertStatic(dir, scratch / "by_hand", "--calib-data " + (scratch / "cut.txt").string());
  ASSERT_EQ(by_hand.exit_code, 0) << by_hand.output;
  EXPECT_EQ(InputScales(scratch / "limited"), InputScales(scratch / "by_hand"));

  // A .txt token-id file is read as ids under --calib-data, never as text.
  const std::vector<TokenSequence> loaded =
      LoadCalibrationSequences({dir / "sample_tokens.txt", false, 2, 10}, dir, Checkpoint::Open(dir).config());
  ASSERT_EQ(loaded.size(), 2u);
  EXPECT_EQ(loaded[1], TokenSequence(lines[1].begin(), lines[1].begin() + 10));
}

TEST(CalibTextTest, RefusesTooLittleDataAndOverlongSamples) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  testing::ScratchDir scratch;
  const std::string text = (dir / "sample_text.txt").string();
  const auto overlong = ConvertStatic(dir, scratch / "a", "--calib-text " + text + " --calib-seq-len 129");
  EXPECT_EQ(overlong.exit_code, 1);
  EXPECT_THAT(overlong.output, HasSubstr("--calib-seq-len 129 is more than the model's context "
                                         "(max_position_embeddings 128"));
  const auto too_many = ConvertStatic(dir, scratch / "b", "--calib-text " + text + " --calib-samples 1000");
  EXPECT_EQ(too_many.exit_code, 1);
  EXPECT_THAT(too_many.output, HasSubstr("sample_text.txt: the text has"));
  EXPECT_THAT(too_many.output, HasSubstr("samples of 128 tokens, not 1000"));
  const auto too_many_ids =
      ConvertStatic(dir, scratch / "c", "--calib-data " + (dir / "sample_tokens.txt").string() + " --calib-samples 99");
  EXPECT_THAT(too_many_ids.output, HasSubstr("fewer than the 99 calibration samples asked for"));
  const auto both = ConvertStatic(dir, scratch / "d", "--calib-text " + text + " --calib-data " + text);
  EXPECT_NE(both.exit_code, 0);
  EXPECT_THAT(both.output, HasSubstr("excludes"));
  const auto orphan = ConvertStatic(dir, scratch / "e", "--calib-samples 4");
  EXPECT_THAT(orphan.output, HasSubstr("--calib-samples and --calib-seq-len need --calib-data or --calib-text"));
  EXPECT_FALSE(fs::exists(scratch / "a"));
}

}  // namespace
}  // namespace octet
