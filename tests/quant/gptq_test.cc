// GPTQ: the inverse-Hessian factor, the Hessian accumulator, property checks (a diagonal Hessian reduces GPTQ to
// RTN; dead inputs; determinism; damping retries) and the key check that GPTQ lowers a real layer's output error
// on held-out real activations.
#include "quant/gptq.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "quant/awq.h"
#include "quant/real_layer.h"
#include "quant_test_util.h"
#include "test_util.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace octet {
namespace {

using testing::Normal;
using testing::Params;

// Correlated inputs with channel magnitudes spread over two orders of magnitude, like real activations.
std::vector<float> CorrelatedInputs(int64_t tokens, int64_t cols, uint32_t seed) {
  const std::vector<float> z = Normal(tokens * cols, 1.0f, seed);
  const std::vector<float> mix = Normal(cols * cols, 1.0f / std::sqrt(static_cast<float>(cols)), seed + 1);
  std::vector<float> x(static_cast<size_t>(tokens * cols), 0.0f);
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t c = 0; c < cols; ++c) {
      double sum = z[t * cols + c];
      for (int64_t k = 0; k < cols; ++k) sum += 0.7 * z[t * cols + k] * mix[k * cols + c];
      x[t * cols + c] = static_cast<float>(sum * std::pow(10.0, 2.0 * c / cols - 1.0));
    }
  }
  return x;
}

Hessian HessianOf(const std::vector<float>& x, int64_t cols) {
  HessianAccumulator acc(cols);
  acc.Add(x.data(), static_cast<int64_t>(x.size()) / cols);
  return acc.Finish();
}

class InverseHessianCholeskyTest : public ::testing::TestWithParam<int64_t> {};

// Odd and even sizes (the in-place anti-transpose has a fixed diagonal only for odd n), and sizes around the
// 16-column panels of the factorization.
INSTANTIATE_TEST_SUITE_P(Sizes, InverseHessianCholeskyTest, ::testing::Values(1, 2, 15, 16, 17, 36, 37, 70));

TEST_P(InverseHessianCholeskyTest, FactorsTheDampedInverse) {
  const int64_t n = GetParam();
  const std::vector<float> x = Normal(80 * n, 1.0f, 1);
  const Hessian h = HessianOf(x, n);
  const double damp = 0.05;
  std::vector<double> u;
  ASSERT_TRUE(InverseHessianCholesky(h.h, n, damp, u));
  // U is upper triangular with a positive diagonal, and (U^T U)(H + damp I) = I.
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_GT(u[i * n + i], 0.0);
    for (int64_t j = 0; j < i; ++j) EXPECT_EQ(u[i * n + j], 0.0);
  }
  double max_error = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0.0;
      for (int64_t k = 0; k < n; ++k) {
        double inv_ik = 0.0;  // (U^T U)[i][k]
        for (int64_t l = 0; l <= std::min(i, k); ++l) inv_ik += u[l * n + i] * u[l * n + k];
        sum += inv_ik * (h.at(k, j) + (k == j ? damp : 0.0));
      }
      max_error = std::max(max_error, std::fabs(sum - (i == j ? 1.0 : 0.0)));
    }
  }
  EXPECT_LT(max_error, 1e-10);
  // Same factor with a thread pool (the parallel path of the factorization).
  ThreadPool pool(3);
  std::vector<double> u_pool;
  ASSERT_TRUE(InverseHessianCholesky(h.h, n, damp, u_pool, &pool));
  EXPECT_EQ(u, u_pool);
}

TEST(GptqTest, InverseHessianCholeskyRefusesAnIndefiniteMatrix) {
  std::vector<double> u;
  const std::vector<double> indefinite = {1.0, 2.0, 2.0, 1.0};
  EXPECT_FALSE(InverseHessianCholesky(indefinite, 2, 0.0, u));
}

TEST(GptqTest, HessianAccumulatorHandComputedAndIncremental) {
  // Rows [1, 2] and [3, 4]: sum x x^T = [[10, 14], [14, 20]], H = 2/2 * that.
  const std::vector<float> x = {1, 2, 3, 4};
  HessianAccumulator acc(2);
  acc.Add(x.data(), 2);
  const Hessian h = acc.Finish();
  EXPECT_EQ(h.samples, 2);
  EXPECT_EQ(h.h, (std::vector<double>{10, 14, 14, 20}));
  // Two Adds of one row each: the same matrix (exact here: every product and sum is exact in F32).
  HessianAccumulator split(2);
  split.Add(x.data(), 1);
  split.Add(x.data() + 2, 1);
  EXPECT_EQ(split.Finish().h, h.h);
  // Larger than one F32 chunk (1024 rows) and one output band (256 rows of H): against a double reference,
  // identical bits at any thread count, and nearly the same when the rows come in other Add calls.
  const int64_t tokens = 1500, cols = 300;
  const std::vector<float> big = Normal(tokens * cols, 1.0f, 2);
  HessianAccumulator a(cols), b(cols), c(cols);
  ThreadPool one(1), four(4);
  a.Add(big.data(), tokens, &one);
  b.Add(big.data(), tokens, &four);
  c.Add(big.data(), 700, &four);
  c.Add(big.data() + 700 * cols, tokens - 700);
  const Hessian ha = a.Finish(), hb = b.Finish(), hc = c.Finish();
  EXPECT_EQ(ha.h, hb.h);
  std::vector<double> exact(static_cast<size_t>(cols * cols), 0.0);  // upper triangle, double throughout
  for (int64_t t = 0; t < tokens; ++t) {
    const float* xt = big.data() + t * cols;
    for (int64_t i = 0; i < cols; ++i) {
      for (int64_t j = i; j < cols; ++j) exact[i * cols + j] += static_cast<double>(xt[i]) * xt[j];
    }
  }
  double max_error = 0.0, max_split_difference = 0.0;
  int64_t asymmetric = 0;
  for (int64_t i = 0; i < cols; ++i) {
    for (int64_t j = i; j < cols; ++j) {
      max_error = std::max(max_error, std::fabs(ha.at(i, j) - exact[i * cols + j] * 2.0 / tokens));
      max_split_difference = std::max(max_split_difference, std::fabs(hc.at(i, j) - ha.at(i, j)));
      asymmetric += ha.at(i, j) != ha.at(j, i);
    }
  }
  EXPECT_LT(max_error, 1e-5);  // the diagonal is ~2, off-diagonal entries ~0.05
  EXPECT_LT(max_split_difference, 1e-5);
  EXPECT_EQ(asymmetric, 0);
  // Errors.
  EXPECT_THROW(HessianAccumulator(3).Finish(), Error);
  const std::vector<float> bad = {1.0f, std::nanf("")};
  EXPECT_THROW(HessianAccumulator(2).Add(bad.data(), 1), Error);
}

TEST(GptqTest, DiagonalHessianReducesToRtn) {
  // With a diagonal H, U is diagonal: no error is propagated, so GPTQ is RTN with the same (static) groups,
  // whatever the processing order.
  const int64_t rows = 21, cols = 172;
  const std::vector<float> w = Normal(rows * cols, 0.05f, 3);
  Hessian h;
  h.cols = cols;
  h.samples = 1;
  h.h.assign(cols * cols, 0.0);
  for (int64_t i = 0; i < cols; ++i) h.h[i * cols + i] = 0.5 + std::fmod(0.37 * i, 2.0);  // distinct diagonal
  Int4Params ggml = Params(32, true);
  ggml.grid = Int4Grid::kGgmlQ4_0;
  for (const Int4Params& p : {Params(32, true), Params(128, false), Params(kInt4ChannelGroup, true), ggml}) {
    // (act_order, static_groups): dynamic groups see unchanged weights too, since nothing is propagated.
    for (auto [act_order, static_groups] :
         std::vector<std::pair<bool, bool>>{{true, true}, {false, true}, {false, false}}) {
      GptqOptions options;
      options.act_order = act_order;
      options.static_groups = static_groups;
      const Int4Matrix gptq = QuantizeGptq(w.data(), rows, cols, h, p, options);
      const Int4Matrix rtn = QuantizeRtn(w.data(), rows, cols, p);
      EXPECT_EQ(gptq.codes, rtn.codes) << p.ToString() << " act_order " << act_order << " static " << static_groups;
      EXPECT_EQ(gptq.scales, rtn.scales);
      EXPECT_EQ(gptq.zeros, rtn.zeros);
      EXPECT_EQ(gptq.inverse_scales, rtn.inverse_scales);
    }
  }
  GptqOptions dynamic_with_act_order;
  dynamic_with_act_order.static_groups = false;
  EXPECT_THROW(QuantizeGptq(w.data(), rows, cols, h, Params(32, true), dynamic_with_act_order), Error);
}

TEST(GptqTest, DeadInputsAreZeroedAndCounted) {
  const int64_t rows = 9, cols = 40, tokens = 200;
  const std::vector<float> w = Normal(rows * cols, 0.1f, 4);
  std::vector<float> x = Normal(tokens * cols, 1.0f, 5);
  for (int64_t t = 0; t < tokens; ++t) x[t * cols + 17] = 0.0f;  // input 17 never fires
  const Hessian h = HessianOf(x, cols);
  GptqStats stats;
  const Int4Matrix m = QuantizeGptq(w.data(), rows, cols, h, Params(32, false), {}, nullptr, &stats);
  EXPECT_EQ(stats.dead_columns, 1);
  const std::vector<float> d = m.Dequantize();
  for (int64_t r = 0; r < rows; ++r) EXPECT_EQ(d[r * cols + 17], 0.0f) << r;
  EXPECT_GT(stats.loss, 0.0);
  EXPECT_EQ(stats.damp_used, 0.01);
}

TEST(GptqTest, IdenticalAtAnyThreadCount) {
  const int64_t rows = 70, cols = 172, tokens = 400;
  const std::vector<float> w = Normal(rows * cols, 0.05f, 6);
  const Hessian h = HessianOf(CorrelatedInputs(tokens, cols, 7), cols);
  ThreadPool one(1), three(3);
  for (const Int4Params& p : {Params(32, true), Params(64, false)}) {
    GptqOptions options;
    options.block_size = 48;  // blocks that do not line up with the groups
    GptqStats s1, s3;
    const Int4Matrix a = QuantizeGptq(w.data(), rows, cols, h, p, options, &one, &s1);
    const Int4Matrix b = QuantizeGptq(w.data(), rows, cols, h, p, options, &three, &s3);
    EXPECT_EQ(a.codes, b.codes);
    EXPECT_EQ(a.scales, b.scales);
    EXPECT_EQ(a.zeros, b.zeros);
    EXPECT_EQ(s1.loss, s3.loss);
  }
}

TEST(GptqTest, OnePreparedInverseHessianServesEveryLinearOfAnInput) {
  // q/k/v read the same input: one PrepareGptq, three QuantizeGptq calls, each identical to the one-shot call.
  const int64_t cols = 96, tokens = 300;
  const Hessian h = HessianOf(CorrelatedInputs(tokens, cols, 12), cols);
  const GptqInverseHessian prepared = PrepareGptq(h);
  EXPECT_EQ(prepared.cols, cols);
  EXPECT_EQ(prepared.order.size(), static_cast<size_t>(cols));
  for (int64_t rows : {96, 32, 32}) {
    const std::vector<float> w = Normal(rows * cols, 0.05f, static_cast<uint32_t>(13 + rows));
    const Int4Matrix shared = QuantizeGptq(w.data(), rows, cols, prepared, Params(32, true));
    const Int4Matrix alone = QuantizeGptq(w.data(), rows, cols, h, Params(32, true));
    EXPECT_EQ(shared.codes, alone.codes);
    EXPECT_EQ(shared.scales, alone.scales);
  }
  // A factor prepared for another width, or with act_order for dynamic groups, is refused.
  const std::vector<float> w = Normal(8 * 64, 0.05f, 14);
  EXPECT_THROW(QuantizeGptq(w.data(), 8, 64, prepared, Params(32, true)), Error);
  GptqOptions dynamic;
  dynamic.act_order = false;
  dynamic.static_groups = false;
  const std::vector<float> w96 = Normal(8 * cols, 0.05f, 15);
  EXPECT_THROW(QuantizeGptq(w96.data(), 8, cols, prepared, Params(32, true), dynamic), Error);
}

TEST(GptqTest, BlockSizeDoesNotChangeTheResultMuch) {
  // Lazy blocks reorder the additions only: codes agree except for rare ties near a rounding boundary.
  const int64_t rows = 32, cols = 172, tokens = 400;
  const std::vector<float> w = Normal(rows * cols, 0.05f, 8);
  const Hessian h = HessianOf(CorrelatedInputs(tokens, cols, 9), cols);
  GptqOptions a_options, b_options;
  a_options.block_size = 128;
  b_options.block_size = 1;
  const Int4Matrix a = QuantizeGptq(w.data(), rows, cols, h, Params(32, true), a_options);
  const Int4Matrix b = QuantizeGptq(w.data(), rows, cols, h, Params(32, true), b_options);
  int64_t differ = 0;
  for (size_t i = 0; i < a.codes.size(); ++i) differ += a.codes[i] != b.codes[i];
  EXPECT_LE(differ, static_cast<int64_t>(a.codes.size() / 1000) + 2);
}

TEST(GptqTest, LowersOutputErrorOnCorrelatedInputs) {
  const int64_t rows = 48, cols = 128, tokens = 1024;
  const std::vector<float> w = Normal(rows * cols, 0.05f, 10);
  // One distribution: the first `tokens` rows calibrate, the last 256 are held out.
  const std::vector<float> all = CorrelatedInputs(tokens + 256, cols, 11);
  const std::vector<float> x(all.begin(), all.begin() + tokens * cols);
  const std::vector<float> held_out(all.begin() + tokens * cols, all.end());
  const Hessian h = HessianOf(x, cols);
  GptqOptions dynamic_groups;
  dynamic_groups.act_order = false;
  dynamic_groups.static_groups = false;
  for (const Int4Params& p : {Params(32, true), Params(128, false)}) {
    GptqOptions static_in_order;
    static_in_order.act_order = false;
    for (const GptqOptions& options : {GptqOptions{}, static_in_order, dynamic_groups}) {
      const std::vector<float> rtn = QuantizeRtn(w.data(), rows, cols, p).Dequantize();
      const std::vector<float> gptq = QuantizeGptq(w.data(), rows, cols, h, p, options).Dequantize();
      const double e_rtn = LinearOutputSquaredError(held_out.data(), 256, w.data(), rtn.data(), rows, cols);
      const double e_gptq = LinearOutputSquaredError(held_out.data(), 256, w.data(), gptq.data(), rows, cols);
      // These inputs grow in magnitude with the column index, the worst order for GPTQ without act_order (the big
      // columns come last, with nowhere left to push their error): act_order is what makes the large gain here.
      const double bound = options.act_order ? 0.8 * e_rtn : e_rtn;
      EXPECT_LT(e_gptq, bound) << p.ToString() << " act_order " << options.act_order << " static groups "
                               << options.static_groups;
    }
  }
}

TEST(GptqTest, DampingRetriesThenFailsNamingTheLayer) {
  // diag 1, off-diagonal 3: eigenvalues 4 and -2. Damping 0.01, 0.1 and 1 x mean(diag) leave a negative
  // eigenvalue; the third retry (10) succeeds.
  const std::vector<float> w = {0.1f, -0.2f, 0.3f, 0.05f};
  Hessian h;
  h.cols = 2;
  h.samples = 4;
  h.h = {1.0, 3.0, 3.0, 1.0};
  GptqOptions options;
  options.name = "model.layers.7.mlp.down_proj";
  GptqStats stats;
  EXPECT_NO_THROW(QuantizeGptq(w.data(), 2, 2, h, Params(32, true), options, nullptr, &stats));
  EXPECT_DOUBLE_EQ(stats.damp_used, 10.0);
  h.h = {1.0, 100.0, 100.0, 1.0};  // needs damping >= 99 x mean(diag)
  try {
    QuantizeGptq(w.data(), 2, 2, h, Params(32, true), options);
    ADD_FAILURE() << "factored an indefinite Hessian";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("model.layers.7.mlp.down_proj"), std::string::npos) << message;
    EXPECT_NE(message.find("not positive definite"), std::string::npos) << message;
  }
  h.cols = 3;
  EXPECT_THROW(QuantizeGptq(w.data(), 2, 2, h, Params(32, true), options), Error);
}

// ---- The real layers ------------------------------------------------------------------------------------------

const std::vector<testing::RealLayer>& AidreamsLayers(const std::filesystem::path& model) {
  static const std::vector<testing::RealLayer> layers =
      testing::CaptureRealLayers(model, {"model.layers.1.self_attn.q_proj", "model.layers.1.mlp.down_proj"});
  return layers;
}

TEST(GptqRealLayerTest, LowersHeldOutOutputErrorVersusRtn) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  const auto& layers = AidreamsLayers(model);
  ThreadPool pool(2);
  for (const testing::RealLayer& layer : layers) {
    ASSERT_GT(layer.calib_tokens, 0) << layer.module;
    ASSERT_GT(layer.held_out_tokens, 0) << layer.module;
    HessianAccumulator acc(layer.cols);
    acc.Add(layer.calib.data(), layer.calib_tokens, &pool);
    const Hessian h = acc.Finish();
    for (const Int4Params& p : {Params(32, true), Params(128, true), Params(32, false)}) {
      const std::vector<float> rtn = QuantizeRtn(layer.weight.data(), layer.rows, layer.cols, p).Dequantize();
      GptqOptions options;
      options.name = layer.module;
      const std::vector<float> gptq =
          QuantizeGptq(layer.weight.data(), layer.rows, layer.cols, h, p, options, &pool).Dequantize();
      const double e_rtn = LinearOutputSquaredError(layer.held_out.data(), layer.held_out_tokens, layer.weight.data(),
                                                    rtn.data(), layer.rows, layer.cols);
      const double e_gptq = LinearOutputSquaredError(layer.held_out.data(), layer.held_out_tokens, layer.weight.data(),
                                                     gptq.data(), layer.rows, layer.cols);
      const double signal =
          LinearOutputSquaredError(layer.held_out.data(), layer.held_out_tokens, layer.weight.data(),
                                   std::vector<float>(layer.weight.size()).data(), layer.rows, layer.cols);
      std::printf("[ real ] %-32s [%lld, %lld] %-42s held-out ||XW^T - XQ^T||^2 / ||XW^T||^2: RTN %.5f  GPTQ %.5f\n",
                  layer.module.c_str(), static_cast<long long>(layer.rows), static_cast<long long>(layer.cols),
                  p.ToString().c_str(), e_rtn / signal, e_gptq / signal);
      EXPECT_LT(e_gptq, e_rtn) << layer.module << " " << p.ToString();
    }
  }
}

}  // namespace
}  // namespace octet
