#include "tokenizer/hf_pre_tokenizer.h"

#include "tokenizer/hf_normalizer.h"
#include "tokenizer/unicode.h"
#include "util/error.h"

namespace octet {
namespace {

using nlohmann::json;

SplitPattern RegexPattern(const json& config) {
  const json& pattern = config.value("pattern", json::object());
  if (pattern.contains("Regex") && pattern["Regex"].is_string()) {
    const std::string regex = pattern["Regex"].get<std::string>();
    if (const auto known = RecognizeSplitPattern(regex)) return *known;
    Fail("Split pre-tokenizer: regex {} is not one octet implements (GPT-2, Llama-3, Qwen2)", json(regex).dump());
  }
  Fail("Split pre-tokenizer: pattern {} is not supported (octet implements the GPT-2, Llama-3 and Qwen2 regexes)",
       pattern.dump());
}

void SplitDigits(std::string_view text, bool individual, std::vector<std::string>& out) {
  size_t start = 0;
  bool start_is_digit = false;
  for (size_t pos = 0; pos < text.size();) {
    const unicode::DecodedChar c = unicode::DecodeAt(text, pos);
    const bool digit = unicode::IsNumber(c.code_point);
    if (pos > start && (digit != start_is_digit || (digit && individual))) {
      out.emplace_back(text.substr(start, pos - start));
      start = pos;
    }
    if (pos == start) start_is_digit = digit;
    pos += c.length;
  }
  if (start < text.size()) out.emplace_back(text.substr(start));
}

}  // namespace

void HfPreTokenizer::AddSteps(const json& config, std::vector<Step>& steps) {
  if (config.is_null()) return;
  const std::string type = config.value("type", "");
  if (type == "Sequence") {
    for (const json& inner : config.value("pretokenizers", json::array())) AddSteps(inner, steps);
  } else if (type == "ByteLevel") {
    Step step;
    step.kind = Kind::kByteLevel;
    step.use_regex = config.value("use_regex", true);
    step.add_prefix_space = config.value("add_prefix_space", true);
    steps.push_back(step);
  } else if (type == "Split") {
    if (config.value("behavior", "") != "Isolated" || config.value("invert", false)) {
      Fail("Split pre-tokenizer: only behavior Isolated without invert is supported, not {}", config.dump());
    }
    Step step;
    step.kind = Kind::kSplit;
    step.pattern = RegexPattern(config);
    steps.push_back(step);
  } else if (type == "Metaspace") {
    Step step;
    step.kind = Kind::kMetaspace;
    step.replacement = config.value("replacement", "\u2581");
    // Older files say add_prefix_space instead of prepend_scheme.
    step.prepend_scheme = config.value("prepend_scheme", config.value("add_prefix_space", true) ? "always" : "never");
    step.split = config.value("split", true);
    if (step.replacement.empty()) Fail("Metaspace pre-tokenizer: empty replacement");
    steps.push_back(step);
  } else if (type == "Digits") {
    Step step;
    step.kind = Kind::kDigits;
    step.individual_digits = config.value("individual_digits", false);
    steps.push_back(step);
  } else {
    Fail("pre-tokenizer \"{}\" is not supported (octet implements Sequence, ByteLevel, Split, Metaspace, Digits)",
         type);
  }
}

HfPreTokenizer HfPreTokenizer::FromJson(const json& config) {
  HfPreTokenizer pre_tokenizer;
  AddSteps(config, pre_tokenizer.steps_);
  for (const Step& step : pre_tokenizer.steps_) pre_tokenizer.byte_level_ |= step.kind == Kind::kByteLevel;
  return pre_tokenizer;
}

void HfPreTokenizer::ApplyStep(const Step& step, bool first_section, std::vector<std::string>& words,
                               std::vector<std::string>& out) {
  std::vector<std::string_view> pieces;
  for (std::string& word : words) {
    switch (step.kind) {
      case Kind::kByteLevel:
        // Each word gets the prefix space, as in the reference implementations.
        if (step.add_prefix_space && (word.empty() || word.front() != ' ')) word.insert(word.begin(), ' ');
        if (!step.use_regex) {
          out.push_back(std::move(word));
          break;
        }
        pieces.clear();
        SplitWithPattern(SplitPattern::kGpt2, word, pieces);
        for (const std::string_view piece : pieces) out.emplace_back(piece);
        break;
      case Kind::kSplit:
        pieces.clear();
        SplitWithPattern(step.pattern, word, pieces);
        for (const std::string_view piece : pieces) out.emplace_back(piece);
        break;
      case Kind::kMetaspace: {
        std::string text = ReplaceAll(word, " ", step.replacement);
        const bool prepend = step.prepend_scheme == "always" || (step.prepend_scheme == "first" && first_section);
        if (prepend && text.compare(0, step.replacement.size(), step.replacement) != 0) {
          text.insert(0, step.replacement);
        }
        if (!step.split) {
          out.push_back(std::move(text));
          break;
        }
        // Each replacement character starts a new word (MergedWithNext).
        size_t start = 0;
        for (size_t hit = text.find(step.replacement, 1); hit != std::string::npos;
             hit = text.find(step.replacement, hit + step.replacement.size())) {
          if (hit > start) out.push_back(text.substr(start, hit - start));
          start = hit;
        }
        if (start < text.size()) out.push_back(text.substr(start));
        break;
      }
      case Kind::kDigits:
        SplitDigits(word, step.individual_digits, out);
        break;
    }
  }
}

void HfPreTokenizer::Split(std::string_view section, bool first_section, std::vector<std::string>& words) const {
  words.clear();
  words.emplace_back(section);
  std::vector<std::string> next;
  for (const Step& step : steps_) {
    next.clear();
    ApplyStep(step, first_section, words, next);
    words.swap(next);
  }
}

}  // namespace octet
