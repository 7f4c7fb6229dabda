#include "convert/gguf_tokenizer_metadata.h"

#include <array>
#include <fstream>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "util/error.h"

#ifdef OCTET_HAVE_SENTENCEPIECE
#include <sentencepiece_processor.h>
#endif

namespace octet {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

std::optional<Json> ReadJsonIfPresent(const fs::path& path) {
  if (!fs::is_regular_file(path)) return std::nullopt;
  std::ifstream in(path);
  try {
    return Json::parse(in);
  } catch (const Json::exception& e) {
    Fail("{}: malformed JSON: {}", path.string(), e.what());
  }
}

// "<0x0A>": gguf-py LlamaHfVocab.get_token_type's byte-token pattern <0x[0-9A-Fa-f]{2}>.
bool IsByteToken(const std::string& text) {
  const auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); };
  return text.size() == 6 && text.compare(0, 3, "<0x") == 0 && hex(text[3]) && hex(text[4]) && text[5] == '>';
}

// SpecialVocab's special token types, and the GGUF key llama.cpp reads for each (llama-arch.cpp LLM_KV_NAMES;
// "seperator" is llama.cpp's spelling).
struct SpecialKind {
  const char* type;
  const char* key;
};
constexpr std::array<SpecialKind, 7> kSpecialKinds = {{
    {"bos", "tokenizer.ggml.bos_token_id"},
    {"eos", "tokenizer.ggml.eos_token_id"},
    {"unk", "tokenizer.ggml.unknown_token_id"},
    {"sep", "tokenizer.ggml.seperator_token_id"},
    {"pad", "tokenizer.ggml.padding_token_id"},
    {"cls", "tokenizer.ggml.cls_token_id"},
    {"mask", "tokenizer.ggml.mask_token_id"},
}};


// tokenizer.ggml.* keys for a vocab ("llama" with scores, or "gpt2" with merges and no scores), then
// SpecialVocab's ids and flags.
void AddVocabKeys(GgufTokenizerMetadata& result, const std::vector<std::string>& tokens,
                  const std::vector<float>& scores, const std::vector<int32_t>& types, const Json& added,
                  const fs::path& model_dir, const Json& config, const std::string& model = "llama",
                  const std::string& pre = "default", const std::vector<std::string>* merges = nullptr) {
  std::vector<GgufKeyValue>& keys = result.keys;
  keys.push_back({"tokenizer.ggml.model", GgufValue::String(model)});
  keys.push_back({"tokenizer.ggml.pre", GgufValue::String(pre)});
  keys.push_back({"tokenizer.ggml.tokens", GgufValue::StringArray(tokens)});
  if (!scores.empty()) keys.push_back({"tokenizer.ggml.scores", GgufValue::Float32Array(scores)});
  keys.push_back({"tokenizer.ggml.token_type", GgufValue::Int32Array(types)});
  if (merges != nullptr) keys.push_back({"tokenizer.ggml.merges", GgufValue::StringArray(*merges)});

  // SpecialVocab: tokenizer_config.json first, then config.json; ids must be < n_vocab.
  const std::optional<Json> tokenizer_config = ReadJsonIfPresent(model_dir / "tokenizer_config.json");
  std::map<std::string, int64_t> special_token_ids;
  const auto set_special = [&](const std::string& type, const Json& id) {
    if (!id.is_number_integer() || special_token_ids.count(type)) return;
    const int64_t value = id.get<int64_t>();
    if (value >= 0 && value < static_cast<int64_t>(tokens.size())) special_token_ids[type] = value;
  };
  std::vector<std::pair<std::string, bool>> add_special;
  if (tokenizer_config && tokenizer_config->is_object()) {
    for (const SpecialKind& kind : kSpecialKinds) {
      const std::string type = kind.type;
      if (const auto it = tokenizer_config->find("add_" + type + "_token");
          it != tokenizer_config->end() && it->is_boolean()) {
        add_special.emplace_back(type, it->get<bool>());
      }
      const auto entry = tokenizer_config->find(type + "_token");
      if (entry == tokenizer_config->end()) continue;
      std::string content;
      if (entry->is_string()) {
        content = entry->get<std::string>();
      } else if (entry->is_object() && entry->contains("content") && (*entry)["content"].is_string()) {
        content = (*entry)["content"].get<std::string>();
      } else {
        continue;
      }
      for (const Json& token : added) {
        if (token.is_object() && token.value("content", "") == content && token.contains("id")) {
          set_special(type, token["id"]);
          break;
        }
      }
    }
  }
  if (config.is_object()) {
    for (const SpecialKind& kind : kSpecialKinds) {
      const std::string type = kind.type;
      if (const auto it = config.find(type + "_token_id"); it != config.end()) set_special(type, *it);
    }
  }
  for (const SpecialKind& kind : kSpecialKinds) {
    if (const auto it = special_token_ids.find(kind.type); it != special_token_ids.end()) {
      keys.push_back({kind.key, GgufValue::Uint32(static_cast<uint32_t>(it->second))});
    }
  }
  for (const auto& [type, value] : add_special) {
    keys.push_back({fmt::format("tokenizer.ggml.add_{}_token", type), GgufValue::Bool(value)});
  }
  if (tokenizer_config && tokenizer_config->is_object()) {
    if (const auto it = tokenizer_config->find("chat_template"); it != tokenizer_config->end() && it->is_string()) {
      keys.push_back({"tokenizer.chat_template", GgufValue::String(it->get<std::string>())});
    }
  }
}

// The pre-tokenizer name llama.cpp gives a byte-level BPE tokenizer. llama.cpp's converter identifies it by hashing
// the token ids of a fixed check text (get_vocab_base_pre); octet recognises the three pre-tokenizers its GGUF
// tokenizer implements by their tokenizer.json definition instead, which names the same for these files: GPT-2's
// ByteLevel(use_regex) -> "gpt-2", the Llama 3 Split regex -> "llama-bpe", the Qwen2 one -> "qwen2".
std::optional<std::string> ByteLevelPre(const Json& tokenizer) {
  constexpr std::string_view kLlama3 =
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
      "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  constexpr std::string_view kQwen2 =
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
      "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  const Json pre = tokenizer.value("pre_tokenizer", Json());
  if (!pre.is_object()) return std::nullopt;
  if (pre.value("type", "") == "ByteLevel" && pre.value("use_regex", true)) return "gpt-2";
  if (pre.value("type", "") != "Sequence" || !pre.contains("pretokenizers")) return std::nullopt;
  const Json& parts = pre["pretokenizers"];
  if (!parts.is_array() || parts.size() != 2 || !parts[0].is_object() || !parts[1].is_object()) return std::nullopt;
  if (parts[0].value("type", "") != "Split" || parts[1].value("type", "") != "ByteLevel" ||
      parts[1].value("use_regex", true)) {
    return std::nullopt;
  }
  const Json pattern = parts[0].value("pattern", Json::object());
  if (!pattern.is_object() || !pattern.contains("Regex") || !pattern["Regex"].is_string()) return std::nullopt;
  const std::string regex = pattern["Regex"].get<std::string>();
  if (regex == kLlama3) return "llama-bpe";
  if (regex == kQwen2) return "qwen2";
  return std::nullopt;
}

// does_token_look_special (conversion/base.py), for added tokens not marked special.
bool LooksSpecial(const std::string& token) {
  if (token == "<pad>" || token == "<mask>" || token == "<2mass>" || token == "[@BOS@]") return true;
  const auto wrapped = [&](std::string_view open, std::string_view close) {
    return token.size() >= open.size() + close.size() && token.compare(0, open.size(), open) == 0 &&
           token.compare(token.size() - close.size(), close.size(), close) == 0;
  };
  return wrapped("<|", "|>") || wrapped("<\uff5c", "\uff5c>") || wrapped("<\uff5c", "|>");
}

// convert_hf_to_gguf's _set_vocab_gpt2 / get_vocab_base for a byte-level BPE tokenizer.json (Llama 3, GPT-2,
// Qwen2): tokenizer.ggml.model "gpt2", the pre-tokenizer name, tokens by id up to config.json's vocab_size (holes
// "[PADi]", UNUSED), token_type NORMAL for the vocab, CONTROL for added tokens that are special or look special,
// USER_DEFINED (with "\u2581" -> " ") for the other added tokens; no scores; merges as "left right" (transformers'
// pair format joined with a space, spaces inside a part written as U+0120 as SpecialVocab does). Returns false
// when the tokenizer is not byte-level BPE; sets a "not carried" note for an unknown pre-tokenizer.
bool ByteLevelVocab(const Json& tokenizer, const fs::path& tokenizer_path, const Json& config,
                    GgufTokenizerMetadata& result, const fs::path& model_dir) {
  const Json& model = tokenizer.value("model", Json::object());
  const Json decoder = tokenizer.value("decoder", Json());
  if (model.value("type", "") != "BPE" || model.value("byte_fallback", false) || !decoder.is_object() ||
      decoder.value("type", "") != "ByteLevel") {
    return false;
  }
  const std::optional<std::string> pre = ByteLevelPre(tokenizer);
  if (!pre) {
    result.note = fmt::format("not carried: {} has a byte-level pre-tokenizer octet cannot name for llama.cpp "
                              "(it knows GPT-2's, Llama 3's and Qwen2's)",
                              tokenizer_path.string());
    return true;
  }
  if (!model.contains("vocab") || !model["vocab"].is_object()) Fail("{}: model.vocab is not an object", tokenizer_path.string());
  std::map<int64_t, std::string> by_id;
  for (const auto& [text, id] : model["vocab"].items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0) Fail("{}: vocab entry '{}' has a bad id", tokenizer_path.string(), text);
    by_id[id.get<int64_t>()] = text;
  }
  std::map<int64_t, bool> added_special;
  const Json added = tokenizer.value("added_tokens", Json::array());
  for (const Json& token : added) {
    if (!token.is_object() || !token.contains("id") || !token["id"].is_number_integer() || token["id"].get<int64_t>() < 0) continue;
    const int64_t id = token["id"].get<int64_t>();
    by_id[id] = token.value("content", "");
    added_special[id] = token.value("special", false);
  }
  int64_t vocab_size = by_id.empty() ? 0 : by_id.rbegin()->first + 1;
  if (config.is_object() && config.contains("vocab_size") && config["vocab_size"].is_number_integer()) {
    vocab_size = config["vocab_size"].get<int64_t>();
  }
  if (vocab_size <= 0 || vocab_size > (1 << 24)) Fail("{}: vocab_size {} is out of range", tokenizer_path.string(), vocab_size);
  std::vector<std::string> tokens(static_cast<size_t>(vocab_size));
  std::vector<int32_t> types(tokens.size());
  for (int64_t id = 0; id < vocab_size; ++id) {
    const auto it = by_id.find(id);
    if (it == by_id.end()) {
      tokens[id] = fmt::format("[PAD{}]", id);
      types[id] = static_cast<int32_t>(GgufTokenType::kUnused);
      continue;
    }
    std::string token = it->second;
    GgufTokenType type = GgufTokenType::kNormal;
    if (const auto a = added_special.find(id); a != added_special.end()) {
      if (a->second || LooksSpecial(token)) {
        type = GgufTokenType::kControl;
      } else {
        for (size_t at = token.find("\u2581"); at != std::string::npos; at = token.find("\u2581", at + 1)) {
          token.replace(at, 3, " ");
        }
        type = GgufTokenType::kUserDefined;
      }
    }
    tokens[id] = token;
    types[id] = static_cast<int32_t>(type);
  }
  std::vector<std::string> merges;
  for (const Json& merge : model.value("merges", Json::array())) {
    if (merge.is_string()) {
      merges.push_back(merge.get<std::string>());
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      std::string joined;
      for (int part = 0; part < 2; ++part) {
        if (part == 1) joined += ' ';
        for (const char c : merge[part].get<std::string>()) {
          if (c == ' ') {
            joined += "\u0120";
          } else {
            joined += c;
          }
        }
      }
      merges.push_back(std::move(joined));
    } else {
      Fail("{}: a merge is neither a string nor a pair of strings", tokenizer_path.string());
    }
  }
  AddVocabKeys(result, tokens, {}, types, added, model_dir, config, "gpt2", *pre, &merges);
  result.note = fmt::format("carried: {} tokens and {} merges from byte-level BPE tokenizer.json (pre \"{}\")",
                            tokens.size(), merges.size(), *pre);
  return true;
}

// convert_hf_to_gguf's _create_vocab_sentencepiece: every piece with its score and type from tokenizer.model
// (NORMAL, UNKNOWN, CONTROL, UNUSED, BYTE, checked in that order), tokenizer_config.json's added_tokens_decoder
// entries as CONTROL (special) or USER_DEFINED (with "\u2581" turned back into spaces) at score -1000, and ids up to
// config.json's vocab_size padded with "[PADi]" at score -10000, type UNUSED.
bool SentencePieceVocab(const fs::path& model_dir, const Json& config, std::vector<std::string>& tokens,
                        std::vector<float>& scores, std::vector<int32_t>& types, std::string& note) {
#ifdef OCTET_HAVE_SENTENCEPIECE
  const fs::path path = model_dir / "tokenizer.model";
  sentencepiece::SentencePieceProcessor sp;
  if (const auto status = sp.Load(path.string()); !status.ok()) {
    Fail("{}: not a SentencePiece model: {}", path.string(), status.ToString());
  }
  int64_t vocab_size = sp.GetPieceSize();
  if (config.is_object() && config.contains("vocab_size") && config["vocab_size"].is_number_integer()) {
    vocab_size = config["vocab_size"].get<int64_t>();
  }
  if (vocab_size <= 0 || vocab_size > (1 << 24)) Fail("{}: vocab_size {} is out of range", path.string(), vocab_size);
  tokens.resize(static_cast<size_t>(vocab_size));
  scores.assign(tokens.size(), -10000.0f);
  types.assign(tokens.size(), static_cast<int32_t>(GgufTokenType::kUnused));
  for (size_t id = 0; id < tokens.size(); ++id) tokens[id] = fmt::format("[PAD{}]", id);
  for (int id = 0; id < sp.GetPieceSize() && id < vocab_size; ++id) {
    tokens[id] = sp.IdToPiece(id);
    scores[id] = sp.GetScore(id);
    GgufTokenType type = GgufTokenType::kNormal;
    if (sp.IsUnknown(id)) {
      type = GgufTokenType::kUnknown;
    } else if (sp.IsControl(id)) {
      type = GgufTokenType::kControl;
    } else if (sp.IsUnused(id)) {
      type = GgufTokenType::kUnused;
    } else if (sp.IsByte(id)) {
      type = GgufTokenType::kByte;
    }
    types[id] = static_cast<int32_t>(type);
  }
  if (const std::optional<Json> tc = ReadJsonIfPresent(model_dir / "tokenizer_config.json");
      tc && tc->is_object() && tc->contains("added_tokens_decoder") && (*tc)["added_tokens_decoder"].is_object()) {
    for (const auto& [id_text, data] : (*tc)["added_tokens_decoder"].items()) {
      const int64_t id = std::strtoll(id_text.c_str(), nullptr, 10);
      if (id < 0 || id >= vocab_size || !data.is_object()) continue;
      std::string token = data.value("content", "");
      if (data.value("special", false)) {
        types[id] = static_cast<int32_t>(GgufTokenType::kControl);
      } else {
        for (size_t at = token.find("\u2581"); at != std::string::npos; at = token.find("\u2581", at + 1)) {
          token.replace(at, 3, " ");
        }
        types[id] = static_cast<int32_t>(GgufTokenType::kUserDefined);
      }
      scores[id] = -1000.0f;
      tokens[id] = token;
    }
  }
  note = fmt::format("carried: {} tokens from tokenizer.model (llama.cpp's SentencePiece conversion)", tokens.size());
  return true;
#else
  note = "not carried: tokenizer.model needs libsentencepiece, which this octet build lacks";
  return false;
#endif
}

}  // namespace

GgufTokenizerMetadata BuildGgufTokenizerMetadata(const fs::path& model_dir, const Json& config) {
  GgufTokenizerMetadata result;
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  const fs::path tokenizer_path = model_dir / "tokenizer.json";
  const std::optional<Json> tokenizer = ReadJsonIfPresent(tokenizer_path);
  const Json added = tokenizer ? tokenizer->value("added_tokens", Json::array()) : Json::array();
  // LlamaModel.set_vocab tries tokenizer.model first, then tokenizer.json.
  if (fs::is_regular_file(model_dir / "tokenizer.model")) {
    if (!SentencePieceVocab(model_dir, config, tokens, scores, types, result.note)) return result;
    AddVocabKeys(result, tokens, scores, types, added, model_dir, config);
    return result;
  }
  if (!tokenizer) {
    result.note = "not carried: the model directory has no tokenizer.model or tokenizer.json";
    return result;
  }
  const Json& model = tokenizer->value("model", Json::object());
  if (ByteLevelVocab(*tokenizer, tokenizer_path, config, result, model_dir)) return result;
  const bool llama_hf = model.value("type", "") == "BPE" && model.value("byte_fallback", false) &&
                        tokenizer->contains("decoder") && (*tokenizer)["decoder"].is_object() &&
                        (*tokenizer)["decoder"].value("type", "") == "Sequence";
  if (!llama_hf) {
    result.note = fmt::format(
        "not carried: {} is not a SentencePiece-style BPE tokenizer (octet carries only that kind to GGUF so far)",
        tokenizer_path.string());
    return result;
  }
  if (!model.contains("vocab") || !model["vocab"].is_object()) Fail("{}: model.vocab is not an object", tokenizer_path.string());

  // Vocab by id; ids must be exactly 0..n-1 (what LlamaHfVocab's reverse_vocab lookup assumes).
  const Json& vocab = model["vocab"];
  tokens.resize(vocab.size());
  std::vector<bool> seen(vocab.size(), false);
  for (const auto& [text, id_json] : vocab.items()) {
    if (!id_json.is_number_integer()) Fail("{}: vocab entry '{}' has a non-integer id", tokenizer_path.string(), text);
    const int64_t id = id_json.get<int64_t>();
    if (id < 0 || id >= static_cast<int64_t>(tokens.size()) || seen[static_cast<size_t>(id)]) {
      Fail("{}: vocab ids are not 0..{} (entry '{}' has id {})", tokenizer_path.string(), tokens.size() - 1, text, id);
    }
    seen[static_cast<size_t>(id)] = true;
    tokens[static_cast<size_t>(id)] = text;
  }
  const size_t base_size = tokens.size();

  // Added tokens: specials become CONTROL; those past the base vocab are appended in id order.
  std::set<int64_t> special_ids;
  std::map<int64_t, std::pair<std::string, bool>> extra;  // id -> (content, special)
  for (const Json& token : added) {
    if (!token.is_object() || !token.contains("id") || !token["id"].is_number_integer()) continue;
    const int64_t id = token["id"].get<int64_t>();
    const bool special = token.value("special", false);
    if (special) special_ids.insert(id);
    if (id >= static_cast<int64_t>(base_size)) extra[id] = {token.value("content", ""), special};
  }
  int64_t next_id = static_cast<int64_t>(base_size);
  for (const auto& [id, entry] : extra) {
    if (id != next_id) Fail("{}: added token ids past the vocab are not consecutive (expected {}, got {})",
                            tokenizer_path.string(), next_id, id);
    tokens.push_back(entry.first);
    ++next_id;
  }

  // Scores: llama.cpp's LlamaHfVocab writes the placeholder -1000 for every token, with which llama.cpp's SPM
  // tokenizer (highest score first, leftmost among equals) merges left to right instead of by merge rank, and
  // tokenizes differently from tokenizer.json (15 of aidreams260K's 16 sample lines; GgufExport test). octet gives
  // each token the score -rank of the first merge that forms it (0 when no merge does, and -1000 to added tokens
  // as llama.cpp does), so SPM's order is the BPE's order and llama.cpp tokenizes as transformers does.
  scores.assign(tokens.size(), 0.0f);
  std::map<std::string, size_t> id_of;
  for (size_t id = 0; id < base_size; ++id) id_of.emplace(tokens[id], id);
  std::vector<bool> scored(base_size, false);
  const Json merges = model.value("merges", Json::array());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const Json& merge = merges[rank];
    std::string merged;
    if (merge.is_string()) {  // "left right"
      const std::string text = merge.get<std::string>();
      const size_t space = text.find(' ');
      if (space == std::string::npos) Fail("{}: merge {} ('{}') is not 'left right'", tokenizer_path.string(), rank, text);
      merged = text.substr(0, space) + text.substr(space + 1);
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      merged = merge[0].get<std::string>() + merge[1].get<std::string>();  // transformers >= 4.45 pair format
    } else {
      Fail("{}: merge {} is neither a string nor a pair of strings", tokenizer_path.string(), rank);
    }
    const auto it = id_of.find(merged);
    if (it != id_of.end() && !scored[it->second]) {
      scored[it->second] = true;
      scores[it->second] = -static_cast<float>(rank);
    }
  }
  for (size_t id = base_size; id < tokens.size(); ++id) scores[id] = -1000.0f;
  types.assign(tokens.size(), 0);
  for (size_t id = 0; id < tokens.size(); ++id) {
    GgufTokenType type = GgufTokenType::kNormal;
    if (id >= base_size) {
      type = extra[static_cast<int64_t>(id)].second ? GgufTokenType::kControl : GgufTokenType::kUserDefined;
    } else if (IsByteToken(tokens[id])) {
      type = GgufTokenType::kByte;
    } else if (special_ids.count(static_cast<int64_t>(id))) {
      type = GgufTokenType::kControl;
    }
    types[id] = static_cast<int32_t>(type);
  }

  AddVocabKeys(result, tokens, scores, types, added, model_dir, config);
  result.note = fmt::format("carried: {} tokens from tokenizer.json (llama.cpp's LlamaHfVocab conversion)",
                            tokens.size());
  return result;
}

}  // namespace octet
