// The "added_tokens" of a tokenizer.json (special tokens such as "<s>" or "<|eot_id|>", and user-added words):
// they are cut out of the text before normalization and BPE, leftmost first and longest at a position, as the
// Rust library's leftmost-longest Aho-Corasick and tokenizers.js's trie do. lstrip / rstrip also swallow the
// whitespace before / after a match. (single_word is not applied, as in tokenizers.js.)
#ifndef OCTET_TOKENIZER_ADDED_TOKENS_H_
#define OCTET_TOKENIZER_ADDED_TOKENS_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace octet {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;  // matched in normalized text rather than raw text
};

class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  explicit AddedTokenMatcher(std::vector<AddedToken> tokens);

  bool empty() const { return tokens_.empty(); }

  struct Segment {
    std::string_view text;  // plain text, or the matched token's text
    int32_t id;             // the added token's id, or -1 for plain text
  };
  // Replaces `segments` by `text` cut at the added tokens; plain segments are never empty.
  void Split(std::string_view text, std::vector<Segment>& segments) const;

 private:
  // The longest token matching at `pos`, or nullptr.
  const AddedToken* MatchAt(std::string_view text, size_t pos) const;

  std::vector<AddedToken> tokens_;                   // longest first
  std::array<std::vector<uint32_t>, 256> by_first_;  // token indices by first byte, longest first
};

}  // namespace octet

#endif  // OCTET_TOKENIZER_ADDED_TOKENS_H_
