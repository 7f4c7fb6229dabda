// Quantization error of a tensor, accumulated chunk by chunk in double precision. Chunks are merged in a fixed
// order by the caller, so the figures are identical at any thread count.
#ifndef OCTET_QUANT_QUANT_ERROR_H_
#define OCTET_QUANT_QUANT_ERROR_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

namespace octet {

struct QuantError {
  double sum_sq_signal = 0;  // sum of w^2
  double sum_sq_error = 0;   // sum of (w - dequant(quant(w)))^2
  double max_abs_error = 0;
  size_t count = 0;

  // Adds the error of `n` values `original` reconstructed as `decoded[i] * scale`. Sums run in float over short
  // fixed runs of eight independent lanes (so the loop vectorizes) and are carried in double between runs; the
  // order is fixed, so the figures depend on nothing but the input.
  void AddScaled(const float* original, const float* decoded, float scale, size_t n) {
    constexpr size_t kLanes = 8;
    constexpr size_t kRun = 256;  // float partial sums of at most 256 squares lose nothing a report shows
    for (size_t begin = 0; begin < n; begin += kRun) {
      const size_t end = std::min(n, begin + kRun);
      float signal[kLanes] = {}, noise[kLanes] = {}, worst[kLanes] = {};
      size_t i = begin;
      for (; i + kLanes <= end; i += kLanes) {
        for (size_t k = 0; k < kLanes; ++k) {
          const float w = original[i + k];
          const float e = w - decoded[i + k] * scale;
          signal[k] += w * w;
          noise[k] += e * e;
          const float a = e < 0 ? -e : e;
          worst[k] = worst[k] < a ? a : worst[k];
        }
      }
      for (size_t k = 0; i + k < end; ++k) {
        const float w = original[i + k];
        const float e = w - decoded[i + k] * scale;
        signal[k] += w * w;
        noise[k] += e * e;
        worst[k] = std::max(worst[k], std::abs(e));
      }
      for (size_t k = 0; k < kLanes; ++k) {
        sum_sq_signal += signal[k];
        sum_sq_error += noise[k];
        max_abs_error = std::max(max_abs_error, static_cast<double>(worst[k]));
      }
    }
    count += n;
  }

  void Merge(const QuantError& other) {
    sum_sq_signal += other.sum_sq_signal;
    sum_sq_error += other.sum_sq_error;
    max_abs_error = std::max(max_abs_error, other.max_abs_error);
    count += other.count;
  }

  // sqrt(sum e^2 / sum w^2): the error's RMS relative to the weights' RMS. 0 for an exact (or all-zero) tensor.
  double relative_rms() const {
    return sum_sq_signal > 0 ? std::sqrt(sum_sq_error / sum_sq_signal) : 0.0;
  }
  // Signal-to-quantization-noise ratio in dB; +inf when the reconstruction is exact.
  double sqnr_db() const {
    if (sum_sq_error == 0) return std::numeric_limits<double>::infinity();
    return 10.0 * std::log10(sum_sq_signal / sum_sq_error);
  }
};

}  // namespace octet

#endif  // OCTET_QUANT_QUANT_ERROR_H_
