// Helpers for the tokenizer tests: the committed data in tests/tokenizer/data and the reference vectors that
// tools/tokenizer-vectors/generate.mjs produced with tokenizers.js.
#ifndef OCTET_TESTS_TOKENIZER_TOKENIZER_TEST_UTIL_H_
#define OCTET_TESTS_TOKENIZER_TOKENIZER_TEST_UTIL_H_

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace octet::testing {

inline std::filesystem::path TokenizerDataDir() {
  return std::filesystem::path(OCTET_SOURCE_DIR) / "tests" / "tokenizer" / "data";
}

inline std::string ReadFileText(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

struct ReferenceCase {
  std::string text;
  std::vector<int32_t> ids;             // with special tokens (BOS)
  std::vector<int32_t> ids_no_special;  // without
  std::string decoded;                  // decode(ids, skip_special_tokens)
  bool nfc_inert = true;
};

inline std::vector<ReferenceCase> ReadReferenceCases(const std::string& name) {
  const nlohmann::json root = nlohmann::json::parse(ReadFileText(TokenizerDataDir() / (name + "_vectors.json")));
  std::vector<ReferenceCase> cases;
  for (const nlohmann::json& c : root.at("cases")) {
    cases.push_back({c.at("text").get<std::string>(), c.at("ids").get<std::vector<int32_t>>(),
                     c.at("ids_no_special").get<std::vector<int32_t>>(), c.at("decoded").get<std::string>(),
                     c.value("nfc_inert", true)});
  }
  return cases;
}

// Lines of a text file, without the final empty one.
inline std::vector<std::string> ReadLines(const std::filesystem::path& path) {
  std::vector<std::string> lines;
  std::istringstream in(ReadFileText(path));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

inline std::vector<int32_t> ParseIdLine(const std::string& line) {
  std::vector<int32_t> ids;
  std::istringstream in(line);
  for (int32_t id; in >> id;) ids.push_back(id);
  return ids;
}

}  // namespace octet::testing

#endif  // OCTET_TESTS_TOKENIZER_TOKENIZER_TEST_UTIL_H_
