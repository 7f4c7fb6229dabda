#include "quant/fp8_quantizer.h"

#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "numeric/fp8.h"

namespace octet {
namespace {

std::vector<float> RandomMatrix(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (float& x : w) x = normal(rng);
  w[3] = 1.7f;  // an outlier, so per-row and per-block scales differ from the tensor's
  return w;
}

// |w - q*s| must be within half a step of E4M3 at w's magnitude (3 mantissa bits), or half the smallest
// subnormal step times the scale.
void ExpectWithinRounding(const std::vector<float>& w, const std::vector<float>& r, const std::vector<float>& s_of,
                          Fp8Format format) {
  const int mantissa_bits = format == Fp8Format::kE4M3 ? 3 : 2;
  const float min_subnormal = format == Fp8Format::kE4M3 ? std::ldexp(1.0f, -9) : std::ldexp(1.0f, -16);
  for (size_t i = 0; i < w.size(); ++i) {
    const float bound = std::max(std::abs(w[i]) * std::ldexp(1.0f, -mantissa_bits - 1), min_subnormal * s_of[i] / 2);
    EXPECT_LE(std::abs(w[i] - r[i]), bound * 1.0001f) << "element " << i << " w=" << w[i] << " r=" << r[i];
  }
}

TEST(Fp8QuantizerTest, ScaleIsAbsMaxOverMaxFiniteAndNeverZero) {
  EXPECT_FLOAT_EQ(Fp8ScaleFor(448.0f, Fp8Format::kE4M3), 1.0f);
  EXPECT_FLOAT_EQ(Fp8ScaleFor(2.0f, Fp8Format::kE4M3), 2.0f / 448.0f);
  EXPECT_FLOAT_EQ(Fp8ScaleFor(57344.0f, Fp8Format::kE5M2), 1.0f);
  EXPECT_EQ(Fp8ScaleFor(0.0f, Fp8Format::kE4M3), kMinFp8Scale);
  EXPECT_GT(kMinFp8Scale, 0.0f);
}

TEST(Fp8QuantizerTest, EveryScaleKindReconstructsWithinRounding) {
  const int64_t rows = 300, cols = 172;  // neither a multiple of 128: partial blocks on both edges
  const std::vector<float> w = RandomMatrix(rows, cols, 7);
  for (WeightScale kind : {WeightScale::kTensor, WeightScale::kChannel, WeightScale::kBlock}) {
    SCOPED_TRACE(std::string(WeightScaleName(kind)));
    const Fp8ScaleLayout layout{kind, rows, cols, 128};
    float abs_max = 0;
    for (float x : w) abs_max = std::max(abs_max, std::abs(x));
    const float tensor_scale = Fp8ScaleFor(abs_max, Fp8Format::kE4M3);
    std::vector<uint8_t> codes(w.size());
    std::vector<float> scales(static_cast<size_t>(std::max<int64_t>(layout.num_scales(), 1)));
    std::vector<float> scratch(w.size());
    QuantError error;
    // Two bands, the second starting at a block-aligned row.
    const int64_t first = layout.AlignBandRows(130);
    QuantizeFp8Band(layout, Fp8Format::kE4M3, 0, first, w.data(), tensor_scale, codes.data(), scales.data(),
                    scratch.data(), error);
    QuantizeFp8Band(layout, Fp8Format::kE4M3, first, rows - first, w.data() + first * cols, tensor_scale,
                    codes.data() + first * cols, scales.data(), scratch.data(), error);
    std::vector<float> reconstructed(w.size());
    DequantizeFp8Band(layout, Fp8Format::kE4M3, 0, rows, codes.data(), scales.data(), tensor_scale,
                      reconstructed.data());
    std::vector<float> scale_of(w.size());
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        float s = tensor_scale;
        if (kind == WeightScale::kChannel) s = scales[r];
        if (kind == WeightScale::kBlock) s = scales[(r / 128) * layout.block_grid_cols() + c / 128];
        scale_of[r * cols + c] = s;
      }
    }
    ExpectWithinRounding(w, reconstructed, scale_of, Fp8Format::kE4M3);
    EXPECT_EQ(error.count, w.size());
    EXPECT_GT(error.sqnr_db(), 25.0);  // E4M3 keeps ~3 bits of mantissa: ~30 dB
    if (kind == WeightScale::kBlock) {
      EXPECT_EQ(layout.num_scales(), 3 * 2);
    }
    if (kind == WeightScale::kChannel) {
      // Row 0 holds the outlier; its scale is the outlier's, the others' much smaller.
      EXPECT_FLOAT_EQ(scales[0], 1.7f / 448.0f);
      EXPECT_LT(scales[1], scales[0] / 4);
    }
  }
}

TEST(Fp8QuantizerTest, AllZeroTensorGetsFiniteScaleAndZeroCodes) {
  const std::vector<float> w(128 * 64, 0.0f);
  for (WeightScale kind : {WeightScale::kTensor, WeightScale::kChannel, WeightScale::kBlock}) {
    const Fp8ScaleLayout layout{kind, 128, 64, 128};
    std::vector<uint8_t> codes(w.size(), 0xAA);
    std::vector<float> scales(static_cast<size_t>(std::max<int64_t>(layout.num_scales(), 1)), -1.0f);
    std::vector<float> scratch(w.size());
    QuantError error;
    QuantizeFp8Band(layout, Fp8Format::kE4M3, 0, 128, w.data(), Fp8ScaleFor(0, Fp8Format::kE4M3), codes.data(),
                    scales.data(), scratch.data(), error);
    for (uint8_t c : codes) ASSERT_EQ(c, 0);
    if (kind != WeightScale::kTensor) {
      for (float s : scales) {
        EXPECT_TRUE(std::isfinite(s));
        EXPECT_GT(s, 0.0f);
      }
    }
    EXPECT_EQ(error.relative_rms(), 0.0);
  }
}

TEST(Fp8QuantizerTest, DirectCastSaturatesInsteadOfProducingNaN) {
  const Fp8ScaleLayout layout{WeightScale::kNone, 1, 4, 128};
  const std::vector<float> w = {1e6f, -1e6f, 0.5f, 60000.0f};
  std::vector<uint8_t> codes(4);
  std::vector<float> scratch(4);
  QuantError error;
  QuantizeFp8Band(layout, Fp8Format::kE5M2, 0, 1, w.data(), 1.0f, codes.data(), nullptr, scratch.data(), error);
  EXPECT_EQ(DecodeE5M2(codes[0]), 57344.0f);
  EXPECT_EQ(DecodeE5M2(codes[1]), -57344.0f);
  EXPECT_EQ(DecodeE5M2(codes[2]), 0.5f);
  EXPECT_EQ(DecodeE5M2(codes[3]), 57344.0f);
}

}  // namespace
}  // namespace octet
