// `octet generate` with text: streamed text, stop tokens, --ignore-eos.
#include <algorithm>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "runtime/token_file.h"
#include "test_util.h"

namespace octet {
namespace {

using testing::RunCli;

std::string WithoutNewline(std::string s) {
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

TEST(GenerateTextTest, StreamedTextIsTheDecodedIds) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  const std::string prompt = "'\"Dreams of caf\xc3\xa9 lattices'";  // é is byte-fallback encoded
  const auto text = RunCli("generate " + dir.string() + " --prompt " + prompt + " -n 60");
  ASSERT_EQ(text.exit_code, 0) << text.output;
  const auto ids = RunCli("generate " + dir.string() + " --prompt " + prompt + " -n 60 --print-ids");
  ASSERT_EQ(ids.exit_code, 0) << ids.output;
  const auto prompt_ids = RunCli("tokenize " + dir.string() + " --text " + prompt);
  ASSERT_EQ(prompt_ids.exit_code, 0) << prompt_ids.output;
  const std::string all_ids = WithoutNewline(prompt_ids.output) + " " + WithoutNewline(ids.output);
  const auto decoded = RunCli("tokenize " + dir.string() + " --decode --text '" + all_ids + "'");
  ASSERT_EQ(decoded.exit_code, 0) << decoded.output;
  // stdout: the text and a newline; then stderr: the generated ids.
  EXPECT_EQ(text.output, decoded.output + "ids: " + ids.output);
  EXPECT_EQ(text.output.rfind("\"Dreams of caf\xc3\xa9 lattices", 0), 0u) << text.output;
}

TEST(GenerateTextTest, StopsAtEosUnlessIgnoreEos) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  // 100 tokens of the 4th sample dream, sampled on with seed 26: the model ends the dream ("." EOS) after 6 tokens.
  const TokenSequence dream = ReadTokenFile(dir / "sample_tokens.txt").at(3);
  const std::string prompt = fmt::format("{}", fmt::join(dream.begin(), dream.begin() + 100, " "));
  const std::string sample = " --temperature 1 --seed 26 -n 27 --prompt-ids '" + prompt + "'";
  const auto stopped = RunCli("generate " + dir.string() + sample + " --print-ids");
  ASSERT_EQ(stopped.exit_code, 0) << stopped.output;
  EXPECT_EQ(stopped.output, "356 290 260 295 448 2\n");  // the stop id is printed last
  const auto ignored = RunCli("generate " + dir.string() + sample + " --print-ids --ignore-eos");
  ASSERT_EQ(ignored.exit_code, 0) << ignored.output;
  EXPECT_EQ(ignored.output.rfind("356 290 260 295 448 2 1 319 ", 0), 0u) << ignored.output;  // the same path, on
  EXPECT_EQ(std::count(ignored.output.begin(), ignored.output.end(), ' '), 26) << ignored.output;  // all 27 ids
  // As text: the dream's end, nothing after it.
  const auto text = RunCli("generate " + dir.string() + sample);
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_TRUE(text.output.ends_with(".\nids: 356 290 260 295 448 2\n")) << text.output;
}

}  // namespace
}  // namespace octet
