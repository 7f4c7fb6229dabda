// Bit-level description of the float formats narrower than f32 that octet converts (FP8 E4M3FN / E5M2, IEEE
// half), and the one generic scalar codec built from it. The SIMD kernels in convert_rows.cc are written against
// the same description, so the scalar and vector paths cannot drift apart: every constant either uses is derived
// here from (exponent bits, mantissa bits, bias) instead of being a hand-written bit pattern.
//
// The codec works on the f32 bit pattern:
//  - normal results: add "half an output ulp minus one, plus the lowest kept bit" to the f32 bits and shift the
//    dropped mantissa bits out (round to nearest, ties to even; a carry into the exponent is the right answer);
//  - subnormal results: add a power of two whose ulp is the output's smallest subnormal, so the FPU's own
//    round-to-nearest-even does the rounding (this relies on the default rounding mode, like every magic-number
//    conversion, including PyTorch's);
//  - overflow: clamp the magnitude bits first, either to the largest finite value (saturating FP8) or to 2^(emax+1)
//    (IEEE half: whatever rounds past the largest finite value becomes Inf).
#ifndef OCTET_NUMERIC_NARROW_FLOAT_H_
#define OCTET_NUMERIC_NARROW_FLOAT_H_

#include <algorithm>
#include <bit>
#include <cstdint>

namespace octet {

// IEEE binary32 fields.
inline constexpr int kF32MantissaBits = 23;
inline constexpr int kF32ExponentBias = 127;
inline constexpr uint32_t kF32SignBit = 0x80000000u;
inline constexpr uint32_t kF32AbsMask = 0x7FFFFFFFu;
// All-ones exponent with a zero mantissa; any larger magnitude pattern is a NaN.
inline constexpr uint32_t kF32InfBits = 0x7F800000u;
// Top mantissa bit: set in a quiet NaN.
inline constexpr uint32_t kF32QuietNanBit = 0x00400000u;

// f32 bits of 2^exponent, for exponents in f32's normal range.
constexpr uint32_t F32PowerOfTwoBits(int exponent) {
  return static_cast<uint32_t>(exponent + kF32ExponentBias) << kF32MantissaBits;
}

// What the all-ones exponent means.
enum class SpecialValues : uint8_t {
  kIeee,          // all-ones exponent: mantissa 0 is Inf, anything else NaN (E5M2, half)
  kOnlyMaxIsNaN,  // no Inf; only S.1..1.1..1 is NaN, the rest of that exponent is finite (E4M3FN)
};

// What an f32 magnitude beyond the largest finite value encodes to.
enum class Overflow : uint8_t {
  kSaturate,  // the largest finite value of the same sign (NVIDIA __NV_SATFINITE), for Inf too
  kToInf,     // IEEE: Inf of the same sign
};

// What a NaN input encodes to (its sign is always kept).
enum class NanEncoding : uint8_t {
  kCanonical,    // the all-ones code S.1..1.1..1 (what PyTorch and CUDA produce for FP8)
  kKeepPayload,  // quiet NaN keeping the top payload bits (what x86 F16C's vcvtps2ph produces)
};

struct NarrowFloatFormat {
  int exponent_bits;
  int mantissa_bits;
  int exponent_bias;
  SpecialValues specials;
  Overflow overflow;
  NanEncoding nan;

  constexpr int TotalBits() const { return 1 + exponent_bits + mantissa_bits; }
  constexpr uint32_t SignBit() const { return 1u << (TotalBits() - 1); }
  constexpr uint32_t AbsMask() const { return SignBit() - 1; }
  constexpr uint32_t MantissaMask() const { return (1u << mantissa_bits) - 1; }
  // Distance between the sign bit of a code and f32's sign bit.
  constexpr int SignShift() const { return 32 - TotalBits(); }
  // f32 mantissa bits that narrowing drops.
  constexpr int DroppedBits() const { return kF32MantissaBits - mantissa_bits; }
  // Difference of the biased exponents, in f32 bit position: (abs_code << DroppedBits) + this = f32 bits.
  constexpr uint32_t RebiasF32Bits() const {
    return static_cast<uint32_t>(kF32ExponentBias - exponent_bias) << kF32MantissaBits;
  }
  // Smallest code with a non-zero exponent field, and the f32 bits of its value 2^(1 - bias).
  constexpr uint32_t MinNormalCode() const { return 1u << mantissa_bits; }
  constexpr uint32_t MinNormalF32Bits() const { return F32PowerOfTwoBits(1 - exponent_bias); }
  // The smallest subnormal is 2^MinSubnormalExponent.
  constexpr int MinSubnormalExponent() const { return 1 - exponent_bias - mantissa_bits; }
  // A float whose ulp is the smallest subnormal: |x| + this, rounded by the FPU, lands on the subnormal grid.
  constexpr uint32_t SubnormalRoundingMagicBits() const {
    return F32PowerOfTwoBits(MinSubnormalExponent() + kF32MantissaBits);
  }
  // First magnitude code whose exponent field is all ones.
  constexpr uint32_t AllOnesExponentCode() const { return ((1u << exponent_bits) - 1) << mantissa_bits; }
  constexpr uint32_t MaxFiniteCode() const {
    return specials == SpecialValues::kIeee ? AllOnesExponentCode() - 1 : AbsMask() - 1;
  }
  constexpr uint32_t MaxFiniteF32Bits() const { return (MaxFiniteCode() << DroppedBits()) + RebiasF32Bits(); }
  // Magnitudes are clamped to this before rounding. For kToInf it is 2^(emax+1), whose encoding is Inf.
  constexpr uint32_t ClampF32Bits() const {
    return overflow == Overflow::kSaturate ? MaxFiniteF32Bits()
                                           : (AllOnesExponentCode() << DroppedBits()) + RebiasF32Bits();
  }
  // Half an output ulp minus one, in f32 mantissa units; the kept LSB is added on top for ties-to-even.
  constexpr uint32_t RoundingBiasBits() const { return (1u << (DroppedBits() - 1)) - 1; }
  // The magnitude code of a NaN whose f32 magnitude bits are `abs_bits`.
  constexpr uint32_t NanCodeFor(uint32_t abs_bits) const {
    return nan == NanEncoding::kCanonical ? AbsMask() : NanPayloadBase() | ((abs_bits >> DroppedBits()) & MantissaMask());
  }
  constexpr uint32_t NanPayloadBase() const { return AllOnesExponentCode() | (1u << (mantissa_bits - 1)); }
  constexpr bool IsNanOrInfCode(uint32_t abs_code) const {
    return specials == SpecialValues::kIeee ? abs_code >= AllOnesExponentCode() : abs_code == AbsMask();
  }
};

// OCP FP8 E4M3FN: bias 7, max 448 = S.1111.110, S.1111.111 is the only NaN, no Inf.
inline constexpr NarrowFloatFormat kE4M3Format{4, 3, 7, SpecialValues::kOnlyMaxIsNaN, Overflow::kSaturate,
                                               NanEncoding::kCanonical};
// OCP FP8 E5M2: bias 15, max 57344 = S.11110.11, IEEE Inf/NaN (the high byte of an IEEE half).
inline constexpr NarrowFloatFormat kE5M2Format{5, 2, 15, SpecialValues::kIeee, Overflow::kSaturate,
                                               NanEncoding::kCanonical};
// IEEE binary16.
inline constexpr NarrowFloatFormat kF16Format{5, 10, 15, SpecialValues::kIeee, Overflow::kToInf,
                                              NanEncoding::kKeepPayload};

static_assert(std::bit_cast<float>(kE4M3Format.MaxFiniteF32Bits()) == 448.0f);
static_assert(std::bit_cast<float>(kE5M2Format.MaxFiniteF32Bits()) == 57344.0f);
static_assert(std::bit_cast<float>(kF16Format.MaxFiniteF32Bits()) == 65504.0f);
static_assert(kE4M3Format.MaxFiniteCode() == 0x7E && kE5M2Format.MaxFiniteCode() == 0x7B);

// Decodes a code of format F exactly. NaN codes become a quiet f32 NaN of the same sign that keeps the code's
// mantissa as its top payload bits (IEEE widening; matches vcvtph2ps for halves).
template <NarrowFloatFormat F>
constexpr float DecodeNarrowFloat(uint32_t code) {
  const uint32_t abs = code & F.AbsMask();
  const uint32_t sign = (code & F.SignBit()) << F.SignShift();
  uint32_t bits;
  if (F.IsNanOrInfCode(abs)) {
    const uint32_t mantissa = abs & F.MantissaMask();
    bits = kF32InfBits | (mantissa << F.DroppedBits()) | (mantissa != 0 ? kF32QuietNanBit : 0);
  } else if (abs < F.MinNormalCode()) {
    // abs is the subnormal's mantissa; it and the product are exact in f32.
    bits = std::bit_cast<uint32_t>(static_cast<float>(abs) *
                                   std::bit_cast<float>(F32PowerOfTwoBits(F.MinSubnormalExponent())));
  } else {
    bits = (abs << F.DroppedBits()) + F.RebiasF32Bits();
  }
  return std::bit_cast<float>(bits | sign);
}

// Encodes x to format F: round to nearest, ties to even; overflow and NaN as F says; the sign is always kept.
// Branch-free (both roundings are computed, then selected), like the SIMD kernels that mirror it.
template <NarrowFloatFormat F>
inline uint32_t EncodeNarrowFloat(float x) {
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const uint32_t sign = (bits & kF32SignBit) >> F.SignShift();
  const uint32_t abs_in = bits & kF32AbsMask;
  const uint32_t abs = std::min(abs_in, F.ClampF32Bits());
  const uint32_t subnormal =
      std::bit_cast<uint32_t>(std::bit_cast<float>(abs) + std::bit_cast<float>(F.SubnormalRoundingMagicBits())) -
      F.SubnormalRoundingMagicBits();
  const uint32_t kept_lsb = (abs >> F.DroppedBits()) & 1u;
  const uint32_t normal =
      ((abs + F.RoundingBiasBits() + kept_lsb) >> F.DroppedBits()) - (F.RebiasF32Bits() >> F.DroppedBits());
  const uint32_t code = abs < F.MinNormalF32Bits() ? subnormal : normal;
  return sign | (abs_in > kF32InfBits ? F.NanCodeFor(abs_in) : code);
}

}  // namespace octet

#endif  // OCTET_NUMERIC_NARROW_FLOAT_H_
