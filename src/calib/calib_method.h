// How a calibrated static activation scale is chosen from a linear's observed inputs (`--calib-method`):
//   max            absmax / 448 over every observed value (what vLLM/llm-compressor's static minmax observer gives)
//   percentile:P   the P-th percentile of |x| / 448, 0 < P <= 100 (e.g. percentile:99.99): clips rare outliers
//   mse            the clipping threshold c <= absmax minimizing the mean squared error of E4M3 fake quantization
//                  (x -> q(x / s) * s with s = c / 448) over the observed values, searched on a grid
#ifndef OCTET_CALIB_CALIB_METHOD_H_
#define OCTET_CALIB_CALIB_METHOD_H_

#include <string>
#include <string_view>

namespace octet {

struct CalibMethod {
  enum class Kind { kMax, kPercentile, kMse };
  Kind kind = Kind::kMax;
  double percentile = 100.0;  // kPercentile

  std::string ToString() const;  // "max", "percentile:99.99", "mse"
};

// Parses "max", "percentile:P" or "mse"; throws octet::Error naming the accepted forms otherwise.
CalibMethod ParseCalibMethod(std::string_view text);

}  // namespace octet

#endif  // OCTET_CALIB_CALIB_METHOD_H_
