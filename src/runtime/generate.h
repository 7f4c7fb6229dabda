// Autoregressive generation: the prompt runs as one prefill, then each sampled token is fed back one at a time
// (decode). Generation stops after max_new_tokens, or when the sequence fills the model's context
// (max_position_embeddings: every generated token has a position the model could run). There is no stop token:
// callers that want one stop in on_token.
#ifndef OCTET_RUNTIME_GENERATE_H_
#define OCTET_RUNTIME_GENERATE_H_

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "runtime/transformer.h"
#include "util/thread_pool.h"

namespace octet {

struct GenerateOptions {
  int64_t max_new_tokens = 64;
  float temperature = 0.0f;  // 0: greedy
  float top_p = 0.9f;
  uint64_t seed = 1;
};

// Returns the generated ids (without the prompt). `on_token`, if set, is called with each id as it is chosen and
// returns false to stop early.
std::vector<int32_t> Generate(const Transformer& model, std::span<const int32_t> prompt,
                              const GenerateOptions& options, ThreadPool& pool,
                              const std::function<bool(int32_t)>& on_token = {});

}  // namespace octet

#endif  // OCTET_RUNTIME_GENERATE_H_
