#include "runtime/rope.h"

#include <cmath>
#include <numbers>

namespace octet {

std::vector<double> RopeInverseFrequencies(const ModelConfig& config) {
  const int64_t dim = config.shape.head_dim;
  std::vector<double> inv_freq(static_cast<size_t>(dim / 2));
  for (int64_t i = 0; i < dim / 2; ++i) {
    inv_freq[i] = 1.0 / std::pow(config.rope_theta, static_cast<double>(2 * i) / static_cast<double>(dim));
  }
  const RopeScaling& s = config.rope_scaling;
  if (s.kind == RopeScaling::Kind::kLlama3) {
    const double old_context = static_cast<double>(s.original_max_position_embeddings);
    const double low_freq_wavelen = old_context / s.low_freq_factor;
    const double high_freq_wavelen = old_context / s.high_freq_factor;
    for (double& f : inv_freq) {
      const double wavelen = 2.0 * std::numbers::pi / f;
      if (wavelen > low_freq_wavelen) {
        f /= s.factor;  // long wavelengths: fully interpolated
      } else if (wavelen >= high_freq_wavelen) {
        // Medium band: blend of interpolated and original frequency.
        const double smooth = (old_context / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        f = (1.0 - smooth) * f / s.factor + smooth * f;
      }
    }
  }
  return inv_freq;
}

Rope::Rope(const ModelConfig& config)
    : head_dim_(config.shape.head_dim), inv_freq_(RopeInverseFrequencies(config)) {}

void Rope::Apply(int64_t pos, float* x, int64_t heads) const {
  const int64_t half = head_dim_ / 2;
  std::vector<float> cos_v(half), sin_v(half);
  for (int64_t i = 0; i < half; ++i) {
    const double angle = static_cast<double>(pos) * inv_freq_[i];
    cos_v[i] = static_cast<float>(std::cos(angle));
    sin_v[i] = static_cast<float>(std::sin(angle));
  }
  for (int64_t h = 0; h < heads; ++h) {
    float* v = x + h * head_dim_;
    for (int64_t i = 0; i < half; ++i) {
      const float a = v[i], b = v[i + half];
      v[i] = a * cos_v[i] - b * sin_v[i];
      v[i + half] = b * cos_v[i] + a * sin_v[i];
    }
  }
}

}  // namespace octet
