// Builds small checkpoints in tests: tensors are collected with their bytes owned here, then written with the io
// writer (WriteSafetensors) and a config.json into a directory.
#ifndef OCTET_TESTS_RUNTIME_SCRATCH_CHECKPOINT_H_
#define OCTET_TESTS_RUNTIME_SCRATCH_CHECKPOINT_H_

#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/checkpoint.h"
#include "io/safetensors_writer.h"

namespace octet::testing {

class TensorSet {
 public:
  void Add(const std::string& name, DType dtype, Shape shape, std::vector<std::byte> bytes) {
    storage_.push_back(std::move(bytes));
    TensorView view;
    view.name = name;
    view.dtype = dtype;
    view.shape = std::move(shape);
    view.bytes = std::span<const std::byte>(storage_.back().data(), storage_.back().size());
    views_.push_back(view);
  }
  void AddF32(const std::string& name, Shape shape, const std::vector<float>& values) {
    std::vector<std::byte> bytes(values.size() * 4);
    std::memcpy(bytes.data(), values.data(), bytes.size());
    Add(name, DType::kF32, std::move(shape), std::move(bytes));
  }
  // Copies a tensor from a checkpoint under a new name.
  void Copy(const TensorView& view, const std::string& name) {
    Add(name, view.dtype, view.shape, std::vector<std::byte>(view.bytes.begin(), view.bytes.end()));
  }
  const std::vector<TensorView>& views() const { return views_; }

  void Write(const std::filesystem::path& dir, const nlohmann::json& config,
             uint64_t max_shard_bytes = SafetensorsWriter::kDefaultMaxShardBytes) const {
    WriteSafetensors(dir, views_, max_shard_bytes);
    std::ofstream(dir / "config.json") << config.dump(2);
  }

 private:
  std::deque<std::vector<std::byte>> storage_;
  std::vector<TensorView> views_;
};

}  // namespace octet::testing

#endif  // OCTET_TESTS_RUNTIME_SCRATCH_CHECKPOINT_H_
