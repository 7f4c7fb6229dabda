// AWQ scale search and clipping: hand-checked scale formula, the ratio-0 = RTN property, the folding contract, and
// the real layers of aidreams260K.
#include "quant/awq.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "quant/gptq.h"
#include "quant/real_layer.h"
#include "quant_test_util.h"
#include "test_util.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace octet {
namespace {

using testing::Normal;
using testing::Params;

// Inputs whose channels differ in magnitude by up to 30x, a few "salient" channels as AWQ assumes.
std::vector<float> SkewedInputs(int64_t tokens, int64_t cols, uint32_t seed) {
  std::vector<float> x = Normal(tokens * cols, 1.0f, seed);
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t c = 0; c < cols; ++c) x[t * cols + c] *= (c % 13 == 0) ? 30.0f : 1.0f;
  }
  return x;
}

double RtnError(const float* x, int64_t tokens, const std::vector<float>& w, int64_t rows, int64_t cols,
                const Int4Params& p) {
  const std::vector<float> q = QuantizeRtn(w.data(), rows, cols, p).Dequantize();
  return LinearOutputSquaredError(x, tokens, w.data(), q.data(), rows, cols);
}

TEST(AwqTest, LinearOutputSquaredErrorHandComputed) {
  // x = [[1, 2], [0, 1]], w - w_hat = [[1, 0], [0.5, -1]]: outputs differences [1, -1.5] and [0, -1] -> 1 + 2.25 + 1.
  const std::vector<float> x = {1, 2, 0, 1};
  const std::vector<float> w = {2, 1, 0.5f, 0};
  const std::vector<float> w_hat = {1, 1, 0, 1};
  EXPECT_DOUBLE_EQ(LinearOutputSquaredError(x.data(), 2, w.data(), w_hat.data(), 2, 2), 4.25);
}

TEST(AwqTest, RatioZeroIsRtnAndTheBestIsNoWorse) {
  const int64_t cols = 96, tokens = 512;
  const std::vector<float> x = SkewedInputs(tokens, cols, 1);
  const std::vector<float> w1 = Normal(40 * cols, 0.05f, 2);
  const std::vector<float> w2 = Normal(24 * cols, 0.05f, 3);
  const std::vector<AwqLinear> linears = {{w1.data(), 40}, {w2.data(), 24}};
  const Int4Params p = Params(32, true);
  const AwqScaleResult r = SearchAwqScale(linears, cols, x.data(), tokens, p);
  ASSERT_EQ(r.losses.size(), 20u);
  const double rtn = (RtnError(x.data(), tokens, w1, 40, cols, p) + RtnError(x.data(), tokens, w2, 24, cols, p)) /
                     (static_cast<double>(tokens) * 64);
  EXPECT_NEAR(r.losses[0], rtn, 1e-12 * rtn);
  EXPECT_LE(r.best_loss, r.losses[0]);
  EXPECT_EQ(r.best_loss, *std::min_element(r.losses.begin(), r.losses.end()));
  // Salient channels make scaling worthwhile here.
  EXPECT_GT(r.best_ratio, 0.0);
  EXPECT_LT(r.best_loss, 0.9 * r.losses[0]);
  ASSERT_EQ(r.scales.size(), static_cast<size_t>(cols));
  for (float s : r.scales) EXPECT_TRUE(std::isfinite(s) && s > 0);
}

TEST(AwqTest, ScaleFormulaMatchesAutoAwq) {
  // One linear, grid 2 -> ratios 0 and 0.5. Channel mean |x| = [1, 4, 16, 0]. At ratio 0.5: s = [1, 2, 4, 1e-4]
  // (0^0.5 = 0 clamps to 1e-4), normalized by sqrt(max * min) = sqrt(4e-4) = 0.02 -> [50, 100, 200, 0.005].
  // Whichever ratio wins, the scales must be one of these two vectors.
  const std::vector<float> x = {1, -4, 16, 0, -1, 4, -16, 0};
  const std::vector<float> w = {0.1f, -0.2f, 0.3f, 0.4f};
  AwqOptions options;
  options.grid = 2;
  const AwqScaleResult r = SearchAwqScale({{w.data(), 1}}, 4, x.data(), 2, Params(kInt4ChannelGroup, true), options);
  if (r.best_ratio == 0.0) {
    EXPECT_EQ(r.scales, (std::vector<float>{1, 1, 1, 1}));
  } else {
    EXPECT_EQ(r.best_ratio, 0.5);
    ASSERT_EQ(r.scales.size(), 4u);
    EXPECT_FLOAT_EQ(r.scales[0], 50.0f);
    EXPECT_FLOAT_EQ(r.scales[1], 100.0f);
    EXPECT_FLOAT_EQ(r.scales[2], 200.0f);
    EXPECT_FLOAT_EQ(r.scales[3], 0.005f);
  }
}

TEST(AwqTest, FoldingContractPreservesTheFunction) {
  // (x / s) (W s)^T == x W^T: dividing the producer by s and scaling W's columns by s changes nothing before
  // quantization (up to F32 rounding).
  const int64_t cols = 40, rows = 8, tokens = 16;
  std::vector<float> x = SkewedInputs(tokens, cols, 4);
  const std::vector<float> w = Normal(rows * cols, 0.1f, 5);
  const AwqScaleResult r = SearchAwqScale({{w.data(), rows}}, cols, x.data(), tokens, Params(32, true));
  std::vector<float> ws = w;
  ScaleWeightColumns(ws.data(), rows, cols, r.scales);
  std::vector<float> xs = x;
  DivideInputColumns(xs.data(), tokens, cols, r.scales);
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t o = 0; o < rows; ++o) {
      double a = 0, b = 0, magnitude = 0;
      for (int64_t c = 0; c < cols; ++c) {
        a += static_cast<double>(x[t * cols + c]) * w[o * cols + c];
        b += static_cast<double>(xs[t * cols + c]) * ws[o * cols + c];
        magnitude += std::fabs(static_cast<double>(x[t * cols + c]) * w[o * cols + c]);
      }
      EXPECT_NEAR(a, b, 1e-5 * magnitude);
    }
  }
  EXPECT_THROW(ScaleWeightColumns(ws.data(), rows, cols, std::vector<float>(3, 1.0f)), Error);
}

TEST(AwqTest, IdenticalAtAnyThreadCount) {
  const int64_t cols = 172, tokens = 300;
  const std::vector<float> x = SkewedInputs(tokens, cols, 6);
  const std::vector<float> w = Normal(50 * cols, 0.05f, 7);
  ThreadPool one(1), three(3);
  AwqOptions options;
  options.duo_scaling = true;
  const AwqScaleResult a = SearchAwqScale({{w.data(), 50}}, cols, x.data(), tokens, Params(32, false), options, &one);
  const AwqScaleResult b = SearchAwqScale({{w.data(), 50}}, cols, x.data(), tokens, Params(32, false), options, &three);
  EXPECT_EQ(a.scales, b.scales);
  EXPECT_EQ(a.losses, b.losses);
  const std::vector<float> ca = SearchAwqClip(w.data(), 50, cols, x.data(), tokens, Params(32, true), {}, &one);
  const std::vector<float> cb = SearchAwqClip(w.data(), 50, cols, x.data(), tokens, Params(32, true), {}, &three);
  EXPECT_EQ(ca, cb);
}

TEST(AwqTest, ClipNeverIncreasesTheGroupErrorItMeasures) {
  const int64_t rows = 16, cols = 64, tokens = 256;
  const std::vector<float> x = Normal(tokens * cols, 1.0f, 8);
  std::vector<float> w = Normal(rows * cols, 0.05f, 9);
  w[3 * cols + 5] = 0.9f;  // outliers that are better clipped
  w[7 * cols + 40] = -0.8f;
  const Int4Params p = Params(32, true);
  const std::vector<float> clip = SearchAwqClip(w.data(), rows, cols, x.data(), tokens, p);
  ASSERT_EQ(clip.size(), static_cast<size_t>(rows * 2));
  std::vector<float> clipped = w;
  ApplyAwqClip(clipped.data(), rows, cols, 32, clip);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < 2; ++g) {
      float max_abs = 0;
      for (int64_t c = g * 32; c < g * 32 + 32; ++c) max_abs = std::max(max_abs, std::fabs(w[r * cols + c]));
      EXPECT_LE(clip[r * 2 + g], max_abs);
      EXPECT_GE(clip[r * 2 + g], 0.55f * max_abs);  // at most max_shrink (0.5) minus one step
    }
  }
  // The output error of RTN on the clipped weight (measured against the original) is no larger.
  const std::vector<float> q_plain = QuantizeRtn(w.data(), rows, cols, p).Dequantize();
  const std::vector<float> q_clipped = QuantizeRtn(clipped.data(), rows, cols, p).Dequantize();
  EXPECT_LE(LinearOutputSquaredError(x.data(), tokens, w.data(), q_clipped.data(), rows, cols),
            LinearOutputSquaredError(x.data(), tokens, w.data(), q_plain.data(), rows, cols));
}

TEST(AwqTest, RejectsBadInput) {
  const std::vector<float> w(8, 0.1f), x(8, 1.0f);
  EXPECT_THROW(SearchAwqScale({}, 4, x.data(), 2, Params(32, true)), Error);
  EXPECT_THROW(SearchAwqScale({{w.data(), 2}}, 4, x.data(), 0, Params(32, true)), Error);
  EXPECT_THROW(ApplyAwqClip(std::vector<float>(8).data(), 2, 4, 32, {1.0f}), Error);
}

// ---- The real layers ------------------------------------------------------------------------------------------

TEST(AwqRealLayerTest, BestRatioIsNoWorseThanRtnOnRealLayers) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  static const std::vector<testing::RealLayer> layers =
      testing::CaptureRealLayers(model, {"model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.k_proj",
                                         "model.layers.1.self_attn.v_proj", "model.layers.1.mlp.down_proj"});
  ThreadPool pool(2);
  // q/k/v share one input (one scale vector), down_proj is alone.
  const std::vector<std::vector<size_t>> groups = {{0, 1, 2}, {3}};
  for (const auto& group : groups) {
    const testing::RealLayer& first = layers[group[0]];
    std::vector<AwqLinear> linears;
    for (size_t i : group) linears.push_back({layers[i].weight.data(), layers[i].rows});
    for (const auto& [p, duo] : std::vector<std::pair<Int4Params, bool>>{
             {Params(32, true), false}, {Params(128, true), false}, {Params(32, true), true}}) {
      AwqOptions options;
      options.duo_scaling = duo;
      const AwqScaleResult r =
          SearchAwqScale(linears, first.cols, first.calib.data(), first.calib_tokens, p, options, &pool);
      if (!duo) {
        EXPECT_LE(r.best_loss, r.losses[0]) << first.module;  // ratio 0 is RTN only without duo scaling
      }
      // Held-out: RTN vs AWQ (W s quantized, inputs / s) vs AWQ + GPTQ (GPTQ on W s with the Hessian of X / s).
      double e_rtn = 0, e_awq = 0, e_awq_clip = 0, e_gptq = 0, e_awq_gptq = 0, signal = 0;
      std::vector<float> calib_scaled = first.calib;
      DivideInputColumns(calib_scaled.data(), first.calib_tokens, first.cols, r.scales);
      HessianAccumulator plain(first.cols), scaled(first.cols);
      plain.Add(first.calib.data(), first.calib_tokens);
      scaled.Add(calib_scaled.data(), first.calib_tokens);
      const Hessian h_plain = plain.Finish(), h_scaled = scaled.Finish();
      for (size_t i : group) {
        const testing::RealLayer& layer = layers[i];
        const float* x = layer.held_out.data();
        const int64_t n = layer.held_out_tokens;
        const std::vector<float> zero(layer.weight.size(), 0.0f);
        signal += LinearOutputSquaredError(x, n, layer.weight.data(), zero.data(), layer.rows, layer.cols);
        e_rtn += RtnError(x, n, layer.weight, layer.rows, layer.cols, p);
        std::vector<float> ws = layer.weight;
        ScaleWeightColumns(ws.data(), layer.rows, layer.cols, r.scales);
        auto unscale = [&](std::vector<float> q) {
          for (int64_t o = 0; o < layer.rows; ++o) {
            for (int64_t c = 0; c < layer.cols; ++c) q[o * layer.cols + c] /= r.scales[c];
          }
          return q;
        };
        const std::vector<float> awq = unscale(QuantizeRtn(ws.data(), layer.rows, layer.cols, p).Dequantize());
        e_awq += LinearOutputSquaredError(x, n, layer.weight.data(), awq.data(), layer.rows, layer.cols);
        // Optional clipping, searched on the scaled weight and the scaled calibration inputs (AutoAWQ's order).
        std::vector<float> ws_clipped = ws;
        const std::vector<float> clip =
            SearchAwqClip(ws.data(), layer.rows, layer.cols, calib_scaled.data(), first.calib_tokens, p, {}, &pool);
        ApplyAwqClip(ws_clipped.data(), layer.rows, layer.cols, p.EffectiveGroupSize(layer.cols), clip);
        const std::vector<float> awq_clip =
            unscale(QuantizeRtn(ws_clipped.data(), layer.rows, layer.cols, p).Dequantize());
        e_awq_clip += LinearOutputSquaredError(x, n, layer.weight.data(), awq_clip.data(), layer.rows, layer.cols);
        const std::vector<float> gptq =
            QuantizeGptq(layer.weight.data(), layer.rows, layer.cols, h_plain, p, {}, &pool).Dequantize();
        e_gptq += LinearOutputSquaredError(x, n, layer.weight.data(), gptq.data(), layer.rows, layer.cols);
        const std::vector<float> awq_gptq =
            unscale(QuantizeGptq(ws.data(), layer.rows, layer.cols, h_scaled, p, {}, &pool).Dequantize());
        e_awq_gptq += LinearOutputSquaredError(x, n, layer.weight.data(), awq_gptq.data(), layer.rows, layer.cols);
      }
      std::printf(
          "[ real ] %-32s %-42s%s best ratio %.2f; calib loss ratio0 %.3g best %.3g; held-out relative "
          "error: RTN %.5f AWQ %.5f AWQ+clip %.5f GPTQ %.5f AWQ+GPTQ %.5f\n",
          group.size() > 1 ? "model.layers.1.self_attn.{q,k,v}" : first.module.c_str(), p.ToString().c_str(),
          duo ? " duo" : "", r.best_ratio, r.losses[0], r.best_loss, e_rtn / signal, e_awq / signal,
          e_awq_clip / signal, e_gptq / signal, e_awq_gptq / signal);
      // The data are fixed, so these are deterministic checks, not statistical ones.
      if (!duo && r.best_ratio > 0) {
        EXPECT_LT(e_awq, e_rtn) << first.module << " " << p.ToString();
      }
      EXPECT_LT(e_awq_gptq, e_rtn) << first.module << " " << p.ToString();
      EXPECT_LT(e_awq_clip, e_awq) << first.module << " " << p.ToString();
    }
  }
}

}  // namespace
}  // namespace octet
