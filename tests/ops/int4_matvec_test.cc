// MatVec / MatMul over packed INT4 weights (WeightPacking::kInt4, compressed-tensors pack-quantized) against a
// plain double-precision reference, on every compiled SIMD target. The test packs its own random codes with a
// packer written from the spec (FORMATS.md b.5: u = q + 8, column 8k + j in bits 4j..4j+3 of int32 word k), on
// awkward shapes: columns not a multiple of 8 or of the group, short last groups, single rows, odd group sizes
// (the column-order fallback), symmetric and asymmetric.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ops/matvec.h"
#include "ops/simd_targets.h"
#include "util/error.h"

namespace octet {
namespace {

using ::octet::testing::ForEachSimdTarget;

// Packs signed codes q in [-8, 7] ([rows, cols], row-major) into int32 words [rows, ceil(cols / 8)].
std::vector<uint32_t> PackInt4(const std::vector<int>& q, int64_t rows, int64_t cols) {
  const int64_t words = (cols + 7) / 8;
  std::vector<uint32_t> packed(static_cast<size_t>(rows * words), 0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const uint32_t u = static_cast<uint32_t>(q[r * cols + c] + 8);
      packed[r * words + c / 8] |= u << (4 * (c % 8));
    }
  }
  return packed;
}

struct Int4Config {
  ScaleKind kind = ScaleKind::kGroup;
  int64_t group = 32;
  bool asymmetric = false;
};

std::string Describe(const Int4Config& s) {
  std::string kind = s.kind == ScaleKind::kGroup     ? "group " + std::to_string(s.group)
                     : s.kind == ScaleKind::kChannel ? "channel"
                     : s.kind == ScaleKind::kTensor  ? "tensor"
                                                     : "no scale";
  return kind + (s.asymmetric ? " asymmetric" : " symmetric");
}

struct Int4Case {
  static constexpr size_t kMaxTokens = 5;
  int64_t rows = 0, cols = 0;
  Int4Config config;
  std::vector<uint32_t> packed;
  std::vector<float> scales;
  std::vector<int8_t> zero_points;
  std::vector<int> codes;          // q in [-8, 7], rows × cols
  std::vector<float> x;            // kMaxTokens × cols
  std::vector<double> reference;   // kMaxTokens × rows
  std::vector<double> abs_sum;     // sum_c |w·x|
  std::vector<double> input_error; // bound on MatVec's input quantization error (FillReference)

  int64_t Groups() const { return config.kind == ScaleKind::kGroup ? (cols + config.group - 1) / config.group : 1; }
  int64_t GroupOf(int64_t c) const { return config.kind == ScaleKind::kGroup ? c / config.group : 0; }
  // Index of the scale / zero point of (r, c).
  size_t ParamIndex(int64_t r, int64_t c) const {
    switch (config.kind) {
      case ScaleKind::kGroup: return static_cast<size_t>(r * Groups() + GroupOf(c));
      case ScaleKind::kChannel: return static_cast<size_t>(r);
      default: return 0;
    }
  }

  WeightMatrix Weights() const {
    WeightMatrix w;
    w.packing = WeightPacking::kInt4;
    w.dtype = DType::kI32;
    w.rows = rows;
    w.cols = cols;
    w.data = packed.data();
    w.scale_kind = config.kind;
    w.scales = scales.empty() ? nullptr : scales.data();
    w.group_size = config.kind == ScaleKind::kGroup ? config.group : 0;
    w.zero_points = zero_points.empty() ? nullptr : zero_points.data();
    return w;
  }
};

// MatVec quantizes its input to int16 per scale group (ops/int4_kernels-inl.h, QuantizeInt4Input): a step of a
// power of two no larger than 2 · max|x_g| / 32767 (so that max|x_g| / step rounds to <= 32767), rounding to
// nearest, so each input is off by at most half a step, 2^-15 · max|x_g| (groups longer than 4096 columns are
// quantized in pieces, each with a step no larger than its group's). That perturbs row r's result by at most
// sum_c |w[r][c]| · 2^-15 · max|x_group(c)|; the rest of the tolerance (1e-5 · sum |w·x|) is F32 rounding, as for
// MatMul, which keeps F32 inputs.
constexpr double kInputStepBound = 1.0 / 32768;

// Recomputes reference, abs_sum and input_error from codes, scales, zero points and x.
void FillReference(Int4Case& k) {
  const int64_t rows = k.rows, cols = k.cols, groups = k.Groups();
  const std::vector<int>& q = k.codes;
  const auto group_of = [&](int64_t c) { return k.GroupOf(c); };
  const auto param_index = [&](int64_t r, int64_t c) { return k.ParamIndex(r, c); };
  k.reference.assign(Int4Case::kMaxTokens * rows, 0.0);
  k.abs_sum.assign(Int4Case::kMaxTokens * rows, 0.0);
  k.input_error.assign(Int4Case::kMaxTokens * rows, 0.0);
  for (size_t t = 0; t < Int4Case::kMaxTokens; ++t) {
    std::vector<double> group_max(static_cast<size_t>(groups), 0.0);
    for (int64_t c = 0; c < cols; ++c) {
      double& m = group_max[static_cast<size_t>(group_of(c))];
      m = std::max(m, std::fabs(static_cast<double>(k.x[t * cols + c])));
    }
    for (int64_t r = 0; r < rows; ++r) {
      double sum = 0, abs_sum = 0, input_error = 0;
      for (int64_t c = 0; c < cols; ++c) {
        const size_t p = param_index(r, c);
        const double zp = k.zero_points.empty() ? 0.0 : k.zero_points[p];
        const double scale = k.scales.empty() ? 1.0 : k.scales[p];
        const double weight = (q[r * cols + c] - zp) * scale;
        const double term = weight * k.x[t * cols + c];
        sum += term;
        abs_sum += std::fabs(term);
        input_error += std::fabs(weight) * kInputStepBound * group_max[static_cast<size_t>(group_of(c))];
      }
      k.reference[t * rows + r] = sum;
      k.abs_sum[t * rows + r] = abs_sum;
      k.input_error[t * rows + r] = input_error;
    }
  }
}

Int4Case MakeCase(int64_t rows, int64_t cols, const Int4Config& config, uint32_t seed) {
  std::mt19937 rng(seed);
  Int4Case k;
  k.rows = rows;
  k.cols = cols;
  k.config = config;
  const int64_t groups = k.Groups();
  const size_t num_params = config.kind == ScaleKind::kGroup     ? static_cast<size_t>(rows * groups)
                            : config.kind == ScaleKind::kChannel ? static_cast<size_t>(rows)
                                                                 : 1;
  k.codes.resize(static_cast<size_t>(rows * cols));
  std::uniform_int_distribution<int> code(-8, 7);
  for (int& v : k.codes) v = code(rng);
  k.packed = PackInt4(k.codes, rows, cols);
  if (config.kind != ScaleKind::kNone) {
    k.scales.resize(num_params);
    for (float& s : k.scales) s = std::uniform_real_distribution<float>(0.01f, 3.0f)(rng);
  }
  if (config.asymmetric) {
    k.zero_points.resize(num_params);
    for (int8_t& z : k.zero_points) z = static_cast<int8_t>(code(rng));
  }
  std::uniform_real_distribution<float> magnitude(0.1f, 1.0f);
  std::uniform_int_distribution<int> sign(0, 1);
  k.x.resize(Int4Case::kMaxTokens * cols);
  for (float& f : k.x) f = (sign(rng) ? -1.0f : 1.0f) * magnitude(rng);
  FillReference(k);
  return k;
}

// MatVec (Input::kQuantized) may carry the input quantization error on top of F32 rounding; MatMul only the latter.
enum class Input { kF32, kQuantized };

void ExpectMatchesReference(const Int4Case& k, const std::vector<float>& y, size_t tokens, Input input) {
  const size_t rows = static_cast<size_t>(k.rows);
  int failures = 0;
  for (size_t t = 0; t < tokens && failures < 5; ++t) {
    for (size_t r = 0; r < rows && failures < 5; ++r) {
      const double ref = k.reference[t * rows + r];
      const double tolerance =
          1e-5 * k.abs_sum[t * rows + r] + (input == Input::kQuantized ? k.input_error[t * rows + r] : 0.0);
      if (!(std::fabs(y[t * rows + r] - ref) <= tolerance)) {
        ++failures;
        ADD_FAILURE() << "token " << t << " row " << r << ": got " << y[t * rows + r] << ", expected " << ref
                      << " ± " << tolerance;
      }
    }
  }
}

std::vector<Int4Config> Configs() {
  std::vector<Int4Config> configs;
  for (const bool asymmetric : {false, true}) {
    // 7 and 5: odd group sizes take the column-order fallback; 12 and 8: groups shorter than a chunk.
    for (const int64_t group : {32, 128, 8, 12, 7, 5}) configs.push_back({ScaleKind::kGroup, group, asymmetric});
    configs.push_back({ScaleKind::kChannel, 0, asymmetric});
    configs.push_back({ScaleKind::kTensor, 0, asymmetric});
    configs.push_back({ScaleKind::kNone, 0, asymmetric});
  }
  return configs;
}

const std::pair<int64_t, int64_t> kShapes[] = {{1, 1},   {1, 13},  {3, 7},     {5, 33},   {13, 64},
                                               {17, 172}, {6, 257}, {9, 1003}, {1, 4096}};

template <class Check>
void ForEveryCase(Check&& check) {
  uint32_t seed = 1;
  for (const Int4Config& config : Configs()) {
    for (const auto& [rows, cols] : kShapes) {
      SCOPED_TRACE(Describe(config) + " [" + std::to_string(rows) + ", " + std::to_string(cols) + "]");
      check(MakeCase(rows, cols, config, seed++));
    }
  }
}

TEST(Int4MatVecTest, PackerMatchesSpecNibbleOrder) {
  // Word 0x76543210 holds nibbles 0..7, LSB first: columns 0..7 have u = 0..7, i.e. q = -8..-1.
  const std::vector<uint32_t> packed = PackInt4({-8, -7, -6, -5, -4, -3, -2, -1, 7}, 1, 9);
  ASSERT_EQ(packed.size(), 2u);
  EXPECT_EQ(packed[0], 0x76543210u);
  EXPECT_EQ(packed[1], 0x0000000Fu);  // column 8: q = 7 -> u = 15 in the low nibble, pad nibbles 0
}

TEST(Int4MatVecTest, HandComputedRow) {
  // Row 0: words 0x76543210, 0x0000000F: q = -8..-1, 7. Row 1: all u = 8 (q = 0) except column 3 (u = 9).
  const uint32_t packed[4] = {0x76543210u, 0x0000000Fu, 0x88889888u, 0x00000008u};
  const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  const float scales[2] = {0.5f, 2.0f};
  WeightMatrix w;
  w.packing = WeightPacking::kInt4;
  w.rows = 2;
  w.cols = 9;
  w.data = packed;
  w.scale_kind = ScaleKind::kChannel;
  w.scales = scales;
  ThreadPool pool(1);
  ForEachSimdTarget([&](const std::string&) {
    float y[2] = {0, 0};
    MatVec(w, x, y, pool);
    // Row 0: sum_{c<8} (c - 8)(c + 1) + 7 * 9 = (-8 - 14 - 18 - 20 - 20 - 18 - 14 - 8) + 63 = -57; times 0.5.
    EXPECT_EQ(y[0], -28.5f);
    EXPECT_EQ(y[1], 8.0f);  // column 3: q = 1, x = 4, scale 2
    float y2[4];
    const float x2[18] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    MatMul(w, x2, 2, y2, pool);
    EXPECT_EQ(y2[0], -28.5f);
    EXPECT_EQ(y2[1], 8.0f);
    EXPECT_EQ(y2[2], -28.5f);
    EXPECT_EQ(y2[3], 8.0f);
  });
}

TEST(Int4MatVecTest, MatchesReferenceOnEveryTargetConfigAndShape) {
  ThreadPool pool(1);
  ForEveryCase([&](const Int4Case& k) {
    ForEachSimdTarget([&](const std::string& target) {
      EXPECT_EQ(BestTargetName(), target);
      std::vector<float> y(k.rows, std::nanf(""));
      MatVec(k.Weights(), k.x.data(), y.data(), pool);
      ExpectMatchesReference(k, y, 1, Input::kQuantized);
    });
  });
}

TEST(Int4MatMulTest, MatchesReferenceOnEveryTargetConfigAndShape) {
  ThreadPool pool(1);
  ForEveryCase([&](const Int4Case& k) {
    ForEachSimdTarget([&](const std::string&) {
      for (size_t tokens = 1; tokens <= Int4Case::kMaxTokens; ++tokens) {
        SCOPED_TRACE("tokens " + std::to_string(tokens));
        std::vector<float> y(tokens * k.rows, std::nanf(""));
        MatMul(k.Weights(), k.x.data(), tokens, y.data(), pool);
        ExpectMatchesReference(k, y, tokens, Input::kF32);
      }
    });
  });
}

TEST(Int4MatVecTest, BitIdenticalAtAnyThreadCount) {
  ThreadPool pool1(1), pool2(2), pool3(3);
  uint32_t seed = 500;
  for (const Int4Config& config : {Int4Config{ScaleKind::kGroup, 32, true}, Int4Config{ScaleKind::kGroup, 7, false},
                                   Int4Config{ScaleKind::kChannel, 0, false}}) {
    SCOPED_TRACE(Describe(config));
    const Int4Case k = MakeCase(1003, 515, config, seed++);
    const WeightMatrix w = k.Weights();
    std::vector<float> v1(1003), v2(1003), v3(1003);
    MatVec(w, k.x.data(), v1.data(), pool1);
    MatVec(w, k.x.data(), v2.data(), pool2);
    MatVec(w, k.x.data(), v3.data(), pool3);
    EXPECT_EQ(0, std::memcmp(v1.data(), v2.data(), v1.size() * sizeof(float)));
    EXPECT_EQ(0, std::memcmp(v1.data(), v3.data(), v1.size() * sizeof(float)));
    ExpectMatchesReference(k, v1, 1, Input::kQuantized);
    const size_t tokens = Int4Case::kMaxTokens;
    std::vector<float> m1(tokens * 1003), m2(tokens * 1003), m3(tokens * 1003);
    MatMul(w, k.x.data(), tokens, m1.data(), pool1);
    MatMul(w, k.x.data(), tokens, m2.data(), pool2);
    MatMul(w, k.x.data(), tokens, m3.data(), pool3);
    EXPECT_EQ(0, std::memcmp(m1.data(), m2.data(), m1.size() * sizeof(float)));
    EXPECT_EQ(0, std::memcmp(m1.data(), m3.data(), m1.size() * sizeof(float)));
    ExpectMatchesReference(k, m1, tokens, Input::kF32);
  }
}

// Neighbouring groups with inputs and scales many orders of magnitude apart (x·1e4 with s·1e-4, x·1e-6 with
// s·1e6, so every group's terms are of the same size): MatVec quantizes each group's inputs with its own step and
// multiplies each group's integer sums by its own scale, so the error stays within the per-group bound. A lane
// or chunk that mixed two groups' columns, or a group quantized with a neighbour's step, would be off by whole
// terms (a huge group's columns scaled by a normal group's scale, or a normal group's inputs rounded to the huge
// group's step of ~0.3), far outside the tolerance. Groups of 8, 12, 32, 64 and 128 cover chunks longer and
// shorter than a group on every target (half-width chunks for 32 on AVX-512); 21 rows cover the row streams and
// the leftover rows.
TEST(Int4MatVecTest, GroupsStayApartWithVeryDifferentScalesAndInputs) {
  ThreadPool pool(2);
  const float kInputFactor[4] = {1.0f, 1e4f, 1e-6f, 1.0f};
  uint32_t seed = 900;
  for (const int64_t group : {8, 12, 32, 64, 128}) {
    for (const bool asymmetric : {false, true}) {
      const Int4Config config{ScaleKind::kGroup, group, asymmetric};
      SCOPED_TRACE(Describe(config));
      Int4Case k = MakeCase(21, 8 * group + 6, config, seed++);
      for (int64_t c = 0; c < k.cols; ++c) {
        for (size_t t = 0; t < Int4Case::kMaxTokens; ++t) k.x[t * k.cols + c] *= kInputFactor[k.GroupOf(c) % 4];
      }
      for (int64_t r = 0; r < k.rows; ++r) {
        for (int64_t g = 0; g < k.Groups(); ++g) k.scales[k.ParamIndex(r, g * group)] /= kInputFactor[g % 4];
      }
      FillReference(k);
      ForEachSimdTarget([&](const std::string&) {
        std::vector<float> y(k.rows, std::nanf(""));
        MatVec(k.Weights(), k.x.data(), y.data(), pool);
        ExpectMatchesReference(k, y, 1, Input::kQuantized);
      });
    }
  }
}

// Groups longer than 4096 columns are quantized and summed in several blocks (int4_kernels-inl.h,
// Int4IntLayout): channel scales on 9001 columns (odd: one group, 3 blocks), groups of 5000 on 10010 columns (2
// blocks per group, a short last group), groups of 4098 (2 blocks each of a whole number of chunks). Random codes
// and inputs, so a block read at the wrong offset or scaled by the wrong step shows.
TEST(Int4MatVecTest, LongGroupsSplitIntoBlocks) {
  ThreadPool pool(2);
  uint32_t seed = 1200;
  const struct {
    Int4Config config;
    int64_t cols;
  } kCases[] = {{{ScaleKind::kChannel, 0, false}, 9001},
                {{ScaleKind::kGroup, 5000, true}, 10010},
                {{ScaleKind::kGroup, 4098, false}, 8196}};
  for (const auto& [config, cols] : kCases) {
    SCOPED_TRACE(Describe(config) + " cols " + std::to_string(cols));
    const Int4Case k = MakeCase(7, cols, config, seed++);
    ForEachSimdTarget([&](const std::string&) {
      std::vector<float> y(k.rows, std::nanf(""));
      MatVec(k.Weights(), k.x.data(), y.data(), pool);
      ExpectMatchesReference(k, y, 1, Input::kQuantized);
    });
  }
}

// Rows long enough to need several 4096-column pieces per group (channel scales, 10000 columns), every code at
// the largest |q - zp| = 15 and every input at the largest quantized magnitude (x = 32767 / 32768 quantizes to
// 32767 exactly): each piece's int32 sums reach 15 · 32767 · 4096, just below 2^31. The sums are exact, so the
// result is too, up to F32 rounding.
TEST(Int4MatVecTest, LargestSumsDoNotOverflow) {
  constexpr int64_t kRows = 9, kCols = 10000;
  const std::vector<int> codes(kRows * kCols, -8);  // u = 0: with zero point 7, q - zp = -15
  const std::vector<uint32_t> packed = PackInt4(codes, kRows, kCols);
  const std::vector<int8_t> zero_points(kRows, 7);
  const std::vector<float> scales(kRows, 0.5f);
  const std::vector<float> x(kCols, 32767.0f / 32768.0f);
  WeightMatrix w;
  w.packing = WeightPacking::kInt4;
  w.rows = kRows;
  w.cols = kCols;
  w.data = packed.data();
  w.scale_kind = ScaleKind::kChannel;
  w.scales = scales.data();
  w.zero_points = zero_points.data();
  ThreadPool pool(1);
  const double expected = -15.0 * 0.5 * (32767.0 / 32768.0) * kCols;
  ForEachSimdTarget([&](const std::string&) {
    std::vector<float> y(kRows, 0.0f);
    MatVec(w, x.data(), y.data(), pool);
    for (int64_t r = 0; r < kRows; ++r) EXPECT_NEAR(y[r], expected, 1e-5 * std::fabs(expected)) << "row " << r;
  });
  // u = 15 (q = 7) and zero point -8: the nibble products themselves at their largest.
  const std::vector<uint32_t> packed15 = PackInt4(std::vector<int>(kRows * kCols, 7), kRows, kCols);
  const std::vector<int8_t> zero_points15(kRows, -8);
  w.data = packed15.data();
  w.zero_points = zero_points15.data();
  ForEachSimdTarget([&](const std::string&) {
    std::vector<float> y(kRows, 0.0f);
    MatVec(w, x.data(), y.data(), pool);
    for (int64_t r = 0; r < kRows; ++r) EXPECT_NEAR(y[r], -expected, 1e-5 * std::fabs(expected)) << "row " << r;
  });
}

// Inputs that do not quantize to int16 go through the F32 kernels: a non-finite input makes the results
// non-finite (as F32 arithmetic does), and inputs below 2^-100 (whose power-of-two step would leave the normal
// range) keep F32 accuracy (the tolerance without the quantization term).
TEST(Int4MatVecTest, InputsThatDoNotQuantizeTakeTheFloatKernels) {
  ThreadPool pool(1);
  Int4Case k = MakeCase(13, 200, Int4Config{ScaleKind::kGroup, 32, true}, 77);
  for (float& v : k.x) v *= 1e-32f;
  FillReference(k);
  ForEachSimdTarget([&](const std::string&) {
    std::vector<float> y(k.rows, std::nanf(""));
    MatVec(k.Weights(), k.x.data(), y.data(), pool);
    ExpectMatchesReference(k, y, 1, Input::kF32);
  });
  for (const float bad : {std::numeric_limits<float>::infinity(), std::nanf("")}) {
    std::vector<float> x(k.x.begin(), k.x.begin() + k.cols);
    x[100] = bad;
    ForEachSimdTarget([&](const std::string&) {
      std::vector<float> y(k.rows, 0.0f);
      MatVec(k.Weights(), x.data(), y.data(), pool);
      for (int64_t r = 0; r < k.rows; ++r) EXPECT_FALSE(std::isfinite(y[r])) << "row " << r << " input " << bad;
    });
  }
}

TEST(Int4MatVecTest, RejectsBadWeights) {
  ThreadPool pool(1);
  const uint32_t packed[2] = {0, 0};
  const float scales[2] = {1, 1};
  const float x[8] = {};
  float y[2];
  WeightMatrix w;
  w.packing = WeightPacking::kInt4;
  w.rows = 2;
  w.cols = 8;
  w.data = packed;
  w.scales = scales;
  w.scale_kind = ScaleKind::kBlock;
  EXPECT_THROW(MatVec(w, x, y, pool), Error);  // INT4 takes no block scales
  w.scale_kind = ScaleKind::kGroup;
  w.group_size = 0;
  EXPECT_THROW(MatMul(w, x, 1, y, pool), Error);
}

// Float weights accept group scales too (block scales one row high).
TEST(MatVecGroupScaleTest, FloatWeightsWithGroupScales) {
  ThreadPool pool(1);
  const float data[2 * 5] = {1, 2, 3, 4, 5, -1, -2, -3, -4, -5};
  const float scales[2 * 3] = {1, 10, 100, 2, 20, 200};
  const float x[5] = {1, 1, 1, 1, 1};
  WeightMatrix w;
  w.rows = 2;
  w.cols = 5;
  w.data = data;
  w.scale_kind = ScaleKind::kGroup;
  w.group_size = 2;
  w.scales = scales;
  float y[2];
  MatVec(w, x, y, pool);
  EXPECT_EQ(y[0], 1 + 2 + 10 * (3 + 4) + 100 * 5);
  EXPECT_EQ(y[1], -2 * (1 + 2) - 20 * (3 + 4) - 200 * 5);
}

}  // namespace
}  // namespace octet
