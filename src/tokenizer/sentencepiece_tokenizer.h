// A SentencePiece tokenizer.model, through Debian's libsentencepiece (octet is built with it when CMake finds
// the sentencepiece pkg-config module; otherwise Load() refuses with a message saying so). Encoding is the
// library's own; decoding maps pieces by id ("▁" -> space, byte pieces -> bytes, control tokens -> nothing,
// unk -> " ⁇ " as SentencePiece prints it) so it can stream.
#ifndef OCTET_TOKENIZER_SENTENCEPIECE_TOKENIZER_H_
#define OCTET_TOKENIZER_SENTENCEPIECE_TOKENIZER_H_

#include <filesystem>
#include <memory>

#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_config.h"

namespace octet {

// True when this build links libsentencepiece.
bool SentencePieceAvailable();

// Throws octet::Error naming `path` if it is not a SentencePiece model, or if octet was built without
// libsentencepiece.
std::unique_ptr<Tokenizer> LoadSentencePieceTokenizer(const std::filesystem::path& path, const TokenizerConfig& config);

}  // namespace octet

#endif  // OCTET_TOKENIZER_SENTENCEPIECE_TOKENIZER_H_
