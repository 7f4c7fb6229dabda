// Broken or unsupported tokenizer files fail with an octet::Error that names the file and the problem.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "test_util.h"
#include "tokenizer/load_tokenizer.h"
#include "tokenizer_test_util.h"
#include "util/error.h"

namespace octet {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using testing::ScratchDir;

void Write(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string LoadError(const std::filesystem::path& path) {
  try {
    LoadTokenizer(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// A minimal valid tokenizer.json to break in one place at a time.
nlohmann::json MinimalJson() {
  return nlohmann::json::parse(R"({
    "added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null,
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}})");
}

TEST(MalformedTokenizerTest, MinimalJsonLoads) {
  ScratchDir dir;
  Write(dir / "tokenizer.json", MinimalJson().dump());
  EXPECT_EQ(LoadTokenizer(dir.path())->Encode("abab", false), (std::vector<int32_t>{2, 2}));
}

TEST(MalformedTokenizerTest, JsonErrors) {
  struct Case {
    std::string name;
    std::function<void(nlohmann::json&)> edit;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"no model", [](auto& j) { j.erase("model"); }, "no \"model\""},
      {"unigram", [](auto& j) { j["model"]["type"] = "Unigram"; }, "model type \"Unigram\""},
      {"merge of unknown", [](auto& j) { j["model"]["merges"] = {"a c"}; }, "not in the vocabulary"},
      {"bad merge", [](auto& j) { j["model"]["merges"] = {"abc"}; }, "is not \"left right\""},
      {"bad vocab id", [](auto& j) { j["model"]["vocab"]["c"] = "x"; }, "not a valid id"},
      {"normalizer",
       [](auto& j) {
         j["normalizer"] = {{"type", "NFKC"}};
       },
       "normalizer \"NFKC\""},
      {"pre-tokenizer",
       [](auto& j) {
         j["pre_tokenizer"] = {{"type", "Whitespace"}};
       },
       "\"Whitespace\""},
      {"regex",
       [](auto& j) {
         j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "\\w+"}}}, {"behavior", "Isolated"}};
       },
       "regex"},
      {"decoder",
       [](auto& j) {
         j["decoder"] = {{"type", "WordPiece"}};
       },
       "decoder \"WordPiece\""},
      {"added token",
       [](auto& j) {
         j["added_tokens"] = {{{"content", "x"}}};
       },
       "added token"},
      {"template",
       [](auto& j) {
         j["post_processor"] = {{"type", "TemplateProcessing"},
                                {"single", {{{"SpecialToken", {{"id", "<s>"}}}}}},
                                {"special_tokens", nlohmann::json::object()}};
       },
       "special token \"<s>\""},
      // Found by fuzz/tokenizer_json_fuzzer (RELIABILITY.md): ids near 2^31 sized a table of 64 GB, and members of
      // the wrong JSON type escaped as nlohmann exceptions that named no file.
      {"huge vocab id", [](auto& j) { j["model"]["vocab"]["c"] = 2147483646; }, "is not a valid id (0 .. 16777215)"},
      {"huge added id",
       [](auto& j) {
         j["added_tokens"] = {{{"id", int64_t{1} << 32}, {"content", "x"}}};
       },
       "has an id outside 0 .. 16777215"},
      {"special not boolean",
       [](auto& j) {
         j["added_tokens"] = {{{"id", 3}, {"content", "x"}, {"special", "yes"}}};
       },
       "malformed tokenizer.json: [json.exception.type_error"},
      {"normalizer a number", [](auto& j) { j["normalizer"] = 5; }, "malformed tokenizer.json"},
      {"model type a number", [](auto& j) { j["model"]["type"] = 1; }, "malformed tokenizer.json"},
  };
  for (const Case& c : cases) {
    ScratchDir dir;
    nlohmann::json j = MinimalJson();
    c.edit(j);
    Write(dir / "tokenizer.json", j.dump());
    EXPECT_THAT(LoadError(dir.path()), AllOf(HasSubstr("tokenizer.json: "), HasSubstr(c.expected))) << c.name;
  }
}

TEST(MalformedTokenizerTest, NotJson) {
  ScratchDir dir;
  Write(dir / "tokenizer.json", "{\"model\": ");
  EXPECT_THAT(LoadError(dir.path()), HasSubstr("tokenizer.json: not valid JSON"));
  ScratchDir dir2;
  Write(dir2 / "tokenizer.json", MinimalJson().dump());
  Write(dir2 / "tokenizer_config.json", "not json");
  EXPECT_THAT(LoadError(dir2.path()), HasSubstr("tokenizer_config.json: not valid JSON"));
}

TEST(MalformedTokenizerTest, TruncatedLlama2cFile) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  const std::string bytes = testing::ReadFileText(model / "tok512.bin");
  ScratchDir dir;
  Write(dir / "tokenizer.bin", bytes.substr(0, bytes.size() - 3));
  EXPECT_THAT(LoadError(dir.path()), AllOf(HasSubstr("tokenizer.bin: "), HasSubstr("truncated")));
  Write(dir / "tokenizer.bin", std::string("\xff\xff\xff\xff", 4));
  EXPECT_THAT(LoadError(dir.path()), HasSubstr("max_token_length"));
  Write(dir / "tokenizer.bin", bytes.substr(0, 4 + 100 * 9));
  EXPECT_THAT(LoadError(dir.path()), HasSubstr("tokenizer.bin: "));
}

TEST(MalformedTokenizerTest, NothingToLoadListsWhatWasLookedFor) {
  ScratchDir dir;
  EXPECT_THAT(LoadError(dir.path()), AllOf(HasSubstr("no tokenizer found"), HasSubstr("tokenizer.json"),
                                           HasSubstr("tokenizer.model"), HasSubstr("*.gguf"), HasSubstr("tok*.bin")));
  // A .gguf is now a tokenizer source: a broken one is an error naming it.
  Write(dir / "model.gguf", "GGUF");
  EXPECT_THAT(LoadError(dir.path()), AllOf(HasSubstr("model.gguf"), HasSubstr("truncated")));
  EXPECT_THAT(LoadError(dir / "missing"), HasSubstr("no such file"));
}

TEST(MalformedTokenizerTest, BadSentencePieceModel) {
  ScratchDir dir;
  Write(dir / "tokenizer.model", "not a protobuf");
  EXPECT_THAT(LoadError(dir.path()), HasSubstr("tokenizer.model"));
}

}  // namespace
}  // namespace octet
