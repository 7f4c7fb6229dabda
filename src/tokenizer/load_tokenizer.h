// Finds and loads a model's tokenizer. This is the entry point for the CLI and the runtime:
//
//   std::unique_ptr<const Tokenizer> tokenizer = LoadTokenizer(model_dir);
//   std::vector<int32_t> ids = tokenizer->Encode("Once upon a time", /*add_bos=*/true);
//   StreamDecoder stream(*tokenizer);  // then print stream.Push(id) per generated id
#ifndef OCTET_TOKENIZER_LOAD_TOKENIZER_H_
#define OCTET_TOKENIZER_LOAD_TOKENIZER_H_

#include <filesystem>
#include <memory>

#include "tokenizer/tokenizer.h"

namespace octet {

// `path` is a model directory, a file inside one (e.g. model.safetensors), or a tokenizer file itself (a .gguf
// model file counts: its tokenizer.ggml.* vocabulary, see tokenizer/gguf_tokenizer.h). In a directory, the first
// present of tokenizer.json, tokenizer.model, *.gguf, tokenizer.bin, tok*.bin is used; BOS/EOS come
// from tokenizer_config.json / config.json / special_tokens_map.json beside it, else from the tokenizer file.
// Throws octet::Error listing what was looked for when there is none, or naming the file if it is malformed.
std::unique_ptr<const Tokenizer> LoadTokenizer(const std::filesystem::path& path);

}  // namespace octet

#endif  // OCTET_TOKENIZER_LOAD_TOKENIZER_H_
