// MatVec / MatMul against a plain double-precision reference, on every compiled SIMD target, for every weight
// dtype and scale kind, on awkward shapes (tails shorter than a vector, single rows/columns, partial scale
// blocks). The reference decodes FP8/F16/BF16 with its own small decoders written from the specs (OCP FP8,
// IEEE binary16, bfloat16), independent of the library's.
#include "ops/matvec.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ops/simd_targets.h"
#include "util/error.h"

namespace octet {
namespace {

using ::octet::testing::ForEachSimdTarget;

// ---- Reference decoders.

double RefE4M3(uint8_t code) {  // OCP E4M3FN: bias 7, no infinities, 0x7F/0xFF NaN
  const double sign = (code & 0x80) ? -1.0 : 1.0;
  const int exponent = (code >> 3) & 0xF;
  const int mantissa = code & 0x7;
  if (exponent == 0) return sign * mantissa / 8.0 * std::ldexp(1.0, -6);
  if (exponent == 15 && mantissa == 7) return std::numeric_limits<double>::quiet_NaN();
  return sign * (1.0 + mantissa / 8.0) * std::ldexp(1.0, exponent - 7);
}

double RefE5M2(uint8_t code) {  // OCP E5M2: bias 15, IEEE-like
  const double sign = (code & 0x80) ? -1.0 : 1.0;
  const int exponent = (code >> 2) & 0x1F;
  const int mantissa = code & 0x3;
  if (exponent == 0) return sign * mantissa / 4.0 * std::ldexp(1.0, -14);
  if (exponent == 31) return mantissa ? std::numeric_limits<double>::quiet_NaN() : sign * INFINITY;
  return sign * (1.0 + mantissa / 4.0) * std::ldexp(1.0, exponent - 15);
}

double RefF16(uint16_t bits) {
  const double sign = (bits & 0x8000) ? -1.0 : 1.0;
  const int exponent = (bits >> 10) & 0x1F;
  const int mantissa = bits & 0x3FF;
  if (exponent == 0) return sign * mantissa / 1024.0 * std::ldexp(1.0, -14);
  if (exponent == 31) return mantissa ? std::numeric_limits<double>::quiet_NaN() : sign * INFINITY;
  return sign * (1.0 + mantissa / 1024.0) * std::ldexp(1.0, exponent - 15);
}

double RefBF16(uint16_t bits) {
  const uint32_t f32_bits = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &f32_bits, sizeof(f));
  return f;
}

TEST(MatVecReferenceDecoderTest, KnownValues) {
  EXPECT_EQ(RefE4M3(0x7E), 448.0);
  EXPECT_EQ(RefE4M3(0x01), std::ldexp(1.0, -9));
  EXPECT_EQ(RefE4M3(0xB8), -1.0);
  EXPECT_TRUE(std::isnan(RefE4M3(0x7F)));
  EXPECT_EQ(RefE5M2(0x7B), 57344.0);
  EXPECT_EQ(RefE5M2(0x01), std::ldexp(1.0, -16));
  EXPECT_EQ(RefE5M2(0x3C), 1.0);
  EXPECT_EQ(RefF16(0x3C00), 1.0);
  EXPECT_EQ(RefF16(0xC000), -2.0);
  EXPECT_EQ(RefF16(0x0001), std::ldexp(1.0, -24));
  EXPECT_EQ(RefBF16(0x3F80), 1.0);
}

// ---- Random test matrices: stored bytes plus the exact value of each element.

struct TestMatrix {
  DType dtype;
  int64_t rows, cols;
  std::vector<uint8_t> bytes;
  std::vector<double> values;  // decoded stored values (before scales)
};

size_t ElementBytes(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return 4;
    case DType::kF16:
    case DType::kBF16:
      return 2;
    default:
      return 1;
  }
}

// Random finite, non-zero elements spanning a good part of each format's range (subnormals included for FP8).
TestMatrix RandomMatrix(DType dtype, int64_t rows, int64_t cols, std::mt19937& rng) {
  TestMatrix m{dtype, rows, cols, {}, {}};
  const size_t n = static_cast<size_t>(rows * cols);
  m.bytes.resize(n * ElementBytes(dtype));
  m.values.resize(n);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> sign(0, 1);
  for (size_t i = 0; i < n; ++i) {
    switch (dtype) {
      case DType::kF32: {
        const float f = (sign(rng) ? -1.0f : 1.0f) * std::uniform_real_distribution<float>(0.05f, 2.0f)(rng);
        std::memcpy(&m.bytes[4 * i], &f, 4);
        m.values[i] = f;
        break;
      }
      case DType::kF16: {
        const uint16_t bits = static_cast<uint16_t>((sign(rng) << 15) |
                                                    (std::uniform_int_distribution<int>(5, 20)(rng) << 10) |
                                                    std::uniform_int_distribution<int>(0, 1023)(rng));
        std::memcpy(&m.bytes[2 * i], &bits, 2);
        m.values[i] = RefF16(bits);
        break;
      }
      case DType::kBF16: {
        const uint16_t bits = static_cast<uint16_t>((sign(rng) << 15) |
                                                    (std::uniform_int_distribution<int>(110, 135)(rng) << 7) |
                                                    std::uniform_int_distribution<int>(0, 127)(rng));
        std::memcpy(&m.bytes[2 * i], &bits, 2);
        m.values[i] = RefBF16(bits);
        break;
      }
      case DType::kF8E4M3: {
        uint8_t code;
        do {
          code = static_cast<uint8_t>(byte(rng));
        } while ((code & 0x7F) == 0 || (code & 0x7F) == 0x7F);
        m.bytes[i] = code;
        m.values[i] = RefE4M3(code);
        break;
      }
      case DType::kF8E5M2: {
        uint8_t code;
        do {
          code = static_cast<uint8_t>(byte(rng));
        } while ((code & 0x7F) == 0 || ((code >> 2) & 0x1F) == 31);
        m.bytes[i] = code;
        m.values[i] = RefE5M2(code);
        break;
      }
      default:
        ADD_FAILURE() << "no generator for dtype";
    }
  }
  return m;
}

std::vector<float> RandomNonZero(size_t n, std::mt19937& rng) {
  std::vector<float> v(n);
  std::uniform_real_distribution<float> magnitude(0.1f, 1.0f);
  std::uniform_int_distribution<int> sign(0, 1);
  for (float& f : v) f = (sign(rng) ? -1.0f : 1.0f) * magnitude(rng);
  return v;
}

struct ScaleConfig {
  ScaleKind kind;
  int64_t block_rows = 128;
  int64_t block_cols = 128;
};

std::string Describe(const ScaleConfig& s) {
  switch (s.kind) {
    case ScaleKind::kNone:
      return "scale none";
    case ScaleKind::kTensor:
      return "scale tensor";
    case ScaleKind::kChannel:
      return "scale channel";
    case ScaleKind::kBlock:
      return "scale block " + std::to_string(s.block_rows) + "x" + std::to_string(s.block_cols);
    case ScaleKind::kGroup:
      return "scale group " + std::to_string(s.block_cols);
  }
  return "?";
}

size_t NumScales(const ScaleConfig& s, int64_t rows, int64_t cols) {
  switch (s.kind) {
    case ScaleKind::kNone:
      return 0;
    case ScaleKind::kTensor:
      return 1;
    case ScaleKind::kChannel:
      return static_cast<size_t>(rows);
    case ScaleKind::kBlock:
      return static_cast<size_t>(((rows + s.block_rows - 1) / s.block_rows) *
                                 ((cols + s.block_cols - 1) / s.block_cols));
    case ScaleKind::kGroup:  // group size in block_cols
      return static_cast<size_t>(rows * ((cols + s.block_cols - 1) / s.block_cols));
  }
  return 0;
}

double RefScale(const ScaleConfig& s, const std::vector<float>& scales, int64_t cols, int64_t r, int64_t c) {
  switch (s.kind) {
    case ScaleKind::kNone:
      return 1.0;
    case ScaleKind::kTensor:
      return scales[0];
    case ScaleKind::kChannel:
      return scales[r];
    case ScaleKind::kBlock:
      return scales[(r / s.block_rows) * ((cols + s.block_cols - 1) / s.block_cols) + c / s.block_cols];
    case ScaleKind::kGroup:
      return scales[r * ((cols + s.block_cols - 1) / s.block_cols) + c / s.block_cols];
  }
  return 0.0;
}

// One matrix with its scales and inputs for kMaxTokens tokens, plus the reference outputs and error bounds.
struct Case {
  static constexpr size_t kMaxTokens = 7;
  TestMatrix matrix;
  ScaleConfig scale;
  std::vector<float> scales;
  std::vector<float> x;           // kMaxTokens × cols
  std::vector<double> reference;  // kMaxTokens × rows
  std::vector<double> abs_sum;    // sum of |w·x| terms, for the tolerance

  WeightMatrix Weights() const {
    WeightMatrix w;
    w.dtype = matrix.dtype;
    w.rows = matrix.rows;
    w.cols = matrix.cols;
    w.data = matrix.bytes.data();
    w.scale_kind = scale.kind;
    w.scales = scales.empty() ? nullptr : scales.data();
    w.block_rows = scale.block_rows;
    w.block_cols = scale.block_cols;
    w.group_size = scale.kind == ScaleKind::kGroup ? scale.block_cols : 0;
    return w;
  }
};

Case MakeCase(DType dtype, int64_t rows, int64_t cols, const ScaleConfig& scale, uint32_t seed) {
  std::mt19937 rng(seed);
  Case k{RandomMatrix(dtype, rows, cols, rng), scale, {}, {}, {}, {}};
  k.scales.resize(NumScales(scale, rows, cols));
  for (float& s : k.scales) s = std::uniform_real_distribution<float>(0.01f, 3.0f)(rng);
  k.x = RandomNonZero(Case::kMaxTokens * cols, rng);
  k.reference.assign(Case::kMaxTokens * rows, 0.0);
  k.abs_sum.assign(Case::kMaxTokens * rows, 0.0);
  for (size_t t = 0; t < Case::kMaxTokens; ++t) {
    for (int64_t r = 0; r < rows; ++r) {
      double sum = 0, abs_sum = 0;
      for (int64_t c = 0; c < cols; ++c) {
        const double term = k.matrix.values[r * cols + c] * RefScale(scale, k.scales, cols, r, c) * k.x[t * cols + c];
        sum += term;
        abs_sum += std::fabs(term);
      }
      k.reference[t * rows + r] = sum;
      k.abs_sum[t * rows + r] = abs_sum;
    }
  }
  return k;
}

// Expects y (tokens × rows) to match the reference within 1e-5 of the sum of |terms| (F32 accumulation error).
void ExpectMatchesReference(const Case& k, const std::vector<float>& y, size_t tokens) {
  const size_t rows = static_cast<size_t>(k.matrix.rows);
  int failures = 0;
  for (size_t t = 0; t < tokens && failures < 5; ++t) {
    for (size_t r = 0; r < rows && failures < 5; ++r) {
      const double ref = k.reference[t * rows + r];
      const double tolerance = 1e-5 * k.abs_sum[t * rows + r];
      if (!(std::fabs(y[t * rows + r] - ref) <= tolerance)) {
        ++failures;
        ADD_FAILURE() << "token " << t << " row " << r << ": got " << y[t * rows + r] << ", expected " << ref
                      << " ± " << tolerance;
      }
    }
  }
}

const DType kDTypes[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kF8E4M3, DType::kF8E5M2};
const ScaleConfig kScales[] = {{ScaleKind::kNone},         {ScaleKind::kTensor},      {ScaleKind::kChannel},
                               {ScaleKind::kBlock},        {ScaleKind::kBlock, 4, 16}, {ScaleKind::kBlock, 3, 5},
                               {ScaleKind::kBlock, 1, 7},  {ScaleKind::kGroup, 1, 7}};
const std::pair<int64_t, int64_t> kShapes[] = {{1, 1},    {1, 13},   {3, 1},     {3, 13},  {13, 64},
                                               {64, 172}, {172, 257}, {257, 1003}, {5, 1003}};

// Runs `check(case)` for every dtype × scale config × shape.
template <class Check>
void ForEveryCase(Check&& check) {
  uint32_t seed = 1;
  for (const DType dtype : kDTypes) {
    for (const ScaleConfig& scale : kScales) {
      for (const auto& [rows, cols] : kShapes) {
        SCOPED_TRACE(std::string(DTypeName(dtype)) + " " + Describe(scale) + " [" + std::to_string(rows) + ", " +
                     std::to_string(cols) + "]");
        check(MakeCase(dtype, rows, cols, scale, seed++));
      }
    }
  }
}

TEST(MatVecTest, MatchesReferenceOnEveryTargetDtypeScaleAndShape) {
  ThreadPool pool(1);
  ForEveryCase([&](const Case& k) {
    ForEachSimdTarget([&](const std::string& target) {
      EXPECT_EQ(BestTargetName(), target);  // the dispatcher really took this target
      std::vector<float> y(k.matrix.rows, std::nanf(""));
      MatVec(k.Weights(), k.x.data(), y.data(), pool);
      ExpectMatchesReference(k, y, 1);
    });
  });
}

TEST(MatMulTest, MatchesReferenceOnEveryTargetDtypeScaleAndShape) {
  ThreadPool pool(1);
  ForEveryCase([&](const Case& k) {
    ForEachSimdTarget([&](const std::string&) {
      for (const size_t tokens : {size_t{1}, size_t{2}, size_t{7}}) {
        SCOPED_TRACE("tokens " + std::to_string(tokens));
        std::vector<float> y(tokens * k.matrix.rows, std::nanf(""));
        MatMul(k.Weights(), k.x.data(), tokens, y.data(), pool);
        ExpectMatchesReference(k, y, tokens);
      }
    });
  });
}

// Thread count must not change a single bit: rows are split into fixed items, each summed in a fixed order.
TEST(MatVecTest, BitIdenticalAtAnyThreadCount) {
  ThreadPool pool1(1), pool2(2), pool3(3);
  uint32_t seed = 1000;
  for (const DType dtype : kDTypes) {
    for (const ScaleConfig& scale : {ScaleConfig{ScaleKind::kChannel}, ScaleConfig{ScaleKind::kBlock, 3, 5},
                                     ScaleConfig{ScaleKind::kBlock, 128, 128}}) {
      SCOPED_TRACE(std::string(DTypeName(dtype)) + " " + Describe(scale));
      const Case k = MakeCase(dtype, 1003, 515, scale, seed++);
      const WeightMatrix w = k.Weights();
      std::vector<float> y1(1003), y2(1003), y3(1003);
      MatVec(w, k.x.data(), y1.data(), pool1);
      MatVec(w, k.x.data(), y2.data(), pool2);
      MatVec(w, k.x.data(), y3.data(), pool3);
      EXPECT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float)));
      EXPECT_EQ(0, std::memcmp(y1.data(), y3.data(), y1.size() * sizeof(float)));
      ExpectMatchesReference(k, y1, 1);
    }
  }
}

TEST(MatMulTest, BitIdenticalAtAnyThreadCount) {
  ThreadPool pool1(1), pool2(2), pool3(3);
  uint32_t seed = 2000;
  for (const DType dtype : kDTypes) {
    for (const ScaleConfig& scale : {ScaleConfig{ScaleKind::kTensor}, ScaleConfig{ScaleKind::kBlock, 3, 5}}) {
      SCOPED_TRACE(std::string(DTypeName(dtype)) + " " + Describe(scale));
      const Case k = MakeCase(dtype, 1003, 515, scale, seed++);
      const WeightMatrix w = k.Weights();
      const size_t tokens = Case::kMaxTokens;
      std::vector<float> y1(tokens * 1003), y2(tokens * 1003), y3(tokens * 1003);
      MatMul(w, k.x.data(), tokens, y1.data(), pool1);
      MatMul(w, k.x.data(), tokens, y2.data(), pool2);
      MatMul(w, k.x.data(), tokens, y3.data(), pool3);
      EXPECT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float)));
      EXPECT_EQ(0, std::memcmp(y1.data(), y3.data(), y1.size() * sizeof(float)));
      ExpectMatchesReference(k, y1, tokens);
    }
  }
}

TEST(MatVecTest, EmptyShapes) {
  ThreadPool pool(2);
  const float x[3] = {1, 2, 3};
  float y[4] = {7, 7, 7, 7};
  WeightMatrix w;
  w.rows = 4;
  w.cols = 0;
  MatVec(w, x, y, pool);  // no columns: every sum is empty
  for (const float v : y) EXPECT_EQ(v, 0.0f);
  w.rows = 0;
  w.cols = 3;
  MatVec(w, x, nullptr, pool);  // no rows: nothing to write
  MatMul(w, x, 2, nullptr, pool);
}

TEST(MatVecTest, RejectsBadWeights) {
  ThreadPool pool(1);
  const float data[6] = {1, 2, 3, 4, 5, 6};
  const float x[3] = {1, 1, 1};
  float y[2];
  WeightMatrix w;
  w.rows = 2;
  w.cols = 3;
  w.data = data;
  w.dtype = DType::kI8;
  EXPECT_THROW(MatVec(w, x, y, pool), Error);
  w.dtype = DType::kF32;
  w.scale_kind = ScaleKind::kChannel;
  EXPECT_THROW(MatVec(w, x, y, pool), Error);  // scales missing
  const float scales[1] = {1.0f};
  w.scales = scales;
  w.scale_kind = ScaleKind::kBlock;
  w.block_rows = 0;
  EXPECT_THROW(MatMul(w, x, 1, y, pool), Error);
  w.data = nullptr;
  w.scale_kind = ScaleKind::kNone;
  EXPECT_THROW(MatVec(w, x, y, pool), Error);
}

TEST(MatVecTest, BestTargetNameIsKnown) {
  const std::string name = BestTargetName();
  EXPECT_FALSE(name.empty());
  EXPECT_NE(name, "Unknown");
}

}  // namespace
}  // namespace octet
