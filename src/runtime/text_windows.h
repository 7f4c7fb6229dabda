// Cuts one long tokenized text into the windows that evaluation (eval --text) and calibration (convert
// --calib-text) run, the way llama.cpp does, so that numbers compare.
//
// The text is tokenized once, as a whole, with what the tokenizer adds at the start of a sequence (BOS for
// Llama-family tokenizers): TokenizeTextFile. Then:
//
//   PerplexityChunks (llama.cpp tools/perplexity/perplexity.cpp, perplexity(); also its KL-divergence mode):
//     n_chunk = n_tokens / ctx (the remainder is dropped); chunk i = tokens[i*ctx, (i+1)*ctx) with its first
//     token replaced by BOS when the tokenizer adds one; only the second half is scored: the logits of positions
//     ctx/2 .. ctx-2, each predicting the next token, so ctx - ctx/2 - 1 predictions per chunk.
//   CalibrationChunks (llama.cpp tools/imatrix/imatrix.cpp): the same chunks, every position observed; the first
//     `count` of them (0: all). Each sample is BOS + ctx-1 tokens of text.
//   SlidingWindows (octet's own: the strided loop of the Hugging Face guide "Perplexity of fixed-length models"):
//     windows start at 0, stride, 2*stride, ...; window k is tokens[k*stride, min(k*stride + ctx, n)); the last
//     window is the first one that reaches the end of the text (it may be shorter than ctx). Window 0 scores every
//     prediction; every later window scores only the tokens past the previous window's end (`stride` of them, fewer
//     in the last), i.e. the logits of its positions len - new - 1 .. len - 2. So every token of the text but the
//     first is predicted exactly once, with at least ctx - stride tokens of context after window 0. Windows are
//     plain slices: only window 0 starts with BOS. (HF's loop does not insert BOS; llama.cpp's --ppl-stride means
//     to, but writes BOS into its token array only after decoding the window, so it does not either.)
#ifndef OCTET_RUNTIME_TEXT_WINDOWS_H_
#define OCTET_RUNTIME_TEXT_WINDOWS_H_

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "runtime/scored_sequence.h"
#include "runtime/token_file.h"
#include "tokenizer/tokenizer.h"

namespace octet {

// A whole text file as one token sequence, and the BOS id the windows start with (-1: the tokenizer adds
// nothing at the start of a sequence, so windows keep their first text token).
struct TokenizedText {
  TokenSequence tokens;
  int32_t bos = -1;
};

// Reads `path` and encodes it whole, with what the tokenizer adds around one sequence. Throws if the file cannot
// be read, or if the tokenizer adds more than one token (llama.cpp refuses an EOS-adding vocabulary the same way).
TokenizedText TokenizeTextFile(const std::filesystem::path& path, const Tokenizer& tokenizer);

// The windows described above. `bos` < 0: no BOS replacement. Each throws an octet::Error (naming `source`, the
// text's name, e.g. its path) if the text is shorter than one window of `ctx` tokens (or than `count` chunks),
// or the sizes make no sense (perplexity: ctx < 3; sliding: stride not in 1 .. ctx-1).
std::vector<ScoredSequence> PerplexityChunks(std::span<const int32_t> tokens, int32_t bos, size_t ctx,
                                             const std::string& source);
std::vector<TokenSequence> CalibrationChunks(std::span<const int32_t> tokens, int32_t bos, size_t ctx,
                                             size_t count, const std::string& source);
std::vector<ScoredSequence> SlidingWindows(std::span<const int32_t> tokens, size_t ctx, size_t stride,
                                           const std::string& source);

}  // namespace octet

#endif  // OCTET_RUNTIME_TEXT_WINDOWS_H_
