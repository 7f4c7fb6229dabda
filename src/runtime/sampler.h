// Next-token choice, as llama2.c run.c does it (so a run with the same seed picks the same tokens):
//   temperature 0: argmax (the first index on ties);
//   otherwise softmax(logits / temperature) in F32 and one uniform coin per token, then
//     top_p in (0, 1): nucleus sampling: candidates with p >= (1 - top_p) / (vocab - 1), sorted by descending
//                      p (stable), truncated after the cumulative probability first exceeds top_p, and the coin
//                      scaled to that mass picks one;
//     otherwise:       inverse-CDF sampling over the whole vocabulary.
// The coin comes from run.c's xorshift64* generator (random_u32 / random_f32), seeded with `seed`; a seed of 0
// (a fixed point of xorshift) is replaced by a documented constant.
#ifndef OCTET_RUNTIME_SAMPLER_H_
#define OCTET_RUNTIME_SAMPLER_H_

#include <cstdint>
#include <span>

namespace octet {

class Sampler {
 public:
  static constexpr uint64_t kZeroSeedReplacement = 0x9E3779B97F4A7C15ull;

  Sampler(float temperature, float top_p, uint64_t seed);

  int32_t Sample(std::span<const float> logits);

  // The generator alone: run.c random_u32 and random_f32 (24 random bits in [0, 1)).
  uint32_t NextU32();
  float NextF32();

 private:
  float temperature_;
  float top_p_;
  uint64_t state_;
};

}  // namespace octet

#endif  // OCTET_RUNTIME_SAMPLER_H_
