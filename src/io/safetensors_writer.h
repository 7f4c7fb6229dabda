// Writes a set of tensors as one or more .safetensors files, streaming: the layout (which shard, which byte
// offset) of every tensor is fixed up front from names, dtypes and shapes alone, the headers are written first,
// and tensor bytes are then written in any order, from any thread, straight to their final place with pwrite.
// Nothing is buffered beyond what the caller hands in, so memory does not grow with the model, and the bytes on
// disk do not depend on the order in which workers finish.
//
// Layout rules (huggingface/safetensors bindings/python torch.py and huggingface_hub serialization/_base.py):
//   - shards are filled greedily in the order the specs are given; a new shard starts when the next tensor would
//     push the current one past max_shard_bytes (a tensor bigger than the limit gets a shard of its own);
//   - one shard is named `model.safetensors`; several are `model-00001-of-0000N.safetensors` plus
//     `model.safetensors.index.json` = {"metadata": {"total_size": <data bytes>}, "weight_map": {name: file}};
//   - inside a shard, tensors are stored by descending element size (stable), so every tensor starts aligned to
//     its element size; the JSON header lists `__metadata__` first and then tensors in data order, and is padded
//     with spaces so the data buffer starts at a multiple of 8.
#ifndef OCTET_IO_SAFETENSORS_WRITER_H_
#define OCTET_IO_SAFETENSORS_WRITER_H_

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/tensor_view.h"

namespace octet {

struct TensorSpec {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;

  // NumElements(shape) * DTypeBits(dtype) / 8. Throws octet::Error naming the tensor on a negative dimension, on
  // overflow, or when the bits are not a whole number of bytes.
  uint64_t byte_size() const;
};

class SafetensorsWriter {
 public:
  static constexpr uint64_t kDefaultMaxShardBytes = 5'000'000'000;  // transformers' "5GB"

  // Plans the layout, creates the shard files in `dir` (which must exist) with their headers, and reserves their
  // full size. `metadata` becomes `__metadata__`; {"format": "pt"} is what transformers requires.
  SafetensorsWriter(const std::filesystem::path& dir, std::vector<TensorSpec> specs,
                    uint64_t max_shard_bytes = kDefaultMaxShardBytes,
                    std::map<std::string, std::string> metadata = {{"format", "pt"}});
  ~SafetensorsWriter();
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  const std::vector<TensorSpec>& specs() const;
  // Thread-safe. Writes `bytes` at `offset` within the data of tensor `index` (an index into specs()).
  // Throws octet::Error naming the file on a short write (disk full, file size limit).
  void Write(size_t index, uint64_t offset, std::span<const std::byte> bytes);
  // Flushes and closes every shard and writes the index file when there is more than one shard. Each tensor's
  // bytes must have been written exactly once; throws otherwise.
  void Finish();
  // File names (not paths) of the shards, in order, and of the index if any.
  std::vector<std::string> FileNames() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Convenience for small outputs and tests: writes all `tensors` (bytes copied from each view) in one call.
void WriteSafetensors(const std::filesystem::path& dir, const std::vector<TensorView>& tensors,
                      uint64_t max_shard_bytes = SafetensorsWriter::kDefaultMaxShardBytes);

}  // namespace octet

#endif  // OCTET_IO_SAFETENSORS_WRITER_H_
