// Throughput of the converter's inner loop: decode a band of BF16 weights, quantize it to FP8 with each scale
// kind, and measure its error, per byte of BF16 input. `convert` must keep up with the disk, so this has to run
// well above disk speed on one core.
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include "numeric/convert_rows.h"
#include "numeric/half.h"
#include "quant/fp8_quantizer.h"

namespace octet {
namespace {

constexpr int64_t kRows = 256;
constexpr int64_t kCols = 8192;  // a 4 MiB BF16 band, what convert processes at a time

void BM_QuantizeBand(benchmark::State& state) {
  const auto kind = static_cast<WeightScale>(state.range(0));
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<uint16_t> bf16(kRows * kCols);
  for (uint16_t& x : bf16) x = EncodeBF16(normal(rng));
  std::vector<float> values(bf16.size()), scratch(bf16.size());
  std::vector<uint8_t> codes(bf16.size());
  const Fp8ScaleLayout layout{kind, kRows, kCols, 128};
  std::vector<float> scales(static_cast<size_t>(std::max<int64_t>(layout.num_scales(), 1)));
  for (auto _ : state) {
    DecodeToF32(DType::kBF16, bf16.data(), bf16.size(), values.data());
    const RangeScan scan = ScanRange(values.data(), values.size());
    QuantError error;
    QuantizeFp8Band(layout, Fp8Format::kE4M3, 0, kRows, values.data(), Fp8ScaleFor(scan.abs_max, Fp8Format::kE4M3),
                    codes.data(), scales.data(), scratch.data(), error);
    benchmark::DoNotOptimize(error.sum_sq_error);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bf16.size() * sizeof(uint16_t)));
  state.SetLabel(std::string(WeightScaleName(kind)));
}
BENCHMARK(BM_QuantizeBand)
    ->Arg(static_cast<int>(WeightScale::kTensor))
    ->Arg(static_cast<int>(WeightScale::kChannel))
    ->Arg(static_cast<int>(WeightScale::kBlock))
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace octet

BENCHMARK_MAIN();
