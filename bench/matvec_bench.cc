// Weight kernels against the machine's memory read bandwidth.
//
//   build-ops/matvec_bench --benchmark_counters_tabular=true
//
// BM_ReadBandwidth reads a 1 GiB buffer with SIMD (the ceiling for any kernel that streams weights once);
// BM_MatVec streams a 14336×4096 matrix (the Llama-3-8B FFN shape, far larger than caches) in each dtype and
// reports bytes/s plus `of_bandwidth`, its fraction of the read bandwidth measured at the same thread count in
// this run. BM_MatMul reports GFLOP/s for a prefill of 64 tokens. Decode-time MatVec is what matters most: FP8
// should run at ~2× the rows/s of BF16 because each row is half the bytes. BM_MatVecInt4/g32 and /g128 run the
// same shape as packed INT4 (compressed-tensors pack-quantized, symmetric) with one F32 scale per row and group;
// their bytes are the packed weights plus those scales (g32: 0.625 bytes per weight, g128: 0.53).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "hwy/aligned_allocator.h"
#include "ops/matvec.h"
#include "ops/vector_ops.h"
#include "util/thread_pool.h"

namespace octet {
namespace {

constexpr int64_t kRows = 14336;
constexpr int64_t kCols = 4096;

// Read bandwidth (bytes/s) measured by BM_ReadBandwidth per thread count; BM_ReadBandwidth runs first.
using BandwidthTable = std::map<size_t, double>;

// Reads a 1 GiB buffer once with SIMD: each item is a fixed slice of the first half dotted with the matching
// slice of the second half (two concurrent streams, like the kernels' several rows; one FMA per two vectors
// loaded, so the loop is bound by memory, not compute).
void BM_ReadBandwidth(benchmark::State& state, BandwidthTable* bandwidth) {
  const size_t threads = static_cast<size_t>(state.range(0));
  constexpr size_t kBytes = size_t{1} << 30;
  constexpr size_t kFloats = kBytes / sizeof(float);
  constexpr size_t kHalf = kFloats / 2;
  constexpr size_t kSlice = 16384;  // floats per Dot call
  constexpr size_t kItems = 256;
  constexpr size_t kPerItem = kHalf / kItems;
  hwy::AlignedFreeUniquePtr<float[]> buffer = hwy::AllocateAligned<float>(kFloats);
  std::fill(buffer.get(), buffer.get() + kFloats, 1.0f);
  std::vector<float> sums(kItems);
  ThreadPool pool(threads);
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    pool.ParallelFor(kItems, [&](size_t item) {
      float sum = 0;
      for (size_t i = item * kPerItem; i < (item + 1) * kPerItem; i += kSlice) {
        sum += Dot(buffer.get() + i, buffer.get() + kHalf + i, kSlice);
      }
      sums[item] = sum;
    });
    benchmark::DoNotOptimize(sums.data());
    benchmark::ClobberMemory();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  (*bandwidth)[threads] = static_cast<double>(kBytes) * static_cast<double>(state.iterations()) / seconds;
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(kBytes));
  state.counters["GB/s"] =
      benchmark::Counter(static_cast<double>(kBytes) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(BestTargetName());
}

size_t BytesPerElement(DType dtype) {
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

// Random weights whose every byte pattern is a finite number in all formats (FP8 codes avoid the NaN/Inf codes;
// 16/32-bit patterns are built from small exponents).
std::vector<uint8_t> RandomWeights(DType dtype, size_t count) {
  std::mt19937 rng(42);
  std::vector<uint8_t> bytes(count * BytesPerElement(dtype));
  for (size_t i = 0; i < count; ++i) {
    const uint32_t r = rng();
    switch (dtype) {
      case DType::kF32: {
        const float f = static_cast<float>(static_cast<int32_t>(r % 2001) - 1000) * 1e-3f;
        std::memcpy(&bytes[4 * i], &f, 4);
        break;
      }
      case DType::kF16:
      case DType::kBF16: {
        const uint16_t bits = static_cast<uint16_t>((r & 0x803F) | (dtype == DType::kF16 ? 0x3800 : 0x3E00));
        std::memcpy(&bytes[2 * i], &bits, 2);
        break;
      }
      default:
        bytes[i] = static_cast<uint8_t>((r & 0xB7) | 0x08);  // exponent never all-ones
    }
  }
  return bytes;
}

// Inputs like a layer's activations: varied F32 values (none of the kernels depends on them for speed).
std::vector<float> Activations(size_t count) {
  std::vector<float> x(count);
  for (size_t i = 0; i < count; ++i) x[i] = std::sin(0.37f * static_cast<float>(i) + 0.1f) * 1.7f;
  return x;
}

WeightMatrix MakeWeights(DType dtype, const std::vector<uint8_t>& bytes, const std::vector<float>& scales) {
  WeightMatrix w;
  w.dtype = dtype;
  w.rows = kRows;
  w.cols = kCols;
  w.data = bytes.data();
  w.scale_kind = ScaleKind::kChannel;
  w.scales = scales.data();
  return w;
}

// MatVec on a 64×4096 matrix that stays in L2: the kernel's decode + FMA throughput without the memory wall
// (weights/s). It has to be well above the streaming rate for the large matrix to reach the bandwidth.
void BM_MatVecInCache(benchmark::State& state, DType dtype) {
  constexpr int64_t kCacheRows = 64;
  const std::vector<uint8_t> bytes = RandomWeights(dtype, kCacheRows * kCols);
  const std::vector<float> scales(kCacheRows, 0.5f);
  WeightMatrix w = MakeWeights(dtype, bytes, scales);
  w.rows = kCacheRows;
  const std::vector<float> x = Activations(kCols);
  std::vector<float> y(kCacheRows);
  ThreadPool pool(1);
  for (auto _ : state) {
    MatVec(w, x.data(), y.data(), pool);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["Gweights/s"] = benchmark::Counter(static_cast<double>(kCacheRows * kCols) * 1e-9,
                                                    benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(BestTargetName());
}

void BM_MatVec(benchmark::State& state, DType dtype, const BandwidthTable* bandwidth) {
  const size_t threads = static_cast<size_t>(state.range(0));
  const std::vector<uint8_t> bytes = RandomWeights(dtype, kRows * kCols);
  const std::vector<float> scales(kRows, 0.5f);
  const WeightMatrix w = MakeWeights(dtype, bytes, scales);
  const std::vector<float> x = Activations(kCols);
  std::vector<float> y(kRows);
  ThreadPool pool(threads);
  for (auto _ : state) {
    MatVec(w, x.data(), y.data(), pool);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double bytes_per_call = static_cast<double>(bytes.size());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes.size()));
  state.counters["GB/s"] = benchmark::Counter(bytes_per_call * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  // Fraction of the measured bandwidth: (bytes / time) / bandwidth, i.e. a rate of bytes_per_call / bandwidth.
  const auto it = bandwidth->find(threads);
  if (it != bandwidth->end()) {
    state.counters["of_bandwidth"] =
        benchmark::Counter(bytes_per_call / it->second, benchmark::Counter::kIsIterationInvariantRate);
  }
  state.SetLabel(BestTargetName());
}

void BM_MatMul(benchmark::State& state, DType dtype) {
  const size_t threads = static_cast<size_t>(state.range(0));
  const size_t tokens = static_cast<size_t>(state.range(1));
  const std::vector<uint8_t> bytes = RandomWeights(dtype, kRows * kCols);
  const std::vector<float> scales(kRows, 0.5f);
  const WeightMatrix w = MakeWeights(dtype, bytes, scales);
  const std::vector<float> x(tokens * kCols, 0.25f);
  std::vector<float> y(tokens * kRows);
  ThreadPool pool(threads);
  for (auto _ : state) {
    MatMul(w, x.data(), tokens, y.data(), pool);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * kRows * kCols * static_cast<double>(tokens) * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(BestTargetName());
}

// Packed INT4 weights (random nibbles) with F32 group scales, as runtime/linear.cc builds them.
struct Int4Weights {
  Int4Weights(int64_t rows, int64_t group) : packed(static_cast<size_t>(rows * kCols / 8)) {
    std::mt19937 rng(7);
    for (uint32_t& word : packed) word = static_cast<uint32_t>(rng());
    scales.assign(static_cast<size_t>(rows * (kCols / group)), 0.01f);
    w.packing = WeightPacking::kInt4;
    w.rows = rows;
    w.cols = kCols;
    w.data = packed.data();
    w.scale_kind = ScaleKind::kGroup;
    w.group_size = group;
    w.scales = scales.data();
  }
  double Bytes() const {
    return static_cast<double>(packed.size() * sizeof(uint32_t) + scales.size() * sizeof(float));
  }
  std::vector<uint32_t> packed;
  std::vector<float> scales;
  WeightMatrix w;
};

void BM_MatVecInt4(benchmark::State& state, int64_t group, const BandwidthTable* bandwidth) {
  const size_t threads = static_cast<size_t>(state.range(0));
  const Int4Weights weights(kRows, group);
  const std::vector<float> x(kCols, 0.25f);
  std::vector<float> y(kRows);
  ThreadPool pool(threads);
  for (auto _ : state) {
    MatVec(weights.w, x.data(), y.data(), pool);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double bytes_per_call = weights.Bytes();
  state.SetBytesProcessed(static_cast<int64_t>(static_cast<double>(state.iterations()) * bytes_per_call));
  state.counters["GB/s"] = benchmark::Counter(bytes_per_call * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  const auto it = bandwidth->find(threads);
  if (it != bandwidth->end()) {
    state.counters["of_bandwidth"] =
        benchmark::Counter(bytes_per_call / it->second, benchmark::Counter::kIsIterationInvariantRate);
  }
  state.counters["Gweights/s"] = benchmark::Counter(static_cast<double>(kRows * kCols) * 1e-9,
                                                    benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(BestTargetName());
}

// The INT4 kernel's throughput on a 64×4096 matrix that stays in cache (cf. BM_MatVecInCache).
void BM_MatVecInt4InCache(benchmark::State& state, int64_t group) {
  const Int4Weights weights(64, group);
  const std::vector<float> x(kCols, 0.25f);
  std::vector<float> y(64);
  ThreadPool pool(1);
  for (auto _ : state) {
    MatVec(weights.w, x.data(), y.data(), pool);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.counters["Gweights/s"] =
      benchmark::Counter(64.0 * kCols * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(BestTargetName());
}

}  // namespace
}  // namespace octet

int main(int argc, char** argv) {
  using octet::DType;
  octet::BandwidthTable bandwidth;
  benchmark::RegisterBenchmark("BM_ReadBandwidth", octet::BM_ReadBandwidth, &bandwidth)
      ->Arg(1)
      ->Arg(2)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  const std::pair<const char*, DType> kTypes[] = {{"F32", DType::kF32},
                                                  {"BF16", DType::kBF16},
                                                  {"F16", DType::kF16},
                                                  {"F8_E4M3", DType::kF8E4M3},
                                                  {"F8_E5M2", DType::kF8E5M2}};
  for (const auto& [name, dtype] : kTypes) {
    benchmark::RegisterBenchmark((std::string("BM_MatVec/") + name).c_str(), octet::BM_MatVec, dtype,
                                 &bandwidth)
        ->Arg(1)
        ->Arg(2)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  for (const int64_t group : {32, 128}) {
    benchmark::RegisterBenchmark(("BM_MatVecInt4/g" + std::to_string(group)).c_str(), octet::BM_MatVecInt4, group,
                                 &bandwidth)
        ->Arg(1)
        ->Arg(2)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  for (const auto& [name, dtype] : kTypes) {
    benchmark::RegisterBenchmark((std::string("BM_MatVecInCache/") + name).c_str(), octet::BM_MatVecInCache, dtype);
  }
  for (const int64_t group : {32, 128}) {
    benchmark::RegisterBenchmark(("BM_MatVecInt4InCache/g" + std::to_string(group)).c_str(),
                                 octet::BM_MatVecInt4InCache, group);
  }
  for (const auto& [name, dtype] : kTypes) {
    benchmark::RegisterBenchmark((std::string("BM_MatMul/") + name).c_str(), octet::BM_MatMul, dtype)
        ->Args({1, 64})
        ->Args({2, 64})
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
