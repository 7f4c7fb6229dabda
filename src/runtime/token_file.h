// Token-id files for eval, calibration and tests: one sequence per line, ids as space-separated non-negative
// decimal integers (tabs count as spaces). Blank lines are skipped. Errors name "<file>:<line>".
#ifndef OCTET_RUNTIME_TOKEN_FILE_H_
#define OCTET_RUNTIME_TOKEN_FILE_H_

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace octet {

using TokenSequence = std::vector<int32_t>;

// Parses `text`; `source` names it in errors. Ids >= vocab_size are refused (vocab_size 0: no limit).
std::vector<TokenSequence> ParseTokenText(std::string_view text, const std::string& source, int64_t vocab_size = 0);

// Reads and parses a token file. Throws if it cannot be read or holds no sequence.
std::vector<TokenSequence> ReadTokenFile(const std::filesystem::path& path, int64_t vocab_size = 0);

}  // namespace octet

#endif  // OCTET_RUNTIME_TOKEN_FILE_H_
