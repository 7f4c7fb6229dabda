#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/unicode.h"

namespace octet::byte_level {
namespace {

struct Tables {
  std::array<char32_t, 256> byte_to_char;
  std::array<int, 512> char_to_byte;  // the alphabet lies below U+0200; -1: not in it
};

constexpr Tables BuildTables() {
  Tables t{};
  for (int& b : t.char_to_byte) b = -1;
  // Printable Latin-1 bytes stand for themselves; the others are shifted to U+0100 and up, in byte order.
  int shifted = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const char32_t c = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + shifted++);
    t.byte_to_char[b] = c;
    t.char_to_byte[c] = b;
  }
  return t;
}

constexpr Tables kTables = BuildTables();

}  // namespace

char32_t ByteToChar(unsigned char byte) { return kTables.byte_to_char[byte]; }

std::optional<std::string> TokenToBytes(std::string_view token) {
  std::string out;
  for (size_t pos = 0; pos < token.size();) {
    const unicode::DecodedChar c = unicode::DecodeAt(token, pos);
    if (c.code_point >= 512 || kTables.char_to_byte[c.code_point] < 0) return std::nullopt;
    out.push_back(static_cast<char>(kTables.char_to_byte[c.code_point]));
    pos += c.length;
  }
  return out;
}

std::string DecodeToken(std::string_view token) {
  std::string out;
  for (size_t pos = 0; pos < token.size();) {
    const unicode::DecodedChar c = unicode::DecodeAt(token, pos);
    if (c.code_point < 512 && kTables.char_to_byte[c.code_point] >= 0) {
      out.push_back(static_cast<char>(kTables.char_to_byte[c.code_point]));
    } else {
      out.append(token.substr(pos, c.length));
    }
    pos += c.length;
  }
  return out;
}

}  // namespace octet::byte_level
