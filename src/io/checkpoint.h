// A Hugging Face model directory: config.json plus weights in one `model.safetensors`, or sharded through
// `model.safetensors.index.json` (its weight_map names the shard of every tensor). Opening validates every shard
// and that the index and the shards agree (each tensor in the weight map exists in the named shard, no tensor is
// in two shards).
#ifndef OCTET_IO_CHECKPOINT_H_
#define OCTET_IO_CHECKPOINT_H_

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/safetensors_reader.h"
#include "io/tensor_view.h"

namespace octet {

class Checkpoint {
 public:
  // `path` is a model directory, or a single .safetensors file (then config.json is looked for beside it).
  static Checkpoint Open(const std::filesystem::path& path);

  const std::filesystem::path& dir() const { return dir_; }
  // config.json parsed (empty object if there is none: a bare .safetensors file).
  const nlohmann::json& config() const { return config_; }
  // All tensors in a deterministic order: shard by shard, data order within a shard.
  const std::vector<TensorView>& tensors() const { return tensors_; }
  // nullptr when absent.
  const TensorView* Find(const std::string& name) const;
  // Throws octet::Error "<dir>: tensor 'name' is missing" when absent.
  const TensorView& Get(const std::string& name) const;
  const std::vector<SafetensorsFile>& files() const { return files_; }
  // Drops the tensor's pages from the resident set (see SafetensorsFile::Release).
  void Release(const TensorView& view) const;
  // Starts reading the tensor's bytes in the background (see SafetensorsFile::Prefetch).
  void Prefetch(const TensorView& view) const;
  // Weight files (shards and index) by file name, so callers can tell them from other files to copy.
  std::vector<std::string> WeightFileNames() const;
  uint64_t TotalTensorBytes() const;

 private:
  std::filesystem::path dir_;
  nlohmann::json config_ = nlohmann::json::object();
  std::vector<SafetensorsFile> files_;
  std::vector<TensorView> tensors_;
  std::map<std::string, std::pair<size_t, size_t>> index_;  // name -> (file, tensor within file)
  std::vector<std::string> weight_file_names_;
  std::vector<size_t> first_tensor_of_file_;  // Position in tensors_ of each file's first tensor.
};

}  // namespace octet

#endif  // OCTET_IO_CHECKPOINT_H_
