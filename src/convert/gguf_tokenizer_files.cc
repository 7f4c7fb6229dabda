#include "convert/gguf_tokenizer_files.h"

#include <algorithm>
#include <fstream>
#include <optional>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "tokenizer/gguf_tokenizer.h"
#include "tokenizer/split_pattern.h"
#include "tokenizer/unicode.h"
#include "util/error.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

// The metadata keys (llama.cpp src/llama-arch.cpp LLM_KV_NAMES, gguf-py constants.py Keys.Tokenizer).
constexpr const char* kModelKey = "tokenizer.ggml.model";
constexpr const char* kPreKey = "tokenizer.ggml.pre";
constexpr const char* kTokensKey = "tokenizer.ggml.tokens";
constexpr const char* kScoresKey = "tokenizer.ggml.scores";
constexpr const char* kTokenTypeKey = "tokenizer.ggml.token_type";
constexpr const char* kAddBosKey = "tokenizer.ggml.add_bos_token";
constexpr const char* kAddEosKey = "tokenizer.ggml.add_eos_token";
constexpr const char* kAddSpacePrefixKey = "tokenizer.ggml.add_space_prefix";
constexpr const char* kChatTemplateKey = "tokenizer.chat_template";

constexpr const char* kSpaceMarker = "\xE2\x96\x81";  // U+2581 "▁"

// The vocabulary and the special ids, as llama.cpp reads them (defaults included).
struct Vocab {
  bool spm = true;  // "llama" (true) or "gpt2"
  std::vector<std::string> tokens;
  std::vector<float> scores;  // llama only
  std::vector<int64_t> types;
  std::optional<int64_t> bos, eos, unk, pad;
  bool add_bos = false, add_eos = false, add_space_prefix = true;
  std::optional<GgufPreTokenizer> pre;  // gpt2 only
};

Vocab ReadVocab(const GgufFile& file) {
  const std::string source = file.path().string();
  Vocab v;
  const std::string model = file.GetString(kModelKey);
  if (model != "llama" && model != "gpt2") {
    Fail("{}: {} '{}' cannot be written as tokenizer.json (octet converts 'llama' and 'gpt2' vocabularies)", source,
         kModelKey, model);
  }
  v.spm = model == "llama";
  v.tokens = ReadGgufTokens(file);
  const size_t n = v.tokens.size();

  v.types.assign(n, static_cast<int64_t>(GgufTokenType::kNormal));
  if (file.Has(kTokenTypeKey)) {
    v.types = file.GetIntArray(kTokenTypeKey);
    if (v.types.size() != n) Fail("{}: {} has {} entries for {} tokens", source, kTokenTypeKey, v.types.size(), n);
  }
  if (v.spm) {
    // GGUFTokenizerSkeleton: "tokens and scores need to be passed for a LLaMa tokenizer without merges".
    if (!file.Has(kScoresKey)) {
      Fail("{}: metadata key '{}' is missing (llama vocabularies need it)", source, kScoresKey);
    }
    const GgufArray& scores = file.GetArray(kScoresKey);
    if (scores.elements.size() != n) {
      Fail("{}: {} has {} entries for {} tokens", source, kScoresKey, scores.elements.size(), n);
    }
    for (const GgufValue& s : scores.elements) {
      v.scores.push_back(s.is_float() ? static_cast<float>(s.AsDouble(kScoresKey))
                                      : static_cast<float>(s.AsInt64(kScoresKey)));
    }
  } else {
    const std::optional<std::string> pre = file.FindString(kPreKey);
    if (!pre) {
      Fail("{}: no {}: llama.cpp would use its multi-pass 'default' pre-tokenizer, which has no tokenizer.json "
           "equivalent octet knows",
           source, kPreKey);
    }
    v.pre = FindGgufPreTokenizer(*pre);
    if (!v.pre) {
      Fail("{}: {} '{}' has no tokenizer.json pre-tokenizer octet knows (it maps gpt-2, llama-bpe/llama3 and qwen2)",
           source, kPreKey, *pre);
    }
  }

  // llama.cpp's defaults (llama-vocab.cpp load(): SPM bos 1, eos 2, unk 0; BPE none octet relies on), then the keys.
  if (v.spm) {
    v.bos = 1;
    v.eos = 2;
    v.unk = 0;
  }
  const auto read_id = [&](const char* key, std::optional<int64_t>& id) {
    if (!file.Has(key)) return;
    const uint64_t value = file.GetUint(key);
    if (value >= n) Fail("{}: {} is {}, outside the {} tokens", source, key, value, n);
    id = static_cast<int64_t>(value);
  };
  read_id("tokenizer.ggml.bos_token_id", v.bos);
  read_id("tokenizer.ggml.eos_token_id", v.eos);
  read_id("tokenizer.ggml.unknown_token_id", v.unk);
  read_id("tokenizer.ggml.padding_token_id", v.pad);
  for (std::optional<int64_t>* id : {&v.bos, &v.eos, &v.unk}) {
    if (*id && static_cast<size_t>(**id) >= n) id->reset();  // a default past a tiny vocabulary
  }
  v.add_bos = v.spm || v.pre->add_bos;
  v.add_space_prefix = v.spm;
  if (const std::optional<bool> b = file.FindBool(kAddBosKey)) v.add_bos = *b;
  if (const std::optional<bool> b = file.FindBool(kAddEosKey)) v.add_eos = *b;
  if (const std::optional<bool> b = file.FindBool(kAddSpacePrefixKey); b && v.spm) v.add_space_prefix = *b;
  if (v.add_bos && !v.bos) Fail("{}: {} is true, but tokenizer.ggml.bos_token_id is not set", source, kAddBosKey);
  if (v.add_eos && !v.eos) Fail("{}: {} is true, but tokenizer.ggml.eos_token_id is not set", source, kAddEosKey);
  return v;
}

// The code-point boundaries of `text` (byte offsets, 0 and size() included): Python slices strings there.
std::vector<size_t> CodePointBoundaries(std::string_view text) {
  std::vector<size_t> bounds{0};
  for (size_t pos = 0; pos < text.size();) {
    pos += unicode::DecodeAt(text, pos).length;
    bounds.push_back(std::min(pos, text.size()));
  }
  return bounds;
}

// transformers' GGUFTokenizerSkeleton.__init__ for a vocabulary without merges: for each token in id order, every
// split (left, right) at a code point with both halves in the vocabulary, sorted by (score[left], score[right])
// highest first; then all stably by the token's score, highest first (Python's sorted(reverse=True) is stable).
std::vector<std::pair<std::string, std::string>> MergesFromScores(const Vocab& v) {
  std::unordered_map<std::string_view, float> score;
  for (size_t i = 0; i < v.tokens.size(); ++i) score.emplace(v.tokens[i], v.scores[i]);
  struct Merge {
    std::string_view left, right;
    float score;
  };
  std::vector<Merge> merges;
  std::vector<Merge> local;
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    const std::string_view token = v.tokens[i];
    const std::vector<size_t> bounds = CodePointBoundaries(token);
    local.clear();
    for (size_t b = 1; b + 1 < bounds.size(); ++b) {
      const std::string_view left = token.substr(0, bounds[b]), right = token.substr(bounds[b]);
      if (score.count(left) && score.count(right)) local.push_back({left, right, v.scores[i]});
    }
    std::stable_sort(local.begin(), local.end(), [&](const Merge& a, const Merge& b) {
      const std::pair<float, float> ka{score.at(a.left), score.at(a.right)}, kb{score.at(b.left), score.at(b.right)};
      return ka > kb;
    });
    merges.insert(merges.end(), local.begin(), local.end());
  }
  std::stable_sort(merges.begin(), merges.end(), [](const Merge& a, const Merge& b) { return a.score > b.score; });
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(merges.size());
  for (const Merge& m : merges) out.emplace_back(m.left, m.right);
  return out;
}

// "a b" strings, the format every tokenizers version reads, unless a side holds a space; then ["a", "b"] pairs
// (tokenizers >= 0.20), which "a b" could not express.
Json MergesJson(const std::vector<std::pair<std::string, std::string>>& merges) {
  const bool pairs = std::any_of(merges.begin(), merges.end(), [](const auto& m) {
    return m.first.find(' ') != std::string::npos || m.second.find(' ') != std::string::npos;
  });
  Json out = Json::array();
  for (const auto& [left, right] : merges) {
    if (pairs) {
      out.push_back(Json::array({left, right}));
    } else {
      out.push_back(left + " " + right);
    }
  }
  return out;
}

bool IsSpecialType(int64_t type) {
  return type == static_cast<int64_t>(GgufTokenType::kControl) || type == static_cast<int64_t>(GgufTokenType::kUnknown);
}

// An added_tokens entry as the tokenizers library serializes it (AddedTokenWithId).
Json AddedTokenJson(size_t id, const std::string& content, bool special) {
  return {{"id", id},        {"content", content},       {"single_word", false}, {"lstrip", false},
          {"rstrip", false}, {"normalized", false}, {"special", special}};
}

Json StringNormalizerPattern(const std::string& s) { return {{"String", s}}; }

// TemplateProcessing as transformers' LlamaTokenizerFast.update_post_processor writes it: [BOS] $A [EOS] and
// [BOS] $A [EOS] [BOS] $B:1 [EOS]:1.
Json PostProcessor(const Vocab& v) {
  Json single = Json::array(), pair = Json::array(), specials = Json::object();
  const auto special = [&](int64_t id, int type_id) {
    const std::string& token = v.tokens[static_cast<size_t>(id)];
    specials[token] = {{"id", token}, {"ids", {id}}, {"tokens", {token}}};
    return Json{{"SpecialToken", {{"id", token}, {"type_id", type_id}}}};
  };
  for (int type_id = 0; type_id < 2; ++type_id) {
    Json& out = type_id == 0 ? single : pair;
    for (int part = 0; part < (type_id == 0 ? 1 : 2); ++part) {
      if (v.add_bos) out.push_back(special(*v.bos, part));
      out.push_back({{"Sequence", {{"id", part == 0 ? "A" : "B"}, {"type_id", part}}}});
      if (v.add_eos) out.push_back(special(*v.eos, part));
    }
  }
  return {{"type", "TemplateProcessing"}, {"single", single}, {"pair", pair}, {"special_tokens", specials}};
}

Json TokenizerJson(const GgufFile& file, const Vocab& v) {
  Json added = Json::array();
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    const bool special = IsSpecialType(v.types[i]);
    if (!special && v.types[i] != static_cast<int64_t>(GgufTokenType::kUserDefined)) continue;
    added.push_back(AddedTokenJson(i, v.tokens[i], special));
  }
  Json vocab = Json::object();
  for (size_t i = 0; i < v.tokens.size(); ++i) vocab[v.tokens[i]] = i;

  Json root;
  root["version"] = "1.0";
  root["truncation"] = nullptr;
  root["padding"] = nullptr;
  root["added_tokens"] = added;
  Json model{{"type", "BPE"}, {"dropout", nullptr}};
  if (v.spm) {
    // convert_slow_tokenizer.py LlamaConverter.normalizer / decoder (legacy, with add_prefix_space).
    Json normalizers = Json::array();
    if (v.add_space_prefix) normalizers.push_back({{"type", "Prepend"}, {"prepend", kSpaceMarker}});
    normalizers.push_back({{"type", "Replace"}, {"pattern", StringNormalizerPattern(" ")}, {"content", kSpaceMarker}});
    root["normalizer"] = {{"type", "Sequence"}, {"normalizers", normalizers}};
    root["pre_tokenizer"] = nullptr;
    root["post_processor"] = PostProcessor(v);
    Json decoders =
        Json::array({{{"type", "Replace"}, {"pattern", StringNormalizerPattern(kSpaceMarker)}, {"content", " "}},
                     {{"type", "ByteFallback"}},
                     {{"type", "Fuse"}}});
    if (v.add_space_prefix) decoders.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
    root["decoder"] = {{"type", "Sequence"}, {"decoders", decoders}};
    model["unk_token"] = v.unk ? Json(v.tokens[static_cast<size_t>(*v.unk)]) : Json(nullptr);
    model["continuing_subword_prefix"] = nullptr;
    model["end_of_word_suffix"] = nullptr;
    model["fuse_unk"] = true;
    model["byte_fallback"] = true;
    model["ignore_merges"] = false;
    model["vocab"] = std::move(vocab);
    model["merges"] = MergesJson(MergesFromScores(v));
  } else {
    // The byte-level layout of GPT-2 / Llama-3 / Qwen2 tokenizer.json files (convert_slow_tokenizer.py
    // GPT2Converter, Qwen2Converter; Llama-3's published file), the split regex named by tokenizer.ggml.pre.
    root["normalizer"] = nullptr;
    const Json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
                             {"use_regex", v.pre->pattern == SplitPattern::kGpt2}};
    if (v.pre->pattern == SplitPattern::kGpt2) {
      root["pre_tokenizer"] = byte_level;  // GPT-2's regex is the ByteLevel pre-tokenizer's own
    } else {
      const Json split = {{"type", "Split"},
                          {"pattern", {{"Regex", std::string(SplitPatternRegex(v.pre->pattern))}}},
                          {"behavior", "Isolated"},
                          {"invert", false}};
      root["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {split, byte_level}}};
    }
    const Json offsets = {
        {"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}};
    root["post_processor"] =
        v.add_bos || v.add_eos ? Json{{"type", "Sequence"}, {"processors", {offsets, PostProcessor(v)}}} : offsets;
    root["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
    model["unk_token"] = nullptr;
    model["continuing_subword_prefix"] = nullptr;
    model["end_of_word_suffix"] = nullptr;
    model["fuse_unk"] = false;
    model["byte_fallback"] = false;
    model["ignore_merges"] = v.pre->ignore_merges;
    model["vocab"] = std::move(vocab);
    model["merges"] = MergesJson(ReadGgufMerges(file));
  }
  root["model"] = std::move(model);
  return root;
}

}  // namespace

HfTokenizerFiles BuildHfTokenizerFiles(const GgufFile& file) {
  const Vocab v = ReadVocab(file);
  HfTokenizerFiles out;
  out.tokenizer = TokenizerJson(file, v);

  const auto token_or_null = [&](const std::optional<int64_t>& id) {
    return id ? Json(v.tokens[static_cast<size_t>(*id)]) : Json(nullptr);
  };
  Json& config = out.tokenizer_config;
  config["add_bos_token"] = v.add_bos;
  config["add_eos_token"] = v.add_eos;
  Json decoder = Json::object();
  for (const Json& token : out.tokenizer["added_tokens"]) {
    Json entry = token;
    entry.erase("id");
    decoder[std::to_string(token["id"].get<size_t>())] = std::move(entry);
  }
  config["added_tokens_decoder"] = std::move(decoder);
  config["bos_token"] = token_or_null(v.bos);
  config["eos_token"] = token_or_null(v.eos);
  config["unk_token"] = token_or_null(v.unk);
  config["pad_token"] = token_or_null(v.pad);
  config["clean_up_tokenization_spaces"] = false;
  if (v.spm) {
    // legacy=true names the Prepend + Replace normalizer above (transformers' "legacy" Llama behaviour); it only
    // matters when transformers rebuilds the fast tokenizer from a slow one, which it has no reason to do here.
    config["legacy"] = true;
    config["tokenizer_class"] = "LlamaTokenizerFast";
  } else {
    config["tokenizer_class"] = "PreTrainedTokenizerFast";
  }
  if (const std::optional<std::string> chat = file.FindString(kChatTemplateKey); chat && !chat->empty()) {
    config["chat_template"] = *chat;
  }

  Json& map = out.special_tokens_map;
  map = Json::object();
  if (v.bos) map["bos_token"] = v.tokens[static_cast<size_t>(*v.bos)];
  if (v.eos) map["eos_token"] = v.tokens[static_cast<size_t>(*v.eos)];
  if (v.unk) map["unk_token"] = v.tokens[static_cast<size_t>(*v.unk)];
  if (v.pad) map["pad_token"] = v.tokens[static_cast<size_t>(*v.pad)];

  out.description = v.spm ? fmt::format("llama (SentencePiece-style BPE, {} tokens, {} merges derived from the scores)",
                                        v.tokens.size(), out.tokenizer["model"]["merges"].size())
                          : fmt::format("gpt2 (byte-level BPE, pre '{}', {} tokens, {} merges)", file.GetString(kPreKey),
                                        v.tokens.size(), out.tokenizer["model"]["merges"].size());
  return out;
}

HfTokenizerWriteResult WriteHfTokenizerFiles(const GgufFile& file, const fs::path& dir) {
  if (!file.Has(kModelKey)) {
    return {false, fmt::format("{} has no {}: no tokenizer files were written; copy the original tokenizer files",
                               file.path().filename().string(), kModelKey)};
  }
  std::vector<std::pair<const char*, std::string>> texts;
  std::string description;
  try {
    const HfTokenizerFiles files = BuildHfTokenizerFiles(file);
    description = files.description;
    try {
      // Strict UTF-8: a token that is not valid UTF-8 cannot be a tokenizer.json key (never replaced silently).
      texts = {{"tokenizer.json", files.tokenizer.dump(2)},
               {"tokenizer_config.json", files.tokenizer_config.dump(2)},
               {"special_tokens_map.json", files.special_tokens_map.dump(2)}};
    } catch (const nlohmann::json::exception& e) {
      Fail("{}: {} holds text that is not UTF-8 ({})", file.path().string(), kTokensKey, e.what());
    }
  } catch (const Error& e) {
    return {false, fmt::format("no tokenizer.json was written ({}); copy the original tokenizer files", e.what())};
  }
  for (const auto& [name, text] : texts) {
    std::ofstream out(dir / name, std::ios::binary);
    out << text << "\n";
    if (!out) Fail("{}: cannot write {}", dir.string(), name);
  }
  return {true, fmt::format("written from the GGUF's tokenizer.* metadata: tokenizer.json, tokenizer_config.json, "
                            "special_tokens_map.json; {}",
                            description)};
}

}  // namespace octet
