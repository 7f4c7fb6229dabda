#include "tokenizer/llama2c_tokenizer.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include "util/error.h"

namespace octet {
namespace {

// run.c's fixed ids.
constexpr int32_t kUnkId = 0;
constexpr int32_t kBosId = 1;
constexpr int32_t kEosId = 2;
constexpr int32_t kFirstByteId = 3;  // byte fallback: id = byte + 3

template <typename T>
T ReadScalar(std::string_view bytes, size_t& pos, const char* what, int32_t id) {
  if (bytes.size() - pos < sizeof(T)) Fail("truncated at token {} ({}) at byte {}", id, what, pos);
  T value;
  std::memcpy(&value, bytes.data() + pos, sizeof(T));
  pos += sizeof(T);
  return value;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

struct Candidate {
  float score;
  int32_t left;
  int32_t right;
  int32_t left_id;
  int32_t right_id;
  int32_t merged_id;
};

// Max-heap order: higher score first, then leftmost (run.c keeps the first best it scans).
bool Later(const Candidate& a, const Candidate& b) { return a.score != b.score ? a.score < b.score : a.left > b.left; }

}  // namespace

std::unique_ptr<Llama2cTokenizer> Llama2cTokenizer::Load(const std::filesystem::path& path,
                                                         const TokenizerConfig& config) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail("{}: cannot open", path.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  return FromBytes(buffer.str(), config, path.string());
}

std::unique_ptr<Llama2cTokenizer> Llama2cTokenizer::FromBytes(std::string_view bytes, const TokenizerConfig& config,
                                                              const std::string& source) {
  return WithContext(source, [&] {
    std::unique_ptr<Llama2cTokenizer> t(new Llama2cTokenizer());
    size_t pos = 0;
    const int32_t max_length = ReadScalar<int32_t>(bytes, pos, "max_token_length", -1);
    if (max_length <= 0 || max_length > 1 << 16) Fail("max_token_length {} is not plausible", max_length);
    while (pos < bytes.size()) {
      const int32_t id = static_cast<int32_t>(t->vocab_.size());
      const float score = ReadScalar<float>(bytes, pos, "score", id);
      const int32_t length = ReadScalar<int32_t>(bytes, pos, "length", id);
      if (length < 0 || length > max_length) {
        Fail("token {} has length {} (max_token_length is {})", id, length, max_length);
      }
      if (bytes.size() - pos < static_cast<size_t>(length)) Fail("truncated in token {}", id);
      t->vocab_.emplace_back(bytes.substr(pos, length));
      t->scores_.push_back(score);
      pos += length;
    }
    if (t->vocab_.size() < kFirstByteId + 256) {
      Fail("{} tokens; a llama2.c vocabulary has at least 259 (unk, BOS, EOS, 256 bytes)", t->vocab_.size());
    }
    for (int32_t id = 0; id < t->vocab_size(); ++id) t->ids_.emplace(t->vocab_[id], id);

    t->pieces_.resize(t->vocab_.size());
    for (int32_t id = 0; id < t->vocab_size(); ++id) {
      const std::string& token = t->vocab_[id];
      if (id == kUnkId || id == kBosId || id == kEosId) continue;
      // run.c's decode(): "<0xAB>" pieces are raw bytes.
      if (token.size() == 6 && token.compare(0, 3, "<0x") == 0 && token[5] == '>' && HexDigit(token[3]) >= 0 &&
          HexDigit(token[4]) >= 0) {
        t->pieces_[id] = std::string(1, static_cast<char>(HexDigit(token[3]) * 16 + HexDigit(token[4])));
      } else {
        t->pieces_[id] = token;
      }
    }
    t->special_ = ResolveSpecialIds(config, *t, SpecialTokenIds{kBosId, kEosId, {}});
    return t;
  });
}

int32_t Llama2cTokenizer::Lookup(std::string_view token) const {
  const auto it = ids_.find(token);
  return it == ids_.end() ? -1 : it->second;
}

std::vector<int32_t> Llama2cTokenizer::Encode(std::string_view text, bool add_bos) const {
  std::vector<int32_t> tokens;
  tokens.reserve(text.size() + 2);
  if (add_bos) tokens.push_back(kBosId);
  // The dummy prefix: SentencePiece's add_dummy_prefix, only for non-empty text.
  if (!text.empty()) {
    const int32_t space = Lookup(" ");
    if (space >= 0) tokens.push_back(space);
  }
  // run.c's grouping: a lead byte and up to three continuation bytes after it form one lookup.
  for (size_t pos = 0; pos < text.size();) {
    size_t end = pos + 1;
    while (end < text.size() && end - pos < 4 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) ++end;
    const std::string_view ch = text.substr(pos, end - pos);
    const int32_t id = Lookup(ch);
    if (id >= 0) {
      tokens.push_back(id);
    } else {
      for (const char b : ch) tokens.push_back(static_cast<unsigned char>(b) + kFirstByteId);
    }
    pos = end;
  }

  // Merge with a heap over a linked list, from the first token on (run.c merges BOS and the prefix too).
  const int32_t n = static_cast<int32_t>(tokens.size());
  std::vector<int32_t> next(n), prev(n);
  for (int32_t i = 0; i < n; ++i) {
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  std::vector<Candidate> heap;
  std::string buffer;
  auto consider = [&](int32_t left) {
    const int32_t right = next[left];
    if (right < 0) return;
    buffer.assign(vocab_[tokens[left]]);
    buffer.append(vocab_[tokens[right]]);
    const int32_t merged = Lookup(buffer);
    if (merged < 0) return;
    heap.push_back({scores_[merged], left, right, tokens[left], tokens[right], merged});
    std::push_heap(heap.begin(), heap.end(), Later);
  };
  for (int32_t i = 0; i + 1 < n; ++i) consider(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), Later);
    const Candidate c = heap.back();
    heap.pop_back();
    if (tokens[c.left] != c.left_id || next[c.left] != c.right || tokens[c.right] != c.right_id) continue;
    tokens[c.left] = c.merged_id;
    next[c.left] = next[c.right];
    if (next[c.right] >= 0) prev[next[c.right]] = c.left;
    tokens[c.right] = -1;
    if (prev[c.left] >= 0) consider(prev[c.left]);
    consider(c.left);
  }
  std::vector<int32_t> out;
  out.reserve(n);
  for (int32_t i = n > 0 ? 0 : -1; i >= 0; i = next[i]) out.push_back(tokens[i]);
  return out;
}

std::string_view Llama2cTokenizer::TokenBytes(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return pieces_[id];
}

std::optional<int32_t> Llama2cTokenizer::TokenToId(std::string_view token) const {
  // Config files name the specials "<s>" / "</s>" / "<unk>", which llama2.c stores differently.
  if (token == "<unk>") return kUnkId;
  if (token == "<s>") return kBosId;
  if (token == "</s>") return kEosId;
  const int32_t id = Lookup(token);
  if (id < 0) return std::nullopt;
  return id;
}

std::string Llama2cTokenizer::description() const {
  return fmt::format("llama2.c tokenizer.bin ({} tokens)", vocab_size());
}

}  // namespace octet
