// Writes a synthetic checkpoint (see synth_spec.h for the shapes, weight_generator.h for the values) as a Hugging
// Face model directory: config.json plus safetensors shards, streamed. Tensors are cut into work items of about
// kSynthChunkElements elements (whole rows), each generated, encoded and pwritten to its final place by whichever
// thread takes it, so memory stays at ~2 chunks per thread whatever the model size, and the bytes on disk do
// not depend on the thread count.
#ifndef OCTET_SYNTH_SYNTH_CHECKPOINT_H_
#define OCTET_SYNTH_SYNTH_CHECKPOINT_H_

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "io/safetensors_writer.h"
#include "synth/synth_spec.h"

namespace octet {

// ~1 MiB of F32 per work item: big enough that pwrite and scheduling costs vanish, small enough for the bound.
inline constexpr uint64_t kSynthChunkElements = 256 * 1024;

struct SynthOptions {
  uint64_t max_shard_bytes = SafetensorsWriter::kDefaultMaxShardBytes;
  size_t threads = 0;       // 0: one per hardware thread
  bool overwrite = false;   // replace an existing output directory
};

struct SynthSummary {
  size_t num_tensors = 0;
  uint64_t num_parameters = 0;
  uint64_t tensor_bytes = 0;        // data bytes, headers excluded
  std::vector<std::string> files;   // weight files written (shards, index), then config.json
  double seconds = 0;
};

// Generates the checkpoint into `out_dir` (crash-safe: written as `<out_dir>.partial` and renamed when complete).
// Throws octet::Error if the spec is invalid, `out_dir` exists (without overwrite) or a write fails.
SynthSummary WriteSynthCheckpoint(const SynthSpec& spec, const std::filesystem::path& out_dir,
                                  const SynthOptions& options);

}  // namespace octet

#endif  // OCTET_SYNTH_SYNTH_CHECKPOINT_H_
