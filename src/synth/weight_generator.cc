#include "synth/weight_generator.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <numbers>

namespace octet {
namespace {

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;
// Independent streams of one tensor: values, row gains, outlier channels, spikes.
constexpr uint64_t kRowStream = 0x5253'4741'494e'0001ull;
constexpr uint64_t kColumnStream = 0x434f'4c55'4d4e'0002ull;
constexpr uint64_t kSpikeStream = 0x5350'494b'4500'0003ull;

// SplitMix64's output function (Steele, Lea, Flood 2014): a bijective 64-bit mixer with full avalanche.
uint64_t Mix(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// The counter-th output of the SplitMix64 stream seeded with key.
uint64_t Hash(uint64_t key, uint64_t counter) { return Mix(key + (counter + 1) * kGolden); }

// Uniform in [0, 1) with 24 bits (a float's mantissa), from the top bits of h.
float Uniform(uint64_t h) { return static_cast<float>(h >> 40) * 0x1p-24f; }

// ln(x) for x >= 1 without libm (several times faster, and the same bits on every machine). Offsetting the bits
// by 1 - sqrt(1/2) before splitting exponent and mantissa folds the mantissa into [sqrt(1/2), sqrt(2)) without a
// branch (as musl's logf does); then ln m = 2 atanh(t) = 2(t + t^3/3 + t^5/5 + t^7/7), t = (m-1)/(m+1),
// |t| <= 0.172 (error < 2e-8).
float LogAtLeastOne(float x) {
  constexpr uint32_t kOneBits = 0x3F800000u, kSqrtHalfBits = 0x3F3504F3u;
  const uint32_t shifted = std::bit_cast<uint32_t>(x) + (kOneBits - kSqrtHalfBits);
  const int exponent = static_cast<int>(shifted >> 23) - 127;
  const float m = std::bit_cast<float>((shifted & 0x7FFFFFu) + kSqrtHalfBits);
  const float t = (m - 1.0f) / (m + 1.0f);
  const float t2 = t * t;
  const float series = t * (2.0f + t2 * (2.0f / 3 + t2 * (2.0f / 5 + t2 * (2.0f / 7))));
  return static_cast<float>(exponent) * std::numbers::ln2_v<float> + series;
}

// Box-Muller: two independent standard normals from one 64-bit hash. 24 bits give the radius, 22 bits an angle
// d in [-pi/4, pi/4) and 2 bits the quarter turn k, so theta = k pi/2 + d is uniform on the circle and only short
// Taylor series for sin d and cos d are needed (errors < 4e-7). The quarter turn (cos, sin) -> (-sin, cos) and the
// half turn (negate both) are done on the bits, without branches: the bits are random, so branches would
// mispredict half the time. u1 is in (0, 1] so the log is finite; |z| <= sqrt(24 * 2 ln 2) = 5.77.
std::pair<float, float> NormalPair(uint64_t h) {
  constexpr float kLn2To24 = 24.0f * std::numbers::ln2_v<float>;
  // ln(u1) = ln(n) - 24 ln 2 with n = top 24 bits + 1 in [1, 2^24] (exact as a float).
  const float log_u1 = LogAtLeastOne(static_cast<float>((h >> 40) + 1)) - kLn2To24;
  const float r = std::sqrt(std::max(0.0f, -2.0f * log_u1));
  const float d = (static_cast<float>((h >> 18) & 0x3FFFFFu) * 0x1p-22f - 0.5f) * (std::numbers::pi_v<float> / 2);
  const float d2 = d * d;
  const float s = d * (1.0f - d2 * (1.0f / 6 - d2 * (1.0f / 120 - d2 * (1.0f / 5040))));
  const float c = 1.0f - d2 * (0.5f - d2 * (1.0f / 24 - d2 * (1.0f / 720 - d2 * (1.0f / 40320))));
  const uint32_t quarter_mask = 0u - static_cast<uint32_t>((h >> 16) & 1u);
  const uint32_t half_turn_sign = static_cast<uint32_t>((h >> 17) & 1u) << 31;
  const uint32_t s_bits = std::bit_cast<uint32_t>(s);
  const uint32_t c_bits = std::bit_cast<uint32_t>(c);
  const uint32_t x_bits = (c_bits & ~quarter_mask) | ((s_bits ^ 0x80000000u) & quarter_mask);
  const uint32_t y_bits = (s_bits & ~quarter_mask) | (c_bits & quarter_mask);
  return {r * std::bit_cast<float>(x_bits ^ half_turn_sign), r * std::bit_cast<float>(y_bits ^ half_turn_sign)};
}

float Normal(uint64_t key, uint64_t counter) { return NormalPair(Hash(key, counter)).first; }

}  // namespace

uint64_t SynthTensorKey(uint64_t seed, std::string_view name) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a 64
  for (char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return Mix(Mix(h) ^ (seed * kGolden + 0x0c7e7ull));
}

WeightGenerator::WeightGenerator(const SynthTensor& tensor, uint64_t seed)
    : init_(tensor.init), key_(SynthTensorKey(seed, tensor.name)) {
  cols_ = tensor.shape.empty() ? 1 : static_cast<uint64_t>(tensor.shape.back());
  rows_ = cols_ == 0 ? 0 : NumElements(tensor.shape) / cols_;
  switch (init_) {
    case SynthInit::kLinear:
    case SynthInit::kRouter:
      std_ = 1.0f / std::sqrt(static_cast<float>(std::max<uint64_t>(cols_, 1)));
      break;
    case SynthInit::kEmbedding:
      std_ = kEmbeddingStd;
      break;
    case SynthInit::kNorm:
      std_ = kNormNoiseStd;
      break;
  }
  if (init_ != SynthInit::kLinear || num_elements() == 0) return;

  // At least one outlier channel and one spike per matrix, so even the tiny preset exercises them.
  const uint64_t num_outliers =
      std::max<uint64_t>(1, static_cast<uint64_t>(std::llround(kOutlierChannelFraction * cols_)));
  for (uint64_t j = 0; outlier_columns_.size() < std::min(num_outliers, cols_); ++j) {
    const uint64_t h = Hash(key_ ^ kColumnStream, j);
    const uint64_t column = h % cols_;
    const bool seen = std::any_of(outlier_columns_.begin(), outlier_columns_.end(),
                                  [&](const auto& entry) { return entry.first == column; });
    if (!seen) outlier_columns_.push_back({column, kOutlierGainMin + (kOutlierGainMax - kOutlierGainMin) * Uniform(h)});
  }
  std::sort(outlier_columns_.begin(), outlier_columns_.end());

  const uint64_t num_spikes =
      std::max<uint64_t>(1, static_cast<uint64_t>(kSpikeRate * static_cast<double>(num_elements())));
  for (uint64_t j = 0; j < num_spikes; ++j) {
    const uint64_t h = Hash(key_ ^ kSpikeStream, j);
    const uint64_t index = h % num_elements();
    const float magnitude = kSpikeMin + (kSpikeMax - kSpikeMin) * Uniform(Mix(h));
    spikes_.push_back({index, (h & 1) ? -magnitude : magnitude});
  }
  // A position drawn twice keeps its first value, so the result does not depend on sort stability.
  std::stable_sort(spikes_.begin(), spikes_.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  spikes_.erase(std::unique(spikes_.begin(), spikes_.end(), [](const auto& a, const auto& b) { return a.first == b.first; }),
                spikes_.end());
}

void WeightGenerator::FillNormals(uint64_t first, uint64_t count, float* out) const {
  // Element i is half of pair i / 2, so a slice starting or ending at an odd index gives the same values as the
  // whole tensor would.
  const uint64_t end = first + count;
  uint64_t i = first;
  if (i < end && (i & 1)) {
    out[0] = NormalPair(Hash(key_, i >> 1)).second;
    ++i;
  }
  for (; i + 1 < end; i += 2) {
    const auto [z0, z1] = NormalPair(Hash(key_, i >> 1));
    out[i - first] = z0;
    out[i + 1 - first] = z1;
  }
  if (i < end) out[i - first] = NormalPair(Hash(key_, i >> 1)).first;
}

void WeightGenerator::Fill(uint64_t first, uint64_t count, float* out) const {
  FillNormals(first, count, out);
  if (init_ == SynthInit::kNorm) {
    for (uint64_t i = 0; i < count; ++i) out[i] = 1.0f + std_ * out[i];
    return;
  }
  if (init_ != SynthInit::kLinear) {
    for (uint64_t i = 0; i < count; ++i) out[i] *= std_;
    return;
  }
  const uint64_t end = first + count;
  for (uint64_t begin = first; begin < end;) {
    const uint64_t row = begin / cols_;
    const uint64_t row_end = std::min(end, (row + 1) * cols_);
    const float scale = std_ * std::exp(kRowGainLogStd * Normal(key_ ^ kRowStream, row));
    float* segment = out + (begin - first);
    for (uint64_t i = 0; i < row_end - begin; ++i) segment[i] *= scale;
    const uint64_t col_begin = begin - row * cols_;
    const uint64_t col_end = row_end - row * cols_;
    auto it = std::lower_bound(outlier_columns_.begin(), outlier_columns_.end(), std::make_pair(col_begin, 0.0f));
    for (; it != outlier_columns_.end() && it->first < col_end; ++it) segment[it->first - col_begin] *= it->second;
    begin = row_end;
  }
  auto spike = std::lower_bound(spikes_.begin(), spikes_.end(), first,
                                [](const auto& entry, uint64_t index) { return entry.first < index; });
  for (; spike != spikes_.end() && spike->first < end; ++spike) out[spike->first - first] = spike->second * std_;
}

}  // namespace octet
