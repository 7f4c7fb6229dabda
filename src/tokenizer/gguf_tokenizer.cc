#include "tokenizer/gguf_tokenizer.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <unordered_map>

#include "tokenizer/byte_level.h"
#include "util/error.h"

namespace octet {
namespace {

// The metadata keys (llama.cpp src/llama-arch.cpp LLM_KV_NAMES, gguf-py constants.py Keys.Tokenizer).
constexpr const char* kModelKey = "tokenizer.ggml.model";
constexpr const char* kPreKey = "tokenizer.ggml.pre";
constexpr const char* kTokensKey = "tokenizer.ggml.tokens";
constexpr const char* kScoresKey = "tokenizer.ggml.scores";
constexpr const char* kTokenTypeKey = "tokenizer.ggml.token_type";
constexpr const char* kMergesKey = "tokenizer.ggml.merges";
constexpr const char* kBosKey = "tokenizer.ggml.bos_token_id";
constexpr const char* kEosKey = "tokenizer.ggml.eos_token_id";
constexpr const char* kUnkKey = "tokenizer.ggml.unknown_token_id";
constexpr const char* kEotKey = "tokenizer.ggml.eot_token_id";
constexpr const char* kEomKey = "tokenizer.ggml.eom_token_id";
constexpr const char* kAddBosKey = "tokenizer.ggml.add_bos_token";
constexpr const char* kAddEosKey = "tokenizer.ggml.add_eos_token";
constexpr const char* kAddSpacePrefixKey = "tokenizer.ggml.add_space_prefix";

constexpr std::string_view kSpaceMarker = "\xE2\x96\x81";  // U+2581 "▁", llama_escape_whitespace

// llama.cpp's unicode_len_utf8: the length a lead byte announces (1 for a stray continuation byte).
size_t Utf8Length(unsigned char lead) {
  static constexpr size_t kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLengths[lead >> 4];
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// The byte a "<0xAB>" token stands for, or -1.
int ParseByteToken(std::string_view token) {
  if (token.size() != 6 || token.substr(0, 3) != "<0x" || token[5] != '>') return -1;
  const int hi = HexDigit(token[3]), lo = HexDigit(token[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

std::string ReplaceAll(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0;;) {
    const size_t hit = text.find(from, pos);
    out.append(text.substr(pos, hit == std::string_view::npos ? std::string_view::npos : hit - pos));
    if (hit == std::string_view::npos) return out;
    out.append(to);
    pos = hit + from.size();
  }
}

}  // namespace

std::vector<std::string> ReadGgufTokens(const GgufFile& file) {
  const std::string source = file.path().string();
  const GgufArray& tokens = file.GetArray(kTokensKey);
  if (tokens.element_type != GgufValueType::kString) {
    Fail("{}: metadata key '{}' is an array of {}, expected strings", source, kTokensKey,
         GgufValueTypeName(tokens.element_type));
  }
  if (tokens.elements.empty()) Fail("{}: metadata key '{}' is empty", source, kTokensKey);
  if (tokens.elements.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    Fail("{}: {} holds {} tokens, more than int32 ids can address", source, kTokensKey, tokens.elements.size());
  }
  std::vector<std::string> out;
  out.reserve(tokens.elements.size());
  std::unordered_map<std::string_view, size_t> seen;
  for (size_t i = 0; i < tokens.elements.size(); ++i) {
    std::string token = tokens.elements[i].AsString();
    if (token.empty()) token = fmt::format("[EMPTY_{}]", i);  // as llama.cpp does
    out.push_back(std::move(token));
  }
  for (size_t i = 0; i < out.size(); ++i) {
    const auto [it, inserted] = seen.emplace(out[i], i);
    if (!inserted) Fail("{}: duplicate token '{}' in {} (ids {} and {})", source, out[i], kTokensKey, it->second, i);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> ReadGgufMerges(const GgufFile& file) {
  const std::string source = file.path().string();
  if (!file.Has(kMergesKey)) Fail("{}: metadata key '{}' is missing (gpt2 vocabularies need it)", source, kMergesKey);
  const std::vector<std::string> lines = file.GetStringArray(kMergesKey);
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    const size_t space = lines[i].find(' ', 1);
    if (space == std::string::npos) Fail("{}: {}[{}] '{}' is not \"left right\"", source, kMergesKey, i, lines[i]);
    out.emplace_back(lines[i].substr(0, space), lines[i].substr(space + 1));
  }
  return out;
}

std::optional<GgufPreTokenizer> FindGgufPreTokenizer(std::string_view pre) {
  for (std::string_view name : {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0",
                                "lfm2"}) {
    if (pre == name) return GgufPreTokenizer{SplitPattern::kLlama3, true, true};
  }
  for (std::string_view name : {"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de",
                                "a.x-4.0", "mellum", "exaone4"}) {
    if (pre == name) return GgufPreTokenizer{SplitPattern::kGpt2, false, false};
  }
  for (std::string_view name : {"qwen2", "deepseek-r1-qwen", "megrez"}) {
    if (pre == name) return GgufPreTokenizer{SplitPattern::kQwen2, false, false};
  }
  return std::nullopt;
}

namespace {

// Tokens llama.cpp recognises as end-of-turn by their text when no eot/eom id is given (load(): "find EOT token").
bool LooksLikeEndOfTurn(std::string_view token) {
  for (std::string_view name : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                                "<|end_of_text|>", "<EOT>", "<|eom_id|>"}) {
    if (token == name) return true;
  }
  return false;
}

}  // namespace

std::unique_ptr<GgufTokenizer> GgufTokenizer::Load(const std::filesystem::path& path, const TokenizerConfig& config) {
  return FromGguf(GgufFile::Open(path), config);
}

std::unique_ptr<GgufTokenizer> GgufTokenizer::FromGguf(const GgufFile& file, const TokenizerConfig& config) {
  const std::string source = file.path().string();
  std::unique_ptr<GgufTokenizer> t(new GgufTokenizer());
  t->source_ = file.path().filename().string();

  const std::string model = file.GetString(kModelKey);
  if (model == "llama") {
    t->spm_ = true;
  } else if (model == "gpt2") {
    t->spm_ = false;
  } else {
    Fail("{}: {} '{}' is not supported (octet reads 'llama' and 'gpt2' vocabularies)", source, kModelKey, model);
  }

  // ---- vocabulary
  t->tokens_ = ReadGgufTokens(file);
  const size_t n = t->tokens_.size();
  for (size_t i = 0; i < n; ++i) t->token_ids_.emplace(t->tokens_[i], static_cast<int32_t>(i));

  t->scores_.assign(n, 0.0f);
  if (const GgufValue* scores = file.Find(kScoresKey)) {
    const GgufArray& array = scores->AsArray(file.KeyContext(kScoresKey));
    if (array.element_type != GgufValueType::kFloat32 && array.element_type != GgufValueType::kInt32) {
      Fail("{}: metadata key '{}' is an array of {}, expected f32 or i32", source, kScoresKey,
           GgufValueTypeName(array.element_type));
    }
    if (array.elements.size() < n) {
      Fail("{}: {} has {} entries for {} tokens", source, kScoresKey, array.elements.size(), n);
    }
    for (size_t i = 0; i < n; ++i) {
      const GgufValue& v = array.elements[i];
      t->scores_[i] = v.is_float() ? static_cast<float>(v.AsDouble()) : static_cast<float>(v.AsInt64());
    }
  }

  t->types_.assign(n, GgufTokenType::kNormal);
  if (const GgufValue* types = file.Find(kTokenTypeKey)) {
    const GgufArray& array = types->AsArray(file.KeyContext(kTokenTypeKey));
    if (array.element_type != GgufValueType::kInt32) {
      Fail("{}: metadata key '{}' is an array of {}, expected i32", source, kTokenTypeKey,
           GgufValueTypeName(array.element_type));
    }
    if (array.elements.size() < n) {
      Fail("{}: {} has {} entries for {} tokens", source, kTokenTypeKey, array.elements.size(), n);
    }
    for (size_t i = 0; i < n; ++i) {
      const int64_t type = array.elements[i].AsInt64();
      // llama.cpp maps unknown values to "undefined" (decodes to nothing, never matched in text).
      t->types_[i] = type >= 1 && type <= 6 ? static_cast<GgufTokenType>(type) : GgufTokenType::kUndefined;
    }
  }

  // ---- flags and special ids (llama.cpp defaults, then the keys)
  t->add_space_prefix_ = t->spm_;
  t->add_bos_ = t->spm_;
  t->add_eos_ = false;
  int32_t bos = t->spm_ ? 1 : -1, eos = t->spm_ ? 2 : -1;
  t->unk_id_ = t->spm_ ? 0 : -1;
  if (!t->spm_) {
    const std::optional<std::string> pre = file.FindString(kPreKey);
    if (!pre) {
      Fail("{}: no {}: llama.cpp would use its multi-pass 'default' pre-tokenizer, which octet does not implement",
           source, kPreKey);
    }
    const std::optional<GgufPreTokenizer> found = FindGgufPreTokenizer(*pre);
    if (!found) {
      Fail("{}: {} '{}' is not supported (octet implements gpt-2, llama-bpe/llama3 and qwen2)", source, kPreKey,
           *pre);
    }
    t->pre_ = *pre;
    t->pattern_ = found->pattern;
    t->add_bos_ = found->add_bos;
    t->add_space_prefix_ = false;

    // Byte-level BPE: the vocabulary as raw bytes, merges split at the first space after the first character.
    StringMap<int32_t> bpe_vocab;
    for (size_t i = 0; i < n; ++i) {
      if (std::optional<std::string> bytes = byte_level::TokenToBytes(t->tokens_[i])) {
        bpe_vocab.emplace(std::move(*bytes), static_cast<int32_t>(i));
      }
    }
    std::vector<std::pair<std::string, std::string>> merges;
    for (const auto& [left_token, right_token] : ReadGgufMerges(file)) {
      auto left = byte_level::TokenToBytes(left_token);
      auto right = byte_level::TokenToBytes(right_token);
      if (!left || !right) {
        Fail("{}: {} entry '{} {}' has characters outside the byte-level alphabet", source, kMergesKey, left_token,
             right_token);
      }
      merges.emplace_back(std::move(*left), std::move(*right));
    }
    BpeOptions options;
    options.byte_level = true;
    options.ignore_merges = found->ignore_merges;
    WithContext(source, [&] { t->bpe_.emplace(std::move(bpe_vocab), merges, options); });
  }
  if (const std::optional<bool> v = file.FindBool(kAddSpacePrefixKey); v && t->spm_) t->add_space_prefix_ = *v;
  if (const std::optional<bool> v = file.FindBool(kAddBosKey)) t->add_bos_ = *v;
  if (const std::optional<bool> v = file.FindBool(kAddEosKey)) t->add_eos_ = *v;
  // An id outside the vocabulary keeps the default, as llama.cpp does ("bad special token ... using default id").
  auto read_id = [&](const char* key, int32_t& id) {
    if (id >= static_cast<int64_t>(n)) id = -1;
    const std::optional<uint64_t> value = file.FindUint(key);
    if (value && *value < n) id = static_cast<int32_t>(*value);
  };
  int32_t eot = -1, eom = -1;
  read_id(kBosKey, bos);
  read_id(kEosKey, eos);
  read_id(kUnkKey, t->unk_id_);
  read_id(kEotKey, eot);
  read_id(kEomKey, eom);
  if (t->add_bos_ && bos < 0) Fail("{}: {} is true, but {} is not set", source, kAddBosKey, kBosKey);
  if (t->add_eos_ && eos < 0) Fail("{}: {} is true, but {} is not set", source, kAddEosKey, kEosKey);

  // ---- decoded pieces (token_to_piece with special = false) and the special-token list
  t->byte_ids_.fill(-1);
  t->pieces_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string& token = t->tokens_[i];
    switch (t->types_[i]) {
      case GgufTokenType::kNormal:
        t->pieces_[i] = t->spm_ ? ReplaceAll(token, kSpaceMarker, " ") : byte_level::DecodeToken(token);
        break;
      case GgufTokenType::kUserDefined: t->pieces_[i] = token; break;
      case GgufTokenType::kByte: {
        const int byte = ParseByteToken(token);
        if (byte >= 0) {
          t->pieces_[i] = std::string(1, static_cast<char>(byte));
          if (t->byte_ids_[byte] < 0) t->byte_ids_[byte] = static_cast<int32_t>(i);
        }
        break;
      }
      default: break;  // control, unknown, unused, undefined: nothing
    }
    const GgufTokenType type = t->types_[i];
    if (type == GgufTokenType::kControl || type == GgufTokenType::kUserDefined || type == GgufTokenType::kUnknown) {
      t->specials_.push_back(static_cast<int32_t>(i));
    }
  }
  // llama.cpp byte_to_token: "<0xAB>" whatever its type, else the byte itself as a token.
  for (int byte = 0; byte < 256; ++byte) {
    if (t->byte_ids_[byte] >= 0) continue;
    const auto it = t->token_ids_.find(fmt::format("<0x{:02X}>", byte));
    if (it != t->token_ids_.end()) {
      t->byte_ids_[byte] = it->second;
    } else if (const auto single = t->token_ids_.find(std::string(1, static_cast<char>(byte)));
               single != t->token_ids_.end()) {
      t->byte_ids_[byte] = single->second;
    }
  }
  std::stable_sort(t->specials_.begin(), t->specials_.end(), [&](int32_t a, int32_t b) {
    return t->tokens_[a].size() > t->tokens_[b].size();
  });

  SpecialTokenIds defaults{bos, eos, {}};
  for (const int32_t id : {eot, eom}) {
    if (id >= 0) defaults.stop.push_back(id);
  }
  if (eot < 0) {
    for (const int32_t id : t->specials_) {
      if (LooksLikeEndOfTurn(t->tokens_[id])) defaults.stop.push_back(id);
    }
  }
  t->special_ = ResolveSpecialIds(config, *t, defaults);
  return t;
}

void GgufTokenizer::Partition(std::string_view text, std::vector<Fragment>& fragments) const {
  fragments.assign(1, Fragment{text, -1});
  if (text.empty()) fragments.clear();
  std::vector<Fragment> next;
  for (const int32_t id : specials_) {
    const std::string& token = tokens_[id];
    next.clear();
    bool split = false;
    for (const Fragment& f : fragments) {
      if (f.id >= 0 || f.text.size() < token.size()) {
        next.push_back(f);
        continue;
      }
      size_t pos = 0;
      for (size_t hit; (hit = f.text.find(token, pos)) != std::string_view::npos; pos = hit + token.size()) {
        if (hit > pos) next.push_back({f.text.substr(pos, hit - pos), -1});
        next.push_back({{}, id});
        split = true;
      }
      if (pos < f.text.size()) next.push_back({f.text.substr(pos), -1});
    }
    if (split) fragments.swap(next);
  }
}

int32_t GgufTokenizer::ByteToken(unsigned char byte) const {
  return byte_ids_[byte] >= 0 ? byte_ids_[byte] : unk_id_;
}

// llm_tokenizer_spm_session::tokenize.
void GgufTokenizer::EncodeSpm(std::string_view text, std::vector<int32_t>& ids) const {
  struct Symbol {
    size_t begin;
    size_t size;  // 0 once merged into its left neighbour
    int32_t prev;
    int32_t next;
  };
  struct Bigram {
    float score;
    int32_t left;
    int32_t right;
    size_t size;
  };
  // Max-heap: higher score first, then the leftmost pair (llm_bigram_spm::comparator).
  const auto later = [](const Bigram& a, const Bigram& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::vector<Symbol> symbols;
  for (size_t pos = 0; pos < text.size();) {
    const size_t length = std::min(Utf8Length(static_cast<unsigned char>(text[pos])), text.size() - pos);
    const int32_t index = static_cast<int32_t>(symbols.size());
    symbols.push_back({pos, length, index - 1, pos + length == text.size() ? -1 : index + 1});
    pos += length;
  }
  std::vector<Bigram> heap;
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const std::string_view merged = text.substr(symbols[left].begin, symbols[left].size + symbols[right].size);
    const auto it = token_ids_.find(merged);
    if (it == token_ids_.end()) return;
    heap.push_back({scores_[it->second], left, right, merged.size()});
    std::push_heap(heap.begin(), heap.end(), later);
  };
  for (int32_t i = 1; i < static_cast<int32_t>(symbols.size()); ++i) try_add(i - 1, i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const Bigram bigram = heap.back();
    heap.pop_back();
    Symbol& left = symbols[bigram.left];
    Symbol& right = symbols[bigram.right];
    if (left.size == 0 || right.size == 0 || left.size + right.size != bigram.size) continue;  // stale
    left.size += right.size;
    right.size = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = bigram.left;
    try_add(left.prev, bigram.left);
    try_add(bigram.left, left.next);
  }
  // resegment: every merged symbol is a token; a single character that is not becomes its bytes.
  for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next) {
    const std::string_view piece = text.substr(symbols[i].begin, symbols[i].size);
    const auto it = token_ids_.find(piece);
    if (it != token_ids_.end()) {
      ids.push_back(it->second);
      continue;
    }
    for (const char b : piece) {
      const int32_t id = ByteToken(static_cast<unsigned char>(b));
      if (id >= 0) ids.push_back(id);
    }
  }
}

std::vector<int32_t> GgufTokenizer::Encode(std::string_view text, bool add_bos) const {
  std::vector<Fragment> fragments;
  Partition(text, fragments);
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 2 + 2);
  if (add_bos && add_bos_ && special_.bos >= 0) ids.push_back(special_.bos);
  if (spm_) {
    // llama_vocab::impl::tokenize, LLAMA_VOCAB_TYPE_SPM.
    bool previous_special = true;  // a space is prefixed to the first fragment and to any after a special token
    std::string raw, escaped;
    for (const Fragment& f : fragments) {
      if (f.id >= 0) {
        ids.push_back(f.id);
        previous_special = true;
        continue;
      }
      raw.assign(add_space_prefix_ && previous_special ? 1 : 0, ' ');
      raw.append(f.text);
      escaped = ReplaceAll(raw, " ", kSpaceMarker);
      EncodeSpm(escaped, ids);
      previous_special = false;
    }
  } else {
    BpeModel::Scratch scratch;
    std::vector<std::string_view> words;
    for (const Fragment& f : fragments) {
      if (f.id >= 0) {
        ids.push_back(f.id);
        continue;
      }
      words.clear();
      SplitWithPattern(pattern_, f.text, words);
      for (const std::string_view word : words) bpe_->Encode(word, scratch, ids);
    }
  }
  if (add_bos && add_eos_ && special_.eos >= 0) ids.push_back(special_.eos);
  return ids;
}

std::string_view GgufTokenizer::TokenBytes(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return pieces_[static_cast<size_t>(id)];
}

std::optional<int32_t> GgufTokenizer::TokenToId(std::string_view token) const {
  const auto it = token_ids_.find(token);
  if (it == token_ids_.end()) return std::nullopt;
  return it->second;
}

std::string GgufTokenizer::description() const {
  if (spm_) return fmt::format("{} (GGUF vocabulary, SentencePiece-style 'llama', {} tokens)", source_, vocab_size());
  return fmt::format("{} (GGUF vocabulary, BPE, byte-level 'gpt2', pre '{}', {} tokens)", source_, pre_,
                     vocab_size());
}

}  // namespace octet
