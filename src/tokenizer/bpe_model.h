// The BPE model of a Hugging Face tokenizer.json: splits one pre-tokenized word into its first symbols and
// applies the merges, lowest rank first and leftmost among equal ranks (the order of the Rust tokenizers library
// and tokenizers.js). Works in O(n log n) per word with a heap, since SentencePiece-style tokenizers have no
// pre-tokenizer and hand it whole lines.
#ifndef OCTET_TOKENIZER_BPE_MODEL_H_
#define OCTET_TOKENIZER_BPE_MODEL_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/string_map.h"

namespace octet {

struct BpeOptions {
  // Words are raw bytes and the first symbols are single bytes (byte-level BPE: the vocabulary must already be
  // translated from GPT-2's byte characters to bytes). Otherwise the first symbols are UTF-8 characters.
  bool byte_level = false;
  // A character missing from the vocabulary becomes its bytes as "<0xAB>" tokens.
  bool byte_fallback = false;
  // A word that is itself a vocabulary entry is emitted as is (Llama-3).
  bool ignore_merges = false;
  // Runs of unknown characters become a single unk.
  bool fuse_unk = false;
  int32_t unk_id = -1;  // -1: unknown characters are dropped
};

class BpeModel {
 public:
  // `vocab` maps token text (bytes, for byte_level) to id; `merges` are (left, right) in rank order. Throws
  // octet::Error if a merge names a token, or forms one, missing from the vocabulary.
  BpeModel(StringMap<int32_t> vocab, const std::vector<std::pair<std::string, std::string>>& merges,
           BpeOptions options);

  // Reused buffers, so encoding many words allocates once; one per thread.
  struct Scratch {
    struct Symbol {
      int32_t id;
      int32_t prev;
      int32_t next;
    };
    struct Candidate {
      int32_t rank;
      int32_t left;
      int32_t right;
      int32_t left_id;
      int32_t right_id;
      int32_t merged_id;
    };
    std::vector<Symbol> symbols;
    std::vector<Candidate> heap;
  };

  // Appends the ids of `word`.
  void Encode(std::string_view word, Scratch& scratch, std::vector<int32_t>& ids) const;

  const StringMap<int32_t>& vocab() const { return vocab_; }

 private:
  struct Merge {
    int32_t rank;
    int32_t merged_id;
  };
  static uint64_t PairKey(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  void AddInitialSymbols(std::string_view word, std::vector<Scratch::Symbol>& symbols) const;
  void PushSymbol(int32_t id, std::vector<Scratch::Symbol>& symbols) const;

  StringMap<int32_t> vocab_;
  BpeOptions options_;
  std::unordered_map<uint64_t, Merge> merges_;
  std::array<int32_t, 256> byte_ids_;   // byte_level: the token of each byte; else the "<0xAB>" tokens
  std::array<int32_t, 128> ascii_ids_;  // char mode: the token of each ASCII character
};

}  // namespace octet

#endif  // OCTET_TOKENIZER_BPE_MODEL_H_
