// Runtime speed on a real-sized model: prefill and decode tokens/s at 1 and 2 threads.
// The model comes from OCTET_BENCH_MODELS, a ':'-separated list of model directories (bench/runtime_bench.sh
// generates a synthetic ~1B Llama in BF16 and converts it to FP8); each becomes its own set of benchmarks.
//   OCTET_BENCH_MODELS=/tmp/llama-1b-bf16:/tmp/llama-1b-fp8 build/decode_bench
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "runtime/transformer.h"
#include "util/thread_pool.h"

namespace octet {
namespace {

constexpr int kPrefillTokens = 64;
constexpr int kDecodeTokens = 16;

std::vector<int32_t> Prompt(int n, int64_t vocab) {
  std::vector<int32_t> ids(n);
  for (int i = 0; i < n; ++i) ids[i] = static_cast<int32_t>((1 + 7919 * i) % vocab);
  return ids;
}

void Prefill(benchmark::State& state, const Transformer* model) {
  ThreadPool pool(static_cast<size_t>(state.range(0)));
  const std::vector<int32_t> prompt = Prompt(kPrefillTokens, model->config().shape.vocab_size);
  for (auto _ : state) {
    KvCache cache = model->NewCache();
    benchmark::DoNotOptimize(model->Forward(prompt, cache, pool, LogitsFor::kLast));
  }
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kPrefillTokens), benchmark::Counter::kIsRate);
}

void Decode(benchmark::State& state, const Transformer* model) {
  ThreadPool pool(static_cast<size_t>(state.range(0)));
  const std::vector<int32_t> prompt = Prompt(8, model->config().shape.vocab_size);
  for (auto _ : state) {
    state.PauseTiming();
    KvCache cache = model->NewCache();
    model->Forward(prompt, cache, pool, LogitsFor::kLast);
    state.ResumeTiming();
    int32_t token = 1;
    for (int i = 0; i < kDecodeTokens; ++i) {
      const std::vector<float> logits = model->Forward(std::span<const int32_t>(&token, 1), cache, pool);
      token = static_cast<int32_t>((token * 31 + i) % model->config().shape.vocab_size);
      benchmark::DoNotOptimize(logits.data());
    }
  }
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kDecodeTokens), benchmark::Counter::kIsRate);
}

}  // namespace
}  // namespace octet

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  std::vector<octet::LoadedModel> models;
  const char* list = std::getenv("OCTET_BENCH_MODELS");
  if (list == nullptr) {
    std::fprintf(stderr, "decode_bench: set OCTET_BENCH_MODELS to model directories separated by ':'\n");
    return 1;
  }
  std::stringstream paths(list);
  std::string path;
  while (std::getline(paths, path, ':')) {
    if (path.empty()) continue;
    models.push_back(octet::LoadModel(path));
    const octet::Transformer* model = models.back().transformer.get();
    {
      // One token through the whole model first, so every weight is in the page cache before timing starts.
      octet::ThreadPool pool(2);
      octet::KvCache cache = model->NewCache();
      const int32_t bos = 1;
      model->Forward(std::span<const int32_t>(&bos, 1), cache, pool);
    }
    const std::string name = path.substr(path.find_last_of('/') + 1);
    benchmark::RegisterBenchmark(("Prefill/" + name).c_str(), octet::Prefill, model)
        ->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);
    benchmark::RegisterBenchmark(("Decode/" + name).c_str(), octet::Decode, model)
        ->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
