// What a model directory's JSON files say about special tokens: tokenizer_config.json, config.json,
// generation_config.json and special_tokens_map.json. Every file is optional; a file that exists but is not JSON
// is an error naming it.
#ifndef OCTET_TOKENIZER_TOKENIZER_CONFIG_H_
#define OCTET_TOKENIZER_TOKENIZER_CONFIG_H_

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace octet {

struct TokenizerConfig {
  // tokenizer_config.json
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
  std::optional<bool> add_bos_token;
  std::optional<bool> add_eos_token;
  // config.json, then generation_config.json
  std::optional<int32_t> bos_token_id;
  std::vector<int32_t> eos_token_ids;
  // special_tokens_map.json
  std::optional<std::string> map_bos_token;
  std::optional<std::string> map_eos_token;
};

// Reads the files above from `dir` (missing ones are skipped).
TokenizerConfig ReadTokenizerConfig(const std::filesystem::path& dir);

// Special ids for `tokenizer`: for BOS and EOS the first of tokenizer_config.json's token, config.json's id,
// special_tokens_map.json's token, and `defaults` (the tokenizer file's own idea) that names a valid id. Stop ids:
// EOS, every EOS id of config.json / generation_config.json, and defaults.stop.
SpecialTokenIds ResolveSpecialIds(const TokenizerConfig& config, const Tokenizer& tokenizer,
                                  const SpecialTokenIds& defaults);

// Parses a JSON file; throws octet::Error naming it if it cannot be read or parsed.
nlohmann::json ReadJsonFile(const std::filesystem::path& path);

}  // namespace octet

#endif  // OCTET_TOKENIZER_TOKENIZER_CONFIG_H_
