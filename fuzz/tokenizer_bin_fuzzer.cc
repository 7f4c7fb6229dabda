// Fuzzes llama2.c tokenizer.bin loading (tokenizer/llama2c_tokenizer.h: int32 max_token_length, then per token a
// float score, an int32 length and the bytes) through LoadTokenizer, then encodes and decodes with whatever loaded
// (tokenizer_checks.h). A malformed file must be refused with octet::Error, never crash.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string_view>

#include "fuzz_util.h"
#include "tokenizer/load_tokenizer.h"
#include "tokenizer_checks.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::filesystem::path dir = octet::fuzz::MakeScratchDir();
  static const std::filesystem::path file = dir / "tokenizer.bin";
  octet::fuzz::WriteFile(file, data, size);
  std::unique_ptr<const octet::Tokenizer> tokenizer;
  try {
    tokenizer = octet::LoadTokenizer(file);
  } catch (const octet::Error&) {
    return 0;
  }
  // The tail of the input holds token texts: encode some of it so merges between them are exercised.
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  octet::fuzz::CheckTokenizer(*tokenizer, bytes.substr(bytes.size() - std::min<size_t>(bytes.size(), 128)));
  return 0;
}
