#include "tokenizer/split_pattern.h"

#include <algorithm>
#include <cstdint>

#include "tokenizer/unicode.h"

namespace octet {
namespace {

constexpr std::string_view kGpt2Regex = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr std::string_view kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

enum class CharClass : uint8_t { kLetter, kNumber, kSpace, kOther };

// The text as classified code points with their byte offsets; the scanners work on code-point indices.
struct Chars {
  std::vector<char32_t> cp;
  std::vector<CharClass> cls;
  std::vector<uint32_t> offset;  // size() + 1 entries

  explicit Chars(std::string_view text) {
    cp.reserve(text.size());
    cls.reserve(text.size());
    offset.reserve(text.size() + 1);
    for (size_t pos = 0; pos < text.size();) {
      const unicode::DecodedChar c = unicode::DecodeAt(text, pos);
      cp.push_back(c.code_point);
      cls.push_back(Classify(c.code_point));
      offset.push_back(static_cast<uint32_t>(pos));
      pos += c.length;
    }
    offset.push_back(static_cast<uint32_t>(text.size()));
  }
  size_t size() const { return cp.size(); }

  static CharClass Classify(char32_t c) {
    if (unicode::IsLetter(c)) return CharClass::kLetter;
    if (unicode::IsNumber(c)) return CharClass::kNumber;
    if (unicode::IsWhitespace(c)) return CharClass::kSpace;
    return CharClass::kOther;
  }
  // End of the run of class `k` starting at i.
  size_t RunEnd(size_t i, CharClass k) const {
    while (i < size() && cls[i] == k) ++i;
    return i;
  }
  bool Is(size_t i, CharClass k) const { return i < size() && cls[i] == k; }
  bool IsNewline(size_t i) const { return i < size() && (cp[i] == '\r' || cp[i] == '\n'); }
};

char32_t AsciiLower(char32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

// Length (in code points, 0 if none) of a contraction 's 't 're 've 'm 'll 'd at i.
size_t Contraction(const Chars& s, size_t i, bool ignore_case) {
  if (s.cp[i] != '\'' || i + 1 >= s.size()) return 0;
  auto at = [&](size_t k) { return ignore_case ? AsciiLower(s.cp[k]) : s.cp[k]; };
  const char32_t a = at(i + 1);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 >= s.size()) return 0;
  const char32_t b = at(i + 2);
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

// \s+(?!\S)|\s+ at i (s.cls[i] is kSpace): the whitespace run, less its last character when a non-space follows,
// so that character can lead the next piece; a run of one is taken whole by \s+.
size_t TrailingWhitespace(const Chars& s, size_t i) {
  const size_t end = s.RunEnd(i, CharClass::kSpace);
  if (end == s.size() || end - i == 1) return end;
  return end - 1;
}

size_t Gpt2PieceEnd(const Chars& s, size_t i) {
  if (const size_t n = Contraction(s, i, /*ignore_case=*/false)) return i + n;
  const CharClass c = s.cls[i];
  // " ?X+" for X in letters, numbers, other: the optional space belongs to the run after it.
  if (s.cp[i] == ' ' && i + 1 < s.size() && s.cls[i + 1] != CharClass::kSpace) {
    return s.RunEnd(i + 1, s.cls[i + 1]);
  }
  if (c != CharClass::kSpace) return s.RunEnd(i, c);
  return TrailingWhitespace(s, i);
}

size_t Llama3PieceEnd(const Chars& s, size_t i, size_t max_digits) {
  if (const size_t n = Contraction(s, i, /*ignore_case=*/true)) return i + n;
  const CharClass c = s.cls[i];
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (c == CharClass::kLetter) return s.RunEnd(i, c);
  if (c != CharClass::kNumber && !s.IsNewline(i) && s.Is(i + 1, CharClass::kLetter)) {
    return s.RunEnd(i + 1, CharClass::kLetter);
  }
  // \p{N}{1,max_digits}
  if (c == CharClass::kNumber) return std::min(s.RunEnd(i, c), i + max_digits);
  // " ?[^\s\p{L}\p{N}]+[\r\n]*"
  size_t other_start = s.size();
  if (c == CharClass::kOther) other_start = i;
  if (s.cp[i] == ' ' && s.Is(i + 1, CharClass::kOther)) other_start = i + 1;
  if (other_start != s.size()) {
    size_t end = s.RunEnd(other_start, CharClass::kOther);
    while (s.IsNewline(end)) ++end;
    return end;
  }
  // \s*[\r\n]+ : whitespace up to and including its last newline.
  const size_t run_end = s.RunEnd(i, CharClass::kSpace);
  for (size_t k = run_end; k > i; --k) {
    if (s.IsNewline(k - 1)) return k;
  }
  return TrailingWhitespace(s, i);
}

}  // namespace

std::optional<SplitPattern> RecognizeSplitPattern(std::string_view regex) {
  if (regex == kGpt2Regex) return SplitPattern::kGpt2;
  if (regex == kLlama3Regex) return SplitPattern::kLlama3;
  if (regex == kQwen2Regex) return SplitPattern::kQwen2;
  return std::nullopt;
}

std::string_view SplitPatternRegex(SplitPattern pattern) {
  switch (pattern) {
    case SplitPattern::kGpt2: return kGpt2Regex;
    case SplitPattern::kLlama3: return kLlama3Regex;
    case SplitPattern::kQwen2: return kQwen2Regex;
  }
  return kGpt2Regex;
}

void SplitWithPattern(SplitPattern pattern, std::string_view text, std::vector<std::string_view>& pieces) {
  const Chars s(text);
  for (size_t i = 0; i < s.size();) {
    const size_t end = pattern == SplitPattern::kGpt2     ? Gpt2PieceEnd(s, i)
                       : pattern == SplitPattern::kLlama3 ? Llama3PieceEnd(s, i, 3)
                                                          : Llama3PieceEnd(s, i, 1);
    pieces.push_back(text.substr(s.offset[i], s.offset[end] - s.offset[i]));
    i = end;
  }
}

}  // namespace octet
