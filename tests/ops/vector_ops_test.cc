// ops/vector_ops.h against double-precision scalar code, on every compiled SIMD target and awkward lengths.
#include "ops/vector_ops.h"

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "ops/simd_targets.h"

namespace octet {
namespace {

using ::octet::testing::ForEachSimdTarget;

const size_t kLengths[] = {1, 3, 13, 16, 64, 172, 257, 1003};

std::vector<float> Random(size_t n, uint32_t seed, float lo = -3.0f, float hi = 3.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

double RefSilu(double x) { return x / (1.0 + std::exp(-x)); }

// |got - want| <= rel·|want| + abs, reporting the index.
void ExpectNear(const std::vector<float>& got, const std::vector<double>& want, double rel, double abs) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_LE(std::fabs(got[i] - want[i]), rel * std::fabs(want[i]) + abs) << "index " << i;
  }
}

TEST(VectorOpsTest, Dot) {
  ForEachSimdTarget([](const std::string&) {
    for (const size_t n : kLengths) {
      SCOPED_TRACE("n " + std::to_string(n));
      const std::vector<float> a = Random(n, 1), b = Random(n, 2);
      double ref = 0, abs_sum = 0;
      for (size_t i = 0; i < n; ++i) {
        ref += double{a[i]} * b[i];
        abs_sum += std::fabs(double{a[i]} * b[i]);
      }
      EXPECT_NEAR(Dot(a.data(), b.data(), n), ref, 1e-5 * abs_sum);
    }
  });
}

TEST(VectorOpsTest, RmsNormWithAndWithoutWeight) {
  ForEachSimdTarget([](const std::string&) {
    for (const size_t n : kLengths) {
      SCOPED_TRACE("n " + std::to_string(n));
      const std::vector<float> x = Random(n, 3), weight = Random(n, 4, 0.5f, 1.5f);
      double mean_square = 0;
      for (const float v : x) mean_square += double{v} * v;
      mean_square /= n;
      const double inv_rms = 1.0 / std::sqrt(mean_square + 1e-6);
      std::vector<double> want(n), want_unweighted(n);
      for (size_t i = 0; i < n; ++i) {
        want_unweighted[i] = x[i] * inv_rms;
        want[i] = want_unweighted[i] * weight[i];
      }
      std::vector<float> out(n);
      RmsNorm(x.data(), weight.data(), n, 1e-6f, out.data());
      ExpectNear(out, want, 1e-5, 1e-6);
      std::vector<float> in_place = x;
      RmsNorm(in_place.data(), nullptr, n, 1e-6f, in_place.data());
      ExpectNear(in_place, want_unweighted, 1e-5, 1e-6);
    }
  });
}

TEST(VectorOpsTest, SoftmaxIncludingMaskedEntries) {
  ForEachSimdTarget([](const std::string&) {
    for (const size_t n : kLengths) {
      SCOPED_TRACE("n " + std::to_string(n));
      std::vector<float> x = Random(n, 5, -20.0f, 20.0f);
      if (n > 2) x[n / 2] = -std::numeric_limits<float>::infinity();  // a masked position
      double max = -INFINITY, sum = 0;
      for (const float v : x) max = std::max(max, double{v});
      for (const float v : x) sum += std::exp(v - max);
      std::vector<double> want(n);
      for (size_t i = 0; i < n; ++i) want[i] = std::exp(x[i] - max) / sum;
      Softmax(x.data(), n);
      ExpectNear(x, want, 1e-5, 1e-7);
      if (n > 2) {
        EXPECT_EQ(x[n / 2], 0.0f);
      }
    }
    std::vector<float> all_masked(5, -std::numeric_limits<float>::infinity());
    Softmax(all_masked.data(), all_masked.size());
    for (const float v : all_masked) EXPECT_EQ(v, 0.0f);
  });
}

TEST(VectorOpsTest, SiluAndSwiGLU) {
  ForEachSimdTarget([](const std::string&) {
    for (const size_t n : kLengths) {
      SCOPED_TRACE("n " + std::to_string(n));
      std::vector<float> gate = Random(n, 6, -12.0f, 12.0f);
      if (n > 3) gate[0] = -200.0f, gate[1] = 200.0f;  // outside exp's comfortable range
      const std::vector<float> up = Random(n, 7);
      std::vector<double> want_silu(n), want_swiglu(n);
      for (size_t i = 0; i < n; ++i) {
        want_silu[i] = RefSilu(gate[i]);
        want_swiglu[i] = want_silu[i] * up[i];
      }
      std::vector<float> out(n);
      Silu(gate.data(), n, out.data());
      ExpectNear(out, want_silu, 1e-5, 1e-7);
      SwiGLU(gate.data(), up.data(), n, out.data());
      ExpectNear(out, want_swiglu, 1e-5, 1e-7);
      std::vector<float> aliased = gate;
      SwiGLU(aliased.data(), up.data(), n, aliased.data());
      ExpectNear(aliased, want_swiglu, 1e-5, 1e-7);
    }
  });
}

TEST(VectorOpsTest, AddMulAddAndScaleInPlace) {
  ForEachSimdTarget([](const std::string&) {
    for (const size_t n : kLengths) {
      SCOPED_TRACE("n " + std::to_string(n));
      const std::vector<float> x = Random(n, 8), y0 = Random(n, 9);
      std::vector<double> want_add(n), want_muladd(n), want_scale(n);
      for (size_t i = 0; i < n; ++i) {
        want_add[i] = double{y0[i]} + x[i];
        want_muladd[i] = double{y0[i]} + 0.75 * x[i];
        want_scale[i] = double{y0[i]} * -1.5;
      }
      std::vector<float> y = y0;
      AddInPlace(y.data(), x.data(), n);
      ExpectNear(y, want_add, 1e-6, 1e-6);
      y = y0;
      MulAddInPlace(y.data(), 0.75f, x.data(), n);
      ExpectNear(y, want_muladd, 1e-6, 1e-6);
      y = y0;
      ScaleInPlace(y.data(), -1.5f, n);
      ExpectNear(y, want_scale, 1e-6, 0.0);
    }
  });
}

}  // namespace
}  // namespace octet
