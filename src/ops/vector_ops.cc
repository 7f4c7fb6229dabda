// Run-time dispatched bodies of ops/vector_ops.h, compiled once per SIMD target (see ops/matvec.cc). Tails
// shorter than a vector go through a zero-padded stack copy so that every element takes the same SIMD path.
#include "ops/vector_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/vector_ops.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace octet {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;
constexpr size_t kMaxLanes = HWY_MAX_BYTES / sizeof(float);

// Loads the `count` < Lanes floats at p, the rest of the vector `fill`.
HWY_INLINE VF LoadTail(DF df, const float* HWY_RESTRICT p, size_t count, float fill) {
  HWY_ALIGN float buf[kMaxLanes];
  std::fill(buf, buf + kMaxLanes, fill);
  std::memcpy(buf, p, count * sizeof(float));
  return hn::Load(df, buf);
}

HWY_INLINE void StoreTail(DF df, VF v, size_t count, float* HWY_RESTRICT p) {
  HWY_ALIGN float buf[kMaxLanes];
  hn::Store(v, df, buf);
  std::memcpy(p, buf, count * sizeof(float));
}

// Applies op(a, b) -> vector elementwise over n floats and writes out (which may alias a or b: each vector is
// read before it is written).
template <class Op>
HWY_INLINE void Elementwise(const float* a, const float* b, size_t n, float* out, Op op) {
  const DF df;
  const size_t lanes = hn::Lanes(df);
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(op(df, hn::LoadU(df, a + i), hn::LoadU(df, b + i)), df, out + i);
  if (i < n) StoreTail(df, op(df, LoadTail(df, a + i, n - i, 0.0f), LoadTail(df, b + i, n - i, 0.0f)), n - i, out + i);
}

// Four independent accumulators (combined in a fixed order) hide FMA latency.
float DotImpl(const float* a, const float* b, size_t n) {
  const DF df;
  const size_t lanes = hn::Lanes(df);
  VF acc0 = hn::Zero(df), acc1 = hn::Zero(df), acc2 = hn::Zero(df), acc3 = hn::Zero(df);
  size_t i = 0;
  for (; i + 4 * lanes <= n; i += 4 * lanes) {
    acc0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), acc0);
    acc1 = hn::MulAdd(hn::LoadU(df, a + i + lanes), hn::LoadU(df, b + i + lanes), acc1);
    acc2 = hn::MulAdd(hn::LoadU(df, a + i + 2 * lanes), hn::LoadU(df, b + i + 2 * lanes), acc2);
    acc3 = hn::MulAdd(hn::LoadU(df, a + i + 3 * lanes), hn::LoadU(df, b + i + 3 * lanes), acc3);
  }
  for (; i + lanes <= n; i += lanes) acc0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), acc0);
  if (i < n) acc1 = hn::MulAdd(LoadTail(df, a + i, n - i, 0.0f), LoadTail(df, b + i, n - i, 0.0f), acc1);
  return hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(acc0, acc1), hn::Add(acc2, acc3))));
}

void RmsNormImpl(const float* x, const float* weight, size_t n, float eps, float* out) {
  const float mean_square = DotImpl(x, x, n) / static_cast<float>(n);
  const float inv_rms = 1.0f / std::sqrt(mean_square + eps);
  const DF df;
  const VF scale = hn::Set(df, inv_rms);
  if (weight == nullptr) {
    Elementwise(x, x, n, out, [scale](DF, VF v, VF) { return hn::Mul(v, scale); });
  } else {
    Elementwise(x, weight, n, out, [scale](DF, VF v, VF wv) { return hn::Mul(hn::Mul(v, scale), wv); });
  }
}

void SoftmaxImpl(float* x, size_t n) {
  const DF df;
  const size_t lanes = hn::Lanes(df);
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  VF max_v = hn::Set(df, kNegInf);
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) max_v = hn::Max(max_v, hn::LoadU(df, x + i));
  if (i < n) max_v = hn::Max(max_v, LoadTail(df, x + i, n - i, kNegInf));
  const float max = hn::GetLane(hn::MaxOfLanes(df, max_v));
  // Everything masked: nothing to attend to. `<= lowest()` rather than `== -inf`: Highway 1.0.3's EMU128 target
  // reduces an all -inf vector's max to -FLT_MAX, which would turn the row into NaNs (RELIABILITY.md F6).
  if (max <= std::numeric_limits<float>::lowest()) {
    std::fill(x, x + n, 0.0f);
    return;
  }
  // Exp returns 0 below -104, which covers masked (-inf) entries.
  const VF max_s = hn::Set(df, max);
  VF sum_v = hn::Zero(df);
  const auto exp_minus_max = [max_s](DF d, VF v, VF) { return hn::Exp(d, hn::Sub(v, max_s)); };
  for (i = 0; i + lanes <= n; i += lanes) {
    const VF e = exp_minus_max(df, hn::LoadU(df, x + i), max_s);
    sum_v = hn::Add(sum_v, e);
    hn::StoreU(e, df, x + i);
  }
  if (i < n) {
    const VF e = exp_minus_max(df, LoadTail(df, x + i, n - i, kNegInf), max_s);
    sum_v = hn::Add(sum_v, e);
    StoreTail(df, e, n - i, x + i);
  }
  const VF inv_sum = hn::Set(df, 1.0f / hn::GetLane(hn::SumOfLanes(df, sum_v)));
  Elementwise(x, x, n, x, [inv_sum](DF, VF v, VF) { return hn::Mul(v, inv_sum); });
}

// x / (1 + exp(-x)). exp's argument is capped at 80 (Exp is only valid up to 104); for x < -80 the result is
// already below 1e-33 · |x|, i.e. zero for any purpose here.
HWY_INLINE VF SiluVec(DF df, VF v) {
  const VF e = hn::Exp(df, hn::Min(hn::Neg(v), hn::Set(df, 80.0f)));
  return hn::Div(v, hn::Add(hn::Set(df, 1.0f), e));
}

void SiluImpl(const float* x, size_t n, float* out) {
  Elementwise(x, x, n, out, [](DF df, VF v, VF) { return SiluVec(df, v); });
}

void SwiGLUImpl(const float* gate, const float* up, size_t n, float* out) {
  Elementwise(gate, up, n, out, [](DF df, VF g, VF u) { return hn::Mul(SiluVec(df, g), u); });
}

void AddInPlaceImpl(float* y, const float* x, size_t n) {
  Elementwise(y, x, n, y, [](DF, VF a, VF b) { return hn::Add(a, b); });
}

void MulAddInPlaceImpl(float* y, float a, const float* x, size_t n) {
  const VF av = hn::Set(DF(), a);
  Elementwise(y, x, n, y, [av](DF, VF yv, VF xv) { return hn::MulAdd(av, xv, yv); });
}

void ScaleInPlaceImpl(float* x, float a, size_t n) {
  const VF av = hn::Set(DF(), a);
  Elementwise(x, x, n, x, [av](DF, VF v, VF) { return hn::Mul(v, av); });
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace octet
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace octet {

HWY_EXPORT(DotImpl);
HWY_EXPORT(RmsNormImpl);
HWY_EXPORT(SoftmaxImpl);
HWY_EXPORT(SiluImpl);
HWY_EXPORT(SwiGLUImpl);
HWY_EXPORT(AddInPlaceImpl);
HWY_EXPORT(MulAddInPlaceImpl);
HWY_EXPORT(ScaleInPlaceImpl);

float Dot(const float* a, const float* b, size_t n) { return HWY_DYNAMIC_DISPATCH(DotImpl)(a, b, n); }

void RmsNorm(const float* x, const float* weight, size_t n, float eps, float* out) {
  if (n == 0) return;
  HWY_DYNAMIC_DISPATCH(RmsNormImpl)(x, weight, n, eps, out);
}

void Softmax(float* x, size_t n) {
  if (n == 0) return;
  HWY_DYNAMIC_DISPATCH(SoftmaxImpl)(x, n);
}

void Silu(const float* x, size_t n, float* out) { HWY_DYNAMIC_DISPATCH(SiluImpl)(x, n, out); }

void SwiGLU(const float* gate, const float* up, size_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(SwiGLUImpl)(gate, up, n, out);
}

void AddInPlace(float* y, const float* x, size_t n) { HWY_DYNAMIC_DISPATCH(AddInPlaceImpl)(y, x, n); }

void MulAddInPlace(float* y, float a, const float* x, size_t n) {
  HWY_DYNAMIC_DISPATCH(MulAddInPlaceImpl)(y, a, x, n);
}

void ScaleInPlace(float* x, float a, size_t n) { HWY_DYNAMIC_DISPATCH(ScaleInPlaceImpl)(x, a, n); }

}  // namespace octet
#endif  // HWY_ONCE
