#include "calib/abs_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace octet {

void AbsHistogram::Add(const float* x, size_t n) {
  constexpr uint32_t kBias = 127;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t bits = std::bit_cast<uint32_t>(x[i]) & 0x7FFFFFFFu;
    const int exponent = static_cast<int>(bits >> 23) - static_cast<int>(kBias);
    if (exponent == 128) {  // Inf or NaN: counted so callers can refuse, kept out of the statistics
      ++non_finite_;
      continue;
    }
    ++count_;
    abs_max_ = std::max(abs_max_, std::bit_cast<float>(bits));
    if (exponent < kMinExponent) {
      ++zeros_;
      continue;
    }
    if (exponent >= kMaxExponent) {
      ++counts_[kNumBins - 1];
      continue;
    }
    const size_t bin = static_cast<size_t>(exponent - kMinExponent) * kBinsPerOctave + ((bits >> 17) & 63u);
    const uint64_t offset = bits & 0x1FFFFu;
    ++counts_[bin];
    offset_sums_[bin] += offset;
    offset_squares_[bin] += static_cast<unsigned __int128>(offset * offset);
  }
}

void AbsHistogram::Merge(const AbsHistogram& other) {
  for (size_t i = 0; i < kNumBins; ++i) {
    counts_[i] += other.counts_[i];
    offset_sums_[i] += other.offset_sums_[i];
    offset_squares_[i] += other.offset_squares_[i];
  }
  count_ += other.count_;
  zeros_ += other.zeros_;
  non_finite_ += other.non_finite_;
  abs_max_ = std::max(abs_max_, other.abs_max_);
}

double AbsHistogram::BinLower(size_t i) {
  const int octave = static_cast<int>(i / kBinsPerOctave) + kMinExponent;
  return std::ldexp(1.0 + static_cast<double>(i % kBinsPerOctave) / kBinsPerOctave, octave);
}

double AbsHistogram::BinUpper(size_t i) {
  const int octave = static_cast<int>(i / kBinsPerOctave) + kMinExponent;
  return std::ldexp(1.0 + static_cast<double>(i % kBinsPerOctave + 1) / kBinsPerOctave, octave);
}

double AbsHistogram::OffsetUnit(size_t i) {
  const int octave = static_cast<int>(i / kBinsPerOctave) + kMinExponent;
  return std::ldexp(1.0, octave - 23);
}

double AbsHistogram::SquaredErrorTo(size_t i, double q) const {
  // sum (lo + u*o - q)^2 = n (lo - q)^2 + 2 (lo - q) u sum(o) + u^2 sum(o^2)
  const double n = static_cast<double>(counts_[i]);
  const double d = BinLower(i) - q;
  const double u = OffsetUnit(i);
  const double error = n * d * d + 2.0 * d * u * static_cast<double>(offset_sums_[i]) +
                       u * u * static_cast<double>(offset_squares_[i]);
  return std::max(error, 0.0);
}

double AbsHistogram::Percentile(double p) const {
  if (count_ == 0) return 0;
  if (p >= 100.0) return abs_max_;
  const double rank = p / 100.0 * static_cast<double>(count_);  // values at or below the answer
  double cumulative = static_cast<double>(zeros_);
  if (cumulative >= rank) return 0;
  for (size_t i = 0; i < kNumBins; ++i) {
    if (counts_[i] == 0) continue;
    const double next = cumulative + static_cast<double>(counts_[i]);
    if (next >= rank) {
      const double fraction = (rank - cumulative) / static_cast<double>(counts_[i]);
      const double value = BinLower(i) + fraction * (BinUpper(i) - BinLower(i));
      return std::min(value, static_cast<double>(abs_max_));
    }
    cumulative = next;
  }
  return abs_max_;
}

}  // namespace octet
