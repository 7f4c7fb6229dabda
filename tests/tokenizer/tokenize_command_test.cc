// `octet tokenize` end to end.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "test_util.h"
#include "tokenizer_test_util.h"

namespace octet {
namespace {

using ::testing::HasSubstr;
using testing::RunCli;

TEST(TokenizeCommandTest, FileMatchesSampleIds) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  for (const std::string& model : {dir.string(), (dir / "tok512.bin").string()}) {
    const auto result = RunCli("tokenize " + model + " --file " + (dir / "sample_text.txt").string());
    ASSERT_EQ(result.exit_code, 0) << result.output;
    EXPECT_EQ(result.output, testing::ReadFileText(dir / "sample_text_ids.txt")) << model;
  }
}

TEST(TokenizeCommandTest, TextNoBosAndDecode) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  const auto with_bos = RunCli("tokenize " + dir.string() + " --text 'a dream'");
  const auto no_bos = RunCli("tokenize " + dir.string() + " --text 'a dream' --no-bos");
  ASSERT_EQ(with_bos.exit_code, 0) << with_bos.output;
  ASSERT_EQ(no_bos.exit_code, 0) << no_bos.output;
  EXPECT_EQ(with_bos.output, "1 " + no_bos.output);
  const std::string ids = with_bos.output.substr(0, with_bos.output.size() - 1);
  const auto decoded = RunCli("tokenize " + dir.string() + " --decode --text '" + ids + "'");
  ASSERT_EQ(decoded.exit_code, 0) << decoded.output;
  EXPECT_EQ(decoded.output, "a dream\n");
  // One output line per input line.
  const auto two = RunCli("tokenize " + dir.string() + " --no-bos --text \"$(printf 'a\\nb')\"");
  EXPECT_EQ(std::count(two.output.begin(), two.output.end(), '\n'), 2) << two.output;
}

TEST(TokenizeCommandTest, Errors) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  EXPECT_THAT(RunCli("tokenize " + dir.string()).output, HasSubstr("give --text or --file"));
  const auto bad_id = RunCli("tokenize " + dir.string() + " --decode --text '1 99999'");
  EXPECT_NE(bad_id.exit_code, 0);
  EXPECT_THAT(bad_id.output, HasSubstr("outside the vocabulary"));
  const auto not_ids = RunCli("tokenize " + dir.string() + " --decode --text '1 x'");
  EXPECT_THAT(not_ids.output, HasSubstr("line 1: expected token ids"));
  const auto none = RunCli("tokenize /nonexistent-dir --text hi");
  EXPECT_NE(none.exit_code, 0);
  EXPECT_THAT(none.output, HasSubstr("octet: error: /nonexistent-dir: no such file"));
}

}  // namespace
}  // namespace octet
