#include "synth/synth_checkpoint.h"

#include <algorithm>
#include <chrono>
#include <memory>

#include "io/output_directory.h"
#include "numeric/convert_rows.h"
#include "synth/weight_generator.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace octet {
namespace {

struct WorkItem {
  size_t tensor;
  uint64_t first;  // flat element index
  uint64_t count;
};

// Whole rows of about kSynthChunkElements (one row if rows are longer), fixed by shapes alone.
std::vector<WorkItem> PlanWork(const std::vector<TensorSpec>& specs) {
  std::vector<WorkItem> items;
  for (size_t t = 0; t < specs.size(); ++t) {
    const uint64_t n = NumElements(specs[t].shape);
    const uint64_t cols = specs[t].shape.empty() ? 1 : std::max<uint64_t>(1, specs[t].shape.back());
    const uint64_t step = std::max<uint64_t>(1, kSynthChunkElements / cols) * cols;
    for (uint64_t first = 0; first < n; first += step) items.push_back({t, first, std::min(step, n - first)});
  }
  return items;
}

}  // namespace

SynthSummary WriteSynthCheckpoint(const SynthSpec& spec, const std::filesystem::path& out_dir,
                                  const SynthOptions& options) {
  ValidateSynthSpec(spec);
  const auto start = std::chrono::steady_clock::now();
  const std::vector<SynthTensor> tensors = SynthTensors(spec);
  std::vector<TensorSpec> specs;
  std::vector<WeightGenerator> generators;
  specs.reserve(tensors.size());
  generators.reserve(tensors.size());
  for (const SynthTensor& tensor : tensors) {
    specs.push_back({tensor.name, spec.dtype, tensor.shape});
    generators.emplace_back(tensor, spec.seed);
  }

  // Like `mkdir -p`: synthetic models usually go to fresh scratch locations (bench work dirs, test temp dirs).
  if (const std::filesystem::path parent = out_dir.parent_path(); !parent.empty()) {
    std::error_code error;
    std::filesystem::create_directories(parent, error);
    if (error) Fail("{}: cannot create directory: {}", parent.string(), error.message());
  }
  OutputDirectory output = OutputDirectory::Begin(out_dir, options.overwrite);
  SafetensorsWriter writer(output.path(), specs, options.max_shard_bytes);
  const size_t element_bytes = DTypeBits(spec.dtype) / 8;
  const std::vector<WorkItem> items = PlanWork(specs);
  ThreadPool pool(options.threads);
  pool.ParallelFor(items.size(), [&](size_t i) {
    const WorkItem& item = items[i];
    // Per-item buffers: at most 1 MiB + 1 MiB, allocated without zeroing; negligible next to generating 256k values.
    auto values = std::make_unique_for_overwrite<float[]>(item.count);
    generators[item.tensor].Fill(item.first, item.count, values.get());
    auto encoded = std::make_unique_for_overwrite<std::byte[]>(item.count * element_bytes);
    EncodeFromF32(spec.dtype, values.get(), item.count, encoded.get());
    writer.Write(item.tensor, item.first * element_bytes, {encoded.get(), item.count * element_bytes});
  });
  writer.Finish();
  // config.json last: until the rename, the .partial directory is the only thing that exists anyway.
  WriteFileAtomically(output.path() / "config.json", SynthConfigJson(spec).dump(2) + "\n");
  output.Commit();

  SynthSummary summary;
  summary.num_tensors = specs.size();
  for (const TensorSpec& s : specs) {
    summary.num_parameters += NumElements(s.shape);
    summary.tensor_bytes += s.byte_size();
  }
  summary.files = writer.FileNames();
  summary.files.push_back("config.json");
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace octet
