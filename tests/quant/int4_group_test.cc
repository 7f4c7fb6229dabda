// INT4 round-to-nearest against hand-computed groups and a literal transcription of ggml's Q4_0 reference.
#include "quant/int4_group.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "numeric/half.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace octet {
namespace {

using Codes = std::vector<int8_t>;

Int4Params Params(int group_size, bool symmetric, Int4Grid grid = Int4Grid::kCompressedTensors,
                  Int4ScaleDtype dtype = Int4ScaleDtype::kF32) {
  Int4Params p;
  p.group_size = group_size;
  p.symmetric = symmetric;
  p.grid = grid;
  p.scale_dtype = dtype;
  return p;
}

// Values chosen so every quotient is exact in F32: the rounding rule alone decides the codes.
TEST(Int4RtnTest, SymmetricHandComputedGroupsWithShorterLastGroup) {
  // Group 0 (8 values): absmax 7.5 -> scale 1. 7.5 clamps to 7; -7.5 rounds half-to-even to -8; -2.5 -> -2;
  // 0.5 -> 0; 1.5 -> 2; 2.5 -> 2. Group 1 (the last 4 values, a shorter group): absmax 3.75 -> scale 0.5,
  // 3.75/0.5 = 7.5 -> 7, -1.25/0.5 = -2.5 -> -2, 0.25/0.5 = 0.5 -> 0.
  const std::vector<float> w = {7.5f, -2.5f, 0.5f, 1.5f, -0.5f, 2.5f, -7.5f, 0.0f, 3.75f, -1.25f, 0.25f, 0.0f};
  const Int4Matrix m = QuantizeRtn(w.data(), 1, 12, Params(8, true));
  EXPECT_EQ(m.group_size, 8);
  EXPECT_EQ(m.num_groups(), 2);
  ASSERT_EQ(m.scales.size(), 2u);
  EXPECT_EQ(m.scales[0], 1.0f);
  EXPECT_EQ(m.scales[1], 0.5f);
  EXPECT_TRUE(m.zeros.empty());
  EXPECT_EQ(m.codes, (Codes{7, -2, 0, 2, 0, 2, -8, 0, 7, -2, 0, 0}));
  EXPECT_EQ(m.Dequantize(), (std::vector<float>{7, -2, 0, 2, 0, 2, -8, 0, 3.5f, -1, 0, 0}));
}

TEST(Int4RtnTest, AsymmetricHandComputedGroups) {
  // Row 0, group 0: min 0, max 15 -> scale 1, zero = -8 - 0/1 = -8; q = round(x - 8): 1.5 -> -6.5 -> -6 (half to
  // even), 15 -> 7, 7.5 -> -0.5 -> 0.
  // Row 0, group 1: min -3, max 12 -> scale 1, zero = -8 + 3 = -5; -3 -> -8, 0 -> -5, 12 -> 7, 1 -> -4.
  // Row 1, group 0: min -2.5, max 12.5 -> scale 1, zero = -5.5 -> -6 (half to even); -2.5 - 6 = -8.5 clamps to -8,
  // 12.5 - 6 = 6.5 -> 6. Row 1, group 1: all positive [5, 15, 5, 15]: min is extended to 0 -> scale 1, zero -8.
  const std::vector<float> w = {0.0f,  1.5f, 15.0f, 7.5f,  -3.0f, 0.0f,  12.0f, 1.0f,  //
                                -2.5f, 0.0f, 5.0f,  12.5f, 5.0f,  15.0f, 5.0f,  15.0f};
  const Int4Matrix m = QuantizeRtn(w.data(), 2, 8, Params(4, false));
  EXPECT_EQ(m.scales, (std::vector<float>{1, 1, 1, 1}));
  EXPECT_EQ(m.zeros, (Codes{-8, -5, -6, -8}));
  EXPECT_EQ(m.codes, (Codes{-8, -6, 7, 0, -8, -5, 7, -4,  //
                            -8, -6, -1, 6, -3, 7, -3, 7}));
  // Dequantized: (q - zero) * scale. Row 0 shows the half-to-even codes (1.5 -> 2, 7.5 -> 8); row 1 group 0 shows the
  // zero point's rounding: -2.5 -> -2, 12.5 -> 12.
  EXPECT_EQ(m.Dequantize(), (std::vector<float>{0, 2, 15, 8, -3, 0, 12, 1,  //
                                                -2, 0, 5, 12, 5, 15, 5, 15}));
}

TEST(Int4RtnTest, AllZeroGroupsGetFiniteEpsilonScales) {
  const std::vector<float> w(16, 0.0f);
  // compressed-tensors replaces a zero scale with the scale dtype's epsilon (_get_dtype_eps).
  const Int4Matrix sym = QuantizeRtn(w.data(), 2, 8, Params(4, true));
  for (float s : sym.scales) EXPECT_EQ(s, std::ldexp(1.0f, -23));
  EXPECT_EQ(sym.codes, Codes(16, 0));
  const Int4Matrix asym =
      QuantizeRtn(w.data(), 2, 8, Params(4, false, Int4Grid::kCompressedTensors, Int4ScaleDtype::kBF16));
  for (float s : asym.scales) EXPECT_EQ(s, std::ldexp(1.0f, -7));
  EXPECT_EQ(asym.zeros, Codes(4, -8));
  EXPECT_EQ(asym.codes, Codes(16, -8));
  for (float x : asym.Dequantize()) EXPECT_EQ(x, 0.0f);
  const Int4Matrix f16 =
      QuantizeRtn(w.data(), 2, 8, Params(4, true, Int4Grid::kCompressedTensors, Int4ScaleDtype::kF16));
  for (float s : f16.scales) EXPECT_EQ(s, std::ldexp(1.0f, -10));
}

TEST(Int4RtnTest, ScalesAreRoundedToTheirDtypeBeforeTheCodes) {
  // absmax 1 -> 1/7.5 = 0.13333334f (0x3E088889) -> BF16 rounds up to 0x3E09 = 0.1337890625.
  std::vector<float> w = {1.0f, 0.5f, -0.25f, 0.0f};
  const Int4Matrix m =
      QuantizeRtn(w.data(), 1, 4, Params(kInt4ChannelGroup, true, Int4Grid::kCompressedTensors, Int4ScaleDtype::kBF16));
  ASSERT_EQ(m.scales.size(), 1u);
  EXPECT_EQ(m.scales[0], 0.1337890625f);
  EXPECT_EQ(EncodeBF16(m.scales[0]), 0x3E09);
  // Codes from the stored scale: 1/0.13378906 = 7.474 -> 7; 0.5/.. = 3.737 -> 4; -0.25/.. = -1.869 -> -2.
  EXPECT_EQ(m.codes, (Codes{7, 4, -2, 0}));
}

TEST(Int4RtnTest, ChannelGroupSpansTheRow) {
  std::vector<float> w(2 * 172);
  for (size_t i = 0; i < w.size(); ++i) w[i] = std::sin(0.37f * static_cast<float>(i));
  const Int4Matrix m = QuantizeRtn(w.data(), 2, 172, Params(kInt4ChannelGroup, true));
  EXPECT_EQ(m.group_size, 172);
  EXPECT_EQ(m.num_groups(), 1);
  float absmax0 = 0;
  for (int c = 0; c < 172; ++c) absmax0 = std::max(absmax0, std::fabs(w[c]));
  EXPECT_EQ(m.scales[0], absmax0 / 7.5f);
}

TEST(Int4RtnTest, ShorterLastGroupOnTheRealMlpWidth) {
  // 172 = 5 * 32 + 12: the last group's scale comes from its 12 values only.
  std::vector<float> w(3 * 172);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& x : w) x = normal(rng);
  w[1 * 172 + 165] = 40.0f;  // an outlier in row 1's last group must not leak into group 4
  const Int4Matrix m = QuantizeRtn(w.data(), 3, 172, Params(32, true));
  ASSERT_EQ(m.num_groups(), 6);
  for (int64_t r = 0; r < 3; ++r) {
    for (int64_t g = 0; g < 6; ++g) {
      float absmax = 0;
      for (int64_t c = g * 32; c < std::min<int64_t>(172, g * 32 + 32); ++c)
        absmax = std::max(absmax, std::fabs(w[r * 172 + c]));
      EXPECT_EQ(m.scales[r * 6 + g], absmax / 7.5f) << r << "," << g;
    }
  }
  EXPECT_EQ(m.scales[1 * 6 + 5], 40.0f / 7.5f);
  EXPECT_EQ(m.codes[1 * 172 + 165], 7);
  // Every value is within half a step (or clamped at +7 only for x = +absmax).
  const std::vector<float> d = m.Dequantize();
  for (int64_t r = 0; r < 3; ++r) {
    for (int64_t c = 0; c < 172; ++c) {
      const float s = m.scales[r * 6 + c / 32];
      EXPECT_LE(std::fabs(d[r * 172 + c] - w[r * 172 + c]), 0.5f * s + 1e-6f) << r << "," << c;
    }
  }
}

TEST(Int4RtnTest, GgmlGridHandComputed) {
  // Largest magnitude 4 occurs as -4 (index 1) and +4 (index 3): the first wins, d = -4 / -8 = 0.5, id = 2.
  // nibble = min(15, trunc(x * 2 + 8.5)): 0.25 -> 9 (half rounds up: 0.5 -> 1), -4 -> 0, 2 -> 12, 4 -> 16 -> 15,
  // -0.25 -> 8 (-0.5 -> 0), -1 -> 6, 3 -> 14, 0 -> 8.
  const std::vector<float> w = {0.25f, -4.0f, 2.0f, 4.0f, -0.25f, -1.0f, 3.0f, 0.0f};
  const Int4Matrix m = QuantizeRtn(w.data(), 1, 8, Params(8, true, Int4Grid::kGgmlQ4_0, Int4ScaleDtype::kF16));
  EXPECT_EQ(m.scales, (std::vector<float>{0.5f}));
  EXPECT_EQ(m.inverse_scales, (std::vector<float>{2.0f}));
  EXPECT_EQ(m.codes, (Codes{1, -8, 4, 7, 0, -2, 6, 0}));
  // The compressed-tensors grid differs on the same data: scale 4/7.5, half-to-even.
  const Int4Matrix ct = QuantizeRtn(w.data(), 1, 8, Params(8, true));
  EXPECT_NE(ct.codes, m.codes);
  // All zero: d = 0 kept (ggml stores 0), codes 0.
  const std::vector<float> zeros(8, 0.0f);
  const Int4Matrix z = QuantizeRtn(zeros.data(), 1, 8, Params(8, true, Int4Grid::kGgmlQ4_0));
  EXPECT_EQ(z.scales[0], 0.0f);
  EXPECT_EQ(z.codes, Codes(8, 0));
}

// ggml-org/ggml src/ggml-quants.c quantize_row_q4_0_ref and dequantize_row_q4_0, transcribed literally (block of 32,
// element j in the low nibble of byte j, element j + 16 in the high nibble).
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[16];
};
void GgmlQuantizeRowQ4_0Ref(const float* x, BlockQ4_0* y, int k) {
  const int qk = 32;
  const int nb = k / qk;
  for (int i = 0; i < nb; i++) {
    float amax = 0.0f;
    float max = 0.0f;
    for (int j = 0; j < qk; j++) {
      const float v = x[i * qk + j];
      if (amax < fabsf(v)) {
        amax = fabsf(v);
        max = v;
      }
    }
    const float d = max / -8;
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = EncodeF16(d);
    for (int j = 0; j < qk / 2; ++j) {
      const float x0 = x[i * qk + 0 + j] * id;
      const float x1 = x[i * qk + qk / 2 + j] * id;
      const uint8_t xi0 = std::min<int>(15, (int8_t)(x0 + 8.5f));
      const uint8_t xi1 = std::min<int>(15, (int8_t)(x1 + 8.5f));
      y[i].qs[j] = xi0;
      y[i].qs[j] |= xi1 << 4;
    }
  }
}

TEST(Int4RtnTest, GgmlGridMatchesQuantizeRowQ4_0RefBitForBit) {
  const int rows = 7;
  const int cols = 256;
  std::vector<float> w(rows * cols);
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  for (float& x : w) x = normal(rng);
  for (int i = 0; i < 32; ++i) w[3 * cols + 64 + i] = 0.0f;  // an all-zero block
  const Int4Matrix m = QuantizeRtn(w.data(), rows, cols, Params(32, true, Int4Grid::kGgmlQ4_0, Int4ScaleDtype::kF16));
  for (int r = 0; r < rows; ++r) {
    std::vector<BlockQ4_0> blocks(cols / 32);
    GgmlQuantizeRowQ4_0Ref(w.data() + r * cols, blocks.data(), cols);
    for (int b = 0; b < cols / 32; ++b) {
      EXPECT_EQ(EncodeF16(m.scales[r * 8 + b]), blocks[b].d);
      for (int j = 0; j < 16; ++j) {
        EXPECT_EQ(m.codes[r * cols + b * 32 + j] + 8, blocks[b].qs[j] & 0xF);
        EXPECT_EQ(m.codes[r * cols + b * 32 + 16 + j] + 8, blocks[b].qs[j] >> 4);
      }
    }
  }
}

TEST(Int4RtnTest, IdenticalAtAnyThreadCount) {
  const int64_t rows = 101, cols = 172;
  std::vector<float> w(rows * cols);
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 0.1f);
  for (float& x : w) x = normal(rng);
  ThreadPool one(1), four(4);
  for (const Int4Params& p : {Params(32, true), Params(128, false), Params(32, true, Int4Grid::kGgmlQ4_0)}) {
    const Int4Matrix a = QuantizeRtn(w.data(), rows, cols, p, &one);
    const Int4Matrix b = QuantizeRtn(w.data(), rows, cols, p, &four);
    EXPECT_EQ(a.codes, b.codes) << p.ToString();
    EXPECT_EQ(a.scales, b.scales) << p.ToString();
    EXPECT_EQ(a.zeros, b.zeros) << p.ToString();
  }
}

TEST(Int4RtnTest, QuantizeWithQParamsReusesFixedScales) {
  // Parameters from one matrix, codes for another: values beyond the group's range saturate at -8 / 7.
  const std::vector<float> a = {1.5f, -1.5f, 0.0f, 0.75f};
  Int4Matrix m = ChooseInt4QParams(a.data(), 1, 4, Params(4, true));
  EXPECT_EQ(m.scales[0], 0.2f);
  EXPECT_EQ(m.codes, Codes(4, 0));
  const std::vector<float> b = {10.0f, -10.0f, 0.2f, -0.3f};
  QuantizeWithQParams(b.data(), m);
  EXPECT_EQ(m.codes[0], 7);
  EXPECT_EQ(m.codes[1], -8);
  EXPECT_EQ(m.codes[2], 1);
  EXPECT_EQ(m.codes[3], -2);  // -0.3 / 0.2 = -1.5 (in F32 just below or at) -> -2
}

TEST(Int4RtnTest, NaNNeverReachesAnUndefinedCast) {
  // Callers reject non-finite weights first; a NaN that slips through still yields an in-range code.
  const std::vector<float> w = {std::nanf(""), 1.0f, -1.0f, 0.5f};
  for (const Int4Params& p : {Params(4, true), Params(4, false), Params(4, true, Int4Grid::kGgmlQ4_0)}) {
    const Int4Matrix m = QuantizeRtn(w.data(), 1, 4, p);
    for (int8_t q : m.codes) {
      EXPECT_GE(q, -8);
      EXPECT_LE(q, 7);
    }
  }
}

TEST(Int4RtnTest, ValidatesTheSupportedParameters) {
  EXPECT_NO_THROW(ValidateInt4Params(Params(32, true)));
  EXPECT_NO_THROW(ValidateInt4Params(Params(kInt4ChannelGroup, false)));
  EXPECT_THROW(ValidateInt4Params(Params(48, true)), Error);
  EXPECT_THROW(ValidateInt4Params(Params(32, false, Int4Grid::kGgmlQ4_0)), Error);
  EXPECT_THROW(QuantizeRtn(nullptr, 1, 4, Params(4, false, Int4Grid::kGgmlQ4_0)), Error);
  EXPECT_EQ(Params(32, true).ToString(), "g32 symmetric compressed-tensors scales F32");
}

}  // namespace
}  // namespace octet
