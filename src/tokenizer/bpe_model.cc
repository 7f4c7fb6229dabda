#include "tokenizer/bpe_model.h"

#include <fmt/format.h>

#include <algorithm>

#include "tokenizer/unicode.h"
#include "util/error.h"

namespace octet {
namespace {

int32_t Find(const StringMap<int32_t>& vocab, std::string_view token) {
  const auto it = vocab.find(token);
  return it == vocab.end() ? -1 : it->second;
}

// Min-heap order: lower rank first, then leftmost.
bool Later(const BpeModel::Scratch::Candidate& a, const BpeModel::Scratch::Candidate& b) {
  return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
}

}  // namespace

BpeModel::BpeModel(StringMap<int32_t> vocab, const std::vector<std::pair<std::string, std::string>>& merges,
                   BpeOptions options)
    : vocab_(std::move(vocab)), options_(options) {
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    const int32_t left_id = Find(vocab_, left);
    const int32_t right_id = Find(vocab_, right);
    const int32_t merged_id = Find(vocab_, left + right);
    if (left_id < 0 || right_id < 0 || merged_id < 0) {
      Fail("merge {} (\"{}\" \"{}\") uses or forms a token that is not in the vocabulary", rank, left, right);
    }
    // A repeated pair keeps its last rank, as both reference implementations do.
    merges_[PairKey(left_id, right_id)] = Merge{static_cast<int32_t>(rank), merged_id};
  }
  for (int b = 0; b < 256; ++b) {
    byte_ids_[b] = options_.byte_level ? Find(vocab_, std::string(1, static_cast<char>(b)))
                                       : Find(vocab_, fmt::format("<0x{:02X}>", b));
  }
  for (int c = 0; c < 128; ++c) ascii_ids_[c] = Find(vocab_, std::string(1, static_cast<char>(c)));
}

void BpeModel::PushSymbol(int32_t id, std::vector<Scratch::Symbol>& symbols) const {
  if (id < 0) {
    if (options_.unk_id < 0) return;
    if (options_.fuse_unk && !symbols.empty() && symbols.back().id == options_.unk_id) return;
    id = options_.unk_id;
  }
  symbols.push_back({id, 0, 0});
}

void BpeModel::AddInitialSymbols(std::string_view word, std::vector<Scratch::Symbol>& symbols) const {
  if (options_.byte_level) {
    for (const char c : word) PushSymbol(byte_ids_[static_cast<unsigned char>(c)], symbols);
    return;
  }
  for (size_t pos = 0; pos < word.size();) {
    const unsigned char lead = static_cast<unsigned char>(word[pos]);
    const size_t length = lead < 0x80 ? 1 : unicode::DecodeAt(word, pos).length;
    const std::string_view ch = word.substr(pos, length);
    const int32_t id = lead < 0x80 ? ascii_ids_[lead] : Find(vocab_, ch);
    if (id >= 0 || !options_.byte_fallback) {
      PushSymbol(id, symbols);
    } else {
      const bool all_bytes =
          std::all_of(ch.begin(), ch.end(), [&](char b) { return byte_ids_[static_cast<unsigned char>(b)] >= 0; });
      if (all_bytes) {
        for (const char b : ch) PushSymbol(byte_ids_[static_cast<unsigned char>(b)], symbols);
      } else {
        PushSymbol(-1, symbols);
      }
    }
    pos += length;
  }
}

void BpeModel::Encode(std::string_view word, Scratch& scratch, std::vector<int32_t>& ids) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    if (const int32_t id = Find(vocab_, word); id >= 0) {
      ids.push_back(id);
      return;
    }
  }
  std::vector<Scratch::Symbol>& symbols = scratch.symbols;
  std::vector<Scratch::Candidate>& heap = scratch.heap;
  symbols.clear();
  heap.clear();
  AddInitialSymbols(word, symbols);
  const int32_t n = static_cast<int32_t>(symbols.size());
  for (int32_t i = 0; i < n; ++i) {
    symbols[i].prev = i - 1;
    symbols[i].next = i + 1 < n ? i + 1 : -1;
  }

  auto consider = [&](int32_t left) {
    const int32_t right = symbols[left].next;
    if (right < 0) return;
    const auto it = merges_.find(PairKey(symbols[left].id, symbols[right].id));
    if (it == merges_.end()) return;
    heap.push_back({it->second.rank, left, right, symbols[left].id, symbols[right].id, it->second.merged_id});
    std::push_heap(heap.begin(), heap.end(), Later);
  };
  for (int32_t i = 0; i + 1 < n; ++i) consider(i);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), Later);
    const Scratch::Candidate c = heap.back();
    heap.pop_back();
    // Stale if either side has been merged away or changed since this pair was queued.
    Scratch::Symbol& left = symbols[c.left];
    if (left.id != c.left_id || left.next != c.right || symbols[c.right].id != c.right_id) continue;
    const Scratch::Symbol& right = symbols[c.right];
    left.id = c.merged_id;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = c.left;
    symbols[c.right].id = -1;
    if (left.prev >= 0) consider(left.prev);
    consider(c.left);
  }
  for (int32_t i = n > 0 ? 0 : -1; i >= 0; i = symbols[i].next) ids.push_back(symbols[i].id);
}

}  // namespace octet
