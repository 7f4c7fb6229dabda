// The regular expressions that byte-level BPE tokenizers split text with, implemented as hand-written scanners
// (std::regex has no \p{L}; a scanner is also much faster). Each scanner reproduces the leftmost-first,
// backtracking semantics of the Oniguruma pattern it stands for, so pieces come out exactly as in the Rust
// tokenizers library and tokenizers.js. Other patterns are refused when the tokenizer.json is loaded.
#ifndef OCTET_TOKENIZER_SPLIT_PATTERN_H_
#define OCTET_TOKENIZER_SPLIT_PATTERN_H_

#include <optional>
#include <string_view>
#include <vector>

namespace octet {

enum class SplitPattern {
  // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+  (ByteLevel's use_regex)
  kGpt2,
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|
  // \s+(?!\S)|\s+
  kLlama3,
  // As kLlama3 with \p{N} instead of \p{N}{1,3}: one digit per piece.
  kQwen2,
};

// The scanner for a Split pre-tokenizer's regex (compared verbatim), or nullopt.
std::optional<SplitPattern> RecognizeSplitPattern(std::string_view regex);

// The regex `pattern` stands for, as tokenizer.json spells it (RecognizeSplitPattern's inverse).
std::string_view SplitPatternRegex(SplitPattern pattern);

// Appends the pieces of `text` (together they cover it, in order, none empty) to `pieces`.
void SplitWithPattern(SplitPattern pattern, std::string_view text, std::vector<std::string_view>& pieces);

}  // namespace octet

#endif  // OCTET_TOKENIZER_SPLIT_PATTERN_H_
