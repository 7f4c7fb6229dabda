// Fuzzes Checkpoint::Open on a directory holding two small valid shards and a fuzzed
// model.safetensors.index.json. The index is attacker-controlled in the wild (it comes with a downloaded model):
// it must not be able to name files outside the directory, crash the reader, or produce a checkpoint whose
// tensors disagree with the weight map.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "io/checkpoint.h"
#include "io/safetensors_writer.h"
#include "util/error.h"

namespace {

namespace fs = std::filesystem;

fs::path SetUpCheckpoint() {
  const fs::path dir = octet::fuzz::MakeScratchDir();
  // Tensors of several dtypes and ranks, split over two shards at a 64-byte limit, as save_pretrained would.
  static std::vector<std::byte> bytes(4096, std::byte{0x3c});
  using octet::DType;
  std::vector<octet::TensorView> tensors = {
      {.name = "model.embed_tokens.weight", .dtype = DType::kF32, .shape = {4, 4}},
      {.name = "model.norm.weight", .dtype = DType::kBF16, .shape = {4}},
      {.name = "lm_head.weight", .dtype = DType::kF16, .shape = {4, 4}},
      {.name = "scalar", .dtype = DType::kF32, .shape = {}},
      {.name = "empty", .dtype = DType::kF32, .shape = {0, 3}},
  };
  for (octet::TensorView& t : tensors) {
    t.bytes = std::span(bytes.data(), t.num_elements() * octet::DTypeBits(t.dtype) / 8);
  }
  octet::WriteSafetensors(dir, tensors, /*max_shard_bytes=*/64);
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fs::path dir = SetUpCheckpoint();
  static const std::set<std::string> shards = [] {
    std::set<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename().string());
    return names;
  }();
  octet::fuzz::WriteFile(dir / "model.safetensors.index.json", data, size);
  try {
    const octet::Checkpoint checkpoint = octet::Checkpoint::Open(dir);
    // Accepted: every tensor is reachable by name and lives in one of this directory's files.
    for (const octet::TensorView& view : checkpoint.tensors()) {
      OCTET_FUZZ_CHECK(checkpoint.Find(view.name) != nullptr);
      OCTET_FUZZ_CHECK(&checkpoint.Get(view.name) == checkpoint.Find(view.name));
      OCTET_FUZZ_CHECK(fs::path(view.file).parent_path() == dir);
    }
    for (const std::string& name : checkpoint.WeightFileNames()) {
      OCTET_FUZZ_CHECK(name.find('/') == std::string::npos);
      OCTET_FUZZ_CHECK(shards.contains(name));
    }
  } catch (const octet::Error&) {
  }
  return 0;
}
