#include "tokenizer/tokenizer.h"

#include <algorithm>

#include "tokenizer/unicode.h"

namespace octet {

std::string Tokenizer::Decode(std::span<const int32_t> ids) const {
  StreamDecoder decoder(*this);
  std::string text;
  for (const int32_t id : ids) text += decoder.Push(id);
  text += decoder.Finish();
  return text;
}

bool Tokenizer::IsStop(int32_t id) const {
  return id == special_.eos || std::find(special_.stop.begin(), special_.stop.end(), id) != special_.stop.end();
}

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer)
    : tokenizer_(&tokenizer), spaces_to_strip_(tokenizer.leading_spaces_to_strip()) {}

std::string StreamDecoder::Push(int32_t id) {
  std::string_view bytes = tokenizer_->TokenBytes(id);
  // The dummy-prefix space is stripped from the text, not from a token: it may come from the second token
  // if the first decodes to nothing (BOS), and a first token "▁▁" loses only one space.
  while (spaces_to_strip_ > 0 && !bytes.empty()) {
    if (bytes.front() == ' ') {
      bytes.remove_prefix(1);
      --spaces_to_strip_;
    } else {
      spaces_to_strip_ = 0;
    }
  }
  pending_.append(bytes);
  const size_t complete = unicode::CompletePrefixLength(pending_);
  std::string text = unicode::ToValidUtf8(std::string_view(pending_).substr(0, complete));
  pending_.erase(0, complete);
  return text;
}

std::string StreamDecoder::Finish() {
  std::string text = unicode::ToValidUtf8(pending_);
  pending_.clear();
  return text;
}

}  // namespace octet
