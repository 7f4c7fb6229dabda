#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "util/error.h"

namespace octet {

Sampler::Sampler(float temperature, float top_p, uint64_t seed)
    : temperature_(temperature), top_p_(top_p), state_(seed == 0 ? kZeroSeedReplacement : seed) {
  if (!(temperature >= 0) || !std::isfinite(temperature)) Fail("temperature must be >= 0, got {}", temperature);
  if (!(top_p >= 0) || top_p > 1) Fail("top-p must be in [0, 1], got {}", top_p);
}

uint32_t Sampler::NextU32() {
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  return static_cast<uint32_t>((state_ * 0x2545F4914F6CDD1Dull) >> 32);
}

float Sampler::NextF32() { return static_cast<float>(NextU32() >> 8) / 16777216.0f; }

int32_t Sampler::Sample(std::span<const float> logits) {
  const size_t n = logits.size();
  if (temperature_ == 0.0f) {
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  std::vector<float> probs(logits.begin(), logits.end());
  for (float& p : probs) p /= temperature_;
  const float max_value = *std::max_element(probs.begin(), probs.end());
  float sum = 0.0f;
  for (float& p : probs) {
    p = std::exp(p - max_value);
    sum += p;
  }
  for (float& p : probs) p /= sum;
  const float coin = NextF32();

  if (top_p_ <= 0 || top_p_ >= 1 || n < 2) {
    float cdf = 0.0f;
    for (size_t i = 0; i < n; ++i) {
      cdf += probs[i];
      if (coin < cdf) return static_cast<int32_t>(i);
    }
    return static_cast<int32_t>(n - 1);
  }
  // Tokens below the cutoff cannot be in the nucleus (run.c's pre-filter, which keeps the sort small).
  const float cutoff = (1.0f - top_p_) / static_cast<float>(n - 1);
  std::vector<int32_t> candidates;
  for (size_t i = 0; i < n; ++i) {
    if (probs[i] >= cutoff) candidates.push_back(static_cast<int32_t>(i));
  }
  if (candidates.empty()) {  // only for a near-uniform distribution and a tiny top_p: the nucleus is the top
    return static_cast<int32_t>(std::max_element(probs.begin(), probs.end()) - probs.begin());
  }
  std::stable_sort(candidates.begin(), candidates.end(), [&](int32_t a, int32_t b) { return probs[a] > probs[b]; });
  float cumulative = 0.0f;
  size_t last = candidates.size() - 1;
  for (size_t i = 0; i < candidates.size(); ++i) {
    cumulative += probs[candidates[i]];
    if (cumulative > top_p_) {
      last = i;
      break;
    }
  }
  const float r = coin * cumulative;
  float cdf = 0.0f;
  for (size_t i = 0; i <= last; ++i) {
    cdf += probs[candidates[i]];
    if (r < cdf) return candidates[i];
  }
  return candidates[last];
}

}  // namespace octet
