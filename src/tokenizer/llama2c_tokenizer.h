// llama2.c's tokenizer.bin (e.g. tok512.bin): int32 max_token_length, then per id a float32 score, an int32
// length and the token's bytes; the vocabulary size is whatever the file holds. Encoding is run.c's encode():
// optional BOS (1), a dummy " " prefix for non-empty text, UTF-8 characters looked up whole or byte-fallback
// encoded as byte + 3, then repeatedly the adjacent pair whose concatenation has the highest score is merged
// (leftmost among equals). Here with a heap rather than run.c's quadratic scan; the result is the same.
#ifndef OCTET_TOKENIZER_LLAMA2C_TOKENIZER_H_
#define OCTET_TOKENIZER_LLAMA2C_TOKENIZER_H_

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/string_map.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_config.h"

namespace octet {

class Llama2cTokenizer final : public Tokenizer {
 public:
  // Throws octet::Error naming `path` if the file is truncated or malformed.
  static std::unique_ptr<Llama2cTokenizer> Load(const std::filesystem::path& path, const TokenizerConfig& config);
  // The same from the file's bytes; `source` names it in errors.
  static std::unique_ptr<Llama2cTokenizer> FromBytes(std::string_view bytes, const TokenizerConfig& config,
                                                     const std::string& source);

  std::vector<int32_t> Encode(std::string_view text, bool add_bos = true) const override;
  std::string_view TokenBytes(int32_t id) const override;
  int leading_spaces_to_strip() const override { return 1; }
  std::optional<int32_t> TokenToId(std::string_view token) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(vocab_.size()); }
  std::string description() const override;

 private:
  Llama2cTokenizer() = default;
  int32_t Lookup(std::string_view token) const;

  std::vector<std::string> vocab_;
  std::vector<float> scores_;
  StringMap<int32_t> ids_;           // first id of each distinct token text (run.c's bsearch)
  std::vector<std::string> pieces_;  // decoded bytes per id
};

}  // namespace octet

#endif  // OCTET_TOKENIZER_LLAMA2C_TOKENIZER_H_
