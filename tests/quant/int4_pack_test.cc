// compressed-tensors pack-quantized packing: hand-computed words and round trips over awkward shapes.
#include "quant/int4_pack.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "util/error.h"

namespace octet {
namespace {

using Codes = std::vector<int8_t>;

Codes RandomCodes(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> code(-8, 7);
  Codes out(static_cast<size_t>(n));
  for (int8_t& q : out) q = static_cast<int8_t>(code(rng));
  return out;
}

TEST(Int4PackTest, HandComputedWordsAlongCols) {
  // Row 0: -8..-1 -> nibbles 0..7, element j in bits 4j..4j+3: 0x76543210.
  // Row 1: 0..7 -> nibbles 8..15: 0xFEDCBA98, negative as int32.
  // Columns 8 and 9 go to a second word, the other six nibbles are zero padding: row 0 [7, -8] -> 0x0000000F,
  // row 1 [-7, 3] -> nibbles 1 and 11 -> 0x000000B1.
  const Codes codes = {-8, -7, -6, -5, -4, -3, -2, -1, 7,  -8,  //
                       0,  1,  2,  3,  4,  5,  6,  7,  -7, 3};
  const std::vector<int32_t> packed = PackInt4AlongCols(codes.data(), 2, 10);
  ASSERT_EQ(packed.size(), 4u);
  EXPECT_EQ(static_cast<uint32_t>(packed[0]), 0x76543210u);
  EXPECT_EQ(static_cast<uint32_t>(packed[1]), 0x0000000Fu);
  EXPECT_EQ(static_cast<uint32_t>(packed[2]), 0xFEDCBA98u);
  EXPECT_EQ(packed[2], -19088744);
  EXPECT_EQ(static_cast<uint32_t>(packed[3]), 0x000000B1u);
  EXPECT_EQ(UnpackInt4AlongCols(packed.data(), 2, 10), codes);
}

TEST(Int4PackTest, HandComputedZeroPointsAlongRows) {
  // Zero points [9 rows, 2 groups]: column 0 holds -8..0 down the rows, column 1 holds 7 everywhere.
  // Packed along dim 0 -> [ceil(9/8) = 2, 2]: word (0, 0) = 0x76543210, word (1, 0) = row 8's nibble 0 + 8 = 0x8,
  // word (0, 1) = eight nibbles 15 = 0xFFFFFFFF (-1 as int32), word (1, 1) = 0xF.
  Codes zeros;
  for (int r = 0; r < 9; ++r) {
    zeros.push_back(static_cast<int8_t>(-8 + r));
    zeros.push_back(7);
  }
  const std::vector<int32_t> packed = PackInt4AlongRows(zeros.data(), 9, 2);
  ASSERT_EQ(packed.size(), 4u);
  EXPECT_EQ(static_cast<uint32_t>(packed[0]), 0x76543210u);
  EXPECT_EQ(packed[1], -1);
  EXPECT_EQ(static_cast<uint32_t>(packed[2]), 0x8u);
  EXPECT_EQ(static_cast<uint32_t>(packed[3]), 0xFu);
  EXPECT_EQ(UnpackInt4AlongRows(packed.data(), 9, 2), zeros);
}

TEST(Int4PackTest, RoundTripsAwkwardShapes) {
  uint32_t seed = 1;
  for (auto [rows, cols] : std::vector<std::pair<int64_t, int64_t>>{
           {1, 1}, {1, 8}, {3, 7}, {5, 8}, {8, 9}, {9, 17}, {13, 33}, {16, 172}, {7, 64}}) {
    const Codes codes = RandomCodes(rows * cols, seed++);
    const std::vector<int32_t> along_cols = PackInt4AlongCols(codes.data(), rows, cols);
    EXPECT_EQ(along_cols.size(), static_cast<size_t>(rows * ((cols + 7) / 8)));
    EXPECT_EQ(UnpackInt4AlongCols(along_cols.data(), rows, cols), codes) << rows << "x" << cols;
    const std::vector<int32_t> along_rows = PackInt4AlongRows(codes.data(), rows, cols);
    EXPECT_EQ(along_rows.size(), static_cast<size_t>(((rows + 7) / 8) * cols));
    EXPECT_EQ(UnpackInt4AlongRows(along_rows.data(), rows, cols), codes) << rows << "x" << cols;
  }
}

TEST(Int4PackTest, PaddingNibblesAreZero) {
  // 3 columns: nibbles 3..7 of the word are padding and must be 0 (pack_to_int32 pads with zeros).
  const Codes codes = {7, 7, 7};
  const std::vector<int32_t> packed = PackInt4AlongCols(codes.data(), 1, 3);
  EXPECT_EQ(static_cast<uint32_t>(packed[0]), 0x00000FFFu);
  const std::vector<int32_t> zp = PackInt4AlongRows(codes.data(), 3, 1);
  EXPECT_EQ(static_cast<uint32_t>(zp[0]), 0x00000FFFu);
}

TEST(Int4PackTest, RejectsValuesOutsideInt4) {
  const Codes bad = {0, 8};
  EXPECT_THROW(PackInt4AlongCols(bad.data(), 1, 2), Error);
  EXPECT_THROW(PackInt4AlongRows(bad.data(), 2, 1), Error);
}

TEST(Int4PackTest, CompressedTensorsWeightRoundTrip) {
  const int64_t rows = 13, cols = 172;  // neither a multiple of 8 rows nor of 32 columns
  std::vector<float> w(rows * cols);
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  for (float& x : w) x = normal(rng);
  for (bool symmetric : {true, false}) {
    Int4Params p;
    p.group_size = 32;
    p.symmetric = symmetric;
    const Int4Matrix m = QuantizeRtn(w.data(), rows, cols, p);
    const PackedInt4Weight packed = PackCompressedTensors(m);
    EXPECT_EQ(packed.weight_packed.size(), static_cast<size_t>(rows * 22));                   // ceil(172 / 8) = 22
    EXPECT_EQ(packed.weight_scale.size(), static_cast<size_t>(rows * 6));                     // ceil(172 / 32) = 6
    EXPECT_EQ(packed.weight_zero_point.size(), symmetric ? 0u : static_cast<size_t>(2 * 6));  // [ceil(13/8), 6]
    const Int4Matrix back = UnpackCompressedTensors(packed);
    EXPECT_EQ(back.symmetric, symmetric);
    EXPECT_EQ(back.group_size, 32);
    EXPECT_EQ(back.codes, m.codes);
    EXPECT_EQ(back.scales, m.scales);
    EXPECT_EQ(back.zeros, m.zeros);
    EXPECT_EQ(back.Dequantize(), m.Dequantize());
  }
}

TEST(Int4PackTest, UnpackRejectsInconsistentSizesClearly) {
  PackedInt4Weight p;
  p.rows = 2;
  p.cols = 16;
  p.group_size = 8;
  p.weight_packed.assign(4, 0);
  p.weight_scale.assign(4, 1.0f);
  EXPECT_NO_THROW(UnpackCompressedTensors(p));
  p.weight_packed.assign(3, 0);
  try {
    UnpackCompressedTensors(p);
    ADD_FAILURE() << "accepted a short weight_packed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("weight_packed has 3 words, expected 4"), std::string::npos) << e.what();
  }
  p.weight_packed.assign(4, 0);
  p.weight_zero_point.assign(5, 0);
  EXPECT_THROW(UnpackCompressedTensors(p), Error);
  p.weight_zero_point.clear();
  p.weight_scale.assign(3, 1.0f);
  EXPECT_THROW(UnpackCompressedTensors(p), Error);
}

TEST(Int4PackTest, RefusesTheGgmlGrid) {
  const std::vector<float> w = {1.0f, -1.0f};
  Int4Params p;
  p.group_size = 32;
  p.grid = Int4Grid::kGgmlQ4_0;
  EXPECT_THROW(PackCompressedTensors(QuantizeRtn(w.data(), 1, 2, p)), Error);
}

}  // namespace
}  // namespace octet
