// Fuzzes the token-id file parser (eval, calibration): ids must come out non-negative, below the vocabulary
// size, and no sequence may be empty; anything else must be refused with octet::Error.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_util.h"
#include "runtime/token_file.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks the vocabulary limit, so both the bounded and the unbounded paths are explored.
  constexpr int64_t kVocabSizes[] = {0, 1, 512, 32000};
  const int64_t vocab_size = kVocabSizes[data[0] % 4];
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    for (const octet::TokenSequence& sequence : octet::ParseTokenText(text, "fuzz.txt", vocab_size)) {
      OCTET_FUZZ_CHECK(!sequence.empty());
      for (int32_t id : sequence) OCTET_FUZZ_CHECK(id >= 0 && (vocab_size == 0 || id < vocab_size));
    }
  } catch (const octet::Error&) {
  }
  return 0;
}
