#include "tokenizer/tokenizer_config.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "util/error.h"

namespace octet {
namespace {

using nlohmann::json;

// A token field is "<s>" or, in newer files, {"content": "<s>", ...}.
std::optional<std::string> TokenField(const json& object, const char* key) {
  if (!object.is_object() || !object.contains(key)) return std::nullopt;
  const json& value = object[key];
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value["content"].is_string()) {
    return value["content"].get<std::string>();
  }
  return std::nullopt;
}

std::optional<bool> BoolField(const json& object, const char* key) {
  if (!object.is_object() || !object.contains(key) || !object[key].is_boolean()) return std::nullopt;
  return object[key].get<bool>();
}

// An id field is 2 or [128001, 128009].
std::vector<int32_t> IdsField(const json& object, const char* key) {
  std::vector<int32_t> ids;
  if (!object.is_object() || !object.contains(key)) return ids;
  const json& value = object[key];
  if (value.is_number_integer()) ids.push_back(value.get<int32_t>());
  if (value.is_array()) {
    for (const json& v : value) {
      if (v.is_number_integer()) ids.push_back(v.get<int32_t>());
    }
  }
  return ids;
}

json ReadIfPresent(const std::filesystem::path& path) {
  return std::filesystem::exists(path) ? ReadJsonFile(path) : json::object();
}

}  // namespace

json ReadJsonFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail("{}: cannot open", path.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  json parsed = json::parse(buffer.str(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) Fail("{}: not valid JSON", path.string());
  return parsed;
}

TokenizerConfig ReadTokenizerConfig(const std::filesystem::path& dir) {
  TokenizerConfig config;
  const json tokenizer_config = ReadIfPresent(dir / "tokenizer_config.json");
  config.bos_token = TokenField(tokenizer_config, "bos_token");
  config.eos_token = TokenField(tokenizer_config, "eos_token");
  config.add_bos_token = BoolField(tokenizer_config, "add_bos_token");
  config.add_eos_token = BoolField(tokenizer_config, "add_eos_token");

  const json model_config = ReadIfPresent(dir / "config.json");
  const std::vector<int32_t> bos_ids = IdsField(model_config, "bos_token_id");
  if (!bos_ids.empty()) config.bos_token_id = bos_ids.front();
  config.eos_token_ids = IdsField(model_config, "eos_token_id");
  for (const int32_t id : IdsField(ReadIfPresent(dir / "generation_config.json"), "eos_token_id")) {
    if (std::find(config.eos_token_ids.begin(), config.eos_token_ids.end(), id) == config.eos_token_ids.end()) {
      config.eos_token_ids.push_back(id);
    }
  }

  const json special_map = ReadIfPresent(dir / "special_tokens_map.json");
  config.map_bos_token = TokenField(special_map, "bos_token");
  config.map_eos_token = TokenField(special_map, "eos_token");
  return config;
}

SpecialTokenIds ResolveSpecialIds(const TokenizerConfig& config, const Tokenizer& tokenizer,
                                  const SpecialTokenIds& defaults) {
  auto valid = [&](int32_t id) { return id >= 0 && id < tokenizer.vocab_size(); };
  auto by_token = [&](const std::optional<std::string>& token) -> int32_t {
    if (!token) return -1;
    return tokenizer.TokenToId(*token).value_or(-1);
  };
  auto first_valid = [&](std::initializer_list<int32_t> candidates) {
    for (const int32_t id : candidates) {
      if (valid(id)) return id;
    }
    return -1;
  };
  SpecialTokenIds ids;
  ids.bos = first_valid(
      {by_token(config.bos_token), config.bos_token_id.value_or(-1), by_token(config.map_bos_token), defaults.bos});
  ids.eos = first_valid({by_token(config.eos_token), config.eos_token_ids.empty() ? -1 : config.eos_token_ids.front(),
                         by_token(config.map_eos_token), defaults.eos});
  auto add_stop = [&](int32_t id) {
    if (valid(id) && std::find(ids.stop.begin(), ids.stop.end(), id) == ids.stop.end()) ids.stop.push_back(id);
  };
  add_stop(ids.eos);
  for (const int32_t id : config.eos_token_ids) add_stop(id);
  for (const int32_t id : defaults.stop) add_stop(id);
  return ids;
}

}  // namespace octet
