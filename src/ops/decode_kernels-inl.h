// Per-target building blocks of the weight kernels: decoding stored weights to F32 vectors in registers, dot
// products of a few weight rows with one input, decoding a row into a buffer, and the MatMul micro-kernel.
// Included once per target by ops/matvec.cc (after hwy/foreach_target.h); not a public header.

// Kinds of stored weights, defined once for all targets.
#ifndef OCTET_OPS_DECODE_KERNELS_KINDS_
#define OCTET_OPS_DECODE_KERNELS_KINDS_
#include <cstddef>
#include <cstdint>
#include <cmath>
#include <cstring>

namespace octet {
// Storage: the element type in memory. kExpShift: Decode returns the value times 2^-kExpShift (see the FP8
// decoders), which callers undo with exact power-of-two factors.
struct F32Kind {
  using Storage = float;
  static constexpr int kExpShift = 0;
};
struct F16Kind {
  using Storage = uint16_t;
  static constexpr int kExpShift = 0;
};
struct BF16Kind {
  using Storage = uint16_t;
  static constexpr int kExpShift = 0;
};
struct E4M3Kind {
  using Storage = uint8_t;
  static constexpr int kExpShift = 120;  // F32 exponent bias 127 - E4M3 bias 7
};
struct E5M2Kind {
  using Storage = uint8_t;
  static constexpr int kExpShift = 112;  // 127 - 15
};
}  // namespace octet
#endif  // OCTET_OPS_DECODE_KERNELS_KINDS_

// Per-target include guard (the Highway idiom): toggled by foreach_target.h so each target gets its copy.
#if defined(OCTET_OPS_DECODE_KERNELS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef OCTET_OPS_DECODE_KERNELS_INL_H_
#undef OCTET_OPS_DECODE_KERNELS_INL_H_
#else
#define OCTET_OPS_DECODE_KERNELS_INL_H_
#endif

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace octet {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// ---- Decoding Lanes(df) stored weights to one F32 vector: a load plus two or three integer ops (F16: a
// vcvtph2ps conversion on AVX2/AVX-512), cheap next to fetching the bytes from memory.

template <class DF>
HWY_INLINE hn::Vec<DF> Decode(F32Kind, DF df, const float* HWY_RESTRICT p) {
  return hn::LoadU(df, p);
}

template <class DF>
HWY_INLINE hn::Vec<DF> Decode(F16Kind, DF df, const uint16_t* HWY_RESTRICT p) {
  const hn::Rebind<uint16_t, DF> du16;
  const hn::Rebind<hwy::float16_t, DF> df16;
  return hn::PromoteTo(df, hn::BitCast(df16, hn::LoadU(du16, p)));
}

// BF16 is the top half of an F32.
template <class DF>
HWY_INLINE hn::Vec<DF> Decode(BF16Kind, DF df, const uint16_t* HWY_RESTRICT p) {
  const hn::Rebind<uint16_t, DF> du16;
  const hn::Rebind<uint32_t, DF> du32;
  return hn::BitCast(df, hn::ShiftLeft<16>(hn::PromoteTo(du32, hn::LoadU(du16, p))));
}

// FP8 codes go straight to F32 bits with integer ops: sign-extend to 32 bits, shift the exponent and mantissa
// bits into the F32 exponent's low bits and the mantissa's high bits, and mask. That reads the code with the F32
// exponent bias, i.e. yields value · 2^-kExpShift, exactly: normal codes become normal F32s, subnormal codes
// F32 subnormals (m/8 · 2⁻¹²⁶ = m/8 · 2⁻⁶ · 2⁻¹²⁰), and sign extension puts the sign in bit 31. Three integer
// ops per vector, no conversion instruction: on Zen 4 this runs about as fast as the BF16 decode, where the
// F16 route (build F16 bits, vcvtph2ps) was half again slower and left FP8 MatVec compute-bound.
// Caveats: codes 0x7F/0xFF (E4M3 NaN) and E5M2 Inf/NaN decode as finite numbers (converters never emit them),
// and subnormal codes would read as zero in a process running with denormals-are-zero (e.g. -ffast-math).
template <class DF>
HWY_INLINE hn::Vec<DF> Decode(E4M3Kind, DF df, const uint8_t* HWY_RESTRICT p) {
  const hn::Rebind<int8_t, DF> di8;
  const hn::RebindToSigned<DF> di32;
  const auto bits = hn::ShiftLeft<20>(hn::PromoteTo(di32, hn::LoadU(di8, reinterpret_cast<const int8_t*>(p))));
  return hn::BitCast(df, hn::And(bits, hn::Set(di32, static_cast<int32_t>(0x87F00000u))));
}

template <class DF>
HWY_INLINE hn::Vec<DF> Decode(E5M2Kind, DF df, const uint8_t* HWY_RESTRICT p) {
  const hn::Rebind<int8_t, DF> di8;
  const hn::RebindToSigned<DF> di32;
  const auto bits = hn::ShiftLeft<21>(hn::PromoteTo(di32, hn::LoadU(di8, reinterpret_cast<const int8_t*>(p))));
  return hn::BitCast(df, hn::And(bits, hn::Set(di32, static_cast<int32_t>(0x8FE00000u))));
}

// Decodes the last `count` < Lanes(df) weights, padding with zeros (which decode to 0 in every format). Copying
// to the stack avoids reading past the end of the weights, which may be the end of a memory mapping.
template <class K, class DF>
HWY_INLINE hn::Vec<DF> DecodePartial(K kind, DF df, const typename K::Storage* HWY_RESTRICT p, size_t count) {
  typename K::Storage buf[HWY_MAX_BYTES / sizeof(float)] = {};
  std::memcpy(buf, p, count * sizeof(typename K::Storage));
  return Decode(kind, df, buf);
}

template <class DF>
HWY_INLINE hn::Vec<DF> LoadPartial(DF df, const float* HWY_RESTRICT p, size_t count) {
  HWY_ALIGN float buf[HWY_MAX_BYTES / sizeof(float)] = {};
  std::memcpy(buf, p, count * sizeof(float));
  return hn::Load(df, buf);
}

// out[0..3] = dot(row i, x) for the 4 rows starting at `w` (row stride `w_stride` elements), each `cols` long.
// Lane-wise F32 accumulation in a fixed order, then one horizontal sum per row. The main loop covers 64 bytes
// of each row per iteration (a cache line) with two accumulators per row for FMA latency. (Software prefetch,
// of the same rows 1 KiB ahead or of the next four rows, measured no better than the hardware prefetcher.)
// Named accumulators rather than an array: GCC spills an array of vectors to the stack on every iteration.
template <class K>
HWY_INLINE void DotRows4(const typename K::Storage* HWY_RESTRICT w, size_t w_stride, const float* HWY_RESTRICT x,
                         size_t cols, float* HWY_RESTRICT out) {
  using Storage = typename K::Storage;
  const hn::ScalableTag<float> df;
  const size_t lanes = hn::Lanes(df);
  // Vectors per cache line of weights (AVX-512: F32 1, 16-bit 2, FP8 4).
  constexpr size_t kUnroll = HWY_MAX(size_t{1}, 64 / (HWY_LANES(float) * sizeof(Storage)));
  const Storage* HWY_RESTRICT w0 = w;
  const Storage* HWY_RESTRICT w1 = w + w_stride;
  const Storage* HWY_RESTRICT w2 = w + 2 * w_stride;
  const Storage* HWY_RESTRICT w3 = w + 3 * w_stride;
  auto a0 = hn::Zero(df), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  size_t c = 0;
  for (; c + kUnroll * lanes <= cols; c += kUnroll * lanes) {
    for (size_t u = 0; u < kUnroll; u += 2) {
      const size_t cu = c + u * lanes;
      const auto xv = hn::LoadU(df, x + cu);
      a0 = hn::MulAdd(Decode(K(), df, w0 + cu), xv, a0);
      a1 = hn::MulAdd(Decode(K(), df, w1 + cu), xv, a1);
      a2 = hn::MulAdd(Decode(K(), df, w2 + cu), xv, a2);
      a3 = hn::MulAdd(Decode(K(), df, w3 + cu), xv, a3);
      if (u + 1 < kUnroll) {
        const size_t cv = cu + lanes;
        const auto xw = hn::LoadU(df, x + cv);
        b0 = hn::MulAdd(Decode(K(), df, w0 + cv), xw, b0);
        b1 = hn::MulAdd(Decode(K(), df, w1 + cv), xw, b1);
        b2 = hn::MulAdd(Decode(K(), df, w2 + cv), xw, b2);
        b3 = hn::MulAdd(Decode(K(), df, w3 + cv), xw, b3);
      }
    }
  }
  for (; c + lanes <= cols; c += lanes) {
    const auto xv = hn::LoadU(df, x + c);
    a0 = hn::MulAdd(Decode(K(), df, w0 + c), xv, a0);
    a1 = hn::MulAdd(Decode(K(), df, w1 + c), xv, a1);
    a2 = hn::MulAdd(Decode(K(), df, w2 + c), xv, a2);
    a3 = hn::MulAdd(Decode(K(), df, w3 + c), xv, a3);
  }
  if (c < cols) {
    const size_t n = cols - c;
    const auto xv = LoadPartial(df, x + c, n);
    b0 = hn::MulAdd(DecodePartial(K(), df, w0 + c, n), xv, b0);
    b1 = hn::MulAdd(DecodePartial(K(), df, w1 + c, n), xv, b1);
    b2 = hn::MulAdd(DecodePartial(K(), df, w2 + c, n), xv, b2);
    b3 = hn::MulAdd(DecodePartial(K(), df, w3 + c, n), xv, b3);
  }
  out[0] = hn::GetLane(hn::SumOfLanes(df, hn::Add(a0, b0)));
  out[1] = hn::GetLane(hn::SumOfLanes(df, hn::Add(a1, b1)));
  out[2] = hn::GetLane(hn::SumOfLanes(df, hn::Add(a2, b2)));
  out[3] = hn::GetLane(hn::SumOfLanes(df, hn::Add(a3, b3)));
}

// out[0..7] = dot(row i, x) for 8 rows: the main MatVec kernel. Eight rows stream at once, twice the memory-level
// parallelism of DotRows4, and each x load feeds 8 FMAs; measured ~20% faster than DotRows4 on FP8 rows far
// larger than caches (Zen 4). 8 accumulators + x + decode temporaries fit even 16 vector registers (AVX2).
template <class K>
HWY_INLINE void DotRows8(const typename K::Storage* HWY_RESTRICT w, size_t w_stride, const float* HWY_RESTRICT x,
                         size_t cols, float* HWY_RESTRICT out) {
  using Storage = typename K::Storage;
  const hn::ScalableTag<float> df;
  const size_t lanes = hn::Lanes(df);
  const Storage* HWY_RESTRICT w0 = w;
  const Storage* HWY_RESTRICT w1 = w + w_stride;
  const Storage* HWY_RESTRICT w2 = w + 2 * w_stride;
  const Storage* HWY_RESTRICT w3 = w + 3 * w_stride;
  const Storage* HWY_RESTRICT w4 = w + 4 * w_stride;
  const Storage* HWY_RESTRICT w5 = w + 5 * w_stride;
  const Storage* HWY_RESTRICT w6 = w + 6 * w_stride;
  const Storage* HWY_RESTRICT w7 = w + 7 * w_stride;
  auto a0 = hn::Zero(df), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  size_t c = 0;
  for (; c + lanes <= cols; c += lanes) {
    const auto xv = hn::LoadU(df, x + c);
    a0 = hn::MulAdd(Decode(K(), df, w0 + c), xv, a0);
    a1 = hn::MulAdd(Decode(K(), df, w1 + c), xv, a1);
    a2 = hn::MulAdd(Decode(K(), df, w2 + c), xv, a2);
    a3 = hn::MulAdd(Decode(K(), df, w3 + c), xv, a3);
    a4 = hn::MulAdd(Decode(K(), df, w4 + c), xv, a4);
    a5 = hn::MulAdd(Decode(K(), df, w5 + c), xv, a5);
    a6 = hn::MulAdd(Decode(K(), df, w6 + c), xv, a6);
    a7 = hn::MulAdd(Decode(K(), df, w7 + c), xv, a7);
  }
  if (c < cols) {
    const size_t n = cols - c;
    const auto xv = LoadPartial(df, x + c, n);
    a0 = hn::MulAdd(DecodePartial(K(), df, w0 + c, n), xv, a0);
    a1 = hn::MulAdd(DecodePartial(K(), df, w1 + c, n), xv, a1);
    a2 = hn::MulAdd(DecodePartial(K(), df, w2 + c, n), xv, a2);
    a3 = hn::MulAdd(DecodePartial(K(), df, w3 + c, n), xv, a3);
    a4 = hn::MulAdd(DecodePartial(K(), df, w4 + c, n), xv, a4);
    a5 = hn::MulAdd(DecodePartial(K(), df, w5 + c, n), xv, a5);
    a6 = hn::MulAdd(DecodePartial(K(), df, w6 + c, n), xv, a6);
    a7 = hn::MulAdd(DecodePartial(K(), df, w7 + c, n), xv, a7);
  }
  out[0] = hn::GetLane(hn::SumOfLanes(df, a0));
  out[1] = hn::GetLane(hn::SumOfLanes(df, a1));
  out[2] = hn::GetLane(hn::SumOfLanes(df, a2));
  out[3] = hn::GetLane(hn::SumOfLanes(df, a3));
  out[4] = hn::GetLane(hn::SumOfLanes(df, a4));
  out[5] = hn::GetLane(hn::SumOfLanes(df, a5));
  out[6] = hn::GetLane(hn::SumOfLanes(df, a6));
  out[7] = hn::GetLane(hn::SumOfLanes(df, a7));
}

// dot(row, x) for a single row (rows left over from groups of 8 and 4); two accumulators for some latency hiding.
template <class K>
HWY_INLINE float DotRow(const typename K::Storage* HWY_RESTRICT w, const float* HWY_RESTRICT x, size_t cols) {
  const hn::ScalableTag<float> df;
  const size_t lanes = hn::Lanes(df);
  auto acc0 = hn::Zero(df), acc1 = hn::Zero(df);
  size_t c = 0;
  for (; c + 2 * lanes <= cols; c += 2 * lanes) {
    acc0 = hn::MulAdd(Decode(K(), df, w + c), hn::LoadU(df, x + c), acc0);
    acc1 = hn::MulAdd(Decode(K(), df, w + c + lanes), hn::LoadU(df, x + c + lanes), acc1);
  }
  for (; c + lanes <= cols; c += lanes) acc0 = hn::MulAdd(Decode(K(), df, w + c), hn::LoadU(df, x + c), acc0);
  if (c < cols) acc1 = hn::MulAdd(DecodePartial(K(), df, w + c, cols - c), LoadPartial(df, x + c, cols - c), acc1);
  return hn::GetLane(hn::SumOfLanes(df, hn::Add(acc0, acc1)));
}

// Decodes one row of `cols` weights to their F32 values (2^-kExpShift undone) into `out` (aligned), times
// `col_scales[c]` when not null, and pads it with zeros to a whole number of vectors.
template <class K>
HWY_INLINE void DecodeRow(const typename K::Storage* HWY_RESTRICT row, size_t cols,
                          const float* HWY_RESTRICT col_scales, float* HWY_RESTRICT out) {
  const hn::ScalableTag<float> df;
  const size_t lanes = hn::Lanes(df);
  const auto unshift = hn::Set(df, std::ldexp(1.0f, K::kExpShift));
  const auto finish = [&](hn::Vec<decltype(df)> v, hn::Vec<decltype(df)> scale) {
    if (K::kExpShift != 0) v = hn::Mul(v, unshift);
    return col_scales ? hn::Mul(v, scale) : v;
  };
  size_t c = 0;
  for (; c + lanes <= cols; c += lanes) {
    const auto scale = col_scales ? hn::LoadU(df, col_scales + c) : unshift;
    hn::Store(finish(Decode(K(), df, row + c), scale), df, out + c);
  }
  if (c < cols) {
    const auto scale = col_scales ? LoadPartial(df, col_scales + c, cols - c) : unshift;
    hn::Store(finish(DecodePartial(K(), df, row + c, cols - c), scale), df, out + c);
  }
}

// y[t * y_stride + i] = row_scales[i] * dot(w row i, x row t) for R ≤ 4 decoded rows and T ≤ 4 tokens, all rows
// padded to `stride` (a multiple of Lanes) and aligned. R×T accumulators: each weight load feeds T FMAs and each
// input load R FMAs, i.e. (R+T)/(R·T) loads per FMA. Spelled out as named variables (the unused ones compile
// away) because GCC keeps an array of vectors on the stack, storing all of it every iteration.
template <size_t R, size_t T>
HWY_INLINE void MatMulTile(const float* HWY_RESTRICT w, const float* HWY_RESTRICT row_scales,
                           const float* HWY_RESTRICT x, size_t stride, float* HWY_RESTRICT y, size_t y_stride) {
  static_assert(1 <= R && R <= 4 && 1 <= T && T <= 4, "tile up to 4x4");
  const hn::ScalableTag<float> df;
  const size_t lanes = hn::Lanes(df);
  using V = hn::Vec<decltype(df)>;
  V a00 = hn::Zero(df), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
  V a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
  for (size_t c = 0; c < stride; c += lanes) {
    const V w0 = hn::Load(df, w + c);
    const V w1 = R > 1 ? hn::Load(df, w + stride + c) : w0;
    const V w2 = R > 2 ? hn::Load(df, w + 2 * stride + c) : w0;
    const V w3 = R > 3 ? hn::Load(df, w + 3 * stride + c) : w0;
    const V x0 = hn::Load(df, x + c);
    const V x1 = T > 1 ? hn::Load(df, x + stride + c) : x0;
    const V x2 = T > 2 ? hn::Load(df, x + 2 * stride + c) : x0;
    const V x3 = T > 3 ? hn::Load(df, x + 3 * stride + c) : x0;
    a00 = hn::MulAdd(w0, x0, a00);
    if constexpr (T > 1) a01 = hn::MulAdd(w0, x1, a01);
    if constexpr (T > 2) a02 = hn::MulAdd(w0, x2, a02);
    if constexpr (T > 3) a03 = hn::MulAdd(w0, x3, a03);
    if constexpr (R > 1) a10 = hn::MulAdd(w1, x0, a10);
    if constexpr (R > 1 && T > 1) a11 = hn::MulAdd(w1, x1, a11);
    if constexpr (R > 1 && T > 2) a12 = hn::MulAdd(w1, x2, a12);
    if constexpr (R > 1 && T > 3) a13 = hn::MulAdd(w1, x3, a13);
    if constexpr (R > 2) a20 = hn::MulAdd(w2, x0, a20);
    if constexpr (R > 2 && T > 1) a21 = hn::MulAdd(w2, x1, a21);
    if constexpr (R > 2 && T > 2) a22 = hn::MulAdd(w2, x2, a22);
    if constexpr (R > 2 && T > 3) a23 = hn::MulAdd(w2, x3, a23);
    if constexpr (R > 3) a30 = hn::MulAdd(w3, x0, a30);
    if constexpr (R > 3 && T > 1) a31 = hn::MulAdd(w3, x1, a31);
    if constexpr (R > 3 && T > 2) a32 = hn::MulAdd(w3, x2, a32);
    if constexpr (R > 3 && T > 3) a33 = hn::MulAdd(w3, x3, a33);
  }
  const auto store = [&](size_t i, size_t t, V acc) {
    y[t * y_stride + i] = row_scales[i] * hn::GetLane(hn::SumOfLanes(df, acc));
  };
  store(0, 0, a00);
  if constexpr (T > 1) store(0, 1, a01);
  if constexpr (T > 2) store(0, 2, a02);
  if constexpr (T > 3) store(0, 3, a03);
  if constexpr (R > 1) store(1, 0, a10);
  if constexpr (R > 1 && T > 1) store(1, 1, a11);
  if constexpr (R > 1 && T > 2) store(1, 2, a12);
  if constexpr (R > 1 && T > 3) store(1, 3, a13);
  if constexpr (R > 2) store(2, 0, a20);
  if constexpr (R > 2 && T > 1) store(2, 1, a21);
  if constexpr (R > 2 && T > 2) store(2, 2, a22);
  if constexpr (R > 2 && T > 3) store(2, 3, a23);
  if constexpr (R > 3) store(3, 0, a30);
  if constexpr (R > 3 && T > 1) store(3, 1, a31);
  if constexpr (R > 3 && T > 2) store(3, 2, a32);
  if constexpr (R > 3 && T > 3) store(3, 3, a33);
}

// Rows × tokens per MatMul tile: 4×4 accumulators plus 4 weights fit AVX-512's 32 registers; AVX2 and narrower
// have 16, hence 4×2 there.
constexpr size_t kTileRows = 4;
constexpr size_t kTileTokens = HWY_TARGET <= HWY_AVX3 ? 4 : 2;

// The MatMul of `num_rows` decoded rows (see MatMulTile) with all `tokens` inputs. Every output is computed by
// the same tile code path regardless of how rows are split among items, as long as items hold whole tiles.
HWY_INLINE void MatMulDecoded(const float* HWY_RESTRICT decoded, size_t num_rows, const float* HWY_RESTRICT row_scales,
                              const float* HWY_RESTRICT x, size_t tokens, size_t stride, float* HWY_RESTRICT y,
                              size_t y_stride) {
  size_t t = 0;
  for (; t + kTileTokens <= tokens; t += kTileTokens) {
    size_t r = 0;
    for (; r + kTileRows <= num_rows; r += kTileRows) {
      MatMulTile<kTileRows, kTileTokens>(decoded + r * stride, row_scales + r, x + t * stride, stride,
                                        y + t * y_stride + r, y_stride);
    }
    for (; r < num_rows; ++r) {
      MatMulTile<1, kTileTokens>(decoded + r * stride, row_scales + r, x + t * stride, stride,
                                 y + t * y_stride + r, y_stride);
    }
  }
  for (; t < tokens; ++t) {
    size_t r = 0;
    for (; r + kTileRows <= num_rows; r += kTileRows) {
      MatMulTile<kTileRows, 1>(decoded + r * stride, row_scales + r, x + t * stride, stride, y + t * y_stride + r,
                              y_stride);
    }
    for (; r < num_rows; ++r) {
      MatMulTile<1, 1>(decoded + r * stride, row_scales + r, x + t * stride, stride, y + t * y_stride + r, y_stride);
    }
  }
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace octet
HWY_AFTER_NAMESPACE();

#endif  // OCTET_OPS_DECODE_KERNELS_INL_H_
