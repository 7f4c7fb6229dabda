// GGUF vocabularies for tests, written with octet's GgufWriter the way llama.cpp's convert_hf_to_gguf.py would:
// aidreams260K's SentencePiece vocabulary rebuilt from tok512.bin, and the byte-level test tokenizers of
// tests/tokenizer/data. Shared by the GGUF tokenizer tests and the GGUF -> tokenizer.json conversion tests.
#ifndef OCTET_TESTS_TOKENIZER_GGUF_TEST_VOCABULARIES_H_
#define OCTET_TESTS_TOKENIZER_GGUF_TEST_VOCABULARIES_H_

#include <cstring>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/gguf_value.h"
#include "io/gguf_writer.h"
#include "tokenizer/tokenizer_test_util.h"

namespace octet::testing::gguf_vocab {

using ::octet::testing::ReadFileText;
using ::octet::testing::TokenizerDataDir;

constexpr int32_t kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kByte = 6;

inline void WriteVocabGguf(const std::filesystem::path& path, std::vector<GgufKeyValue> metadata) {
  metadata.insert(metadata.begin(), {"general.architecture", GgufValue::String("llama")});
  WriteGguf(path, std::move(metadata), {}, {});
}

// The GGUF that convert_hf_to_gguf.py's _create_vocab_sentencepiece writes for aidreams260K, rebuilt from the
// llama2.c export tok512.bin (which spells "▁" as " " and BOS/EOS as "\n<s>\n" / "\n</s>\n").
inline std::vector<GgufKeyValue> AidreamsVocabulary(const std::filesystem::path& tok512) {
  const std::string bytes = ReadFileText(tok512);
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  for (size_t pos = 4; pos < bytes.size();) {
    float score;
    int32_t length;
    std::memcpy(&score, bytes.data() + pos, 4);
    std::memcpy(&length, bytes.data() + pos + 4, 4);
    std::string piece = bytes.substr(pos + 8, static_cast<size_t>(length));
    pos += 8 + static_cast<size_t>(length);
    const int32_t id = static_cast<int32_t>(tokens.size());
    int32_t type = kNormal;
    if (id == 0) {
      type = kUnknown;
    } else if (id == 1 || id == 2) {
      piece = id == 1 ? "<s>" : "</s>";
      type = kControl;
    } else if (piece.size() == 6 && piece.rfind("<0x", 0) == 0) {
      type = kByte;
    } else {
      for (size_t at; (at = piece.find(' ')) != std::string::npos;) piece.replace(at, 1, "\xE2\x96\x81");
    }
    tokens.push_back(piece);
    scores.push_back(score);
    types.push_back(type);
  }
  return {
      {"tokenizer.ggml.model", GgufValue::String("llama")},
      {"tokenizer.ggml.tokens", GgufValue::StringArray(tokens)},
      {"tokenizer.ggml.scores", GgufValue::Float32Array(scores)},
      {"tokenizer.ggml.token_type", GgufValue::Int32Array(types)},
      {"tokenizer.ggml.bos_token_id", GgufValue::Uint32(1)},
      {"tokenizer.ggml.eos_token_id", GgufValue::Uint32(2)},
      {"tokenizer.ggml.unknown_token_id", GgufValue::Uint32(0)},
      {"tokenizer.ggml.add_bos_token", GgufValue::Bool(true)},
      {"tokenizer.ggml.add_eos_token", GgufValue::Bool(false)},
  };
}

// A GGUF carrying a tokenizer.json's byte-level BPE the way convert_hf_to_gguf.py's _set_vocab_gpt2 writes it:
// tokens by id, token_type (added special -> control, added non-special -> user-defined), merges as "a b".
inline std::vector<GgufKeyValue> ByteLevelVocabulary(const std::string& name, const std::string& pre) {
  const nlohmann::json root = nlohmann::json::parse(ReadFileText(TokenizerDataDir() / (name + ".json")));
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  auto put = [&](int32_t id, const std::string& text, int32_t type) {
    if (static_cast<size_t>(id) >= tokens.size()) {
      tokens.resize(id + 1);
      types.resize(id + 1, kNormal);
    }
    tokens[id] = text;
    types[id] = type;
  };
  for (const auto& [text, id] : root["model"]["vocab"].items()) put(id.get<int32_t>(), text, kNormal);
  int32_t bos = -1, eos = -1;
  for (const auto& added : root["added_tokens"]) {
    const bool special = added["special"].get<bool>();
    const std::string content = added["content"].get<std::string>();
    put(added["id"].get<int32_t>(), content, special ? kControl : kUserDefined);
    if (content == "<|begin_of_text|>") bos = added["id"].get<int32_t>();
    if (content == "<|endoftext|>" || content == "<|end_of_text|>") eos = added["id"].get<int32_t>();
  }
  std::vector<std::string> merges;
  for (const auto& merge : root["model"]["merges"]) {
    merges.push_back(merge.is_string() ? merge.get<std::string>()
                                       : merge[0].get<std::string>() + " " + merge[1].get<std::string>());
  }
  std::vector<GgufKeyValue> metadata = {
      {"tokenizer.ggml.model", GgufValue::String("gpt2")},
      {"tokenizer.ggml.pre", GgufValue::String(pre)},
      {"tokenizer.ggml.tokens", GgufValue::StringArray(tokens)},
      {"tokenizer.ggml.token_type", GgufValue::Int32Array(types)},
      {"tokenizer.ggml.merges", GgufValue::StringArray(merges)},
  };
  if (bos >= 0) metadata.push_back({"tokenizer.ggml.bos_token_id", GgufValue::Uint32(bos)});
  if (eos >= 0) metadata.push_back({"tokenizer.ggml.eos_token_id", GgufValue::Uint32(eos)});
  return metadata;
}

// The byte-level flavours the tests build with ByteLevelVocabulary: tokenizer.json name and tokenizer.ggml.pre.
struct ByteLevelCase {
  std::string name;
  std::string pre;
  friend void PrintTo(const ByteLevelCase& c, std::ostream* os) { *os << c.name << " (pre " << c.pre << ")"; }
};
inline const ByteLevelCase kByteLevelFlavours[] = {
    {"bytelevel_gpt2", "gpt-2"}, {"bytelevel_llama3", "llama-bpe"}, {"bytelevel_qwen2", "qwen2"}};

}  // namespace octet::testing::gguf_vocab

#endif  // OCTET_TESTS_TOKENIZER_GGUF_TEST_VOCABULARIES_H_
