#include "tokenizer/unicode.h"

#include <algorithm>
#include <span>

#include "tokenizer/unicode_tables.h"

namespace octet::unicode {
namespace {

using unicode_tables::CodePointRange;

bool InRanges(std::span<const CodePointRange> ranges, char32_t cp) {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), cp,
                             [](char32_t value, const CodePointRange& r) { return value < r.first; });
  return it != ranges.begin() && cp <= std::prev(it)->last;
}

bool IsContinuation(unsigned char byte) { return (byte & 0xC0) == 0x80; }

}  // namespace

DecodedChar DecodeAt(std::string_view text, size_t pos) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data()) + pos;
  const size_t left = text.size() - pos;
  const unsigned char b0 = s[0];
  if (b0 < 0x80) return {b0, 1, false};
  // Well-formed sequences per Unicode table 3-7: the second byte's range depends on the first byte, which rules
  // out overlongs, surrogates and code points past U+10FFFF.
  size_t length;
  char32_t cp;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2, cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3, cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4, cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return {kInvalid, 1, false};
  }
  if (left < 2) return {kInvalid, 1, true};
  if (s[1] < lo || s[1] > hi) return {kInvalid, 1, false};
  cp = (cp << 6) | (s[1] & 0x3F);
  for (size_t i = 2; i < length; ++i) {
    if (i >= left) return {kInvalid, i, true};
    if (!IsContinuation(s[i])) return {kInvalid, i, false};
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  return {cp, length, false};
}

void AppendUtf8(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool IsLetter(char32_t cp) {
  if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  return InRanges(unicode_tables::LetterRanges(), cp);
}

bool IsNumber(char32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return InRanges(unicode_tables::NumberRanges(), cp);
}

bool IsWhitespace(char32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool IsNfcInert(char32_t cp) { return cp < 0x300 || !InRanges(unicode_tables::NfcUnsafeRanges(), cp); }

size_t CompletePrefixLength(std::string_view bytes) {
  // Only the last character can be unfinished; it starts at the last non-continuation byte of the last four.
  const size_t n = bytes.size();
  for (size_t back = 1; back <= std::min<size_t>(4, n); ++back) {
    const size_t start = n - back;
    if (IsContinuation(static_cast<unsigned char>(bytes[start]))) continue;
    return DecodeAt(bytes, start).truncated ? start : n;
  }
  return n;
}

std::string ToValidUtf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t pos = 0;
  while (pos < bytes.size()) {
    const DecodedChar c = DecodeAt(bytes, pos);
    if (c.code_point == kInvalid) {
      AppendUtf8(kInvalid, out);
    } else {
      out.append(bytes.substr(pos, c.length));
    }
    pos += c.length;
  }
  return out;
}

}  // namespace octet::unicode
