#include "tokenizer/hf_tokenizer.h"

#include <algorithm>

#include "tokenizer/byte_level.h"
#include "util/error.h"

namespace octet {
namespace {

using nlohmann::json;

// Ids index a table of every token's decoded bytes, so an id of 2^31 in a hostile file would cost 64 GB. The largest
// published vocabularies hold about 256k tokens (Gemma); 2^24 leaves room and bounds the table at 16M entries.
constexpr int64_t kMaxTokenId = (int64_t{1} << 24) - 1;

std::vector<std::pair<std::string, std::string>> ParseMerges(const json& merges) {
  if (!merges.is_array()) Fail("model.merges is not an array");
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(merges.size());
  for (const json& merge : merges) {
    if (merge.is_string()) {
      // "left right": exactly one space, as the Rust library requires.
      const std::string text = merge.get<std::string>();
      const size_t space = text.find(' ');
      if (space == std::string::npos || text.find(' ', space + 1) != std::string::npos) {
        Fail("merge {} is not \"left right\"", merge.dump());
      }
      out.emplace_back(text.substr(0, space), text.substr(space + 1));
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      out.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
    } else {
      Fail("merge {} is neither \"left right\" nor [\"left\", \"right\"]", merge.dump());
    }
  }
  return out;
}

std::vector<AddedToken> ParseAddedTokens(const json& added) {
  std::vector<AddedToken> tokens;
  if (added.is_null()) return tokens;
  if (!added.is_array()) Fail("added_tokens is not an array");
  for (const json& entry : added) {
    if (!entry.is_object() || !entry.contains("id") || !entry["id"].is_number_integer() || !entry.contains("content") ||
        !entry["content"].is_string()) {
      Fail("added token {} lacks an integer id or a string content", entry.dump());
    }
    AddedToken token;
    token.content = entry["content"].get<std::string>();
    const int64_t id = entry["id"].get<int64_t>();
    if (id < 0 || id > kMaxTokenId) Fail("added token {} has an id outside 0 .. {}", entry.dump(), kMaxTokenId);
    token.id = static_cast<int32_t>(id);
    token.special = entry.value("special", false);
    token.lstrip = entry.value("lstrip", false);
    token.rstrip = entry.value("rstrip", false);
    token.normalized = entry.value("normalized", !token.special);
    tokens.push_back(std::move(token));
  }
  return tokens;
}

// The special tokens a post-processor puts before and after one sequence.
void ParsePostProcessor(const json& config, std::vector<int32_t>& prefix, std::vector<int32_t>& suffix) {
  if (config.is_null()) return;
  const std::string type = config.value("type", "");
  if (type == "Sequence") {
    for (const json& inner : config.value("processors", json::array())) ParsePostProcessor(inner, prefix, suffix);
  } else if (type == "ByteLevel") {
    // Only adjusts offsets.
  } else if (type == "TemplateProcessing") {
    prefix.clear();
    suffix.clear();
    const json& specials = config.value("special_tokens", json::object());
    bool after_sequence = false;
    for (const json& item : config.value("single", json::array())) {
      if (item.contains("Sequence")) {
        after_sequence = true;
        continue;
      }
      const std::string name = item.value("SpecialToken", json::object()).value("id", "");
      if (!specials.contains(name) || !specials[name].contains("ids") || !specials[name]["ids"].is_array()) {
        Fail("post_processor: template names special token \"{}\" without ids", name);
      }
      for (const json& id : specials[name]["ids"]) {
        if (!id.is_number_integer()) Fail("post_processor: special token \"{}\" has a non-integer id", name);
        (after_sequence ? suffix : prefix).push_back(id.get<int32_t>());
      }
    }
  } else if (type == "BertProcessing" || type == "RobertaProcessing") {
    const json cls = config.value("cls", json::array());
    const json sep = config.value("sep", json::array());
    if (cls.size() != 2 || sep.size() != 2 || !cls[1].is_number_integer() || !sep[1].is_number_integer()) {
      Fail("post_processor {}: cls / sep must be [token, id]", type);
    }
    prefix = {cls[1].get<int32_t>()};
    suffix = {sep[1].get<int32_t>()};
  } else {
    Fail(
        "post_processor \"{}\" is not supported (octet implements TemplateProcessing, ByteLevel, Sequence, "
        "BertProcessing, RobertaProcessing)",
        type);
  }
}

const json& Member(const json& object, const char* key) {
  static const json kNull;
  return object.contains(key) ? object[key] : kNull;
}

}  // namespace

std::unique_ptr<HfTokenizer> HfTokenizer::Load(const std::filesystem::path& path, const TokenizerConfig& config) {
  return FromJson(ReadJsonFile(path), config, path.string());
}

std::unique_ptr<HfTokenizer> HfTokenizer::FromJson(const json& root, const TokenizerConfig& config,
                                                   const std::string& source) {
  return WithContext(source, [&] {
    // A member of the wrong JSON type (e.g. "special": "yes", a decoder that is a number) makes nlohmann throw
    // from value() / get(); report it like any other malformed file.
    try {
      return FromJsonUnchecked(root, config);
    } catch (const json::exception& e) {
      Fail("malformed tokenizer.json: {}", e.what());
    }
  });
}

std::unique_ptr<HfTokenizer> HfTokenizer::FromJsonUnchecked(const json& root, const TokenizerConfig& config) {
  {
    if (!root.is_object() || !root.contains("model") || !root["model"].is_object()) {
      Fail("not a tokenizer.json (no \"model\" object)");
    }
    const json& model = root["model"];
    const std::string type = model.value("type", model.contains("merges") ? "BPE" : "");
    if (type != "BPE") Fail("model type \"{}\" is not supported (octet reads BPE tokenizers)", type);
    if (!model.contains("vocab") || !model["vocab"].is_object()) Fail("model.vocab is not an object");
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      if (model.contains(key) && model[key].is_string() && !model[key].get<std::string>().empty()) {
        Fail("model.{} is not supported", key);
      }
    }

    HfNormalizer normalizer = HfNormalizer::FromJson(Member(root, "normalizer"));
    HfPreTokenizer pre_tokenizer = HfPreTokenizer::FromJson(Member(root, "pre_tokenizer"));
    HfDecoder decoder = HfDecoder::FromJson(Member(root, "decoder"));
    const bool byte_level = pre_tokenizer.byte_level();

    // Vocabulary as spelled in the file, and as BPE sees it (raw bytes for byte-level BPE).
    StringMap<int32_t> token_ids;
    StringMap<int32_t> bpe_vocab;
    int32_t max_id = -1;
    for (const auto& [token, id_json] : model["vocab"].items()) {
      if (!id_json.is_number_integer() || id_json.get<int64_t>() < 0 || id_json.get<int64_t>() > kMaxTokenId) {
        Fail("model.vocab[{}] is not a valid id (0 .. {})", json(token).dump(), kMaxTokenId);
      }
      const int32_t id = id_json.get<int32_t>();
      token_ids.emplace(token, id);
      max_id = std::max(max_id, id);
      if (!byte_level) {
        bpe_vocab.emplace(token, id);
      } else if (std::optional<std::string> bytes = byte_level::TokenToBytes(token)) {
        bpe_vocab.emplace(std::move(*bytes), id);
      }
    }
    std::vector<std::pair<std::string, std::string>> merges = ParseMerges(Member(model, "merges"));
    if (byte_level) {
      for (auto& [left, right] : merges) {
        auto l = byte_level::TokenToBytes(left), r = byte_level::TokenToBytes(right);
        if (!l || !r) Fail("byte-level merge \"{} {}\" has characters outside the byte alphabet", left, right);
        left = std::move(*l);
        right = std::move(*r);
      }
    }

    BpeOptions options;
    options.byte_level = byte_level;
    options.byte_fallback = model.value("byte_fallback", false);
    options.ignore_merges = model.value("ignore_merges", false);
    options.fuse_unk = model.value("fuse_unk", false);
    if (model.contains("unk_token") && model["unk_token"].is_string()) {
      const auto it = token_ids.find(model["unk_token"].get<std::string>());
      if (it == token_ids.end()) Fail("model.unk_token {} is not in the vocabulary", model["unk_token"].dump());
      options.unk_id = it->second;
    }
    // (model.dropout is ignored: inference never samples merges, and tokenizers.js ignores it too.)

    std::unique_ptr<HfTokenizer> tokenizer(new HfTokenizer(BpeModel(std::move(bpe_vocab), merges, options),
                                                           std::move(normalizer), std::move(pre_tokenizer),
                                                           std::move(decoder)));
    HfTokenizer& t = *tokenizer;

    std::vector<AddedToken> added = ParseAddedTokens(Member(root, "added_tokens"));
    std::vector<AddedToken> raw, normalized;
    for (const AddedToken& token : added) {
      max_id = std::max(max_id, token.id);
      token_ids.insert_or_assign(token.content, token.id);
      if (token.normalized && !t.normalizer_.empty()) {
        AddedToken copy = token;
        copy.content = t.normalizer_.Apply(token.content);
        normalized.push_back(std::move(copy));
      } else {
        raw.push_back(token);
      }
    }

    t.pieces_.assign(static_cast<size_t>(max_id) + 1, std::string());
    for (const auto& [token, id] : model["vocab"].items()) t.pieces_[id.get<int32_t>()] = t.decoder_.DecodeToken(token);
    // Special tokens decode to nothing (skip_special_tokens); others pass through the decoder like any token.
    for (const AddedToken& token : added)
      t.pieces_[token.id] = token.special ? "" : t.decoder_.DecodeToken(token.content);
    t.raw_added_ = AddedTokenMatcher(std::move(raw));
    t.normalized_added_ = AddedTokenMatcher(std::move(normalized));
    t.token_ids_ = std::move(token_ids);

    ParsePostProcessor(Member(root, "post_processor"), t.prefix_ids_, t.suffix_ids_);
    for (const int32_t id : t.prefix_ids_) {
      if (id < 0 || id > max_id) Fail("post_processor adds id {}, outside the vocabulary", id);
    }
    for (const int32_t id : t.suffix_ids_) {
      if (id < 0 || id > max_id) Fail("post_processor adds id {}, outside the vocabulary", id);
    }

    SpecialTokenIds defaults;
    if (!t.prefix_ids_.empty()) defaults.bos = t.prefix_ids_.front();
    t.special_ = ResolveSpecialIds(config, t, defaults);
    // tokenizer_config.json's add_bos_token / add_eos_token rebuild the template in transformers' Llama tokenizer;
    // apply the same when the file has no template, or when it turns BOS off.
    if (config.add_bos_token.has_value()) {
      const bool has_bos = !t.prefix_ids_.empty() && t.prefix_ids_.front() == t.special_.bos;
      if (*config.add_bos_token && !has_bos && t.prefix_ids_.empty() && t.special_.bos >= 0) {
        t.prefix_ids_ = {t.special_.bos};
      } else if (!*config.add_bos_token && has_bos) {
        t.prefix_ids_.erase(t.prefix_ids_.begin());
      }
    }
    if (config.add_eos_token.value_or(false) && t.suffix_ids_.empty() && t.special_.eos >= 0) {
      t.suffix_ids_ = {t.special_.eos};
    }
    return tokenizer;
  }
}

std::vector<int32_t> HfTokenizer::Encode(std::string_view text, bool add_bos) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  if (add_bos) ids.insert(ids.end(), prefix_ids_.begin(), prefix_ids_.end());
  BpeModel::Scratch scratch;
  std::vector<std::string> words;
  std::vector<AddedTokenMatcher::Segment> segments, inner;
  raw_added_.Split(text, segments);
  for (size_t i = 0; i < segments.size(); ++i) {
    if (segments[i].id >= 0) {
      ids.push_back(segments[i].id);
      continue;
    }
    const bool first_section = i == 0;
    if (normalizer_.empty()) {
      EncodeSection(segments[i].text, first_section, scratch, words, ids);
      continue;
    }
    const std::string normalized = normalizer_.Apply(segments[i].text);
    normalized_added_.Split(normalized, inner);
    for (const AddedTokenMatcher::Segment& segment : inner) {
      if (segment.id >= 0) {
        ids.push_back(segment.id);
      } else {
        EncodeSection(segment.text, first_section, scratch, words, ids);
      }
    }
  }
  if (add_bos) ids.insert(ids.end(), suffix_ids_.begin(), suffix_ids_.end());
  return ids;
}

void HfTokenizer::EncodeSection(std::string_view section, bool first_section, BpeModel::Scratch& scratch,
                                std::vector<std::string>& words, std::vector<int32_t>& ids) const {
  pre_tokenizer_.Split(section, first_section, words);
  for (const std::string& word : words) model_.Encode(word, scratch, ids);
}

std::string_view HfTokenizer::TokenBytes(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return pieces_[id];
}

std::optional<int32_t> HfTokenizer::TokenToId(std::string_view token) const {
  const auto it = token_ids_.find(token);
  if (it == token_ids_.end()) return std::nullopt;
  return it->second;
}

std::string HfTokenizer::description() const {
  return fmt::format("tokenizer.json (BPE, {}, {} tokens)",
                     pre_tokenizer_.byte_level() ? "byte-level" : "SentencePiece-style", vocab_size());
}

}  // namespace octet
