// The "pre_tokenizer" of a tokenizer.json: splits a normalized section into the words BPE works on. Supports
// Sequence, ByteLevel (with GPT-2's regex when use_regex), Split with the GPT-2 / Llama-3 / Qwen2 regexes
// (tokenizer/split_pattern.h), Metaspace and Digits. Other kinds are refused at load.
#ifndef OCTET_TOKENIZER_HF_PRE_TOKENIZER_H_
#define OCTET_TOKENIZER_HF_PRE_TOKENIZER_H_

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/split_pattern.h"

namespace octet {

class HfPreTokenizer {
 public:
  // From the "pre_tokenizer" value (null: the whole section is one word). Throws octet::Error if unsupported.
  static HfPreTokenizer FromJson(const nlohmann::json& config);

  // True when it contains a ByteLevel step: words are then raw bytes for a byte-level BPE vocabulary.
  bool byte_level() const { return byte_level_; }

  // Replaces `words` by the words of `section`. `first_section`: the section starts the text (Metaspace's
  // prepend_scheme "first").
  void Split(std::string_view section, bool first_section, std::vector<std::string>& words) const;

 private:
  enum class Kind { kByteLevel, kSplit, kMetaspace, kDigits };
  struct Step {
    Kind kind = Kind::kByteLevel;
    SplitPattern pattern = SplitPattern::kGpt2;
    bool use_regex = false;         // ByteLevel
    bool add_prefix_space = false;  // ByteLevel
    std::string replacement;        // Metaspace
    std::string prepend_scheme;     // Metaspace: always, first, never
    bool split = true;              // Metaspace
    bool individual_digits = false;
  };
  static void AddSteps(const nlohmann::json& config, std::vector<Step>& steps);
  static void ApplyStep(const Step& step, bool first_section, std::vector<std::string>& words,
                        std::vector<std::string>& out);

  std::vector<Step> steps_;
  bool byte_level_ = false;
};

}  // namespace octet

#endif  // OCTET_TOKENIZER_HF_PRE_TOKENIZER_H_
