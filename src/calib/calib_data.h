// The calibration sequences of `convert --calib-data / --calib-text`: token-id files or plain text, selected by
// the flag, never guessed from the content.
//
//   token ids (--calib-data): one sequence per line (runtime/token_file.h); with `samples` the first that many
//     lines, with `seq_len` each line cut to its first seq_len tokens (shorter lines are kept whole).
//   text (--calib-text): tokenized whole with the model's tokenizer, then cut as llama.cpp's llama-imatrix does:
//     consecutive non-overlapping samples of seq_len tokens, each BOS + seq_len-1 tokens of text
//     (runtime/text_windows.h CalibrationChunks); the first `samples` of them, or all that fit.
#ifndef OCTET_CALIB_CALIB_DATA_H_
#define OCTET_CALIB_CALIB_DATA_H_

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/token_file.h"

namespace octet {

// Text samples' length when --calib-seq-len is not given: max_position_embeddings, at most this.
inline constexpr int64_t kDefaultCalibTextSeqLen = 512;

struct CalibDataSpec {
  std::filesystem::path path;
  bool is_text = false;
  size_t samples = 0;  // 0: all
  size_t seq_len = 0;  // 0: token ids whole; text min(max_position_embeddings, kDefaultCalibTextSeqLen)

  // E.g. "16 samples of 128 tokens of text corpus.txt", for convert's report.
  std::string Describe() const;
};

// Loads the sequences for the model in `model_dir` (its config.json gives the vocabulary size and
// max_position_embeddings; its tokenizer encodes text). Throws, naming the file, when there is too little data
// for `samples` (or for one sample), seq_len exceeds max_position_embeddings, or an id is outside the vocabulary.
std::vector<TokenSequence> LoadCalibrationSequences(const CalibDataSpec& spec, const std::filesystem::path& model_dir,
                                                    const nlohmann::json& config);

}  // namespace octet

#endif  // OCTET_CALIB_CALIB_DATA_H_
