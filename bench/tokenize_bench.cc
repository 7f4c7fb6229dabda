// Tokenizer throughput on one core: encoding (and decoding) a ~10 MB text built deterministically from
// aidreams260K's sample dreams with variations (word order, case, numbers, punctuation, accents, CJK and emoji
// for byte fallback), one line at a time as `octet tokenize --file` and `eval --text` do, for each tokenizer
// kind. The target is well under 1 s per MB (bytes_per_second well above 1 MB/s).
//   build-tok/tokenize_bench --benchmark_counters_tabular=true
// Needs ../shared/models/aidreams260K beside the checkout (or OCTET_SHARED_DIR); the byte-level tokenizers come
// from tests/tokenizer/data.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tokenizer/load_tokenizer.h"

namespace octet {
namespace {

namespace fs = std::filesystem;

constexpr size_t kTextBytes = 10 << 20;

fs::path RepoDir() { return fs::path(__FILE__).parent_path().parent_path(); }

fs::path AidreamsDir() {
  const char* env = std::getenv("OCTET_SHARED_DIR");
  const fs::path shared = env ? fs::path(env) : RepoDir() / ".." / "shared";
  return shared / "models" / "aidreams260K";
}

std::vector<std::string> SampleLines() {
  std::ifstream in(AidreamsDir() / "sample_text.txt");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// ~10 MB of dream-like lines; the same every run.
const std::vector<std::string>& BenchLines() {
  static const std::vector<std::string> lines = [] {
    const std::vector<std::string> samples = SampleLines();
    std::vector<std::string> words;
    for (const std::string& line : samples) {
      std::istringstream in(line);
      for (std::string w; in >> w;) words.push_back(w);
    }
    const std::vector<std::string> extras = {"café",  "naïve", "中文", "😀",  "2024", "3.14", "don't",
                                             "(sic)", "—",     "über", "\t", "x=42", "ÆØÅ"};
    std::mt19937 rng(5);
    std::vector<std::string> out;
    size_t total = 0;
    while (total < kTextBytes && !words.empty()) {
      std::string line;
      const size_t n = 20 + rng() % 60;
      for (size_t i = 0; i < n; ++i) {
        std::string w = rng() % 12 == 0 ? extras[rng() % extras.size()] : words[rng() % words.size()];
        if (rng() % 9 == 0 && !w.empty()) w[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(w[0])));
        if (!line.empty()) line += rng() % 25 == 0 ? "  " : " ";
        line += w;
      }
      total += line.size() + 1;
      out.push_back(std::move(line));
    }
    return out;
  }();
  return lines;
}

size_t TotalBytes(const std::vector<std::string>& lines) {
  size_t bytes = 0;
  for (const std::string& line : lines) bytes += line.size();
  return bytes;
}

fs::path TokenizerPath(int which) {
  switch (which) {
    case 0:
      return AidreamsDir() / "tokenizer.json";
    case 1:
      return AidreamsDir() / "tok512.bin";
    case 2:
      return RepoDir() / "tests" / "tokenizer" / "data" / "bytelevel_gpt2.json";
    default:
      return RepoDir() / "tests" / "tokenizer" / "data" / "bytelevel_llama3.json";
  }
}

void BM_Encode(benchmark::State& state) {
  const fs::path path = TokenizerPath(static_cast<int>(state.range(0)));
  if (!fs::exists(path)) {
    state.SkipWithError(("missing " + path.string()).c_str());
    return;
  }
  const auto tokenizer = LoadTokenizer(path);
  const std::vector<std::string>& lines = BenchLines();
  size_t tokens = 0;
  for (auto _ : state) {
    tokens = 0;
    for (const std::string& line : lines) tokens += tokenizer->Encode(line, true).size();
    benchmark::DoNotOptimize(tokens);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(TotalBytes(lines)));
  state.counters["MB"] = static_cast<double>(TotalBytes(lines)) / 1e6;
  state.counters["bytes/token"] = static_cast<double>(TotalBytes(lines)) / static_cast<double>(tokens);
  state.SetLabel(path.filename().string());
}
BENCHMARK(BM_Encode)->DenseRange(0, 3)->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime()->UseRealTime();

// The SentencePiece-style tokenizer has no pre-tokenizer, so one long line is one BPE word: no quadratic cost.
void BM_EncodeOneLongLine(benchmark::State& state) {
  const fs::path path = TokenizerPath(0);
  if (!fs::exists(path)) {
    state.SkipWithError(("missing " + path.string()).c_str());
    return;
  }
  const auto tokenizer = LoadTokenizer(path);
  std::string text;
  for (const std::string& line : BenchLines()) {
    text += line;
    text += ' ';
    if (text.size() >= (1 << 20)) break;
  }
  for (auto _ : state) benchmark::DoNotOptimize(tokenizer->Encode(text, true).size());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
}
BENCHMARK(BM_EncodeOneLongLine)->Unit(benchmark::kMillisecond);

void BM_Decode(benchmark::State& state) {
  const fs::path path = TokenizerPath(static_cast<int>(state.range(0)));
  if (!fs::exists(path)) {
    state.SkipWithError(("missing " + path.string()).c_str());
    return;
  }
  const auto tokenizer = LoadTokenizer(path);
  std::vector<std::vector<int32_t>> encoded;
  size_t bytes = 0;
  for (const std::string& line : BenchLines()) {
    encoded.push_back(tokenizer->Encode(line, true));
    bytes += line.size();
  }
  for (auto _ : state) {
    for (const auto& ids : encoded) benchmark::DoNotOptimize(tokenizer->Decode(ids).size());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
  state.SetLabel(path.filename().string());
}
BENCHMARK(BM_Decode)->Arg(0)->Arg(3)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace octet

BENCHMARK_MAIN();
