// INT4 quantization cost on square layers of width n (the argument): RTN, Hessian accumulation (512 calibration
// tokens), the inverse-Hessian factorization, whole-layer GPTQ and one AWQ scale search (512 tokens), at 1 and 2
// threads. GPTQ is O(rows * n^2 + n^3), the Hessian O(tokens * n^2), AWQ O(grid * tokens * rows * n).
//   build/int4_bench --benchmark_filter='/1024/'
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "quant/awq.h"
#include "quant/gptq.h"
#include "quant/int4_group.h"
#include "util/thread_pool.h"

namespace octet {
namespace {

constexpr int64_t kCalibrationTokens = 512;

std::vector<float> Normal(int64_t n, float sigma, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = normal(rng);
  return v;
}

Int4Params G128() {
  Int4Params p;
  p.group_size = 128;
  return p;
}

void BM_Rtn(benchmark::State& state) {
  const int64_t n = state.range(0);
  ThreadPool pool(static_cast<size_t>(state.range(1)));
  const std::vector<float> w = Normal(n * n, 0.02f, 1);
  for (auto _ : state) benchmark::DoNotOptimize(QuantizeRtn(w.data(), n, n, G128(), &pool));
  state.counters["weights/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * n * n), benchmark::Counter::kIsRate);
}

void BM_HessianAdd(benchmark::State& state) {
  const int64_t n = state.range(0);
  ThreadPool pool(static_cast<size_t>(state.range(1)));
  const std::vector<float> x = Normal(kCalibrationTokens * n, 1.0f, 2);
  for (auto _ : state) {
    HessianAccumulator acc(n);
    acc.Add(x.data(), kCalibrationTokens, &pool);
    benchmark::DoNotOptimize(acc.samples());
  }
}

// A symmetric positive definite n x n matrix in O(n^2): random entries in [-1, 1] off the diagonal, n on it
// (diagonally dominant). The factorization cost does not depend on the values.
Hessian RandomHessian(int64_t n) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> uniform(-1.0, 1.0);
  Hessian h;
  h.cols = n;
  h.samples = 1;
  h.h.assign(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    h.h[static_cast<size_t>(i * n + i)] = static_cast<double>(n);
    for (int64_t j = 0; j < i; ++j) {
      const double v = uniform(rng);
      h.h[static_cast<size_t>(i * n + j)] = v;
      h.h[static_cast<size_t>(j * n + i)] = v;
    }
  }
  return h;
}

void BM_InverseHessianCholesky(benchmark::State& state) {
  const int64_t n = state.range(0);
  ThreadPool pool(static_cast<size_t>(state.range(1)));
  const Hessian h = RandomHessian(n);
  std::vector<double> u;
  for (auto _ : state) benchmark::DoNotOptimize(InverseHessianCholesky(h.h, n, 0.01, u, &pool));
}

void BM_Gptq(benchmark::State& state) {
  const int64_t n = state.range(0);
  ThreadPool pool(static_cast<size_t>(state.range(1)));
  const Hessian h = RandomHessian(n);
  const std::vector<float> w = Normal(n * n, 0.02f, 4);
  for (auto _ : state) benchmark::DoNotOptimize(QuantizeGptq(w.data(), n, n, h, G128(), {}, &pool));
}

void BM_AwqScaleSearch(benchmark::State& state) {
  const int64_t n = state.range(0);
  ThreadPool pool(static_cast<size_t>(state.range(1)));
  const std::vector<float> w = Normal(n * n, 0.02f, 5);
  const std::vector<float> x = Normal(kCalibrationTokens * n, 1.0f, 6);
  AwqOptions options;
  options.max_tokens = kCalibrationTokens;
  for (auto _ : state) {
    benchmark::DoNotOptimize(SearchAwqScale({{w.data(), n}}, n, x.data(), kCalibrationTokens, G128(), options, &pool));
  }
}

void Sizes(benchmark::internal::Benchmark* b) {
  for (int64_t n : {1024, 4096}) {
    for (int64_t threads : {1, 2}) b->Args({n, threads});
  }
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_Rtn)->Apply(Sizes);
BENCHMARK(BM_HessianAdd)->Apply(Sizes);
BENCHMARK(BM_InverseHessianCholesky)->Apply(Sizes);
BENCHMARK(BM_Gptq)->Apply(Sizes);
BENCHMARK(BM_AwqScaleSearch)->Apply(Sizes);

}  // namespace
}  // namespace octet

BENCHMARK_MAIN();
