// Q8_0 / Q4_0 block codecs against hand-computed blocks (ggml-quants.c quantize_row_q8_0_ref /
// quantize_row_q4_0_ref, ggml-common.h block layouts) and error bounds on random data.
#include "numeric/ggml_blocks.h"

#include <array>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "numeric/half.h"
#include "util/error.h"

namespace octet {
namespace {

std::vector<uint8_t> AsU8(const std::vector<std::byte>& bytes) {
  std::vector<uint8_t> out(bytes.size());
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

TEST(GgmlTypes, IdsNamesAndSizesMatchGgml) {
  // ids from ggml.h enum ggml_type; sizes from the static_asserts in ggml-common.h.
  struct Expected {
    uint32_t id;
    const char* name;
    int64_t block;
    uint64_t bytes;
  };
  for (const Expected& e : {Expected{0, "F32", 1, 4}, Expected{1, "F16", 1, 2}, Expected{2, "Q4_0", 32, 18},
                            Expected{3, "Q4_1", 32, 20}, Expected{8, "Q8_0", 32, 34}, Expected{12, "Q4_K", 256, 144},
                            Expected{14, "Q6_K", 256, 210}, Expected{30, "BF16", 1, 2},
                            Expected{23, "IQ4_XS", 256, 136}}) {
    const auto traits = FindGgmlType(e.id);
    ASSERT_TRUE(traits.has_value()) << e.id;
    EXPECT_EQ(GgmlTypeName(traits->type), e.name);
    EXPECT_EQ(traits->block_elements, e.block) << e.name;
    EXPECT_EQ(traits->block_bytes, e.bytes) << e.name;
  }
  // Removed ids and ids past the enum are unknown.
  for (uint32_t id : {4u, 5u, 31u, 36u, 100u, 0xFFFFFFFFu}) EXPECT_FALSE(FindGgmlType(id).has_value()) << id;
  EXPECT_EQ(GgmlRowBytes(GgmlType::kQ8_0, 64), 68u);
  EXPECT_EQ(GgmlRowBytes(GgmlType::kQ4_K, 512), 288u);
  EXPECT_THROW(GgmlRowBytes(GgmlType::kQ4_0, 33), Error);
}

TEST(GgmlBlocks, Q8_0MatchesHandComputedBlock) {
  // x = -16..15: amax 16, d = 16/127 = 0.12598 -> F16 0x3008 (1.0078125 * 2^-3), id = 1/d = 7.9375 exactly,
  // q = roundf(k * 7.9375): k = +-8 gives +-63.5, rounded away from zero to +-64.
  std::array<float, 32> x;
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i - 16);
  std::vector<std::byte> out(34);
  QuantizeRowQ8_0(x, out);
  const std::vector<uint8_t> expected = {
      0x08, 0x30,  // d, little-endian
      0x81, 0x89, 0x91, 0x99, 0xA1, 0xA9, 0xB1, 0xB9,  // -127 -119 -111 -103 -95 -87 -79 -71
      0xC0, 0xC8, 0xD0, 0xD8, 0xE0, 0xE8, 0xF0, 0xF8,  // -64 -56 -48 -40 -32 -24 -16 -8
      0x00, 0x08, 0x10, 0x18, 0x20, 0x28, 0x30, 0x38,  // 0 8 16 24 32 40 48 56
      0x40, 0x47, 0x4F, 0x57, 0x5F, 0x67, 0x6F, 0x77,  // 64 71 79 87 95 103 111 119
  };
  EXPECT_EQ(AsU8(out), expected);

  std::array<float, 32> y;
  DequantizeRowQ8_0(out, y);
  EXPECT_EQ(y[0], -127 * 0.1259765625f);
  EXPECT_EQ(y[24], 64 * 0.1259765625f);
}

TEST(GgmlBlocks, Q8_0RoundsHalfAwayFromZero) {
  // amax 127 -> d = 1 (F16 0x3C00), id = 1: the codes are roundf(x) itself.
  std::array<float, 32> x{};
  x[0] = 127.0f;
  x[1] = 2.5f;   // ties-to-even would give 2
  x[2] = -2.5f;  // -2
  x[3] = 0.5f;   // 0
  x[4] = -0.5f;  // -0
  x[5] = 1.5f;
  x[6] = 0.49999997f;
  std::vector<std::byte> out(34);
  QuantizeRowQ8_0(x, out);
  const std::vector<uint8_t> u = AsU8(out);
  EXPECT_EQ(u[0], 0x00);
  EXPECT_EQ(u[1], 0x3C);
  EXPECT_EQ(static_cast<int8_t>(u[2]), 127);
  EXPECT_EQ(static_cast<int8_t>(u[3]), 3);
  EXPECT_EQ(static_cast<int8_t>(u[4]), -3);
  EXPECT_EQ(static_cast<int8_t>(u[5]), 1);
  EXPECT_EQ(static_cast<int8_t>(u[6]), -1);
  EXPECT_EQ(static_cast<int8_t>(u[7]), 2);
  EXPECT_EQ(static_cast<int8_t>(u[8]), 0);
}

TEST(GgmlBlocks, Q8_0AllZeroBlockHasZeroScale) {
  std::array<float, 32> x{};
  std::vector<std::byte> out(34, std::byte{0xAA});
  QuantizeRowQ8_0(x, out);
  for (uint8_t b : AsU8(out)) EXPECT_EQ(b, 0);
}

TEST(GgmlBlocks, Q4_0MatchesHandComputedBlockWithPositiveMax) {
  // x[i] = (i - 8) / 2: -4 .. 11.5. The max-magnitude element is +11.5, so d = 11.5 / -8 = -1.4375 (F16 0xBDC0,
  // exact) and id = -0.6956522; q = min(15, (int)(x*id + 8.5)); 11.5 -> code 0, -4 -> 11.
  std::array<float, 32> x;
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i - 8) * 0.5f;
  std::vector<std::byte> out(18);
  QuantizeRowQ4_0(x, out);
  // Codes by element: 11 10 10 10 9 9 9 8 8 8 7 7 7 6 6 6 | 5 5 5 4 4 3 3 3 2 2 2 1 1 1 0 0.
  // Byte j = code[j] | code[j+16] << 4 (element j low nibble, element j+16 high nibble).
  const std::vector<uint8_t> expected = {0xC0, 0xBD, 0x5B, 0x5A, 0x5A, 0x4A, 0x49, 0x39, 0x39, 0x38, 0x28,
                                         0x28, 0x27, 0x17, 0x17, 0x16, 0x06, 0x06};
  EXPECT_EQ(AsU8(out), expected);

  std::array<float, 32> y;
  DequantizeRowQ4_0(out, y);
  EXPECT_EQ(y[0], (11 - 8) * -1.4375f);
  EXPECT_EQ(y[16], (5 - 8) * -1.4375f);
  EXPECT_EQ(y[31], (0 - 8) * -1.4375f);  // the extreme element comes back exactly
  EXPECT_EQ(y[31], 11.5f);
}

TEST(GgmlBlocks, Q4_0KeepsTheSignOfTheMaxMagnitudeElement) {
  // x[i] = -i/4 except x[5] = 3: the max-magnitude element is -7.75 (negative), so d = -7.75/-8 = 0.96875
  // (F16 0x3BC0) and -7.75 gets code 0; the positive 3.0 gets (int)(3.0968 + 8.5) = 11.
  std::array<float, 32> x;
  for (int i = 0; i < 32; ++i) x[i] = -0.25f * static_cast<float>(i);
  x[5] = 3.0f;
  std::vector<std::byte> out(18);
  QuantizeRowQ4_0(x, out);
  const std::vector<uint8_t> expected = {0xC0, 0x3B, 0x48, 0x48, 0x37, 0x37, 0x37, 0x3B, 0x26, 0x26, 0x26,
                                         0x26, 0x15, 0x15, 0x15, 0x15, 0x04, 0x04};
  EXPECT_EQ(AsU8(out), expected);
}

TEST(GgmlBlocks, Q4_0SplitStepsEqualTheReference) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(32 * 8);
  for (float& v : x) v = normal(rng);
  std::vector<std::byte> whole(18 * 8);
  QuantizeRowQ4_0(x, whole);
  for (int b = 0; b < 8; ++b) {
    std::array<uint8_t, 32> codes;
    const float d = ChooseQ4_0Block(std::span<const float, 32>(x.data() + 32 * b, 32), codes);
    std::array<std::byte, kQ4_0BlockBytes> block;
    PackQ4_0Block(d, codes, block);
    EXPECT_EQ(std::memcmp(block.data(), whole.data() + 18 * b, 18), 0) << "block " << b;
  }
  // The row form of step 2 gives the same bytes.
  std::vector<float> scales(8);
  std::vector<uint8_t> codes(32 * 8);
  for (int b = 0; b < 8; ++b) {
    scales[b] = ChooseQ4_0Block(std::span<const float, 32>(x.data() + 32 * b, 32),
                                std::span<uint8_t, 32>(codes.data() + 32 * b, 32));
  }
  std::vector<std::byte> row(18 * 8);
  PackQ4_0Row(scales, codes, row);
  EXPECT_EQ(row, whole);
  EXPECT_THROW(PackQ4_0Row(scales, std::span<const uint8_t>(codes).subspan(1), row), Error);
}

TEST(GgmlBlocks, PackQ4_0BlockPacksExternalCodes) {
  // Codes from an external quantizer (say GPTQ): element j = j % 16. d = 0.5 -> F16 0x3800.
  std::array<uint8_t, 32> codes;
  for (int j = 0; j < 32; ++j) codes[j] = static_cast<uint8_t>(j % 16);
  std::array<std::byte, kQ4_0BlockBytes> block;
  PackQ4_0Block(0.5f, codes, block);
  std::vector<uint8_t> u(18);
  std::memcpy(u.data(), block.data(), 18);
  EXPECT_EQ(u, (std::vector<uint8_t>{0x00, 0x38, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xAA,
                                     0xBB, 0xCC, 0xDD, 0xEE, 0xFF}));
  std::array<float, 32> y;
  DequantizeRowQ4_0(block, y);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 0.5f * static_cast<float>(j % 16 - 8)) << j;

  codes[3] = 16;
  EXPECT_THROW(PackQ4_0Block(0.5f, codes, block), Error);
}

TEST(GgmlBlocks, PackQ8_0BlockPacksExternalCodes) {
  std::array<int8_t, 32> codes;
  for (int j = 0; j < 32; ++j) codes[j] = static_cast<int8_t>(j * 8 - 128);
  std::array<std::byte, kQ8_0BlockBytes> block;
  PackQ8_0Block(2.0f, codes, block);
  EXPECT_EQ(std::to_integer<uint8_t>(block[0]), 0x00);
  EXPECT_EQ(std::to_integer<uint8_t>(block[1]), 0x40);  // F16 2.0
  std::array<float, 32> y;
  DequantizeRowQ8_0(block, y);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], 2.0f * static_cast<float>(j * 8 - 128));
}

// Round trip error: every element within half a step of its block (Q4_0: a step, see below), plus the F16
// rounding of d (relative 2^-11, times the largest code).
TEST(GgmlBlocks, RandomRoundTripErrorIsBounded) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int blocks = 256;
  std::vector<float> x(32 * blocks);
  for (int i = 0; i < static_cast<int>(x.size()); ++i) x[i] = normal(rng) * (1.0f + static_cast<float>(i / 32 % 7));
  std::vector<std::byte> q8(34 * blocks), q4(18 * blocks);
  QuantizeGgmlRow(GgmlType::kQ8_0, x, q8);
  QuantizeGgmlRow(GgmlType::kQ4_0, x, q4);
  std::vector<float> y8(x.size()), y4(x.size());
  DequantizeGgmlRow(GgmlType::kQ8_0, q8, y8);
  DequantizeGgmlRow(GgmlType::kQ4_0, q4, y4);
  double sq8 = 0, sq4 = 0, sx = 0;
  for (int b = 0; b < blocks; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[32 * b + j]));
    const float step8 = amax / 127, step4 = amax / 8;
    for (int j = 0; j < 32; ++j) {
      const int i = 32 * b + j;
      // Half a step, plus the F16 rounding of d scaled by the largest code (127 or 8).
      EXPECT_LE(std::fabs(y8[i] - x[i]), 0.5f * step8 + amax * 0x1p-11f + 1e-6f) << i;
      // Q4_0 codes top out at +7: an element near -max (x/d near +8) can be a whole step off.
      EXPECT_LE(std::fabs(y4[i] - x[i]), step4 + amax * 0x1p-11f + 1e-6f) << i;
      sq8 += (y8[i] - x[i]) * (y8[i] - x[i]);
      sq4 += (y4[i] - x[i]) * (y4[i] - x[i]);
      sx += x[i] * x[i];
    }
  }
  // Uniform rounding noise: SNR about 6 dB per bit; loose lower bounds that still catch a wrong nibble order.
  EXPECT_GT(10 * std::log10(sx / sq8), 35.0);
  EXPECT_GT(10 * std::log10(sx / sq4), 15.0);
}

TEST(GgmlBlocks, PlainTypesRoundTripThroughTheRowHelpers) {
  const std::vector<float> x = {1.0f, -2.5f, 65504.0f, 1e-8f};
  std::vector<std::byte> f16(8), bf16(8), f32(16);
  QuantizeGgmlRow(GgmlType::kF16, x, f16);
  QuantizeGgmlRow(GgmlType::kBF16, x, bf16);
  QuantizeGgmlRow(GgmlType::kF32, x, f32);
  std::vector<float> y(4);
  DequantizeGgmlRow(GgmlType::kF16, f16, y);
  for (int i = 0; i < 4; ++i) {
    uint16_t bits;
    std::memcpy(&bits, f16.data() + 2 * i, 2);
    EXPECT_EQ(bits, EncodeF16(x[i]));
    EXPECT_EQ(y[i], DecodeF16(EncodeF16(x[i])));
  }
  DequantizeGgmlRow(GgmlType::kF32, f32, y);
  EXPECT_EQ(y, x);
  DequantizeGgmlRow(GgmlType::kBF16, bf16, y);
  EXPECT_EQ(y[1], -2.5f);
}

TEST(GgmlBlocks, UnsupportedTypesAndBadSizesFailClearly) {
  std::vector<float> y(256);
  std::vector<std::byte> bytes(144);
  try {
    DequantizeGgmlRow(GgmlType::kQ4_K, bytes, y);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unsupported ggml type Q4_K"), std::string::npos) << e.what();
  }
  std::vector<float> x(48);
  std::vector<std::byte> out(51);
  EXPECT_THROW(QuantizeRowQ8_0(x, out), Error);
  std::vector<std::byte> short_out(10);
  std::vector<float> x32(32);
  EXPECT_THROW(QuantizeRowQ4_0(x32, short_out), Error);
}

}  // namespace
}  // namespace octet
