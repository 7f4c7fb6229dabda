#include "runtime/generate.h"

#include "runtime/sampler.h"
#include "util/error.h"

namespace octet {

std::vector<int32_t> Generate(const Transformer& model, std::span<const int32_t> prompt,
                              const GenerateOptions& options, ThreadPool& pool,
                              const std::function<bool(int32_t)>& on_token) {
  if (prompt.empty()) Fail("the prompt is empty: give at least one token id (e.g. BOS)");
  const int64_t context = model.config().max_position_embeddings;
  if (static_cast<int64_t>(prompt.size()) > context) {
    Fail("the prompt has {} tokens; the model's context (max_position_embeddings) is {}", prompt.size(), context);
  }
  if (options.max_new_tokens < 0) Fail("the number of tokens to generate must be >= 0");
  Sampler sampler(options.temperature, options.top_p, options.seed);
  KvCache cache = model.NewCache();
  std::vector<int32_t> generated;
  const int64_t budget = std::min<int64_t>(options.max_new_tokens, context - static_cast<int64_t>(prompt.size()));
  if (budget <= 0) return generated;
  std::vector<float> logits = model.Forward(prompt, cache, pool, LogitsFor::kLast);
  while (true) {
    const int32_t next = sampler.Sample(logits);
    generated.push_back(next);
    if (on_token && !on_token(next)) break;
    if (static_cast<int64_t>(generated.size()) >= budget) break;
    logits = model.Forward(std::span<const int32_t>(&next, 1), cache, pool, LogitsFor::kLast);
  }
  return generated;
}

}  // namespace octet
