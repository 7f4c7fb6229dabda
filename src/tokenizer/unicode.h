// UTF-8 stepping and the few Unicode properties the tokenizers need (\p{L}, \p{N}, \s as Oniguruma reads them,
// NFC inertness). Invalid UTF-8 is never fatal: a bad byte reads as one code point of its own (U+FFFD-like),
// so tokenizers can still byte-fallback it.
#ifndef OCTET_TOKENIZER_UNICODE_H_
#define OCTET_TOKENIZER_UNICODE_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace octet::unicode {

inline constexpr char32_t kInvalid = 0xFFFD;

struct DecodedChar {
  char32_t code_point;  // kInvalid for a malformed sequence
  size_t length;        // bytes consumed, >= 1
  bool truncated;       // malformed only because the text ended inside a so-far valid sequence
};

// The code point starting at text[pos] (pos < text.size()).
DecodedChar DecodeAt(std::string_view text, size_t pos);

// Appends the UTF-8 encoding of `cp`.
void AppendUtf8(char32_t cp, std::string& out);

bool IsLetter(char32_t cp);
bool IsNumber(char32_t cp);
// Unicode White_Space, which is what Oniguruma's \s matches in the Rust tokenizers library.
bool IsWhitespace(char32_t cp);
// True when no string containing `cp` can be changed by NFC because of it (no mark, no composition partner).
bool IsNfcInert(char32_t cp);

// Length of the longest prefix of `bytes` that is whole characters or invalid bytes, i.e. everything except a
// trailing, still incomplete but so far valid UTF-8 sequence.
size_t CompletePrefixLength(std::string_view bytes);

// `bytes` with every malformed sequence replaced by U+FFFD (one per maximal ill-formed subpart, as
// String::from_utf8_lossy and the WHATWG decoder do).
std::string ToValidUtf8(std::string_view bytes);

}  // namespace octet::unicode

#endif  // OCTET_TOKENIZER_UNICODE_H_
