// SIMD kernels behind convert_rows.h. hwy/foreach_target.h compiles this file once per Highway target; the
// kernels are the vector transcription of the scalar codec in narrow_float.h (same constants, same operations,
// lane-wise), which is what makes them bit-identical to it. Every element, the ragged tail included, goes through
// the vector code: the tail is copied into a zero-padded buffer one vector long.
#include "numeric/convert_rows.h"

#include <bit>
#include <cstring>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "numeric/convert_rows.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "numeric/bfloat16.h"
#include "numeric/narrow_float.h"
#include "util/error.h"

HWY_BEFORE_NAMESPACE();
namespace octet {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// x86 targets from AVX2 up have F16C, whose vcvtph2ps/vcvtps2ph (round to nearest even) compute exactly the
// kF16Format codec, NaN payloads included; elsewhere the generic kernel runs (Highway 1.0.3's own fallback
// mishandles Inf/NaN and truncates, so it is not used).
#undef OCTET_HWY_HAVE_F16C
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2 && !defined(HWY_DISABLE_F16C)
#define OCTET_HWY_HAVE_F16C 1
#else
#define OCTET_HWY_HAVE_F16C 0
#endif

// All kernels work on one vector of 32-bit lanes: f32 bits, or narrow codes zero-extended.
using DU = hn::ScalableTag<uint32_t>;
using DI = hn::RebindToSigned<DU>;
using DF = hn::RebindToFloat<DU>;
using VU = hn::Vec<DU>;

// Lane-wise DecodeNarrowFloat<F>: codes in, f32 bits out.
template <NarrowFloatFormat F>
HWY_INLINE VU DecodeNarrow(VU code) {
  const DU du;
  const DI di;
  const DF df;
  const VU abs = hn::And(code, hn::Set(du, F.AbsMask()));
  const VU sign = hn::ShiftLeft<F.SignShift()>(hn::And(code, hn::Set(du, F.SignBit())));
  const VU mantissa = hn::And(abs, hn::Set(du, F.MantissaMask()));
  const VU nan_quiet_bit = hn::IfThenZeroElse(mantissa == hn::Zero(du), hn::Set(du, kF32QuietNanBit));
  const VU special = hn::Or(hn::Or(hn::Set(du, kF32InfBits), hn::ShiftLeft<F.DroppedBits()>(mantissa)), nan_quiet_bit);
  const VU subnormal =
      hn::BitCast(du, hn::Mul(hn::ConvertTo(df, hn::BitCast(di, abs)),
                              hn::Set(df, std::bit_cast<float>(F32PowerOfTwoBits(F.MinSubnormalExponent())))));
  const VU normal = hn::Add(hn::ShiftLeft<F.DroppedBits()>(abs), hn::Set(du, F.RebiasF32Bits()));
  // Codes are < 2^16, so signed compares are exact (and available on every target).
  const auto is_subnormal = hn::RebindMask(du, hn::BitCast(di, abs) < hn::Set(di, static_cast<int32_t>(F.MinNormalCode())));
  const auto is_special =
      F.specials == SpecialValues::kIeee
          ? hn::RebindMask(du, hn::BitCast(di, abs) > hn::Set(di, static_cast<int32_t>(F.AllOnesExponentCode() - 1)))
          : hn::RebindMask(du, hn::BitCast(di, abs) == hn::Set(di, static_cast<int32_t>(F.AbsMask())));
  const VU bits = hn::IfThenElse(is_special, special, hn::IfThenElse(is_subnormal, subnormal, normal));
  return hn::Or(bits, sign);
}

// Lane-wise EncodeNarrowFloat<F>: f32 bits in, codes out.
template <NarrowFloatFormat F>
HWY_INLINE VU EncodeNarrow(VU bits) {
  const DU du;
  const DI di;
  const DF df;
  const VU sign = hn::ShiftRight<F.SignShift()>(hn::And(bits, hn::Set(du, kF32SignBit)));
  const VU abs_in = hn::And(bits, hn::Set(du, kF32AbsMask));
  // Magnitude bits are < 2^31, so signed min/compares order them like the floats they are.
  const VU abs = hn::BitCast(
      du, hn::Min(hn::BitCast(di, abs_in), hn::Set(di, static_cast<int32_t>(F.ClampF32Bits()))));
  const VU magic_bits = hn::Set(du, F.SubnormalRoundingMagicBits());
  const VU subnormal =
      hn::Sub(hn::BitCast(du, hn::Add(hn::BitCast(df, abs), hn::BitCast(df, magic_bits))), magic_bits);
  const VU kept_lsb = hn::And(hn::ShiftRight<F.DroppedBits()>(abs), hn::Set(du, 1));
  const VU normal =
      hn::Sub(hn::ShiftRight<F.DroppedBits()>(hn::Add(abs, hn::Add(hn::Set(du, F.RoundingBiasBits()), kept_lsb))),
              hn::Set(du, F.RebiasF32Bits() >> F.DroppedBits()));
  const auto is_subnormal =
      hn::RebindMask(du, hn::BitCast(di, abs) < hn::Set(di, static_cast<int32_t>(F.MinNormalF32Bits())));
  const auto is_nan =
      hn::RebindMask(du, hn::BitCast(di, abs_in) > hn::Set(di, static_cast<int32_t>(kF32InfBits)));
  VU nan_code;
  if constexpr (F.nan == NanEncoding::kCanonical) {
    nan_code = hn::Set(du, F.AbsMask());
  } else {
    nan_code = hn::Or(hn::Set(du, F.NanPayloadBase()),
                      hn::And(hn::ShiftRight<F.DroppedBits()>(abs_in), hn::Set(du, F.MantissaMask())));
  }
  const VU code = hn::IfThenElse(is_nan, nan_code, hn::IfThenElse(is_subnormal, subnormal, normal));
  return hn::Or(code, sign);
}

// Runs `kernel(src_bytes, dst_bytes)` on each full vector of elements, then once on a zero-padded copy of the
// remainder. Kernel::kSrcBytes / kDstBytes are the element sizes. Byte pointers, because F16/BF16 rows inside a
// checkpoint need not be 2-byte aligned.
template <class Kernel>
HWY_INLINE void ForEachVector(const Kernel& kernel, const uint8_t* src, size_t n, uint8_t* dst) {
  const size_t lanes = hn::Lanes(DU());
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) kernel(src + i * Kernel::kSrcBytes, dst + i * Kernel::kDstBytes);
  if (i == n) return;
  // One vector of 32-bit lanes is HWY_MAX_BYTES; no element is wider than 4 bytes.
  alignas(64) uint8_t src_tail[HWY_MAX_BYTES] = {};
  alignas(64) uint8_t dst_tail[HWY_MAX_BYTES];
  const size_t rest = n - i;
  std::memcpy(src_tail, src + i * Kernel::kSrcBytes, rest * Kernel::kSrcBytes);
  kernel(src_tail, dst_tail);
  std::memcpy(dst + i * Kernel::kDstBytes, dst_tail, rest * Kernel::kDstBytes);
}

// Loads one vector of 8- or 16-bit codes zero-extended to 32-bit lanes.
template <typename T>
HWY_INLINE VU LoadCodes(const uint8_t* src) {
  const hn::Rebind<T, DU> dt;
  return hn::PromoteTo(DU(), hn::LoadU(dt, reinterpret_cast<const T*>(src)));
}

// Stores 32-bit lanes holding codes that fit T.
template <typename T>
HWY_INLINE void StoreCodes(VU codes, uint8_t* dst) {
  const hn::Rebind<T, DU> dt;
  // Codes fit T, so the saturating demotion from int32 is an exact narrowing.
  hn::StoreU(hn::DemoteTo(dt, hn::BitCast(DI(), codes)), dt, reinterpret_cast<T*>(dst));
}

HWY_INLINE void StoreF32Bits(VU bits, uint8_t* dst) {
  const DF df;
  hn::StoreU(hn::BitCast(df, bits), df, reinterpret_cast<float*>(dst));
}

HWY_INLINE VU LoadF32Bits(const uint8_t* src) { return hn::LoadU(DU(), reinterpret_cast<const uint32_t*>(src)); }

template <NarrowFloatFormat F>
struct DecodeFp8Kernel {
  static constexpr size_t kSrcBytes = 1;
  static constexpr size_t kDstBytes = 4;
  void operator()(const uint8_t* src, uint8_t* dst) const { StoreF32Bits(DecodeNarrow<F>(LoadCodes<uint8_t>(src)), dst); }
};

struct DecodeF16Kernel {
  static constexpr size_t kSrcBytes = 2;
  static constexpr size_t kDstBytes = 4;
  void operator()(const uint8_t* src, uint8_t* dst) const {
#if OCTET_HWY_HAVE_F16C
    const DF df;
    const hn::Rebind<hwy::float16_t, DF> df16;
    hn::StoreU(hn::PromoteTo(df, hn::LoadU(df16, reinterpret_cast<const hwy::float16_t*>(src))), df,
               reinterpret_cast<float*>(dst));
#else
    StoreF32Bits(DecodeNarrow<kF16Format>(LoadCodes<uint16_t>(src)), dst);
#endif
  }
};

struct DecodeBF16Kernel {
  static constexpr size_t kSrcBytes = 2;
  static constexpr size_t kDstBytes = 4;
  void operator()(const uint8_t* src, uint8_t* dst) const {
    StoreF32Bits(hn::ShiftLeft<kBF16DroppedBits>(LoadCodes<uint16_t>(src)), dst);
  }
};

// Encodes src[i] / divisor (Divide = true) or src[i] (Divide = false) to format F.
template <NarrowFloatFormat F, bool Divide>
struct EncodeFp8Kernel {
  static constexpr size_t kSrcBytes = 4;
  static constexpr size_t kDstBytes = 1;
  float divisor = 1.0f;
  void operator()(const uint8_t* src, uint8_t* dst) const {
    VU bits = LoadF32Bits(src);
    if constexpr (Divide) {
      const DF df;
      bits = hn::BitCast(DU(), hn::Div(hn::BitCast(df, bits), hn::Set(df, divisor)));
    }
    StoreCodes<uint8_t>(EncodeNarrow<F>(bits), dst);
  }
};

struct EncodeF16Kernel {
  static constexpr size_t kSrcBytes = 4;
  static constexpr size_t kDstBytes = 2;
  void operator()(const uint8_t* src, uint8_t* dst) const {
#if OCTET_HWY_HAVE_F16C
    const DF df;
    const hn::Rebind<hwy::float16_t, DF> df16;
    hn::StoreU(hn::DemoteTo(df16, hn::LoadU(df, reinterpret_cast<const float*>(src))), df16,
               reinterpret_cast<hwy::float16_t*>(dst));
#else
    StoreCodes<uint16_t>(EncodeNarrow<kF16Format>(LoadF32Bits(src)), dst);
#endif
  }
};

// Lane-wise EncodeBF16.
struct EncodeBF16Kernel {
  static constexpr size_t kSrcBytes = 4;
  static constexpr size_t kDstBytes = 2;
  void operator()(const uint8_t* src, uint8_t* dst) const {
    const DU du;
    const DI di;
    const VU bits = LoadF32Bits(src);
    const VU kept_lsb = hn::And(hn::ShiftRight<kBF16DroppedBits>(bits), hn::Set(du, 1));
    const VU rounded =
        hn::ShiftRight<kBF16DroppedBits>(hn::Add(bits, hn::Add(hn::Set(du, kBF16RoundingBias), kept_lsb)));
    const VU quiet_nan = hn::Or(hn::ShiftRight<kBF16DroppedBits>(bits), hn::Set(du, kBF16QuietNanBit));
    const auto is_nan = hn::RebindMask(du, hn::BitCast(di, hn::And(bits, hn::Set(du, kF32AbsMask))) >
                                               hn::Set(di, static_cast<int32_t>(kF32InfBits)));
    StoreCodes<uint16_t>(hn::IfThenElse(is_nan, quiet_nan, rounded), dst);
  }
};

template <class Kernel>
void RunRow(const void* src, size_t n, void* dst, const Kernel& kernel = Kernel()) {
  ForEachVector(kernel, static_cast<const uint8_t*>(src), n, static_cast<uint8_t*>(dst));
}

void DecodeE4M3Row(const void* src, size_t n, float* dst) { RunRow<DecodeFp8Kernel<kE4M3Format>>(src, n, dst); }
void DecodeE5M2Row(const void* src, size_t n, float* dst) { RunRow<DecodeFp8Kernel<kE5M2Format>>(src, n, dst); }
void DecodeF16Row(const void* src, size_t n, float* dst) { RunRow<DecodeF16Kernel>(src, n, dst); }
void DecodeBF16Row(const void* src, size_t n, float* dst) { RunRow<DecodeBF16Kernel>(src, n, dst); }
void EncodeE4M3Row(const float* src, size_t n, void* dst) {
  RunRow<EncodeFp8Kernel<kE4M3Format, false>>(src, n, dst);
}
void EncodeE5M2Row(const float* src, size_t n, void* dst) {
  RunRow<EncodeFp8Kernel<kE5M2Format, false>>(src, n, dst);
}
void EncodeF16Row(const float* src, size_t n, void* dst) { RunRow<EncodeF16Kernel>(src, n, dst); }
void EncodeBF16Row(const float* src, size_t n, void* dst) { RunRow<EncodeBF16Kernel>(src, n, dst); }
void QuantizeE4M3Row(const float* src, size_t n, float scale, uint8_t* dst) {
  RunRow(src, n, dst, EncodeFp8Kernel<kE4M3Format, true>{scale});
}
void QuantizeE5M2Row(const float* src, size_t n, float scale, uint8_t* dst) {
  RunRow(src, n, dst, EncodeFp8Kernel<kE5M2Format, true>{scale});
}

// One vector of ScanRangeRow: folds the finite magnitudes into max_bits and records the first non-finite lane.
HWY_INLINE void ScanVector(const float* src, size_t base, size_t n, hn::Vec<DI>& max_bits, RangeScan& result) {
  const DU du;
  const DI di;
  const auto abs = hn::BitCast(di, hn::And(LoadF32Bits(reinterpret_cast<const uint8_t*>(src)),
                                           hn::Set(du, kF32AbsMask)));
  const auto finite = abs < hn::Set(di, static_cast<int32_t>(kF32InfBits));
  // Magnitudes compare as int32 bit patterns like the floats they are, free of a float max's NaN rules.
  max_bits = hn::Max(max_bits, hn::IfThenElseZero(finite, abs));
  if (result.first_non_finite == n && !hn::AllTrue(di, finite)) {
    result.first_non_finite = base + static_cast<size_t>(hn::FindFirstTrue(di, hn::Not(finite)));
  }
}

RangeScan ScanRangeRow(const float* src, size_t n) {
  const DI di;
  const size_t lanes = hn::Lanes(di);
  auto max_bits = hn::Zero(di);
  RangeScan result;
  result.first_non_finite = n;
  size_t i = 0;
  for (; i + lanes <= n; i += lanes) ScanVector(src + i, i, n, max_bits, result);
  if (i < n) {
    // Zero padding is finite and does not raise the max.
    alignas(64) float tail[HWY_MAX_BYTES / sizeof(float)] = {};
    std::memcpy(tail, src + i, (n - i) * sizeof(float));
    ScanVector(tail, i, n, max_bits, result);
  }
  result.abs_max = std::bit_cast<float>(hn::GetLane(hn::MaxOfLanes(di, max_bits)));
  return result;
}

int64_t CurrentTarget() { return HWY_TARGET; }

}  // namespace HWY_NAMESPACE
}  // namespace octet
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

namespace octet {

HWY_EXPORT(DecodeE4M3Row);
HWY_EXPORT(DecodeE5M2Row);
HWY_EXPORT(DecodeF16Row);
HWY_EXPORT(DecodeBF16Row);
HWY_EXPORT(EncodeE4M3Row);
HWY_EXPORT(EncodeE5M2Row);
HWY_EXPORT(EncodeF16Row);
HWY_EXPORT(EncodeBF16Row);
HWY_EXPORT(QuantizeE4M3Row);
HWY_EXPORT(QuantizeE5M2Row);
HWY_EXPORT(ScanRangeRow);
HWY_EXPORT(CurrentTarget);

void DecodeToF32(DType src_type, const void* src, size_t n, float* dst) {
  if (n == 0 && IsFloatingPointWeightType(src_type)) return;
  switch (src_type) {
    case DType::kF32:
      std::memcpy(dst, src, n * sizeof(float));
      return;
    case DType::kF16:
      return HWY_DYNAMIC_DISPATCH(DecodeF16Row)(src, n, dst);
    case DType::kBF16:
      return HWY_DYNAMIC_DISPATCH(DecodeBF16Row)(src, n, dst);
    case DType::kF8E4M3:
      return HWY_DYNAMIC_DISPATCH(DecodeE4M3Row)(src, n, dst);
    case DType::kF8E5M2:
      return HWY_DYNAMIC_DISPATCH(DecodeE5M2Row)(src, n, dst);
    default:
      Fail("cannot decode dtype {} to F32 (supported: F32, F16, BF16, F8_E4M3, F8_E5M2)", DTypeName(src_type));
  }
}

void EncodeFromF32(DType dst_type, const float* src, size_t n, void* dst) {
  if (n == 0 && IsFloatingPointWeightType(dst_type)) return;
  switch (dst_type) {
    case DType::kF32:
      std::memcpy(dst, src, n * sizeof(float));
      return;
    case DType::kF16:
      return HWY_DYNAMIC_DISPATCH(EncodeF16Row)(src, n, dst);
    case DType::kBF16:
      return HWY_DYNAMIC_DISPATCH(EncodeBF16Row)(src, n, dst);
    case DType::kF8E4M3:
      return HWY_DYNAMIC_DISPATCH(EncodeE4M3Row)(src, n, dst);
    case DType::kF8E5M2:
      return HWY_DYNAMIC_DISPATCH(EncodeE5M2Row)(src, n, dst);
    default:
      Fail("cannot encode F32 to dtype {} (supported: F32, F16, BF16, F8_E4M3, F8_E5M2)", DTypeName(dst_type));
  }
}

void QuantizeFp8(Fp8Format format, const float* src, size_t n, float scale, uint8_t* dst) {
  if (n == 0) return;
  if (format == Fp8Format::kE4M3) {
    HWY_DYNAMIC_DISPATCH(QuantizeE4M3Row)(src, n, scale, dst);
  } else {
    HWY_DYNAMIC_DISPATCH(QuantizeE5M2Row)(src, n, scale, dst);
  }
}

RangeScan ScanRange(const float* src, size_t n) {
  if (n == 0) return RangeScan{};
  return HWY_DYNAMIC_DISPATCH(ScanRangeRow)(src, n);
}

int64_t ConvertRowsTarget() { return HWY_DYNAMIC_DISPATCH(CurrentTarget)(); }

}  // namespace octet

#endif  // HWY_ONCE
