// The "decoder" of a tokenizer.json, reduced to what it does to one token plus a start-of-text rule: every
// supported step (Replace, ByteFallback, Fuse, Strip, Metaspace, ByteLevel) maps tokens independently except
// Strip / Metaspace removing the dummy-prefix space at the start of the text. So decoding is a table lookup per
// id, and streaming decode costs nothing extra.
#ifndef OCTET_TOKENIZER_HF_DECODER_H_
#define OCTET_TOKENIZER_HF_DECODER_H_

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace octet {

class HfDecoder {
 public:
  // From the "decoder" value (null: tokens are concatenated). Throws octet::Error for unsupported kinds.
  static HfDecoder FromJson(const nlohmann::json& config);

  // The bytes of one token.
  std::string DecodeToken(std::string_view token) const;
  // Spaces removed from the start of the decoded text (0 or 1).
  int leading_spaces_to_strip() const { return leading_spaces_to_strip_; }

 private:
  enum class Kind { kReplace, kByteFallback, kByteLevel };
  struct Step {
    Kind kind;
    std::string from;
    std::string to;
  };
  void AddSteps(const nlohmann::json& config);

  std::vector<Step> steps_;
  int leading_spaces_to_strip_ = 0;
};

}  // namespace octet

#endif  // OCTET_TOKENIZER_HF_DECODER_H_
