// F16 and BF16 codecs: every code decodes to the spec value, and encoding (scalar and bulk) rounds to nearest
// even with IEEE overflow to Inf, checked on 2^27 spread-out f32 patterns plus every code's value, its
// neighbours and every midpoint (tie) with its neighbours.
#include "numeric/half.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

#include "numeric/convert_rows.h"
#include "numeric/float_reference.h"

namespace octet {
namespace {

using ::octet::testing::FloatBits;
using ::octet::testing::kSpecF16;
using ::octet::testing::MakeRoundingIntervals;
using ::octet::testing::RoundingIntervals;
using ::octet::testing::SpecValue;
using ::octet::testing::SpecValueBF16;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr uint32_t kPositiveInfBits = 0x7F800000u;

TEST(HalfDecode, AllF16CodesMatchSpecFormula) {
  for (uint32_t c = 0; c < 65536; ++c) {
    const double expected = SpecValue(kSpecF16, c);
    const float actual = DecodeF16(static_cast<uint16_t>(c));
    EXPECT_EQ(std::signbit(actual), c >= 0x8000) << c;
    if (std::isnan(expected)) {
      ASSERT_TRUE(std::isnan(actual)) << c;
      // Quiet, with the half's payload in the top mantissa bits (IEEE widening).
      EXPECT_EQ(FloatBits(actual) & 0x7FFFFFFFu, 0x7FC00000u | ((c & 0x3FFu) << 13)) << c;
    } else {
      ASSERT_EQ(static_cast<double>(actual), expected) << c;
    }
  }
  EXPECT_EQ(DecodeF16(0x3C00), 1.0f);
  EXPECT_EQ(DecodeF16(0x7BFF), 65504.0f);
  EXPECT_EQ(DecodeF16(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(DecodeF16(0x0400), std::ldexp(1.0f, -14));
  EXPECT_EQ(DecodeF16(0xFC00), -kInf);
}

TEST(HalfDecode, AllBF16CodesAreTheTopHalfOfF32) {
  for (uint32_t c = 0; c < 65536; ++c) {
    // Independent formula for the finite ones: (-1)^s 2^(e-127) (1 + m/128), subnormal 2^-126 m/128.
    const uint32_t e = (c >> 7) & 0xFF, m = c & 0x7F;
    const float actual = DecodeBF16(static_cast<uint16_t>(c));
    ASSERT_EQ(FloatBits(actual), c << 16) << c;  // exact: payloads and signs untouched
    if (e == 0xFF) continue;
    const double magnitude = e == 0 ? std::ldexp(m / 128.0, -126) : std::ldexp(1 + m / 128.0, int(e) - 127);
    ASSERT_EQ(static_cast<double>(actual), c >= 0x8000 ? -magnitude : magnitude) << c;
  }
}

// Checks one encoder on positive patterns against rounding intervals over codes [0, inf_code], inf_code's value
// standing for 2^(emax+1) as IEEE's unbounded-exponent rounding prescribes; negatives must mirror positives.
class HalfEncodeChecker {
 public:
  HalfEncodeChecker(uint16_t inf_code, uint16_t quiet_bit, RoundingIntervals intervals)
      : inf_code_(inf_code), quiet_bit_(quiet_bit), intervals_(std::move(intervals)) {}

  // Returns an empty string if `code` is a correct encoding of the positive pattern `bits`.
  std::string Check(uint32_t bits, uint16_t code) const {
    if (bits > kPositiveInfBits) {
      if (code > inf_code_ && code < 0x8000 && (code & quiet_bit_)) return {};
      return Describe(bits, code, "NaN must give a quiet NaN of the same sign");
    }
    if (code > inf_code_) return Describe(bits, code, "out of range");
    const bool even = (code & 1) == 0;
    if (bits < intervals_.lo[code] || bits > intervals_.hi[code]) return Describe(bits, code, "not nearest");
    if (bits == intervals_.lo[code] && intervals_.lo_is_tie[code] && !even) return Describe(bits, code, "tie odd");
    if (bits == intervals_.hi[code] && intervals_.hi_is_tie[code] && !even) return Describe(bits, code, "tie odd");
    return {};
  }

  // Every code's value bits and midpoint bits, each with its two neighbours.
  std::vector<uint32_t> BoundaryPatterns() const {
    std::vector<uint32_t> out;
    for (size_t c = 0; c < intervals_.lo.size(); ++c) {
      for (uint32_t b : {intervals_.lo[c], intervals_.hi[c]}) {
        for (int64_t d = -1; d <= 1; ++d) {
          const int64_t p = int64_t{b} + d;
          if (p >= 0 && p <= kPositiveInfBits) out.push_back(static_cast<uint32_t>(p));
        }
      }
    }
    for (uint32_t nan : {0x7F800001u, 0x7FC00000u, 0x7FFFFFFFu, 0x7FA00000u, 0x7F802000u, 0x7F810000u}) {
      out.push_back(nan);
    }
    return out;
  }

 private:
  static std::string Describe(uint32_t bits, uint16_t code, const char* why) {
    char buffer[96];
    std::snprintf(buffer, sizeof buffer, "x bits %#010x -> %#06x: %s", bits, code, why);
    return buffer;
  }

  uint16_t inf_code_;
  uint16_t quiet_bit_;
  RoundingIntervals intervals_;
};

// Positive test patterns: 2^27 spread over [0, 2^31) with scrambled low bits, plus the boundaries.
std::vector<uint32_t> DensePositivePatterns(const HalfEncodeChecker& checker) {
  std::vector<uint32_t> patterns = checker.BoundaryPatterns();
  constexpr uint32_t kCount = 1u << 27;
  patterns.reserve(patterns.size() + kCount);
  for (uint32_t i = 0; i < kCount; ++i) {
    const uint32_t scrambled = (i * 2654435761u) >> 27;  // 5 pseudo-random low bits
    patterns.push_back((i << 4) ^ scrambled);
  }
  return patterns;
}

void ExpectEncoderCorrect(DType dtype, uint16_t (*scalar)(float), const HalfEncodeChecker& checker) {
  const std::vector<uint32_t> patterns = DensePositivePatterns(checker);
  std::vector<float> positive(patterns.size()), negative(patterns.size());
  for (size_t i = 0; i < patterns.size(); ++i) {
    positive[i] = std::bit_cast<float>(patterns[i]);
    negative[i] = std::bit_cast<float>(patterns[i] | 0x80000000u);
  }
  std::vector<uint16_t> pos_codes(patterns.size()), neg_codes(patterns.size());
  EncodeFromF32(dtype, positive.data(), positive.size(), pos_codes.data());
  EncodeFromF32(dtype, negative.data(), negative.size(), neg_codes.data());
  int failures = 0;
  for (size_t i = 0; i < patterns.size() && failures < 20; ++i) {
    const std::string error = checker.Check(patterns[i], pos_codes[i]);
    if (!error.empty()) {
      ADD_FAILURE() << error;
      ++failures;
    }
    if (neg_codes[i] != (pos_codes[i] | 0x8000)) {
      ADD_FAILURE() << "negation of " << patterns[i] << " -> " << neg_codes[i];
      ++failures;
    }
    if (scalar(positive[i]) != pos_codes[i] || scalar(negative[i]) != neg_codes[i]) {
      ADD_FAILURE() << "scalar and bulk encoders disagree on " << patterns[i];
      ++failures;
    }
  }
}

TEST(HalfEncode, F16RoundsToNearestEvenOverflowsToInf) {
  constexpr uint16_t kInfCode = 0x7C00;
  const auto value = [](uint32_t c) { return c == kInfCode ? 65536.0 : SpecValue(kSpecF16, c); };
  ExpectEncoderCorrect(DType::kF16, EncodeF16,
                       HalfEncodeChecker(kInfCode, 0x0200, MakeRoundingIntervals(kInfCode, kPositiveInfBits, value)));
}

TEST(HalfEncode, BF16RoundsToNearestEvenOverflowsToInf) {
  constexpr uint16_t kInfCode = 0x7F80;
  const auto value = [](uint32_t c) { return c == kInfCode ? std::ldexp(1.0, 128) : SpecValueBF16(uint16_t(c)); };
  ExpectEncoderCorrect(DType::kBF16, EncodeBF16,
                       HalfEncodeChecker(kInfCode, 0x0040, MakeRoundingIntervals(kInfCode, kPositiveInfBits, value)));
}

TEST(HalfEncode, EdgeCases) {
  EXPECT_EQ(EncodeF16(65504.0f), 0x7BFF);
  EXPECT_EQ(EncodeF16(65519.0f), 0x7BFF);
  EXPECT_EQ(EncodeF16(65520.0f), 0x7C00);  // tie with 2^16 rounds to even = overflow
  EXPECT_EQ(EncodeF16(-1e10f), 0xFC00);
  EXPECT_EQ(EncodeF16(kInf), 0x7C00);
  EXPECT_EQ(EncodeF16(std::ldexp(1.0f, -25)), 0x0000);  // tie with 0
  EXPECT_EQ(EncodeF16(std::ldexp(3.0f, -25)), 0x0002);
  EXPECT_EQ(EncodeF16(-0.0f), 0x8000);
  EXPECT_EQ(EncodeF16(std::numeric_limits<float>::quiet_NaN()), 0x7E00);
  EXPECT_EQ(EncodeF16(-std::numeric_limits<float>::quiet_NaN()), 0xFE00);
  EXPECT_EQ(EncodeF16(std::bit_cast<float>(0x7F800001u)), 0x7E00);  // payload only in dropped bits
  EXPECT_EQ(EncodeF16(std::bit_cast<float>(0x7FA02000u)), 0x7F01);  // quieted, top payload bits kept
  EXPECT_EQ(EncodeBF16(1.0f), 0x3F80);
  EXPECT_EQ(EncodeBF16(std::bit_cast<float>(0x3F808000u)), 0x3F80);  // tie -> even
  EXPECT_EQ(EncodeBF16(std::bit_cast<float>(0x3F818000u)), 0x3F82);  // tie -> even (up)
  EXPECT_EQ(EncodeBF16(std::numeric_limits<float>::max()), 0x7F80);
  EXPECT_EQ(EncodeBF16(std::bit_cast<float>(0xFF800001u)), 0xFFC0);
}

}  // namespace
}  // namespace octet
