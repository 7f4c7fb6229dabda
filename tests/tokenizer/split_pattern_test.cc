// The hand-written regex scanners on cases where the alternatives' order and backtracking matter.
#include "tokenizer/split_pattern.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace octet {
namespace {

std::vector<std::string> Split(SplitPattern pattern, std::string_view text) {
  std::vector<std::string_view> pieces;
  SplitWithPattern(pattern, text, pieces);
  return {pieces.begin(), pieces.end()};
}

using Pieces = std::vector<std::string>;

TEST(SplitPatternTest, Gpt2) {
  EXPECT_EQ(Split(SplitPattern::kGpt2, "Hello world"), (Pieces{"Hello", " world"}));
  EXPECT_EQ(Split(SplitPattern::kGpt2, "a   b"), (Pieces{"a", "  ", " b"}));  // \s+(?!\S) leaves one space
  EXPECT_EQ(Split(SplitPattern::kGpt2, "a\n\nb"), (Pieces{"a", "\n", "\n", "b"}));
  EXPECT_EQ(Split(SplitPattern::kGpt2, "end  "), (Pieces{"end", "  "}));
  EXPECT_EQ(Split(SplitPattern::kGpt2, "I'm don't DON'T"), (Pieces{"I", "'m", " don", "'t", " DON", "'", "T"}));
  EXPECT_EQ(Split(SplitPattern::kGpt2, "x=12345!?"), (Pieces{"x", "=", "12345", "!?"}));
  EXPECT_EQ(Split(SplitPattern::kGpt2, "café 中文"), (Pieces{"café", " 中文"}));
}

TEST(SplitPatternTest, Llama3) {
  EXPECT_EQ(Split(SplitPattern::kLlama3, "1234567"), (Pieces{"123", "456", "7"}));
  EXPECT_EQ(Split(SplitPattern::kLlama3, "DON'T"), (Pieces{"DON", "'T"}));
  EXPECT_EQ(Split(SplitPattern::kLlama3, "(hello"), (Pieces{"(hello"}));
  EXPECT_EQ(Split(SplitPattern::kLlama3, "((hello"), (Pieces{"((", "hello"}));
  EXPECT_EQ(Split(SplitPattern::kLlama3, "a!!\n\nb"), (Pieces{"a", "!!\n\n", "b"}));
  EXPECT_EQ(Split(SplitPattern::kLlama3, "a  \n  b"), (Pieces{"a", "  \n", " ", " b"}));
  EXPECT_EQ(Split(SplitPattern::kLlama3, "\tword"), (Pieces{"\tword"}));
  EXPECT_EQ(Split(SplitPattern::kQwen2, "a123"), (Pieces{"a", "1", "2", "3"}));
}

TEST(SplitPatternTest, RecognizesOnlyKnownRegexes) {
  EXPECT_EQ(RecognizeSplitPattern(R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)"),
            SplitPattern::kGpt2);
  EXPECT_FALSE(RecognizeSplitPattern(R"(\w+|[^\w\s]+)").has_value());
}

}  // namespace
}  // namespace octet
