#include "tokenizer/load_tokenizer.h"

#include <algorithm>
#include <string_view>
#include <vector>

#include "tokenizer/gguf_tokenizer.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/llama2c_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "tokenizer/tokenizer_config.h"
#include "util/error.h"

namespace octet {
namespace {

namespace fs = std::filesystem;

enum class Format { kHfJson, kSentencePiece, kGguf, kLlama2c, kUnknown };

Format FormatOf(const fs::path& file) {
  const std::string name = file.filename().string();
  const std::string ext = file.extension().string();
  // Model-directory JSON files other than the tokenizer itself mean "use this directory".
  if (ext == ".json" && name != "config.json" && name != "tokenizer_config.json" && name != "special_tokens_map.json" &&
      name != "generation_config.json" && name.find(".index.") == std::string::npos) {
    return Format::kHfJson;
  }
  if (ext == ".model") return Format::kSentencePiece;
  if (ext == ".gguf") return Format::kGguf;
  if (ext == ".bin" && (name == "tokenizer.bin" || name.rfind("tok", 0) == 0)) return Format::kLlama2c;
  return Format::kUnknown;
}

// The files in `dir` whose name starts with `prefix` and ends with `extension`, sorted.
std::vector<fs::path> FilesLike(const fs::path& dir, std::string_view prefix, std::string_view extension) {
  std::vector<fs::path> found;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name.rfind(prefix, 0) == 0 && entry.path().extension() == extension) {
      found.push_back(entry.path());
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

// The tokenizer file in `dir`, in order of preference, or empty: tokenizer.json, tokenizer.model, the vocabulary
// of a .gguf model file (first by name), tokenizer.bin, tok*.bin.
fs::path FindTokenizerFile(const fs::path& dir) {
  for (const char* name : {"tokenizer.json", "tokenizer.model"}) {
    if (fs::is_regular_file(dir / name)) return dir / name;
  }
  if (const std::vector<fs::path> gguf = FilesLike(dir, "", ".gguf"); !gguf.empty()) return gguf.front();
  if (fs::is_regular_file(dir / "tokenizer.bin")) return dir / "tokenizer.bin";
  const std::vector<fs::path> llama2c = FilesLike(dir, "tok", ".bin");
  return llama2c.empty() ? fs::path() : llama2c.front();
}

}  // namespace

std::unique_ptr<const Tokenizer> LoadTokenizer(const fs::path& path) {
  if (!fs::exists(path)) Fail("{}: no such file or directory", path.string());
  fs::path dir = path;
  fs::path file;
  if (!fs::is_directory(path)) {
    dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
    if (FormatOf(path) != Format::kUnknown) file = path;
  }
  if (file.empty()) file = FindTokenizerFile(dir);
  if (file.empty()) {
    Fail("{}: no tokenizer found (looked for tokenizer.json, tokenizer.model, *.gguf, tokenizer.bin, tok*.bin)",
         dir.string());
  }
  const TokenizerConfig config = ReadTokenizerConfig(dir);
  switch (FormatOf(file)) {
    case Format::kHfJson:
      return HfTokenizer::Load(file, config);
    case Format::kSentencePiece:
      return LoadSentencePieceTokenizer(file, config);
    case Format::kGguf:
      return GgufTokenizer::Load(file, config);
    case Format::kLlama2c:
      return Llama2cTokenizer::Load(file, config);
    case Format::kUnknown:
      break;
  }
  Fail("{}: not a tokenizer file octet knows", file.string());
}

}  // namespace octet
