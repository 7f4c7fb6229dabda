#include "tokenizer/added_tokens.h"

#include <algorithm>

#include "tokenizer/unicode.h"

namespace octet {
namespace {

bool IsContinuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Start of the whitespace run that ends at `end`, not before `floor`.
size_t SkipWhitespaceBack(std::string_view text, size_t end, size_t floor) {
  while (end > floor) {
    size_t start = end - 1;
    while (start > floor && IsContinuation(text[start])) --start;
    const unicode::DecodedChar c = unicode::DecodeAt(text, start);
    if (start + c.length != end || !unicode::IsWhitespace(c.code_point)) break;
    end = start;
  }
  return end;
}

size_t SkipWhitespaceForward(std::string_view text, size_t pos) {
  while (pos < text.size()) {
    const unicode::DecodedChar c = unicode::DecodeAt(text, pos);
    if (!unicode::IsWhitespace(c.code_point)) break;
    pos += c.length;
  }
  return pos;
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(std::vector<AddedToken> tokens) : tokens_(std::move(tokens)) {
  std::erase_if(tokens_, [](const AddedToken& t) { return t.content.empty(); });
  std::stable_sort(tokens_.begin(), tokens_.end(),
                   [](const AddedToken& a, const AddedToken& b) { return a.content.size() > b.content.size(); });
  for (uint32_t i = 0; i < tokens_.size(); ++i) {
    by_first_[static_cast<unsigned char>(tokens_[i].content[0])].push_back(i);
  }
}

const AddedToken* AddedTokenMatcher::MatchAt(std::string_view text, size_t pos) const {
  for (const uint32_t index : by_first_[static_cast<unsigned char>(text[pos])]) {
    const AddedToken& token = tokens_[index];
    if (text.compare(pos, token.content.size(), token.content) == 0) return &token;
  }
  return nullptr;
}

void AddedTokenMatcher::Split(std::string_view text, std::vector<Segment>& segments) const {
  segments.clear();
  size_t plain_start = 0;  // start of the text not yet emitted
  size_t pos = 0;
  while (pos < text.size()) {
    const AddedToken* token = by_first_[static_cast<unsigned char>(text[pos])].empty() ? nullptr : MatchAt(text, pos);
    if (token == nullptr) {
      ++pos;
      continue;
    }
    const size_t plain_end = token->lstrip ? SkipWhitespaceBack(text, pos, plain_start) : pos;
    if (plain_end > plain_start) segments.push_back({text.substr(plain_start, plain_end - plain_start), -1});
    segments.push_back({text.substr(pos, token->content.size()), token->id});
    pos += token->content.size();
    if (token->rstrip) pos = SkipWhitespaceForward(text, pos);
    plain_start = pos;
  }
  if (plain_start < text.size()) segments.push_back({text.substr(plain_start), -1});
}

}  // namespace octet
