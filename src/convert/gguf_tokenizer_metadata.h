// The tokenizer.ggml.* metadata llama.cpp's converter writes for a model directory's tokenizer, built from its
// tokenizer.json / tokenizer_config.json / config.json exactly as convert_hf_to_gguf does for the tokenizer kinds
// octet handles (ggml-org/llama.cpp conversion/llama.py LlamaModel.set_vocab, conversion/base.py
// _set_vocab_llama_hf, gguf-py/gguf/vocab.py LlamaHfVocab and SpecialVocab).
//
// Handled, in llama.cpp's order of preference:
// 1. tokenizer.model (SentencePiece; needs libsentencepiece): pieces, scores and types from the model
//    (_create_vocab_sentencepiece), tokenizer_config.json's added_tokens_decoder, "[PADi]" up to vocab_size;
//    then the special ids and flags below. (added_tokens.json, which llama.cpp also reads, is not.)
// 2. a SentencePiece-style BPE tokenizer.json (model.type "BPE", byte_fallback true, a Sequence decoder;
// Llama 2 / Mistral / aidreams260K), which llama.cpp converts with LlamaHfVocab when there is no tokenizer.model:
//   tokenizer.ggml.model "llama", tokenizer.ggml.pre "default";
//   tokens: the vocab by id, then added tokens whose id is past it;
//   scores: NOT llama.cpp's: LlamaHfVocab.get_token_score writes the placeholder -1000.0 for every token, with
//   which llama.cpp's SPM tokenizer merges leftmost-first and disagrees with tokenizer.json (on 15 of
//   aidreams260K's 16 sample lines). octet writes -(rank of the first merge forming the token), 0 for tokens no
//   merge forms, -1000 for added tokens past the vocab, which makes SPM's highest-score-first merging BPE's
//   lowest-rank-first merging: llama.cpp then tokenizes as transformers does (tested);
//   token_type: 6 (BYTE) for "<0xXX>", 3 (CONTROL) for special added tokens, 1 (NORMAL) otherwise, 4
//   (USER_DEFINED) for non-special added tokens past the vocab;
//   no merges (SpecialVocab is built with load_merges=False for this kind);
//   {bos,eos,unknown,seperator,padding,cls,mask}_token_id: tokenizer_config.json's "<typ>_token" looked up among
//   tokenizer.json's added_tokens, else config.json's "<typ>_token_id" (first source wins);
//   add_bos_token / add_eos_token from tokenizer_config.json when they are booleans; chat_template when a string.
// 3. a byte-level BPE tokenizer.json (GPT-2, Llama 3, Qwen2; _set_vocab_gpt2): tokenizer.ggml.model "gpt2", tokens
//    by id ("[PADi]" holes up to vocab_size), token_type NORMAL / CONTROL (special or special-looking added tokens)
//    / USER_DEFINED, merges, no scores. tokenizer.ggml.pre: llama.cpp hashes the token ids of a check text to name
//    the pre-tokenizer; octet names the three its GGUF tokenizer implements by their tokenizer.json definition
//    ("gpt-2", "llama-bpe", "qwen2"), and carries no tokenizer for another one.
// Other tokenizers are not carried: the returned note says so, and the GGUF
// then has no tokenizer.ggml.* keys.
#ifndef OCTET_CONVERT_GGUF_TOKENIZER_METADATA_H_
#define OCTET_CONVERT_GGUF_TOKENIZER_METADATA_H_

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/gguf_value.h"
#include "tokenizer/gguf_tokenizer.h"  // GgufTokenType

namespace octet {

struct GgufTokenizerMetadata {
  std::vector<GgufKeyValue> keys;  // empty when no tokenizer was carried
  std::string note;                // what was carried, or why not (for the summary)
};

// Reads `model_dir`'s tokenizer files; throws octet::Error naming the file on malformed JSON.
GgufTokenizerMetadata BuildGgufTokenizerMetadata(const std::filesystem::path& model_dir,
                                                 const nlohmann::json& config);

}  // namespace octet

#endif  // OCTET_CONVERT_GGUF_TOKENIZER_METADATA_H_
