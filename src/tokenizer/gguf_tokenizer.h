// The vocabulary a GGUF file carries in its `tokenizer.ggml.*` metadata, as llama.cpp reads it
// (ggml-org/llama.cpp src/llama-vocab.cpp: llama_vocab::impl::load, tokenize, token_to_piece):
//
//   tokenizer.ggml.model       "llama": SentencePiece-style (llm_tokenizer_spm): text split into UTF-8 characters,
//                              then repeatedly the adjacent pair whose concatenation is a token with the highest
//                              score is merged (leftmost among equals) — the algorithm of llama2.c's run.c;
//                              characters left over become "<0xAB>" byte tokens. Spaces are escaped to "▁"
//                              and a " " is prefixed to each text fragment that starts the text or follows a
//                              special token (tokenizer.ggml.add_space_prefix, default true).
//                              "gpt2": byte-level BPE (llm_tokenizer_bpe): the text is split by the pre-tokenizer
//                              regex of tokenizer.ggml.pre, then merges apply by rank (tokenizer.ggml.merges,
//                              "left right" strings), lowest first, leftmost among equals.
//   tokenizer.ggml.pre         gpt2 only: "gpt-2" (and its llama.cpp aliases) -> GPT-2's regex; "llama-bpe" /
//                              "llama3" / "llama-v3" / "falcon3" / "pixtral" -> Llama-3's regex with ignore_merges
//                              and add_bos; "qwen2" / "deepseek-r1-qwen" / "megrez" -> Qwen2's regex. Anything
//                              else (including a missing pre, which llama.cpp maps to its own multi-pass
//                              "default" pre-tokenizer, not GPT-2's) is refused with a clear error.
//   tokenizer.ggml.tokens      string array: the vocabulary, by id (an empty entry becomes "[EMPTY_<id>]" as in
//                              llama.cpp; duplicates are an error)
//   tokenizer.ggml.scores      f32 (or i32) array, llama: merge priority
//   tokenizer.ggml.token_type  i32 array: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
//                              (absent: all normal)
//   tokenizer.ggml.{bos,eos,unknown,padding,eot,eom}_token_id, add_bos_token, add_eos_token
//
// Control, user-defined and unknown tokens are cut out of the text before anything else, longest token first
// (llama.cpp's tokenizer_st_partition with parse_special = true; transformers matches special text too). They
// decode to nothing except user-defined tokens, which decode to their text; byte tokens decode to their byte,
// normal tokens to their text with "▁" -> " " (llama) or GPT-2's byte alphabet undone (gpt2).
// Differences from llama.cpp, both for consistency with octet's other tokenizers: decoding strips the dummy-prefix
// space at the start of a text even after BOS (llama.cpp keeps it when it removes the BOS), and no
// clean_up_tokenization_spaces pass is applied.
#ifndef OCTET_TOKENIZER_GGUF_TOKENIZER_H_
#define OCTET_TOKENIZER_GGUF_TOKENIZER_H_

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/gguf_reader.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/split_pattern.h"
#include "tokenizer/string_map.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_config.h"

namespace octet {

// llama.cpp's llama_token_type (the values of tokenizer.ggml.token_type).
enum class GgufTokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

// What a gpt2 vocabulary's tokenizer.ggml.pre means, for the values llama.cpp maps to the three regexes octet has
// scanners for (llama-vocab.cpp load()): the split regex, whether whole words in the vocabulary skip the merges
// (ignore_merges), and whether BOS is added by default.
struct GgufPreTokenizer {
  SplitPattern pattern;
  bool ignore_merges;
  bool add_bos;
};
std::optional<GgufPreTokenizer> FindGgufPreTokenizer(std::string_view pre);

// tokenizer.ggml.tokens as llama.cpp reads it: non-empty, at most int32 ids, an empty entry named "[EMPTY_<id>]",
// duplicates refused. Shared by GgufTokenizer and the tokenizer.json writer (convert/gguf_tokenizer_files.h).
std::vector<std::string> ReadGgufTokens(const GgufFile& file);
// tokenizer.ggml.merges (required) split as llama.cpp splits them: at the first space after the first byte (a
// merge's left side may itself be a space). The sides stay in the vocabulary's byte-level spelling.
std::vector<std::pair<std::string, std::string>> ReadGgufMerges(const GgufFile& file);

class GgufTokenizer final : public Tokenizer {
 public:
  // Opens `path` and reads its vocabulary. Throws octet::Error naming the file (and key) when the metadata is
  // missing, malformed, or names a tokenizer model / pre-tokenizer octet does not implement.
  static std::unique_ptr<GgufTokenizer> Load(const std::filesystem::path& path, const TokenizerConfig& config);
  // The same from an open file (the converter / runtime may already hold one).
  static std::unique_ptr<GgufTokenizer> FromGguf(const GgufFile& file, const TokenizerConfig& config);

  std::vector<int32_t> Encode(std::string_view text, bool add_bos = true) const override;
  std::string_view TokenBytes(int32_t id) const override;
  int leading_spaces_to_strip() const override { return spm_ && add_space_prefix_ ? 1 : 0; }
  std::optional<int32_t> TokenToId(std::string_view token) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(tokens_.size()); }
  std::string description() const override;

  GgufTokenType token_type(int32_t id) const { return types_.at(static_cast<size_t>(id)); }

 private:
  GgufTokenizer() = default;

  struct Fragment {
    std::string_view text;
    int32_t id;  // the special token's id, or -1 for plain text
  };
  void Partition(std::string_view text, std::vector<Fragment>& fragments) const;
  void EncodeSpm(std::string_view escaped, std::vector<int32_t>& ids) const;
  int32_t ByteToken(unsigned char byte) const;

  std::string source_;
  bool spm_ = true;  // tokenizer.ggml.model: "llama" (true) or "gpt2"
  std::string pre_;
  std::vector<std::string> tokens_;    // as spelled in the file
  std::vector<float> scores_;
  std::vector<GgufTokenType> types_;
  std::vector<std::string> pieces_;    // decoded bytes per id
  StringMap<int32_t> token_ids_;
  std::vector<int32_t> specials_;      // control / user-defined / unknown ids, longest text first
  std::array<int32_t, 256> byte_ids_;  // llama: "<0xAB>" token per byte (-1: none)
  int32_t unk_id_ = -1;
  bool add_space_prefix_ = true;
  bool add_bos_ = false;
  bool add_eos_ = false;
  // gpt2 only
  std::optional<BpeModel> bpe_;
  SplitPattern pattern_ = SplitPattern::kGpt2;
};

}  // namespace octet

#endif  // OCTET_TOKENIZER_GGUF_TOKENIZER_H_
