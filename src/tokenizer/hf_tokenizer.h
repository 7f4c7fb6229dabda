// Hugging Face tokenizer.json with a BPE model: added tokens -> normalizer -> pre-tokenizer -> BPE ->
// post-processor template, and the decoder as a per-id table. Covers the SentencePiece-style files that
// transformers' LlamaConverter writes (Llama-2, Mistral, MiniCPM: "▁", byte fallback, Prepend/Replace or
// Metaspace) and byte-level BPE (GPT-2, Llama-3, Qwen2). Merges may be "a b" strings or ["a", "b"] pairs.
#ifndef OCTET_TOKENIZER_HF_TOKENIZER_H_
#define OCTET_TOKENIZER_HF_TOKENIZER_H_

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/hf_decoder.h"
#include "tokenizer/hf_normalizer.h"
#include "tokenizer/hf_pre_tokenizer.h"
#include "tokenizer/string_map.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_config.h"

namespace octet {

class HfTokenizer final : public Tokenizer {
 public:
  // Reads `path` (a tokenizer.json). Throws octet::Error naming the file if it is malformed or uses a component
  // octet does not implement.
  static std::unique_ptr<HfTokenizer> Load(const std::filesystem::path& path, const TokenizerConfig& config);
  // The same from parsed JSON; `source` names it in errors.
  static std::unique_ptr<HfTokenizer> FromJson(const nlohmann::json& root, const TokenizerConfig& config,
                                               const std::string& source);

  std::vector<int32_t> Encode(std::string_view text, bool add_bos = true) const override;
  std::string_view TokenBytes(int32_t id) const override;
  int leading_spaces_to_strip() const override { return decoder_.leading_spaces_to_strip(); }
  std::optional<int32_t> TokenToId(std::string_view token) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(pieces_.size()); }
  std::string description() const override;

 private:
  HfTokenizer(BpeModel model, HfNormalizer normalizer, HfPreTokenizer pre_tokenizer, HfDecoder decoder)
      : model_(std::move(model)),
        normalizer_(std::move(normalizer)),
        pre_tokenizer_(std::move(pre_tokenizer)),
        decoder_(std::move(decoder)) {}

  // FromJson without the conversion of nlohmann's type errors into octet::Error.
  static std::unique_ptr<HfTokenizer> FromJsonUnchecked(const nlohmann::json& root, const TokenizerConfig& config);
  void EncodeSection(std::string_view section, bool first_section, BpeModel::Scratch& scratch,
                     std::vector<std::string>& words, std::vector<int32_t>& ids) const;

  BpeModel model_;
  HfNormalizer normalizer_;
  HfPreTokenizer pre_tokenizer_;
  HfDecoder decoder_;
  AddedTokenMatcher raw_added_;         // matched in the raw text
  AddedTokenMatcher normalized_added_;  // matched after normalization
  StringMap<int32_t> token_ids_;        // every token as the file spells it
  std::vector<int32_t> prefix_ids_;     // added around one sequence when add_bos
  std::vector<int32_t> suffix_ids_;
  std::vector<std::string> pieces_;  // decoded bytes per id; empty for special tokens
};

}  // namespace octet

#endif  // OCTET_TOKENIZER_HF_TOKENIZER_H_
