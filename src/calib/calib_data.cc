#include "calib/calib_data.h"

#include <algorithm>

#include <fmt/format.h>

#include "models/model_config.h"
#include "runtime/text_windows.h"
#include "tokenizer/load_tokenizer.h"
#include "util/error.h"

namespace octet {

std::string CalibDataSpec::Describe() const {
  const std::string count = samples > 0 ? fmt::format("{} samples", samples) : "all samples";
  if (is_text) {
    const std::string length = seq_len > 0 ? std::to_string(seq_len)
                                           : fmt::format("min(max_position_embeddings, {})", kDefaultCalibTextSeqLen);
    return fmt::format("{} of {} tokens of text {}", count, length, path.string());
  }
  if (seq_len > 0) return fmt::format("{} (cut to {} tokens) of token ids {}", count, seq_len, path.string());
  return fmt::format("{} of token ids {}", count, path.string());
}

std::vector<TokenSequence> LoadCalibrationSequences(const CalibDataSpec& spec, const std::filesystem::path& model_dir,
                                                    const nlohmann::json& config) {
  const std::string config_path = (model_dir / "config.json").string();
  const int64_t vocab = ParseModelShape(config, config_path).vocab_size;
  const int64_t context = config.value("max_position_embeddings", int64_t{0});
  if (spec.seq_len > 0 && context > 0 && static_cast<int64_t>(spec.seq_len) > context) {
    Fail("--calib-seq-len {} is more than the model's context (max_position_embeddings {} in {})", spec.seq_len,
         context, config_path);
  }
  const std::string source = spec.path.string();

  if (spec.is_text) {
    size_t seq_len = spec.seq_len;
    if (seq_len == 0) {
      if (context <= 0) Fail("{} has no max_position_embeddings: give --calib-seq-len", config_path);
      seq_len = static_cast<size_t>(std::min(context, kDefaultCalibTextSeqLen));
    }
    const std::unique_ptr<const Tokenizer> tokenizer = LoadTokenizer(model_dir);
    const TokenizedText text = TokenizeTextFile(spec.path, *tokenizer);
    for (const int32_t id : text.tokens) {
      if (id >= vocab) Fail("{}: token id {} is not below the model's vocabulary size {}", source, id, vocab);
    }
    return CalibrationChunks(text.tokens, text.bos, seq_len, spec.samples, source);
  }

  std::vector<TokenSequence> sequences = ReadTokenFile(spec.path, vocab);
  if (spec.samples > sequences.size()) {
    Fail("{}: has {} sequences, fewer than the {} calibration samples asked for", source, sequences.size(),
         spec.samples);
  }
  if (spec.samples > 0) sequences.resize(spec.samples);
  if (spec.seq_len > 0) {
    for (TokenSequence& sequence : sequences) sequence.resize(std::min(sequence.size(), spec.seq_len));
  }
  return sequences;
}

}  // namespace octet
