#include "runtime/token_file.h"

#include <charconv>
#include <fstream>
#include <sstream>

#include "util/error.h"

namespace octet {

std::vector<TokenSequence> ParseTokenText(std::string_view text, const std::string& source, int64_t vocab_size) {
  std::vector<TokenSequence> sequences;
  size_t line_number = 0;
  size_t line_start = 0;
  while (line_start < text.size()) {
    size_t line_end = text.find('\n', line_start);
    if (line_end == std::string_view::npos) line_end = text.size();
    std::string_view line = text.substr(line_start, line_end - line_start);
    line_start = line_end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // CRLF files

    TokenSequence sequence;
    size_t i = 0;
    while (i < line.size()) {
      if (line[i] == ' ' || line[i] == '\t') {
        ++i;
        continue;
      }
      size_t j = i;
      while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
      const std::string_view word = line.substr(i, j - i);
      int64_t id = -1;
      const auto [end, error] = std::from_chars(word.data(), word.data() + word.size(), id);
      if (error == std::errc::result_out_of_range) {
        Fail("{}:{}: token id '{}' is out of range", source, line_number, word);
      }
      if (error != std::errc() || end != word.data() + word.size() || id < 0 || id > INT32_MAX) {
        Fail("{}:{}: '{}' is not a token id (a non-negative integer)", source, line_number, word);
      }
      if (vocab_size > 0 && id >= vocab_size) {
        Fail("{}:{}: token id {} is not below the vocabulary size {}", source, line_number, id, vocab_size);
      }
      sequence.push_back(static_cast<int32_t>(id));
      i = j;
    }
    if (!sequence.empty()) sequences.push_back(std::move(sequence));
  }
  return sequences;
}

std::vector<TokenSequence> ReadTokenFile(const std::filesystem::path& path, int64_t vocab_size) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail("{}: cannot open token file", path.string());
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) Fail("{}: read error", path.string());
  std::vector<TokenSequence> sequences = ParseTokenText(buffer.str(), path.string(), vocab_size);
  if (sequences.empty()) Fail("{}: no token sequences (one sequence of space-separated ids per line)", path.string());
  return sequences;
}

}  // namespace octet
