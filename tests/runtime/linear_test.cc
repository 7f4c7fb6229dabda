// One FP8 linear at a time: Linear::Load + Apply against a double-precision computation of the documented
// semantics (runtime/activation_quant.h, runtime/linear.h) on the same F32 inputs, for every scale layout and
// activation scheme. Unlike whole-model comparisons this is exact up to F32 accumulation.
#include <cmath>
#include <cstring>
#include <random>

#include <gtest/gtest.h>

#include "runtime/linear.h"
#include "runtime/reference_model.h"
#include "runtime/scratch_checkpoint.h"
#include "test_util.h"
#include "util/error.h"

namespace octet {
namespace {

constexpr int64_t kRows = 40;
constexpr int64_t kCols = 70;  // not a multiple of the 32-wide groups: the last group is short

struct Case {
  std::string name;
  DType dtype = DType::kF8E4M3;
  Shape scale_shape;  // empty vector + !has_scale: no scale tensor
  bool has_scale = true;
  bool scale_inv = false;
  int64_t block_rows = 1, block_cols = 1;  // how the reference indexes a 2-D grid
  CheckpointQuantParams params;
  bool input_scale = false;
};

std::vector<std::byte> F32Bytes(const std::vector<float>& v) {
  std::vector<std::byte> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

class LinearTest : public ::testing::TestWithParam<Case> {};

TEST_P(LinearTest, ApplyMatchesDocumentedSemantics) {
  const Case& c = GetParam();
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> code(0, 255);

  testing::TensorSet set;
  std::vector<std::byte> codes(kRows * kCols);
  for (auto& b : codes) {
    int v = code(rng);
    if ((v & 0x7F) == 0x7F || (c.dtype == DType::kF8E5M2 && (v & 0x7C) == 0x7C)) v = 0x10;  // no NaN/Inf
    b = static_cast<std::byte>(v);
  }
  set.Add("m.weight", c.dtype, {kRows, kCols}, codes);
  std::vector<float> scales(c.has_scale ? NumElements(c.scale_shape) : 0);
  for (float& s : scales) s = std::exp2(normal(rng)) * 0.01f;
  if (c.has_scale) set.Add(c.scale_inv ? "m.weight_scale_inv" : "m.weight_scale", DType::kF32, c.scale_shape, F32Bytes(scales));
  const float input_scale = 0.004f;  // 448 * 0.004 = 1.8: the larger inputs saturate
  if (c.input_scale) set.Add("m.input_scale", DType::kF32, {}, F32Bytes({input_scale}));
  testing::ScratchDir scratch;
  set.Write(scratch.path(), nlohmann::json::object());
  const Checkpoint checkpoint = Checkpoint::Open(scratch.path());
  const Linear linear = Linear::Load(checkpoint, "m", kRows, kCols, c.params);
  if (c.has_scale && c.scale_shape.size() == 2 && c.block_rows > 0) {  // grids: the layout was recognized
    EXPECT_EQ(linear.scale_kind(), ScaleKind::kBlock);
    EXPECT_EQ(linear.block_rows(), c.block_rows);
    EXPECT_EQ(linear.block_cols(), c.block_cols);
  }

  // Inputs: normal rows, one all-zero row, one with an outlier.
  const size_t tokens = 4;
  std::vector<float> x(tokens * kCols);
  for (float& v : x) v = normal(rng);
  std::fill_n(x.begin() + kCols, kCols, 0.0f);
  x[2 * kCols + 5] = 40.0f;

  // Reference: w = decode(code) * scale; x quantized in double from the same F32 values, with F32 scales.
  const auto weight = [&](int64_t r, int64_t col) {
    double w = testing::RefDecode(c.dtype, &codes[r * kCols + col]);
    if (!c.has_scale) return w;
    if (scales.size() == 1) return w * scales[0];
    if (c.block_rows == 0) return w * scales[r];  // per channel
    const int64_t grid_cols = c.scale_shape[1];
    return w * scales[(r / c.block_rows) * grid_cols + col / c.block_cols];
  };
  const ActivationQuant quant = linear.activations();
  for (size_t batch : {tokens, size_t{1}}) {  // MatMul (prefill) and MatVec (decode)
    std::vector<double> xq(x.begin(), x.begin() + batch * kCols);
    const auto fake_quantize = [&](size_t begin, size_t end, float scale) {
      for (size_t i = begin; i < end; ++i) xq[i] = testing::RefRoundE4M3(xq[i] / scale) * scale;
    };
    const auto dynamic_scale = [&](size_t begin, size_t end) {
      float m = 0;
      for (size_t i = begin; i < end; ++i) m = std::max(m, std::fabs(x[i]));
      return std::max(m / 448.0f, 1.0f / (448.0f * 512.0f));
    };
    for (size_t t = 0; t < batch; ++t) {
      const size_t row = t * kCols;
      switch (quant) {
        case ActivationQuant::kNone: break;
        case ActivationQuant::kStatic: fake_quantize(row, row + kCols, input_scale); break;
        // One scale over the whole call: the result depends on the batch (documented in activation_quant.h).
        case ActivationQuant::kDynamicTensor: fake_quantize(row, row + kCols, dynamic_scale(0, xq.size())); break;
        case ActivationQuant::kDynamicToken: fake_quantize(row, row + kCols, dynamic_scale(row, row + kCols)); break;
        case ActivationQuant::kDynamicGroup: {
          const size_t g = static_cast<size_t>(linear.activation_group_size());
          for (size_t b = 0; b < static_cast<size_t>(kCols); b += g) {
            const size_t e = std::min<size_t>(kCols, b + g);
            fake_quantize(row + b, row + e, dynamic_scale(row + b, row + e));
          }
          break;
        }
      }
    }
    std::vector<float> y(batch * kRows);
    ThreadPool pool(2);
    linear.Apply(x.data(), batch, y.data(), pool);
    for (size_t t = 0; t < batch; ++t) {
      for (int64_t r = 0; r < kRows; ++r) {
        double expected = 0, magnitude = 0;
        for (int64_t col = 0; col < kCols; ++col) {
          expected += weight(r, col) * xq[t * kCols + col];
          magnitude += std::fabs(weight(r, col) * xq[t * kCols + col]);
        }
        EXPECT_NEAR(y[t * kRows + r], expected, 1e-5 * magnitude + 1e-30)
            << c.name << " token " << t << " row " << r << " batch " << batch;
      }
    }
  }
}

CheckpointQuantParams Declared(ActivationQuant quant, int64_t group = 0) {
  CheckpointQuantParams p;
  p.activations_declared = true;
  p.activations = quant;
  p.activation_group_size = group;
  return p;
}

std::vector<Case> Cases() {
  std::vector<Case> cases;
  Case c;
  c.name = "tensor_static";
  c.scale_shape = {};
  c.input_scale = true;  // undeclared: inferred static from the input_scale tensor
  cases.push_back(c);

  c = Case{};
  c.name = "tensor1_dynamic_tensor";
  c.scale_shape = {1};
  c.params = Declared(ActivationQuant::kDynamicTensor);
  cases.push_back(c);

  c = Case{};
  c.name = "channel_dynamic_token";
  c.scale_shape = {kRows, 1};
  c.block_rows = 0;
  c.params = Declared(ActivationQuant::kDynamicToken);
  cases.push_back(c);

  c = Case{};
  c.name = "channel1d_e5m2_weight_only";
  c.dtype = DType::kF8E5M2;
  c.scale_shape = {kRows};
  c.block_rows = 0;
  cases.push_back(c);

  c = Case{};
  c.name = "block16x32_inferred_dynamic_group";  // grid [3, 3]: 16 rows x 32 cols found from the shape
  c.scale_shape = {3, 3};
  c.scale_inv = true;
  c.block_rows = 16;
  c.block_cols = 32;
  c.params = Declared(ActivationQuant::kDynamicGroup);  // group = the weight's block_cols
  cases.push_back(c);

  c = Case{};
  c.name = "group24_rows_dynamic_group24";  // compressed-tensors "group": scales [out, ceil(in / 24)]
  c.scale_shape = {kRows, 3};
  c.block_rows = 1;
  c.block_cols = 24;
  c.params = Declared(ActivationQuant::kDynamicGroup, 24);
  c.params.weight_group_size = 24;
  cases.push_back(c);

  c = Case{};
  c.name = "no_scale_e5m2";
  c.dtype = DType::kF8E5M2;
  c.has_scale = false;
  cases.push_back(c);
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Layouts, LinearTest, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace octet
