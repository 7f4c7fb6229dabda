// Scalar FP8 codecs against the OCP spec: every code's value, golden values, round trips, rounding and
// saturation at the edges. The exhaustive all-f32 encoding check is in fp8_exhaustive_test.cc.
#include "numeric/fp8.h"

#include <bit>
#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "numeric/float_reference.h"

namespace octet {
namespace {

using ::octet::testing::kSpecE4M3;
using ::octet::testing::kSpecE5M2;
using ::octet::testing::SpecFormat;
using ::octet::testing::SpecValue;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

void ExpectAllCodesDecodeToSpec(Fp8Format format, const SpecFormat& spec) {
  int nan_codes = 0;
  for (int c = 0; c < 256; ++c) {
    const uint8_t code = static_cast<uint8_t>(c);
    const double expected = SpecValue(spec, code);
    const float actual = DecodeFp8(format, code);
    if (std::isnan(expected)) {
      ++nan_codes;
      EXPECT_TRUE(std::isnan(actual)) << "code " << c;
      EXPECT_EQ(std::signbit(actual), (c & 0x80) != 0) << "NaN sign, code " << c;
    } else {
      EXPECT_EQ(static_cast<double>(actual), expected) << "code " << c;
      EXPECT_EQ(std::signbit(actual), (c & 0x80) != 0) << "sign, code " << c;
    }
  }
  EXPECT_EQ(nan_codes, format == Fp8Format::kE4M3 ? 2 : 6);
}

TEST(Fp8Decode, AllE4M3CodesMatchSpecFormula) { ExpectAllCodesDecodeToSpec(Fp8Format::kE4M3, kSpecE4M3); }
TEST(Fp8Decode, AllE5M2CodesMatchSpecFormula) { ExpectAllCodesDecodeToSpec(Fp8Format::kE5M2, kSpecE5M2); }

TEST(Fp8Decode, GoldenValues) {
  EXPECT_EQ(DecodeE4M3(0x7E), 448.0f);
  EXPECT_EQ(DecodeE4M3(0xFE), -448.0f);
  EXPECT_EQ(DecodeE4M3(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(DecodeE4M3(0x07), 0.875f * std::ldexp(1.0f, -6));
  EXPECT_EQ(DecodeE4M3(0x08), std::ldexp(1.0f, -6));
  EXPECT_EQ(DecodeE4M3(0x38), 1.0f);
  EXPECT_EQ(DecodeE4M3(0x78), 256.0f);  // exponent 15 is finite in E4M3FN
  EXPECT_TRUE(std::isnan(DecodeE4M3(0x7F)));
  EXPECT_TRUE(std::isnan(DecodeE4M3(0xFF)));
  EXPECT_EQ(DecodeE4M3(0x80), 0.0f);
  EXPECT_TRUE(std::signbit(DecodeE4M3(0x80)));

  EXPECT_EQ(DecodeE5M2(0x7B), 57344.0f);
  EXPECT_EQ(DecodeE5M2(0xFB), -57344.0f);
  EXPECT_EQ(DecodeE5M2(0x01), std::ldexp(1.0f, -16));
  EXPECT_EQ(DecodeE5M2(0x04), std::ldexp(1.0f, -14));
  EXPECT_EQ(DecodeE5M2(0x3C), 1.0f);
  EXPECT_EQ(DecodeE5M2(0x7C), kInf);
  EXPECT_EQ(DecodeE5M2(0xFC), -kInf);
  EXPECT_TRUE(std::isnan(DecodeE5M2(0x7D)));
  EXPECT_TRUE(std::isnan(DecodeE5M2(0x7E)));
  EXPECT_TRUE(std::isnan(DecodeE5M2(0x7F)));
  EXPECT_TRUE(std::signbit(DecodeE5M2(0x80)));
  EXPECT_EQ(DecodeE5M2(0x80), 0.0f);
}

void ExpectRoundTrip(Fp8Format format) {
  for (int c = 0; c < 256; ++c) {
    const float value = DecodeFp8(format, static_cast<uint8_t>(c));
    if (std::isnan(value)) continue;
    if (format == Fp8Format::kE5M2 && std::isinf(value)) {
      // Inf is not a finite overflow target: it saturates (see the next test).
      EXPECT_EQ(EncodeFp8(format, value), (c & 0x80) | 0x7B);
      continue;
    }
    EXPECT_EQ(EncodeFp8(format, value), c) << "code " << c;
  }
}

TEST(Fp8Encode, RoundTripsEveryFiniteCode) {
  ExpectRoundTrip(Fp8Format::kE4M3);
  ExpectRoundTrip(Fp8Format::kE5M2);
}

TEST(Fp8Encode, SaturatesFiniteOverflowAndInfinity) {
  EXPECT_EQ(EncodeE4M3(449.0f), 0x7E);
  EXPECT_EQ(EncodeE4M3(464.0f), 0x7E);  // PyTorch's unsaturated cast would give NaN from here on
  EXPECT_EQ(EncodeE4M3(480.0f), 0x7E);
  EXPECT_EQ(EncodeE4M3(1e30f), 0x7E);
  EXPECT_EQ(EncodeE4M3(-1e30f), 0xFE);
  EXPECT_EQ(EncodeE4M3(kInf), 0x7E);
  EXPECT_EQ(EncodeE4M3(-kInf), 0xFE);
  EXPECT_EQ(EncodeE5M2(61440.0f), 0x7B);
  EXPECT_EQ(EncodeE5M2(65536.0f), 0x7B);
  EXPECT_EQ(EncodeE5M2(kInf), 0x7B);
  EXPECT_EQ(EncodeE5M2(-kInf), 0xFB);
  EXPECT_EQ(Fp8MaxFinite(Fp8Format::kE4M3), 448.0f);
  EXPECT_EQ(Fp8MaxFinite(Fp8Format::kE5M2), 57344.0f);
}

TEST(Fp8Encode, NaNKeepsItsSign) {
  EXPECT_EQ(EncodeE4M3(kNaN), 0x7F);
  EXPECT_EQ(EncodeE4M3(-kNaN), 0xFF);
  EXPECT_EQ(EncodeE5M2(kNaN), 0x7F);
  EXPECT_EQ(EncodeE5M2(-kNaN), 0xFF);
  // A signalling NaN with only a low payload bit is still a NaN.
  EXPECT_EQ(EncodeE4M3(std::bit_cast<float>(0x7F800001u)), 0x7F);
  EXPECT_EQ(EncodeE5M2(std::bit_cast<float>(0xFF800001u)), 0xFF);
}

TEST(Fp8Encode, RoundsToNearestTiesToEven) {
  // E4M3 around 1: ulp 1/8. 1 + 1/16 is a tie between 0x38 (even) and 0x39.
  EXPECT_EQ(EncodeE4M3(1.0f + 1.0f / 16), 0x38);
  EXPECT_EQ(EncodeE4M3(std::nextafter(1.0f + 1.0f / 16, 2.0f)), 0x39);
  EXPECT_EQ(EncodeE4M3(1.0f + 3.0f / 16), 0x3A);  // tie between 0x39 and 0x3A (even)
  // A tie that carries into the exponent: 1.9375 is halfway between 1.875 (0x3F) and 2 (0x40).
  EXPECT_EQ(EncodeE4M3(1.9375f), 0x40);
  // Subnormal ties: 2^-10 is halfway between 0 and the smallest subnormal -> 0; 3 * 2^-10 -> 2 * 2^-9.
  EXPECT_EQ(EncodeE4M3(std::ldexp(1.0f, -10)), 0x00);
  EXPECT_EQ(EncodeE4M3(std::nextafter(std::ldexp(1.0f, -10), 1.0f)), 0x01);
  EXPECT_EQ(EncodeE4M3(3 * std::ldexp(1.0f, -10)), 0x02);
  EXPECT_EQ(EncodeE4M3(-std::ldexp(1.0f, -10)), 0x80);  // underflow keeps the sign
  // Largest subnormal rounding up into the smallest normal.
  EXPECT_EQ(EncodeE4M3(15 * std::ldexp(1.0f, -10)), 0x08);
  // 464 is the tie between 448 and the (non-existent) 480: saturation gives 448 either way.
  EXPECT_EQ(EncodeE4M3(447.0f), 0x7E);
  EXPECT_EQ(EncodeE4M3(432.0f), 0x7E);  // tie 416|448 -> 448 (mantissa 110 is even)
  EXPECT_EQ(EncodeE5M2(std::ldexp(1.0f, -17)), 0x00);
  EXPECT_EQ(EncodeE5M2(3 * std::ldexp(1.0f, -17)), 0x02);
  EXPECT_EQ(EncodeE5M2(1.125f), 0x3C);  // tie 1|1.25 -> 1
  EXPECT_EQ(EncodeE5M2(1.375f), 0x3E);  // tie 1.25|1.5 -> 1.5
}

TEST(Fp8Encode, SignedZeroAndTinyValues) {
  EXPECT_EQ(EncodeE4M3(0.0f), 0x00);
  EXPECT_EQ(EncodeE4M3(-0.0f), 0x80);
  EXPECT_EQ(EncodeE4M3(std::numeric_limits<float>::denorm_min()), 0x00);
  EXPECT_EQ(EncodeE5M2(-std::numeric_limits<float>::denorm_min()), 0x80);
}

TEST(Fp8Helpers, FormatDispatch) {
  EXPECT_EQ(Fp8DType(Fp8Format::kE4M3), DType::kF8E4M3);
  EXPECT_EQ(Fp8DType(Fp8Format::kE5M2), DType::kF8E5M2);
  EXPECT_EQ(EncodeFp8(Fp8Format::kE4M3, 1.0f), 0x38);
  EXPECT_EQ(EncodeFp8(Fp8Format::kE5M2, 1.0f), 0x3C);
  EXPECT_EQ(DecodeFp8(Fp8Format::kE5M2, 0x3C), 1.0f);
}

}  // namespace
}  // namespace octet
