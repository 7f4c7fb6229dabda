#include "calib/input_scale.h"

#include <algorithm>
#include <cmath>

#include "numeric/fp8.h"

namespace octet {

double FakeQuantMse(const AbsHistogram& histogram, double clip) {
  if (histogram.count() == 0 || clip <= 0) return 0;
  const double scale = clip / kE4M3Max;
  const auto quantize = [scale](double v) {  // saturating: v >= clip gives clip
    return static_cast<double>(DecodeE4M3(EncodeE4M3(static_cast<float>(v / scale)))) * scale;
  };
  double sum = 0;
  const auto& counts = histogram.counts();
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] == 0) continue;
    const double lo = AbsHistogram::BinLower(i);
    const double hi = AbsHistogram::BinUpper(i) - AbsHistogram::OffsetUnit(i);  // the bin's largest value
    const double q_lo = quantize(lo), q_hi = quantize(hi);
    if (q_lo == q_hi) {
      sum += histogram.SquaredErrorTo(i, q_lo);  // one quantized value for the whole bin: exact
    } else {
      // The bin straddles a rounding boundary (about 1 bin in 8): each value goes to the nearer of the two, so
      // the error is at most that of mapping all of them to either: use the smaller of these upper bounds.
      sum += std::min(histogram.SquaredErrorTo(i, q_lo), histogram.SquaredErrorTo(i, q_hi));
    }
  }
  return sum / static_cast<double>(histogram.count());
}

double ClipThreshold(const AbsHistogram& histogram, const CalibMethod& method) {
  const double abs_max = histogram.abs_max();
  switch (method.kind) {
    case CalibMethod::Kind::kMax:
      return abs_max;
    case CalibMethod::Kind::kPercentile:
      return std::min(histogram.Percentile(method.percentile), abs_max);
    case CalibMethod::Kind::kMse: {
      double best_clip = abs_max;
      double best_error = FakeQuantMse(histogram, abs_max);
      for (int k = 1; k <= 128; ++k) {
        const double clip = abs_max * std::exp2(-k / 16.0);
        const double error = FakeQuantMse(histogram, clip);
        if (error < best_error) {
          best_error = error;
          best_clip = clip;
        }
      }
      return best_clip;
    }
  }
  return abs_max;
}

float InputScale(const AbsHistogram& histogram, const CalibMethod& method) {
  return std::max(static_cast<float>(ClipThreshold(histogram, method) / kE4M3Max), kMinInputScale);
}

}  // namespace octet
