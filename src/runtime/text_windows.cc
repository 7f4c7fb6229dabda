#include "runtime/text_windows.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "util/error.h"

namespace octet {
namespace {

// Window `begin .. begin + length` of `tokens`, its first token replaced by `bos` (if >= 0).
TokenSequence Window(std::span<const int32_t> tokens, size_t begin, size_t length, int32_t bos) {
  TokenSequence window(tokens.begin() + static_cast<std::ptrdiff_t>(begin),
                       tokens.begin() + static_cast<std::ptrdiff_t>(begin + length));
  if (bos >= 0) window[0] = bos;
  return window;
}

void RequireOneWindow(size_t n_tokens, size_t ctx, const std::string& source) {
  if (n_tokens < ctx) {
    Fail("{}: the text has {} tokens, too few for one window of {} tokens (give a longer text or a smaller context)",
         source, n_tokens, ctx);
  }
}

}  // namespace

TokenizedText TokenizeTextFile(const std::filesystem::path& path, const Tokenizer& tokenizer) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail("{}: cannot open the text file", path.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) Fail("{}: cannot read the text file", path.string());

  // What the tokenizer adds around a sequence, from a probe: nothing, or one leading BOS (llama.cpp's
  // llama_vocab_get_add_bos; it asserts that no EOS is added, and so do we).
  const std::vector<int32_t> with = tokenizer.Encode("a", /*add_bos=*/true);
  const std::vector<int32_t> without = tokenizer.Encode("a", /*add_bos=*/false);
  TokenizedText text;
  if (with.size() == without.size() + 1 && std::equal(without.begin(), without.end(), with.begin() + 1)) {
    text.bos = with[0];
  } else if (with != without) {
    Fail("{}: the tokenizer ({}) adds tokens other than one leading BOS around a sequence; windowed evaluation "
         "needs a tokenizer that adds at most a BOS",
         path.string(), tokenizer.description());
  }
  text.tokens = tokenizer.Encode(buffer.str(), /*add_bos=*/true);
  return text;
}

std::vector<ScoredSequence> PerplexityChunks(std::span<const int32_t> tokens, int32_t bos, size_t ctx,
                                             const std::string& source) {
  if (ctx < 3) {
    Fail("{}: a context of {} tokens leaves nothing to score (each chunk scores ctx - ctx/2 - 1)", source, ctx);
  }
  RequireOneWindow(tokens.size(), ctx, source);
  std::vector<ScoredSequence> chunks;
  for (size_t i = 0; i < tokens.size() / ctx; ++i) {
    chunks.push_back({Window(tokens, i * ctx, ctx, bos), ctx / 2});
  }
  return chunks;
}

std::vector<TokenSequence> CalibrationChunks(std::span<const int32_t> tokens, int32_t bos, size_t ctx, size_t count,
                                             const std::string& source) {
  if (ctx < 1) Fail("{}: the sample length must be at least 1 token", source);
  RequireOneWindow(tokens.size(), ctx, source);
  const size_t available = tokens.size() / ctx;
  if (count > available) {
    Fail("{}: the text has {} tokens, enough for {} samples of {} tokens, not {}", source, tokens.size(), available,
         ctx, count);
  }
  std::vector<TokenSequence> chunks;
  for (size_t i = 0; i < (count == 0 ? available : count); ++i) chunks.push_back(Window(tokens, i * ctx, ctx, bos));
  return chunks;
}

std::vector<ScoredSequence> SlidingWindows(std::span<const int32_t> tokens, size_t ctx, size_t stride,
                                           const std::string& source) {
  if (ctx < 2) Fail("{}: a context of {} tokens leaves nothing to score", source, ctx);
  if (stride < 1 || stride >= ctx) {
    Fail("{}: the stride must be between 1 and the context minus 1 ({}), not {}", source, ctx - 1, stride);
  }
  RequireOneWindow(tokens.size(), ctx, source);
  std::vector<ScoredSequence> windows;
  size_t previous_end = 0;
  for (size_t begin = 0;; begin += stride) {
    const size_t end = std::min(begin + ctx, tokens.size());
    const size_t length = end - begin;
    // Window 0 scores all; later ones the tokens past the previous end: targets length - new .. length - 1, so
    // the logits from length - new - 1 (>= ctx - stride - 1 >= 0, since the previous window ended at begin -
    // stride + ctx).
    const size_t first_scored = begin == 0 ? 0 : length - (end - previous_end) - 1;
    windows.push_back({Window(tokens, begin, length, /*bos=*/-1), first_scored});
    previous_end = end;
    if (end == tokens.size()) break;
  }
  return windows;
}

}  // namespace octet
