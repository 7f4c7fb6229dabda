#include "tokenizer/sentencepiece_tokenizer.h"

#include "util/error.h"

#ifdef OCTET_HAVE_SENTENCEPIECE
#include <sentencepiece_processor.h>

#include <string>
#include <vector>

#include "tokenizer/hf_normalizer.h"
#endif

namespace octet {

#ifdef OCTET_HAVE_SENTENCEPIECE
namespace {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  static std::unique_ptr<SentencePieceTokenizer> Load(const std::filesystem::path& path,
                                                      const TokenizerConfig& config) {
    std::unique_ptr<SentencePieceTokenizer> t(new SentencePieceTokenizer());
    const auto status = t->processor_.Load(path.string());
    if (!status.ok()) Fail("{}: not a SentencePiece model: {}", path.string(), status.ToString());
    const int size = t->processor_.GetPieceSize();
    t->pieces_.resize(size);
    for (int id = 0; id < size; ++id) {
      if (t->processor_.IsControl(id)) continue;
      const std::string& piece = t->processor_.IdToPiece(id);
      if (t->processor_.IsUnknown(id)) {
        t->pieces_[id] = " \u2047 ";
      } else if (t->processor_.IsByte(id) && piece.size() == 6) {
        t->pieces_[id] = std::string(1, static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));
      } else {
        t->pieces_[id] = ReplaceAll(piece, "\u2581", " ");
      }
    }
    SpecialTokenIds defaults;
    defaults.bos = t->processor_.bos_id();
    defaults.eos = t->processor_.eos_id();
    t->special_ = ResolveSpecialIds(config, *t, defaults);
    return t;
  }

  std::vector<int32_t> Encode(std::string_view text, bool add_bos) const override {
    std::vector<int> ids;
    const auto status = processor_.Encode(text, &ids);
    if (!status.ok()) Fail("SentencePiece encode failed: {}", status.ToString());
    std::vector<int32_t> out;
    out.reserve(ids.size() + 1);
    if (add_bos && bos_id() >= 0) out.push_back(bos_id());
    out.insert(out.end(), ids.begin(), ids.end());
    return out;
  }
  std::string_view TokenBytes(int32_t id) const override {
    if (id < 0 || id >= vocab_size()) return {};
    return pieces_[id];
  }
  int leading_spaces_to_strip() const override { return 1; }
  std::optional<int32_t> TokenToId(std::string_view token) const override {
    const int id = processor_.PieceToId(token);
    // PieceToId answers unk for anything it does not know.
    if (id < 0 || (processor_.IsUnknown(id) && processor_.IdToPiece(id) != token)) return std::nullopt;
    return id;
  }
  int32_t vocab_size() const override { return static_cast<int32_t>(pieces_.size()); }
  std::string description() const override {
    return fmt::format("SentencePiece tokenizer.model ({} tokens)", vocab_size());
  }

 private:
  SentencePieceTokenizer() = default;

  sentencepiece::SentencePieceProcessor processor_;
  std::vector<std::string> pieces_;
};

}  // namespace

bool SentencePieceAvailable() { return true; }

std::unique_ptr<Tokenizer> LoadSentencePieceTokenizer(const std::filesystem::path& path,
                                                      const TokenizerConfig& config) {
  return SentencePieceTokenizer::Load(path, config);
}

#else

bool SentencePieceAvailable() { return false; }

std::unique_ptr<Tokenizer> LoadSentencePieceTokenizer(const std::filesystem::path& path, const TokenizerConfig&) {
  Fail(
      "{}: this octet was built without libsentencepiece (install libsentencepiece-dev and re-run CMake), so it "
      "cannot read SentencePiece .model files; a tokenizer.json beside it would be used instead",
      path.string());
}

#endif

}  // namespace octet
