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

  // Adds the error of `n` values `original` reconstructed as `decoded[i] * scale` (SIMD; identical figures on
  // every CPU, see quant_error.cc).
  void AddScaled(const float* original, const float* decoded, float scale, size_t n);

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
