// GGUF in, tokenizer files out: the tokenizer.* metadata of a GGUF becomes the tokenizer.json (Hugging Face
// tokenizers format), tokenizer_config.json and special_tokens_map.json a Hugging Face / vLLM user needs beside
// the imported checkpoint, built the way transformers builds a tokenizer when it loads a GGUF
// (huggingface/transformers src/transformers/integrations/ggml.py: GGUFTokenizerSkeleton, GGUFLlamaConverter;
// convert_slow_tokenizer.py LlamaConverter). The keys mean what llama.cpp reads them as (src/llama-vocab.cpp
// llama_vocab::impl::load; see tokenizer/gguf_tokenizer.h); gguf_tokenizer_metadata.h is the inverse direction.
//
// tokenizer.ggml.model "llama" (SentencePiece-style BPE with scores and byte fallback):
//   model: BPE, vocab = tokens by id, byte_fallback true, fuse_unk true, unk_token = tokens[unknown_token_id];
//   merges derived from the vocabulary and scores as GGUFTokenizerSkeleton does (every split of every token into
//   two tokens, each token's splits ordered by the scores of their halves, then all stably by the token's score,
//   highest first), which makes BPE's lowest-rank-first merging SentencePiece's highest-score-first merging;
//   normalizer Prepend("▁") + Replace(" ", "▁") (only the Replace when tokenizer.ggml.add_space_prefix is false:
//   GGUF_TOKENIZER_MAPPING reads it as add_prefix_space, which LlamaConverter.normalizer / decoder follow);
//   no pre-tokenizer; decoder Replace("▁", " "), ByteFallback, Fuse, Strip(1 leading space, when prefixed).
// tokenizer.ggml.model "gpt2" (byte-level BPE): model BPE with tokenizer.ggml.merges, no byte fallback; the
//   layout of GPT-2's, Llama-3's and Qwen2's own tokenizer.json files: pre-tokenizer ByteLevel (GPT-2's regex) or
//   Split(the regex of tokenizer.ggml.pre, Isolated) + ByteLevel(no prefix space, no regex), the pre -> regex map
//   being the one octet's GGUF tokenizer implements (FindGgufPreTokenizer: gpt-2, llama-bpe / llama3, qwen2 and
//   llama.cpp's aliases); ignore_merges for Llama-3's; decoder ByteLevel. (Qwen2's NFC normalizer is not
//   restored: llama.cpp, whose reading of the keys this follows, does not normalize either.)
// Both: control (token_type 3) and unknown (2) tokens become added_tokens with special=true, normalized=false, as
// GGUFLlamaConverter does for type 3 (llama.cpp also cuts unknown tokens out of text); user-defined (4) tokens
// become non-special added tokens. A TemplateProcessing post-processor adds BOS / EOS per
// tokenizer.ggml.add_bos_token / add_eos_token (llama.cpp's defaults when absent: BOS for llama and Llama-3's pre).
// tokenizer_config.json: add_bos_token, add_eos_token, added_tokens_decoder, bos/eos/unk/pad_token from
// tokenizer.ggml.{bos,eos,unknown,padding}_token_id, tokenizer_class, and chat_template from tokenizer.chat_template.
#ifndef OCTET_CONVERT_GGUF_TOKENIZER_FILES_H_
#define OCTET_CONVERT_GGUF_TOKENIZER_FILES_H_

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "io/gguf_reader.h"

namespace octet {

struct HfTokenizerFiles {
  nlohmann::ordered_json tokenizer;           // tokenizer.json
  nlohmann::ordered_json tokenizer_config;    // tokenizer_config.json
  nlohmann::ordered_json special_tokens_map;  // special_tokens_map.json
  std::string description;                    // e.g. "llama (SentencePiece-style BPE), 512 tokens"
};

// Builds the three files from `file`'s tokenizer.* metadata. Throws octet::Error, one line naming the file and the
// key (and the value: an unknown tokenizer.ggml.model or tokenizer.ggml.pre), when they cannot be built.
HfTokenizerFiles BuildHfTokenizerFiles(const GgufFile& file);

struct HfTokenizerWriteResult {
  bool written = false;
  std::string note;  // for the conversion report: what was written, or why nothing was
};

// Writes the files into `dir` when `file` has a tokenizer octet can express. A tokenizer it cannot express (no
// tokenizer.ggml.model, an unknown model or pre-tokenizer, ...) is not an error: the weights are still worth having,
// so the result says why nothing was written (the one-line reason BuildHfTokenizerFiles gave) and the caller warns.
// Errors writing the files are thrown.
HfTokenizerWriteResult WriteHfTokenizerFiles(const GgufFile& file, const std::filesystem::path& dir);

}  // namespace octet

#endif  // OCTET_CONVERT_GGUF_TOKENIZER_FILES_H_
