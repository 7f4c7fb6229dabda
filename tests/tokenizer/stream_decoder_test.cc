// Decoding: round trips where the encoding is lossless, and streaming that only ever hands out whole UTF-8
// characters yet adds up to Decode().
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_util.h"
#include "tokenizer/load_tokenizer.h"
#include "tokenizer/unicode.h"
#include "tokenizer_test_util.h"

namespace octet {
namespace {

using testing::ReadReferenceCases;
using testing::TokenizerDataDir;

bool HasSpecialText(const std::string& text) {
  for (const char* s : {"<s>", "</s>", "<unk>", "<|"}) {
    if (text.find(s) != std::string::npos) return true;
  }
  return false;
}

// Every chunk is valid UTF-8 on its own, and the chunks add up to Decode().
void ExpectStreamsWholeCharacters(const Tokenizer& tokenizer, const std::vector<int32_t>& ids) {
  StreamDecoder stream(tokenizer);
  std::string streamed;
  for (const int32_t id : ids) {
    const std::string chunk = stream.Push(id);
    EXPECT_EQ(unicode::ToValidUtf8(chunk), chunk);
    EXPECT_EQ(unicode::CompletePrefixLength(chunk), chunk.size());
    streamed += chunk;
  }
  streamed += stream.Finish();
  EXPECT_EQ(streamed, tokenizer.Decode(ids));
}

std::vector<std::filesystem::path> TokenizerPaths() {
  std::vector<std::filesystem::path> paths = {TokenizerDataDir() / "bytelevel_gpt2.json",
                                              TokenizerDataDir() / "bytelevel_llama3.json"};
  if (const auto dir = testing::SharedModel("aidreams260K"); !dir.empty()) {
    paths.push_back(dir / "tokenizer.json");
    paths.push_back(dir / "tok512.bin");
  }
  return paths;
}

TEST(StreamDecoderTest, RoundTripsLosslessText) {
  for (const auto& path : TokenizerPaths()) {
    const auto tokenizer = LoadTokenizer(path);
    for (const auto& c : ReadReferenceCases("bytelevel_gpt2")) {
      if (HasSpecialText(c.text)) continue;
      EXPECT_EQ(tokenizer->Decode(tokenizer->Encode(c.text, true)), c.text) << path << " text: " << c.text;
      EXPECT_EQ(tokenizer->Decode(tokenizer->Encode(c.text, false)), c.text) << path << " text: " << c.text;
    }
  }
}

TEST(StreamDecoderTest, EmitsOnlyWholeCharacters) {
  const std::vector<std::string> texts = {"😀 emoji 👨‍👩‍👧‍👦 and 中文 text", "naïve café — ok",
                                          "日本語のテキスト🇫🇷", "plain ascii"};
  for (const auto& path : TokenizerPaths()) {
    const auto tokenizer = LoadTokenizer(path);
    for (const std::string& text : texts) ExpectStreamsWholeCharacters(*tokenizer, tokenizer->Encode(text, true));
  }
}

TEST(StreamDecoderTest, HoldsBackSplitCharacterUntilComplete) {
  // In byte-level BPE without merges for it, "😀" (F0 9F 98 80) is four byte tokens.
  const auto tokenizer = LoadTokenizer(TokenizerDataDir() / "bytelevel_gpt2.json");
  const std::vector<int32_t> ids = tokenizer->Encode("😀", false);
  ASSERT_EQ(ids.size(), 4u);
  StreamDecoder stream(*tokenizer);
  EXPECT_EQ(stream.Push(ids[0]), "");
  EXPECT_EQ(stream.Push(ids[1]), "");
  EXPECT_EQ(stream.Push(ids[2]), "");
  EXPECT_EQ(stream.Push(ids[3]), "😀");
  EXPECT_EQ(stream.Finish(), "");
}

TEST(StreamDecoderTest, MalformedBytesBecomeReplacementCharacters) {
  const auto tokenizer = LoadTokenizer(TokenizerDataDir() / "bytelevel_gpt2.json");
  const std::vector<int32_t> emoji = tokenizer->Encode("😀", false);
  const std::vector<int32_t> a = tokenizer->Encode("a", false);
  // A truncated character followed by more text, and one left unfinished at the end.
  EXPECT_EQ(tokenizer->Decode(std::vector<int32_t>{emoji[0], emoji[1], a[0]}), "\uFFFDa");
  EXPECT_EQ(tokenizer->Decode(std::vector<int32_t>{a[0], emoji[0]}), "a\uFFFD");
  StreamDecoder stream(*tokenizer);
  EXPECT_EQ(stream.Push(emoji[0]), "");
  EXPECT_EQ(stream.Push(a[0]), "\uFFFDa");
}

TEST(StreamDecoderTest, StripsDummyPrefixOnlyAtTextStart) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  for (const auto& path : {dir / "tokenizer.json", dir / "tok512.bin"}) {
    const auto tokenizer = LoadTokenizer(path);
    const std::vector<int32_t> hello = tokenizer->Encode("hello world", true);  // BOS ▁hello ▁world
    StreamDecoder stream(*tokenizer);
    std::string text;
    for (const int32_t id : hello) text += stream.Push(id);
    // A continuation keeps its space.
    for (const int32_t id : tokenizer->Encode("again", false)) text += stream.Push(id);
    EXPECT_EQ(text + stream.Finish(), "hello world again") << path;
  }
}

TEST(UnicodeTest, CompletePrefixLength) {
  EXPECT_EQ(unicode::CompletePrefixLength(""), 0u);
  EXPECT_EQ(unicode::CompletePrefixLength("abc"), 3u);
  EXPECT_EQ(unicode::CompletePrefixLength("a\xE4\xB8"), 1u);      // 中 cut after two bytes
  EXPECT_EQ(unicode::CompletePrefixLength("a\xE4\xB8\xAD"), 4u);  // 中 whole
  EXPECT_EQ(unicode::CompletePrefixLength("a\xF0\x9F\x98"), 1u);  // 😀 cut
  EXPECT_EQ(unicode::CompletePrefixLength("a\x80"), 2u);          // stray continuation: invalid, not pending
  EXPECT_EQ(unicode::CompletePrefixLength("a\xC0"), 2u);          // never-valid lead byte
  EXPECT_EQ(unicode::ToValidUtf8("a\xE4\xB8"
                                 "b"),
            "a\uFFFD"
            "b");  // one U+FFFD per maximal bad subpart
  EXPECT_EQ(unicode::ToValidUtf8("\xC0\x80"), "\uFFFD\uFFFD");
}

}  // namespace
}  // namespace octet
