// Rotary position embeddings in Hugging Face's rotate_half convention: within each head, element i is paired with
// element i + head_dim/2 and rotated by angle pos * inv_freq[i] (transformers LlamaRotaryEmbedding,
// apply_rotary_pos_emb). Frequencies follow modeling_rope_utils.py: default 1 / theta^(2i/d), or Llama 3's
// piecewise rescaling (_compute_llama3_parameters; its attention factor is 1).
//
// Angles and their cosines are computed in double and rounded once to F32; transformers computes inv_freq,
// pos * inv_freq and cos/sin in F32, which differs by at most a few F32 ulps of the angle.
#ifndef OCTET_RUNTIME_ROPE_H_
#define OCTET_RUNTIME_ROPE_H_

#include <cstdint>
#include <vector>

#include "runtime/model_config.h"

namespace octet {

class Rope {
 public:
  Rope(const ModelConfig& config);

  const std::vector<double>& inv_freq() const { return inv_freq_; }

  // Rotates `heads` consecutive heads of head_dim values in `x` for position `pos`.
  void Apply(int64_t pos, float* x, int64_t heads) const;

 private:
  int64_t head_dim_;
  std::vector<double> inv_freq_;  // head_dim / 2 frequencies
};

// The frequencies alone, for tests and the reference: head_dim / 2 values.
std::vector<double> RopeInverseFrequencies(const ModelConfig& config);

}  // namespace octet

#endif  // OCTET_RUNTIME_ROPE_H_
