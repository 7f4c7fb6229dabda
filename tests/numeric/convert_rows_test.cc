// Bulk conversions against the scalar codecs, on every Highway target compiled in and supported by this CPU:
// awkward lengths, unaligned pointers, no writes past the end, strided sweeps over all f32 patterns, every code,
// QuantizeFp8 with real scales, ScanRange, and the dtype errors.
#include "numeric/convert_rows.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "hwy/targets.h"
#include "hwy/tests/hwy_gtest.h"
#include "numeric/fp8.h"
#include "numeric/half.h"
#include "util/error.h"

namespace octet {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr uint8_t kGuardByte = 0xA5;
constexpr size_t kGuardBytes = 64;
constexpr size_t kLengths[] = {0, 1, 7, 15, 16, 17, 33, 64, 65, 1000 + 3};

uint32_t Bits(float x) { return std::bit_cast<uint32_t>(x); }

constexpr DType kNarrowTypes[] = {DType::kF16, DType::kBF16, DType::kF8E4M3, DType::kF8E5M2};
constexpr DType kAllTypes[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kF8E4M3, DType::kF8E5M2};

size_t ElementBytes(DType t) { return t == DType::kF32 ? 4 : (t == DType::kF16 || t == DType::kBF16) ? 2 : 1; }

// The scalar codec for element `i` of a raw buffer of type t.
uint32_t ScalarEncode(DType t, float x) {
  switch (t) {
    case DType::kF32: return Bits(x);
    case DType::kF16: return EncodeF16(x);
    case DType::kBF16: return EncodeBF16(x);
    case DType::kF8E4M3: return EncodeE4M3(x);
    default: return EncodeE5M2(x);
  }
}

float ScalarDecode(DType t, const uint8_t* element) {
  uint32_t code = 0;
  std::memcpy(&code, element, ElementBytes(t));  // little-endian
  switch (t) {
    case DType::kF32: return std::bit_cast<float>(code);
    case DType::kF16: return DecodeF16(static_cast<uint16_t>(code));
    case DType::kBF16: return DecodeBF16(static_cast<uint16_t>(code));
    case DType::kF8E4M3: return DecodeE4M3(static_cast<uint8_t>(code));
    default: return DecodeE5M2(static_cast<uint8_t>(code));
  }
}

uint32_t CodeAt(DType t, const uint8_t* bytes, size_t i) {
  uint32_t code = 0;
  std::memcpy(&code, bytes + i * ElementBytes(t), ElementBytes(t));
  return code;
}

// Floats that hit every branch: all exponents, subnormals of every format, ties, overflow, NaN payloads.
std::vector<float> InterestingFloats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  const float specials[] = {0.0f, -0.0f, kInf, -kInf, kNaN, -kNaN, std::bit_cast<float>(0x7F800001u),
                            std::bit_cast<float>(0xFFA02000u), 448.0f, 464.0f, 480.0f, -449.0f, 57344.0f,
                            61440.0f, 65504.0f, 65520.0f, 1.0625f, 1.9375f, std::ldexp(1.0f, -10),
                            std::ldexp(3.0f, -10), std::ldexp(1.0f, -17), std::ldexp(1.0f, -25),
                            std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::max()};
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t r = rng();
    switch (r % 4) {
      case 0: out[i] = specials[(r >> 8) % std::size(specials)]; break;
      case 1: out[i] = std::bit_cast<float>(static_cast<uint32_t>(rng())); break;  // any pattern
      default: {
        // Magnitudes around the narrow formats' ranges, with a few low mantissa bits set or clear for ties.
        const int exponent = static_cast<int>((r >> 8) % 60) - 40;
        const float mantissa = 1.0f + static_cast<float>((r >> 16) & 0xFF) / 256.0f;
        out[i] = std::ldexp(r & 1 ? -mantissa : mantissa, exponent);
      }
    }
  }
  return out;
}

// Runs each test once per Highway target (SetSupportedTargetsForTest in SetUp, reset in TearDown).
class ConvertRowsTargets : public hwy::TestWithParamTarget {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(ConvertRowsTargets);

TEST_P(ConvertRowsTargets, DispatchesToTheTargetUnderTest) { EXPECT_EQ(ConvertRowsTarget(), GetParam()); }

TEST_P(ConvertRowsTargets, EncodeMatchesScalarOnAwkwardLengthsAndOffsets) {
  const std::vector<float> source = InterestingFloats(1100, 1);
  for (DType t : kAllTypes) {
    const size_t bytes = ElementBytes(t);
    for (size_t n : kLengths) {
      for (size_t src_offset : {0, 1, 3}) {  // in floats
        for (size_t dst_offset : {size_t{0}, size_t{1}}) {  // in bytes: odd addresses for the 16/32-bit types
          std::vector<uint8_t> dst(dst_offset + n * bytes + kGuardBytes, kGuardByte);
          EncodeFromF32(t, source.data() + src_offset, n, dst.data() + dst_offset);
          for (size_t i = 0; i < n; ++i) {
            ASSERT_EQ(CodeAt(t, dst.data() + dst_offset, i), ScalarEncode(t, source[src_offset + i]))
                << DTypeName(t) << " n=" << n << " i=" << i << " x bits " << Bits(source[src_offset + i]);
          }
          for (size_t b = dst_offset + n * bytes; b < dst.size(); ++b) ASSERT_EQ(dst[b], kGuardByte) << "overrun";
          for (size_t b = 0; b < dst_offset; ++b) ASSERT_EQ(dst[b], kGuardByte) << "underrun";
        }
      }
    }
  }
}

TEST_P(ConvertRowsTargets, DecodeMatchesScalarOnAwkwardLengthsAndOffsets) {
  std::mt19937 rng(2);
  std::vector<uint8_t> raw(4 * 1100 + 8);
  for (uint8_t& b : raw) b = static_cast<uint8_t>(rng());
  for (DType t : kAllTypes) {
    const size_t bytes = ElementBytes(t);
    for (size_t n : kLengths) {
      for (size_t src_offset : {0, 1, 2, 5}) {  // in bytes
        std::vector<float> dst(1 + n + kGuardBytes / 4, kNaN);
        const uint32_t guard_bits = Bits(dst.back());
        DecodeToF32(t, raw.data() + src_offset, n, dst.data() + 1);
        for (size_t i = 0; i < n; ++i) {
          const float expected = ScalarDecode(t, raw.data() + src_offset + i * bytes);
          ASSERT_EQ(Bits(dst[1 + i]), Bits(expected)) << DTypeName(t) << " n=" << n << " i=" << i;
        }
        ASSERT_EQ(Bits(dst[0]), guard_bits);
        for (size_t i = 1 + n; i < dst.size(); ++i) ASSERT_EQ(Bits(dst[i]), guard_bits) << "overrun";
      }
    }
  }
}

TEST_P(ConvertRowsTargets, EncodeMatchesScalarOnStridedSweepOfAllPatterns) {
  // Every 251st f32 pattern (17 million, all exponents, varied low bits), for each narrow type.
  constexpr uint64_t kStride = 251;
  std::vector<float> source;
  source.reserve((uint64_t{1} << 32) / kStride + 1);
  for (uint64_t bits = 0; bits < (uint64_t{1} << 32); bits += kStride) {
    source.push_back(std::bit_cast<float>(static_cast<uint32_t>(bits)));
  }
  std::vector<uint8_t> dst(source.size() * 2);
  for (DType t : kNarrowTypes) {
    EncodeFromF32(t, source.data(), source.size(), dst.data());
    size_t mismatches = 0;
    for (size_t i = 0; i < source.size(); ++i) {
      if (CodeAt(t, dst.data(), i) != ScalarEncode(t, source[i]) && ++mismatches <= 5) {
        ADD_FAILURE() << DTypeName(t) << ": x bits " << Bits(source[i]) << " -> " << CodeAt(t, dst.data(), i)
                      << ", scalar " << ScalarEncode(t, source[i]);
      }
    }
    EXPECT_EQ(mismatches, 0u) << DTypeName(t);
  }
}

TEST_P(ConvertRowsTargets, DecodeEveryCodeMatchesScalar) {
  std::vector<uint16_t> codes(65536);
  for (uint32_t c = 0; c < 65536; ++c) codes[c] = static_cast<uint16_t>(c);
  std::vector<float> out(65536);
  for (DType t : {DType::kF16, DType::kBF16}) {
    DecodeToF32(t, codes.data(), codes.size(), out.data());
    for (uint32_t c = 0; c < 65536; ++c) {
      const float expected = t == DType::kF16 ? DecodeF16(uint16_t(c)) : DecodeBF16(uint16_t(c));
      ASSERT_EQ(Bits(out[c]), Bits(expected)) << DTypeName(t) << " code " << c;
    }
  }
  std::vector<uint8_t> bytes(256);
  for (int c = 0; c < 256; ++c) bytes[c] = static_cast<uint8_t>(c);
  for (Fp8Format f : {Fp8Format::kE4M3, Fp8Format::kE5M2}) {
    DecodeToF32(Fp8DType(f), bytes.data(), bytes.size(), out.data());
    for (int c = 0; c < 256; ++c) {
      ASSERT_EQ(Bits(out[c]), Bits(DecodeFp8(f, uint8_t(c)))) << DTypeName(Fp8DType(f)) << " code " << c;
    }
  }
}

TEST_P(ConvertRowsTargets, QuantizeFp8DividesByScaleLikeScalar) {
  const std::vector<float> source = InterestingFloats(1003 + 3, 3);
  // Scales chosen so that x / scale covers normal, subnormal, overflowing and inexact quotients.
  const float scales[] = {1.0f, 0.5f, 3.0f, 448.0f / 1234.5f, 1e-3f, 7.1e-5f, 1e30f, 0.1f,
                          std::numeric_limits<float>::denorm_min(), 57344.0f / 3.3e4f};
  for (Fp8Format f : {Fp8Format::kE4M3, Fp8Format::kE5M2}) {
    for (float scale : scales) {
      for (size_t n : kLengths) {
        std::vector<uint8_t> dst(n + kGuardBytes, kGuardByte);
        QuantizeFp8(f, source.data() + 3, n, scale, dst.data());
        for (size_t i = 0; i < n; ++i) {
          ASSERT_EQ(dst[i], EncodeFp8(f, source[3 + i] / scale))
              << "scale " << scale << " x " << source[3 + i] << " i=" << i;
        }
        for (size_t b = n; b < dst.size(); ++b) ASSERT_EQ(dst[b], kGuardByte) << "overrun";
      }
    }
  }
  // Division, not multiplication by the reciprocal: with scale 3, 3 * k / 3 == k exactly, but 3 * k * (1/3)
  // lands just below k for some k. Find one and check the bulk path gets the division's answer.
  int distinguishing = 0;
  for (int k = 1; k < 200; ++k) {
    const float x = std::nextafter(static_cast<float>(k) * 3.0f * 0.0625f, 0.0f);
    if (x / 3.0f != x * (1.0f / 3.0f) && EncodeE4M3(x / 3.0f) != EncodeE4M3(x * (1.0f / 3.0f))) {
      ++distinguishing;
      uint8_t code = 0;
      QuantizeFp8(Fp8Format::kE4M3, &x, 1, 3.0f, &code);
      EXPECT_EQ(code, EncodeE4M3(x / 3.0f)) << x;
    }
  }
  EXPECT_GT(distinguishing, 0) << "no input told division from reciprocal multiplication";
}

RangeScan ReferenceScan(const std::vector<float>& v) {
  RangeScan r;
  r.first_non_finite = v.size();
  for (size_t i = 0; i < v.size(); ++i) {
    if (std::isfinite(v[i])) {
      r.abs_max = std::max(r.abs_max, std::fabs(v[i]));
    } else if (r.first_non_finite == v.size()) {
      r.first_non_finite = i;
    }
  }
  return r;
}

TEST_P(ConvertRowsTargets, ScanRangeFindsFirstNonFiniteAndFiniteAbsMax) {
  EXPECT_EQ(ScanRange(nullptr, 0).first_non_finite, 0u);
  EXPECT_EQ(ScanRange(nullptr, 0).abs_max, 0.0f);
  const std::vector<float> zeros(1003, 0.0f);
  EXPECT_EQ(ScanRange(zeros.data(), zeros.size()).abs_max, 0.0f);
  EXPECT_EQ(ScanRange(zeros.data(), zeros.size()).first_non_finite, zeros.size());
  const std::vector<float> negative_zeros(37, -0.0f);
  EXPECT_EQ(Bits(ScanRange(negative_zeros.data(), negative_zeros.size()).abs_max), 0u);

  std::mt19937 rng(4);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  for (size_t n : kLengths) {
    if (n == 0) continue;
    // A non-finite value at every position (a different kind each time), with a larger finite value after it
    // and a huge negative one before it, so that neither the max nor the index can come out right by accident.
    for (size_t pos = 0; pos < n; pos += (n > 100 ? 97 : 1)) {
      std::vector<float> v(n);
      for (float& x : v) x = normal(rng);
      const float non_finite[] = {kNaN, -kInf, kInf, -kNaN, std::bit_cast<float>(0x7F800001u)};
      v[pos] = non_finite[pos % std::size(non_finite)];
      if (pos + 1 < n) v[pos + 1] = 1000.0f;
      if (pos > 0) v[pos - 1] = -2000.0f;
      if (pos + 2 < n) v[n - 1] = kNaN;  // a later non-finite must not move the index
      const RangeScan expected = ReferenceScan(v);
      const RangeScan actual = ScanRange(v.data(), n);
      ASSERT_EQ(actual.first_non_finite, pos) << "n=" << n;
      ASSERT_EQ(actual.abs_max, expected.abs_max) << "n=" << n << " pos=" << pos;
    }
    std::vector<float> finite(n);
    for (float& x : finite) x = normal(rng);
    finite[n / 2] = -std::numeric_limits<float>::max();
    const RangeScan scan = ScanRange(finite.data(), n);
    EXPECT_EQ(scan.first_non_finite, n);
    EXPECT_EQ(scan.abs_max, std::numeric_limits<float>::max());
  }
  const std::vector<float> all_nan(20, kNaN);
  EXPECT_EQ(ScanRange(all_nan.data(), all_nan.size()).abs_max, 0.0f);
  EXPECT_EQ(ScanRange(all_nan.data(), all_nan.size()).first_non_finite, 0u);
}

TEST(ConvertRows, RejectsOtherDtypes) {
  float f[4] = {};
  uint8_t b[16] = {};
  EXPECT_THROW(DecodeToF32(DType::kI8, b, 4, f), Error);
  EXPECT_THROW(DecodeToF32(DType::kF8E8M0, b, 4, f), Error);
  EXPECT_THROW(DecodeToF32(DType::kF8E4M3Fnuz, b, 4, f), Error);
  EXPECT_THROW(EncodeFromF32(DType::kF64, f, 4, b), Error);
  EXPECT_THROW(EncodeFromF32(DType::kF8E5M2Fnuz, f, 4, b), Error);
  try {
    DecodeToF32(DType::kI32, b, 1, f);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("I32"), std::string::npos) << e.what();
  }
}

TEST(ConvertRows, F32IsACopy) {
  const std::vector<float> source = InterestingFloats(100, 5);
  std::vector<float> a(100), b(100);
  EncodeFromF32(DType::kF32, source.data(), 100, a.data());
  DecodeToF32(DType::kF32, a.data(), 100, b.data());
  EXPECT_EQ(std::memcmp(source.data(), b.data(), 100 * sizeof(float)), 0);
}

}  // namespace
}  // namespace octet
