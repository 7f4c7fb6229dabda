// Fuzzes Hugging Face tokenizer.json loading (tokenizer/hf_tokenizer.h: added tokens, normalizer, pre-tokenizer,
// BPE model, post-processor, decoder) through LoadTokenizer, the CLI's entry point, then encodes and decodes with
// whatever loaded (tokenizer_checks.h). A malformed file must be refused with octet::Error, never crash.
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
  // LoadTokenizer picks the format from the file name, so the input goes to a real tokenizer.json in a directory of
  // its own (no tokenizer_config.json beside it: special tokens come from the file).
  static const std::filesystem::path dir = octet::fuzz::MakeScratchDir();
  static const std::filesystem::path file = dir / "tokenizer.json";
  octet::fuzz::WriteFile(file, data, size);
  std::unique_ptr<const octet::Tokenizer> tokenizer;
  try {
    tokenizer = octet::LoadTokenizer(file);
  } catch (const octet::Error&) {
    return 0;
  }
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  octet::fuzz::CheckTokenizer(*tokenizer, bytes.substr(0, 256));
  return 0;
}
