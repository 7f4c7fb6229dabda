// A fixed-size histogram of |x| with logarithmic bins, for activation statistics over arbitrarily many values in
// bounded memory (160 KiB): each power of two in [2^-40, 2^40) is split into 64 equal bins (the top 6 mantissa
// bits of the F32 value), so a bin spans at most 1/64 of its value: percentiles are resolved to ~1.6% at any
// magnitude, which a linear histogram cannot do when outliers stretch the range. Magnitudes below 2^-40 count as
// zero, those at or above 2^40 in the top bin; the exact maximum is tracked separately.
//
// Besides its count, each bin keeps the sum and the sum of squares of its values' offsets from the bin's lower
// edge, as integers (the offset of an F32 value is its low 17 mantissa bits), so the squared error of mapping a
// bin's values to any one number is exact (calib/input_scale.h), and merging partial histograms gives the same
// result in any order.
#ifndef OCTET_CALIB_ABS_HISTOGRAM_H_
#define OCTET_CALIB_ABS_HISTOGRAM_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace octet {

class AbsHistogram {
 public:
  static constexpr int kMinExponent = -40;
  static constexpr int kMaxExponent = 40;
  static constexpr int kBinsPerOctave = 64;
  static constexpr size_t kNumBins = static_cast<size_t>(kMaxExponent - kMinExponent) * kBinsPerOctave;

  AbsHistogram() : counts_(kNumBins, 0), offset_sums_(kNumBins, 0), offset_squares_(kNumBins, 0) {}

  void Add(const float* x, size_t n);
  void Merge(const AbsHistogram& other);

  uint64_t count() const { return count_; }  // all values added, zeros included
  uint64_t zeros() const { return zeros_; }  // |x| < 2^-40
  float abs_max() const { return abs_max_; }
  bool has_non_finite() const { return non_finite_ > 0; }
  const std::vector<uint64_t>& counts() const { return counts_; }

  // [lower, upper) magnitude range of bin i.
  static double BinLower(size_t i);
  static double BinUpper(size_t i);
  // The value of one offset unit in bin i (an F32 ulp at that magnitude).
  static double OffsetUnit(size_t i);

  // Sum over bin i's values of (v - q)^2, exact up to the final rounding to double (the top bin, which also
  // holds clamped magnitudes >= 2^40, is treated as if they were at its lower edge).
  double SquaredErrorTo(size_t i, double q) const;

  // The p-th percentile (0 < p <= 100) of |x|, interpolated linearly within its bin and never above abs_max().
  double Percentile(double p) const;

 private:
  std::vector<uint64_t> counts_;
  std::vector<uint64_t> offset_sums_;               // sum of offsets (< 2^17 each)
  std::vector<unsigned __int128> offset_squares_;   // sum of squared offsets
  uint64_t count_ = 0;
  uint64_t zeros_ = 0;
  uint64_t non_finite_ = 0;
  float abs_max_ = 0;
};

}  // namespace octet

#endif  // OCTET_CALIB_ABS_HISTOGRAM_H_
