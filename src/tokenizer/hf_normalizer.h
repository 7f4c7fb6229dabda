// The "normalizer" of a tokenizer.json, for the kinds LLM tokenizers use: Sequence, Prepend, Replace (string
// pattern), Strip, and NFC. NFC is implemented as a check: text that NFC leaves unchanged (anything without
// combining marks or composable characters, see unicode::IsNfcInert) passes; other text is refused with an error
// naming the character, rather than tokenized differently from the reference. Other kinds are refused at load.
#ifndef OCTET_TOKENIZER_HF_NORMALIZER_H_
#define OCTET_TOKENIZER_HF_NORMALIZER_H_

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace octet {

class HfNormalizer {
 public:
  // From the "normalizer" value (null: none). Throws octet::Error for kinds octet does not implement.
  static HfNormalizer FromJson(const nlohmann::json& config);

  bool empty() const { return steps_.empty(); }
  // Normalized `text`.
  std::string Apply(std::string_view text) const;

 private:
  enum class Kind { kPrepend, kReplace, kStrip, kNfc };
  struct Step {
    Kind kind;
    std::string pattern;  // Replace: what to find
    std::string content;  // Prepend: what to add; Replace: the replacement
    bool left = false;    // Strip
    bool right = false;
  };
  static void AddSteps(const nlohmann::json& config, std::vector<Step>& steps);

  std::vector<Step> steps_;
};

// Replaces every occurrence of `from` (non-empty) in `text` by `to`.
std::string ReplaceAll(std::string_view text, std::string_view from, std::string_view to);

}  // namespace octet

#endif  // OCTET_TOKENIZER_HF_NORMALIZER_H_
