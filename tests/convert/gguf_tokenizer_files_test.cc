// GGUF -> tokenizer.json (convert/gguf_tokenizer_files.h). The references are independent of the code under test:
// aidreams260K's own tokenizer.json (written by transformers' LlamaConverter), its sample_text_ids.txt and
// tokenizers.js's reference vectors, the byte-level test tokenizers' own tokenizer.json files and vectors, and a
// merge list derived by hand from transformers' GGUFTokenizerSkeleton.
#include "convert/gguf_tokenizer_files.h"

#include <algorithm>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include "convert/convert.h"
#include "convert_test_util.h"
#include "io/checkpoint.h"
#include "io/gguf_reader.h"
#include "io/gguf_writer.h"
#include "test_util.h"
#include "tokenizer/gguf_test_vocabularies.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/load_tokenizer.h"
#include "tokenizer/tokenizer_test_util.h"
#include "util/error.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::ParseIdLine;
using testing::ReadFileText;
using testing::ReadLines;
using testing::ReadReferenceCases;
using testing::ScratchDir;
using testing::TokenizerDataDir;
using namespace testing::gguf_vocab;

json ReadJson(const fs::path& path) { return json::parse(ReadFileText(path)); }

// The tokenizer.json built from a tokenizer-only GGUF, loaded by octet's own tokenizer.json reader.
std::unique_ptr<HfTokenizer> TokenizerFrom(const HfTokenizerFiles& files) {
  return HfTokenizer::FromJson(json::parse(files.tokenizer.dump()), TokenizerConfig{}, "built tokenizer.json");
}

// Merges as (left, right) pairs, whether the file spells them "left right" or ["left", "right"].
std::vector<std::pair<std::string, std::string>> MergeList(const json& merges) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const json& m : merges) {
    if (m.is_array()) {
      out.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      const std::string s = m.get<std::string>();
      out.emplace_back(s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1));
    }
  }
  return out;
}

std::set<std::pair<std::string, std::string>> MergeSet(const json& merges) {
  const auto list = MergeList(merges);
  return {list.begin(), list.end()};
}

// aidreams260K -> GGUF (octet's exporter) -> FP8 checkpoint: the tokenizer files written beside the weights must
// be transformers' own for this model up to the order of merges that form the same token, and tokenize as it does.
TEST(GgufTokenizerFiles, AidreamsThroughGgufAndBackTokenizesLikeTheOriginal) {
  OCTET_REQUIRE_SHARED_MODEL(model_dir, "aidreams260K");
  ScratchDir scratch;
  const fs::path gguf = scratch / "aidreams.gguf";
  Convert(testing::QuietConvert(model_dir, gguf, "F32"));
  const fs::path out = scratch / "fp8";
  Convert(testing::QuietConvert(gguf, out, "fp8"));
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}) {
    ASSERT_TRUE(fs::is_regular_file(out / name)) << name;
  }

  // Everything but the merge order is what transformers wrote for this model.
  const json original = ReadJson(model_dir / "tokenizer.json");
  const json written = ReadJson(out / "tokenizer.json");
  for (const char* key : {"added_tokens", "normalizer", "pre_tokenizer", "post_processor", "decoder"}) {
    EXPECT_EQ(written[key], original[key]) << key;
  }
  for (const char* key : {"type", "unk_token", "fuse_unk", "byte_fallback", "vocab"}) {
    EXPECT_EQ(written["model"][key], original["model"][key]) << key;
  }
  // The merges derived from the scores are the original ones (the GGUF has none): the same set (a token's
  // alternative splits, also derived, keep their place next to each other, which is why the order may differ).
  EXPECT_EQ(MergeSet(written["model"]["merges"]), MergeSet(original["model"]["merges"]));

  const auto restored = LoadTokenizer(out);
  const auto reference = LoadTokenizer(model_dir);
  EXPECT_NE(restored->description().find("tokenizer.json"), std::string::npos) << restored->description();
  const std::vector<std::string> texts = ReadLines(model_dir / "sample_text.txt");
  const std::vector<std::string> ids = ReadLines(model_dir / "sample_text_ids.txt");
  ASSERT_EQ(texts.size(), ids.size());
  ASSERT_GE(texts.size(), 16u);
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::vector<int32_t> encoded = restored->Encode(texts[i], true);
    EXPECT_EQ(encoded, ParseIdLine(ids[i])) << "line " << i + 1;
    EXPECT_EQ(encoded, reference->Encode(texts[i], true)) << "line " << i + 1;
    EXPECT_EQ(restored->Decode(encoded), texts[i]) << "line " << i + 1;
  }
  for (const auto& c : ReadReferenceCases("aidreams260K")) {
    EXPECT_EQ(restored->Encode(c.text, true), c.ids) << "text: " << c.text;
    EXPECT_EQ(restored->Encode(c.text, false), c.ids_no_special) << "text: " << c.text;
    EXPECT_EQ(restored->Decode(c.ids), c.decoded) << "text: " << c.text;
  }

  // tokenizer_config.json / special_tokens_map.json against the GGUF's metadata.
  const GgufFile file = GgufFile::Open(gguf);
  const std::vector<std::string> tokens = file.GetStringArray("tokenizer.ggml.tokens");
  const auto token = [&](const char* key) { return tokens.at(file.GetUint(key)); };
  const json config = ReadJson(out / "tokenizer_config.json");
  EXPECT_EQ(config["add_bos_token"], file.GetBool("tokenizer.ggml.add_bos_token"));
  EXPECT_EQ(config["add_eos_token"], file.GetBool("tokenizer.ggml.add_eos_token"));
  EXPECT_EQ(config["bos_token"], token("tokenizer.ggml.bos_token_id"));
  EXPECT_EQ(config["eos_token"], token("tokenizer.ggml.eos_token_id"));
  EXPECT_EQ(config["unk_token"], token("tokenizer.ggml.unknown_token_id"));
  EXPECT_TRUE(config["pad_token"].is_null());  // the GGUF has no padding_token_id
  EXPECT_FALSE(config.contains("chat_template"));
  EXPECT_EQ(config["tokenizer_class"], "LlamaTokenizerFast");
  const std::vector<int64_t> types = file.GetIntArray("tokenizer.ggml.token_type");
  size_t control = 0;
  for (size_t id = 0; id < types.size(); ++id) {
    if (types[id] != kControl) continue;
    ++control;
    const json& entry = config["added_tokens_decoder"][std::to_string(id)];
    EXPECT_EQ(entry["content"], tokens[id]);
    EXPECT_EQ(entry["special"], true);
  }
  EXPECT_EQ(control, 3u);
  EXPECT_EQ(config["added_tokens_decoder"].size(), control);
  EXPECT_EQ(ReadJson(out / "special_tokens_map.json"),
            (json{{"bos_token", "<s>"}, {"eos_token", "</s>"}, {"unk_token", "<unk>"}}));
  EXPECT_EQ(ReadJson(out / "special_tokens_map.json"), ReadJson(model_dir / "special_tokens_map.json"));
}

// The converted checkpoint can calibrate static FP8 activations from text, which needs its tokenizer.
TEST(GgufTokenizerFiles, GgufToStaticFp8CalibratesFromText) {
  OCTET_REQUIRE_SHARED_MODEL(model_dir, "aidreams260K");
  ScratchDir scratch;
  const fs::path gguf = scratch / "aidreams.gguf";
  Convert(testing::QuietConvert(model_dir, gguf, "F32"));
  const auto result = testing::RunCli(fmt::format("convert {} -q fp8 --activations static --calib-text {} -o {}",
                                                  gguf.string(), (model_dir / "sample_text.txt").string(),
                                                  (scratch / "out").string()));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output.find("warning"), std::string::npos) << result.output;
  const json config = ReadJson(scratch / "out" / "config.json");
  EXPECT_EQ(config["quantization_config"]["activation_scheme"], "static");
  const Checkpoint checkpoint = Checkpoint::Open(scratch / "out");
  EXPECT_NE(checkpoint.Find("model.layers.0.self_attn.q_proj.input_scale"), nullptr);
  EXPECT_TRUE(fs::is_regular_file(scratch / "out" / "tokenizer.json"));
  // The report on disk names the source and what became of its tokenizer.
  const json report = ReadJson(scratch / "out" / "octet-report.json");
  EXPECT_EQ(report.value("source_gguf", ""), gguf.string());
  EXPECT_NE(report.value("tokenizer_note", "").find("tokenizer.json"), std::string::npos) << report.dump(2);
  // And the CLI's own commands tokenize with it.
  const auto tokenized =
      testing::RunCli(fmt::format("tokenize {} --text \"Echoes of vectors\"", (scratch / "out").string()));
  ASSERT_EQ(tokenized.exit_code, 0) << tokenized.output;
  const std::vector<int32_t> expected = LoadTokenizer(model_dir)->Encode("Echoes of vectors", true);
  EXPECT_NE(tokenized.output.find(fmt::format("{}", fmt::join(expected, " "))), std::string::npos) << tokenized.output;
}

// A genuine SentencePiece vocabulary (aidreams260K's tok512.bin pieces and scores, as convert_hf_to_gguf.py's
// _create_vocab_sentencepiece writes them): the merges derived from SentencePiece's own scores must tokenize as
// the model's tokenizer does.
TEST(GgufTokenizerFiles, SentencePieceScoresBecomeMergesThatTokenizeLikeTheModel) {
  OCTET_REQUIRE_SHARED_MODEL(model_dir, "aidreams260K");
  ScratchDir scratch;
  WriteVocabGguf(scratch / "v.gguf", AidreamsVocabulary(model_dir / "tok512.bin"));
  const HfTokenizerFiles files = BuildHfTokenizerFiles(GgufFile::Open(scratch / "v.gguf"));
  const auto tokenizer = TokenizerFrom(files);
  for (const auto& c : ReadReferenceCases("aidreams260K")) {
    EXPECT_EQ(tokenizer->Encode(c.text, true), c.ids) << "text: " << c.text;
    EXPECT_EQ(tokenizer->Encode(c.text, false), c.ids_no_special) << "text: " << c.text;
    EXPECT_EQ(tokenizer->Decode(c.ids), c.decoded) << "text: " << c.text;
  }
  // <unk> is token type 2 there: cut out of text as a special token, like the control tokens.
  EXPECT_EQ(files.tokenizer["added_tokens"].size(), 3u);
  EXPECT_EQ(files.tokenizer["added_tokens"][0]["content"], "<unk>");
  EXPECT_EQ(files.tokenizer["added_tokens"][0]["special"], true);
}

// GGUFTokenizerSkeleton's merge derivation on a vocabulary small enough to do by hand, and the keys that change
// the layout: add_space_prefix false, add_eos_token, padding id, chat template, user-defined tokens.
TEST(GgufTokenizerFiles, MergesAndFlagsByHand) {
  // ids:                              0        1      2       3    4    5    6     7     8      9
  const std::vector<std::string> tokens = {"<unk>", "<s>", "</s>", "a", "b", "c", "ab", "bc", "abc", "<pad>"};
  const std::vector<float> scores = {0, 0, 0, 0, 0, 0, -1, -2, -3, 0};
  const std::vector<int32_t> types = {kUnknown, kControl, kControl, kNormal, kNormal,
                                      kNormal,  kNormal,  kNormal,  kNormal, kUserDefined};
  ScratchDir scratch;
  WriteVocabGguf(scratch / "v.gguf", {{"tokenizer.ggml.model", GgufValue::String("llama")},
                                      {"tokenizer.ggml.tokens", GgufValue::StringArray(tokens)},
                                      {"tokenizer.ggml.scores", GgufValue::Float32Array(scores)},
                                      {"tokenizer.ggml.token_type", GgufValue::Int32Array(types)},
                                      {"tokenizer.ggml.padding_token_id", GgufValue::Uint32(9)},
                                      {"tokenizer.ggml.add_space_prefix", GgufValue::Bool(false)},
                                      {"tokenizer.ggml.add_eos_token", GgufValue::Bool(true)},
                                      {"tokenizer.chat_template", GgufValue::String("{{ messages }}")}});
  const HfTokenizerFiles files = BuildHfTokenizerFiles(GgufFile::Open(scratch / "v.gguf"));
  // Per token: ab -> (a, b) score -1; bc -> (b, c) -2; abc -> (a, bc) and (ab, c), both -3, ordered by their
  // halves' scores (0, -2) > (-1, 0); then all by score, highest first.
  EXPECT_EQ(json::parse(files.tokenizer["model"]["merges"].dump()), (json{"a b", "b c", "a bc", "ab c"}));
  // No dummy prefix: only the space replacement, and no leading-space strip when decoding.
  EXPECT_EQ(json::parse(files.tokenizer["normalizer"]["normalizers"].dump()),
            (json::array({{{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}})));
  EXPECT_EQ(files.tokenizer["decoder"]["decoders"].size(), 3u);
  // BOS (llama.cpp's default for llama vocabularies) and EOS around a sequence.
  const auto tokenizer = TokenizerFrom(files);
  EXPECT_EQ(tokenizer->Encode("abc", true), (std::vector<int32_t>{1, 8, 2}));
  EXPECT_EQ(tokenizer->Encode("ab<pad>c", false), (std::vector<int32_t>{6, 9, 5}));  // user-defined: matched
  EXPECT_EQ(tokenizer->Decode(std::vector<int32_t>{1, 6, 9, 5, 2}), "ab<pad>c");     // and decoded as text
  const json& added = files.tokenizer["added_tokens"];
  ASSERT_EQ(added.size(), 4u);
  EXPECT_EQ(added[3], (json{{"id", 9}, {"content", "<pad>"}, {"single_word", false}, {"lstrip", false},
                            {"rstrip", false}, {"normalized", false}, {"special", false}}));
  const auto& config = files.tokenizer_config;
  EXPECT_EQ(config["add_bos_token"], true);
  EXPECT_EQ(config["add_eos_token"], true);
  EXPECT_EQ(config["pad_token"], "<pad>");
  EXPECT_EQ(config["chat_template"], "{{ messages }}");
  EXPECT_EQ(files.special_tokens_map,
            (nlohmann::ordered_json{
                {"bos_token", "<s>"}, {"eos_token", "</s>"}, {"unk_token", "<unk>"}, {"pad_token", "<pad>"}}));
}

class GgufTokenizerFilesByteLevel : public ::testing::TestWithParam<ByteLevelCase> {};

// gpt2 vocabularies as convert_hf_to_gguf.py's _set_vocab_gpt2 writes them: the tokenizer.json built back must have
// the pre-tokenizer, model flags and merges of the file they came from, and tokenize as tokenizers.js does.
TEST_P(GgufTokenizerFilesByteLevel, MatchesTheOriginalTokenizerJson) {
  ScratchDir scratch;
  WriteVocabGguf(scratch / "v.gguf", ByteLevelVocabulary(GetParam().name, GetParam().pre));
  const HfTokenizerFiles files = BuildHfTokenizerFiles(GgufFile::Open(scratch / "v.gguf"));
  const json original = ReadJson(TokenizerDataDir() / (GetParam().name + ".json"));
  const json written = json::parse(files.tokenizer.dump());
  EXPECT_EQ(written["pre_tokenizer"], original["pre_tokenizer"]);
  EXPECT_EQ(written["decoder"], original["decoder"]);
  for (const char* key : {"type", "byte_fallback", "ignore_merges", "fuse_unk"}) {
    EXPECT_EQ(written["model"][key], original["model"][key]) << key;
  }
  EXPECT_EQ(MergeList(written["model"]["merges"]), MergeList(original["model"]["merges"]));
  for (const auto& [token, id] : original["model"]["vocab"].items()) EXPECT_EQ(written["model"]["vocab"][token], id);
  if (GetParam().name != "bytelevel_qwen2") {
    EXPECT_EQ(written["post_processor"], original["post_processor"]);
  }

  const auto tokenizer = TokenizerFrom(files);
  const auto reference = LoadTokenizer(TokenizerDataDir() / (GetParam().name + ".json"));
  int compared = 0;
  for (const auto& c : ReadReferenceCases(GetParam().name)) {
    if (!c.nfc_inert) continue;  // Qwen2 normalizes with NFC; llama.cpp's reading of the keys does not
    EXPECT_EQ(tokenizer->Encode(c.text, true), c.ids) << "text: " << c.text;
    EXPECT_EQ(tokenizer->Encode(c.text, false), c.ids_no_special) << "text: " << c.text;
    EXPECT_EQ(tokenizer->Decode(c.ids), reference->Decode(c.ids)) << "text: " << c.text;
    ++compared;
  }
  EXPECT_GE(compared, 260);
  EXPECT_EQ(files.tokenizer_config["tokenizer_class"], "PreTrainedTokenizerFast");
}

INSTANTIATE_TEST_SUITE_P(Flavours, GgufTokenizerFilesByteLevel,
                         ::testing::ValuesIn(kByteLevelFlavours),
                         [](const auto& info) { return info.param.name; });

// A tokenizer that cannot be expressed: one line naming the key and value; the import still writes the weights.
TEST(GgufTokenizerFiles, UnmappableTokenizerIsNamedAndOnlyWarnedAbout) {
  ScratchDir scratch;
  const GgufKeyValue tokens{"tokenizer.ggml.tokens", GgufValue::StringArray({"a", "b", "ab"})};
  const auto expect_error = [&](std::vector<GgufKeyValue> metadata, const std::string& part) {
    WriteVocabGguf(scratch / "bad.gguf", std::move(metadata));
    const GgufFile file = GgufFile::Open(scratch / "bad.gguf");
    try {
      BuildHfTokenizerFiles(file);
      ADD_FAILURE() << "no error; expected '" << part << "'";
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("bad.gguf"), std::string::npos) << message;
      EXPECT_NE(message.find(part), std::string::npos) << message;
      EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    }
    const fs::path dir = scratch / "dir";
    fs::create_directories(dir);
    const HfTokenizerWriteResult written = WriteHfTokenizerFiles(file, dir);
    EXPECT_FALSE(written.written);
    EXPECT_NE(written.note.find(part), std::string::npos) << written.note;
    EXPECT_TRUE(fs::is_empty(dir));
    fs::remove(scratch / "bad.gguf");
  };
  expect_error({{"tokenizer.ggml.model", GgufValue::String("bert")}, tokens}, "tokenizer.ggml.model 'bert'");
  expect_error({{"tokenizer.ggml.model", GgufValue::String("gpt2")},
                {"tokenizer.ggml.pre", GgufValue::String("deepseek-llm")},
                tokens},
               "tokenizer.ggml.pre 'deepseek-llm'");
  expect_error({{"tokenizer.ggml.model", GgufValue::String("gpt2")}, tokens}, "no tokenizer.ggml.pre");
  expect_error({{"tokenizer.ggml.model", GgufValue::String("llama")}, tokens}, "'tokenizer.ggml.scores' is missing");
  expect_error({{"tokenizer.ggml.model", GgufValue::String("llama")},
                {"tokenizer.ggml.tokens", GgufValue::StringArray({"a", "b", "a"})}},
               "duplicate token 'a'");
  expect_error({{"tokenizer.ggml.model", GgufValue::String("llama")},
                tokens,
                {"tokenizer.ggml.scores", GgufValue::Float32Array({0, 0, 0})},
                {"tokenizer.ggml.bos_token_id", GgufValue::Uint32(7)}},
               "tokenizer.ggml.bos_token_id is 7, outside the 3 tokens");

  // End to end: aidreams260K's GGUF with its vocabulary relabelled as a gpt2 one of an unknown pre-tokenizer.
  OCTET_REQUIRE_SHARED_MODEL(model_dir, "aidreams260K");
  const fs::path gguf = scratch / "aidreams.gguf";
  Convert(testing::QuietConvert(model_dir, gguf, "F32"));
  const GgufFile source = GgufFile::Open(gguf);
  std::vector<GgufKeyValue> metadata;
  for (const GgufKeyValue& kv : source.metadata()) {
    if (kv.key == "tokenizer.ggml.pre") continue;
    metadata.push_back(kv.key == "tokenizer.ggml.model" ? GgufKeyValue{kv.key, GgufValue::String("gpt2")} : kv);
  }
  metadata.push_back({"tokenizer.ggml.pre", GgufValue::String("deepseek-llm")});
  std::vector<GgufTensorSpec> specs;
  std::vector<std::span<const std::byte>> bytes;
  for (const GgufTensorInfo& t : source.tensors()) {
    specs.push_back({t.name, t.type, t.ne});
    bytes.push_back(t.bytes);
  }
  WriteGguf(scratch / "relabelled.gguf", metadata, specs, bytes);
  const auto result = testing::RunCli(fmt::format("convert {} -q fp8 -o {}", (scratch / "relabelled.gguf").string(),
                                                  (scratch / "out").string()));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("warning: no tokenizer.json was written"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("tokenizer.ggml.pre 'deepseek-llm'"), std::string::npos) << result.output;
  EXPECT_TRUE(fs::is_regular_file(scratch / "out" / "model.safetensors"));
  EXPECT_FALSE(fs::exists(scratch / "out" / "tokenizer.json"));
  EXPECT_NE(ReadJson(scratch / "out" / "octet-report.json").value("tokenizer_note", "").find("deepseek-llm"),
            std::string::npos);
}

}  // namespace
}  // namespace octet
