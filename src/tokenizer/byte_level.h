// GPT-2's reversible byte <-> unicode mapping (bytes_to_unicode): byte-level BPE vocabularies spell every raw byte
// as one printable character, e.g. the space 0x20 as "Ġ" (U+0120). octet runs BPE on raw bytes, so it translates
// such a vocabulary back to bytes once at load time.
#ifndef OCTET_TOKENIZER_BYTE_LEVEL_H_
#define OCTET_TOKENIZER_BYTE_LEVEL_H_

#include <optional>
#include <string>
#include <string_view>

namespace octet::byte_level {

// The character that stands for `byte`.
char32_t ByteToChar(unsigned char byte);

// The raw bytes a byte-level token spells, or nullopt if it contains a character outside the 256-character
// alphabet (such a vocabulary entry can never come out of byte-level pre-tokenization).
std::optional<std::string> TokenToBytes(std::string_view token);

// Decoder direction, lenient like the Rust ByteLevel decoder: characters outside the alphabet are kept as UTF-8.
std::string DecodeToken(std::string_view token);

}  // namespace octet::byte_level

#endif  // OCTET_TOKENIZER_BYTE_LEVEL_H_
