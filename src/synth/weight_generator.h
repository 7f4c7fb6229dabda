// Deterministic, streamable values for synthetic tensors. Every element is a pure function of (seed, tensor
// name, flat element index): a counter-based generator (the SplitMix64 output function applied to
// key + counter * golden-ratio, the same construction as the SplitMix64 stream) feeds Box-Muller, so any slice of a
// tensor can be produced on its own, by any thread, in any order, and the file is byte-identical at every thread
// count and chunk size.
//
// The statistics imitate trained LLM weights closely enough that quantization schemes differ measurably:
//   - linear weights [out, in]: normal with std 1/sqrt(in), times a per-row gain exp(0.2 * N(0,1)) (so per-channel
//     scales beat a per-tensor scale), plus ~0.5% "outlier" input channels (at least one per matrix) scaled 10-50x
//     (so group-wise INT4 beats per-channel), plus rare single spikes of 20-100 std (about one per 100k weights, at
//     least one per matrix) that dominate a per-tensor absmax. The bulk std is the target; the overall RMS is
//     larger because of the outliers (use a robust estimate, e.g. the median |w| / 0.6745, to check the bulk);
//   - embeddings: normal, std 0.02; MoE routers: normal, std 1/sqrt(hidden), no outliers;
//   - RMSNorm weights: 1 + normal noise with std 0.05.
#ifndef OCTET_SYNTH_WEIGHT_GENERATOR_H_
#define OCTET_SYNTH_WEIGHT_GENERATOR_H_

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "synth/synth_spec.h"

namespace octet {

// Fraction of input channels that are outliers and their gain range; spike rate and size (in bulk stds).
inline constexpr double kOutlierChannelFraction = 0.005;
inline constexpr float kOutlierGainMin = 10.0f, kOutlierGainMax = 50.0f;
inline constexpr double kSpikeRate = 1e-5;
inline constexpr float kSpikeMin = 20.0f, kSpikeMax = 100.0f;
inline constexpr float kRowGainLogStd = 0.2f;
inline constexpr float kEmbeddingStd = 0.02f;
inline constexpr float kNormNoiseStd = 0.05f;

class WeightGenerator {
 public:
  // Precomputes the tensor's outlier channels and spike positions (a few hundred entries at most).
  WeightGenerator(const SynthTensor& tensor, uint64_t seed);

  uint64_t num_elements() const { return rows_ * cols_; }
  // Std of the bulk of the values (before row gains and outliers); the mean for norms is 1.
  float base_std() const { return std_; }
  // Input channels (columns) that are outliers, with their gains, ascending. Empty except for linear weights.
  const std::vector<std::pair<uint64_t, float>>& outlier_columns() const { return outlier_columns_; }

  // Writes elements [first, first + count) (row-major flat indices) to out.
  void Fill(uint64_t first, uint64_t count, float* out) const;

 private:
  void FillNormals(uint64_t first, uint64_t count, float* out) const;

  SynthInit init_;
  uint64_t key_;
  uint64_t rows_;
  uint64_t cols_;
  float std_;
  std::vector<std::pair<uint64_t, float>> outlier_columns_;  // (column, gain)
  std::vector<std::pair<uint64_t, float>> spikes_;           // (flat index, value in units of std_)
};

// A 64-bit key for `name` under `seed` (FNV-1a of the name, mixed with the seed), exposed for tests.
uint64_t SynthTensorKey(uint64_t seed, std::string_view name);

}  // namespace octet

#endif  // OCTET_SYNTH_WEIGHT_GENERATOR_H_
