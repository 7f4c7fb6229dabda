// SIMD accumulation of quantization error. Sums are kept in 16 "virtual lanes" (element i goes to lane i % 16)
// whatever the vector width: one AVX-512 vector, two AVX2 vectors, four SSE vectors or 16 scalars. Each lane sees
// the same values in the same order with the same operations (no FMA contraction), so the figures are
// bit-identical on every CPU and at any thread count, and the loop runs at memory speed.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/quant_error.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <cmath>

#include "quant/quant_error.h"

HWY_BEFORE_NAMESPACE();
namespace octet {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr size_t kVirtualLanes = 16;
// Float partial sums over at most this many elements per lane are flushed to double, which bounds their error
// far below anything a report shows.
constexpr size_t kFlushElements = 4096;

void AccumulateError(const float* original, const float* decoded, float scale, size_t n, double* sums) {
  const hn::CappedTag<float, kVirtualLanes> d;
  const size_t lanes = hn::Lanes(d);
  const size_t vectors = kVirtualLanes / lanes;
  const auto vscale = hn::Set(d, scale);
  double signal = 0, noise = 0, worst = 0;
  size_t i = 0;
  while (i + kVirtualLanes <= n) {
    const size_t block_end = std::min(n - n % kVirtualLanes, i + kFlushElements);
    hn::Vec<decltype(d)> s[kVirtualLanes], e2[kVirtualLanes], m[kVirtualLanes];
    for (size_t v = 0; v < vectors; ++v) s[v] = e2[v] = m[v] = hn::Zero(d);
    for (; i < block_end; i += kVirtualLanes) {
      for (size_t v = 0; v < vectors; ++v) {
        const auto w = hn::LoadU(d, original + i + v * lanes);
        const auto r = hn::Mul(hn::LoadU(d, decoded + i + v * lanes), vscale);
        const auto e = hn::Sub(w, r);
        s[v] = hn::Add(s[v], hn::Mul(w, w));
        e2[v] = hn::Add(e2[v], hn::Mul(e, e));
        m[v] = hn::Max(m[v], hn::Abs(e));
      }
    }
    // Reduce the 16 virtual lanes in lane order.
    float buffer[kVirtualLanes];
    for (size_t v = 0; v < vectors; ++v) hn::StoreU(s[v], d, buffer + v * lanes);
    for (float x : buffer) signal += x;
    for (size_t v = 0; v < vectors; ++v) hn::StoreU(e2[v], d, buffer + v * lanes);
    for (float x : buffer) noise += x;
    for (size_t v = 0; v < vectors; ++v) hn::StoreU(m[v], d, buffer + v * lanes);
    for (float x : buffer) worst = std::max(worst, static_cast<double>(x));
  }
  for (; i < n; ++i) {
    const float w = original[i];
    const float e = w - decoded[i] * scale;
    signal += static_cast<double>(w * w);
    noise += static_cast<double>(e * e);
    worst = std::max(worst, static_cast<double>(std::abs(e)));
  }
  sums[0] = signal;
  sums[1] = noise;
  sums[2] = worst;
}

}  // namespace HWY_NAMESPACE
}  // namespace octet
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace octet {

HWY_EXPORT(AccumulateError);

void QuantError::AddScaled(const float* original, const float* decoded, float scale, size_t n) {
  double sums[3];
  HWY_DYNAMIC_DISPATCH(AccumulateError)(original, decoded, scale, n, sums);
  sum_sq_signal += sums[0];
  sum_sq_error += sums[1];
  max_abs_error = std::max(max_abs_error, sums[2]);
  count += n;
}

}  // namespace octet
#endif  // HWY_ONCE
