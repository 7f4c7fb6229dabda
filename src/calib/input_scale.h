// Static FP8 (E4M3) input scales from activation statistics: s such that x is stored as q(x / s), with the
// clipping threshold c = 448 * s chosen by the calibration method (calib/calib_method.h).
#ifndef OCTET_CALIB_INPUT_SCALE_H_
#define OCTET_CALIB_INPUT_SCALE_H_

#include "calib/abs_histogram.h"
#include "calib/calib_method.h"

namespace octet {

// Floor of every calibrated scale (the one vLLM applies to dynamic scales, 1 / (448 * 512)), so an input that
// was always zero still gets a finite positive scale.
inline constexpr float kMinInputScale = 1.0f / (448.0f * 512.0f);

// Mean squared error of E4M3 fake quantization with clipping threshold `clip` over the histogram's values
// (values saturate at +-clip). Exact for bins whose values all quantize to one value; for a bin that straddles a
// rounding boundary the smaller of the errors to its two candidate values is used.
double FakeQuantMse(const AbsHistogram& histogram, double clip);

// The clipping threshold the method picks: abs_max, the percentile, or for mse the best of
// abs_max * 2^(-k/16), k = 0..128 (the largest on ties). Never above abs_max.
double ClipThreshold(const AbsHistogram& histogram, const CalibMethod& method);

// max(ClipThreshold / 448, kMinInputScale).
float InputScale(const AbsHistogram& histogram, const CalibMethod& method);

}  // namespace octet

#endif  // OCTET_CALIB_INPUT_SCALE_H_
