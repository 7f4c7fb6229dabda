#include "io/checkpoint.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>

#include "util/error.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

std::string ReadWholeFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail("{}: cannot open", path.string());
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) Fail("{}: read failed", path.string());
  return text.str();
}

json ReadJsonObject(const fs::path& path) {
  json value;
  try {
    value = json::parse(ReadWholeFile(path));
  } catch (const json::exception& e) {
    Fail("{}: not valid JSON: {}", path.string(), e.what());
  }
  if (!value.is_object()) Fail("{}: is a JSON {}, not an object", path.string(), value.type_name());
  return value;
}

bool IsRegularFile(const fs::path& path) {
  std::error_code ignored;
  return fs::is_regular_file(path, ignored);
}

// Shard file names from the index, validated, in sorted order (which is shard order for HF names); the weight
// map itself is returned through `weight_map`.
std::vector<std::string> ReadIndex(const fs::path& dir, std::map<std::string, std::string>& weight_map) {
  const fs::path index_path = dir / kIndexFile;
  const std::string index_name = index_path.string();
  const json index = ReadJsonObject(index_path);
  const auto map_it = index.find("weight_map");
  if (map_it == index.end() || !map_it->is_object()) {
    Fail("{}: missing or non-object \"weight_map\"", index_name);
  }
  if (const auto metadata = index.find("metadata"); metadata != index.end() && !metadata->is_object()) {
    Fail("{}: \"metadata\" is a {}, not an object", index_name, metadata->type_name());
  }
  std::set<std::string> files;
  for (const auto& [tensor, file] : map_it->items()) {
    if (!file.is_string()) Fail("{}: tensor '{}' maps to a {}, not a file name", index_name, tensor, file.type_name());
    const std::string file_name = file.get<std::string>();
    // The index must not be able to point outside the checkpoint.
    if (file_name.empty() || file_name.find('/') != std::string::npos || file_name == "." || file_name == "..") {
      Fail("{}: tensor '{}' maps to '{}', which is not a file name in this directory", index_name, tensor, file_name);
    }
    weight_map.emplace(tensor, file_name);
    files.insert(file_name);
  }
  for (const std::string& file : files) {
    if (!IsRegularFile(dir / file)) {
      Fail("{}: shard '{}' named in the weight map does not exist", index_name, file);
    }
  }
  return {files.begin(), files.end()};
}

}  // namespace

Checkpoint Checkpoint::Open(const fs::path& path) {
  Checkpoint checkpoint;
  std::error_code error;
  const fs::file_status status = fs::status(path, error);
  if (!fs::exists(status)) Fail("{}: does not exist", path.string());

  std::vector<std::string> shard_names;
  std::map<std::string, std::string> weight_map;
  bool indexed = false;
  if (fs::is_regular_file(status)) {
    checkpoint.dir_ = path.parent_path().empty() ? fs::path(".") : path.parent_path();
    shard_names.push_back(path.filename().string());
  } else if (fs::is_directory(status)) {
    checkpoint.dir_ = path;
    if (IsRegularFile(path / kIndexFile)) {
      shard_names = ReadIndex(path, weight_map);
      indexed = true;
    } else if (IsRegularFile(path / kSingleFile)) {
      shard_names.emplace_back(kSingleFile);
    } else {
      std::vector<std::string> found;
      for (fs::directory_iterator it(path, error), end; !error && it != end; it.increment(error)) {
        if (it->path().extension() == ".safetensors" && IsRegularFile(it->path())) {
          found.push_back(it->path().filename().string());
        }
      }
      if (error) Fail("{}: cannot list: {}", path.string(), error.message());
      std::sort(found.begin(), found.end());
      if (found.empty()) Fail("{}: no .safetensors file (and no {})", path.string(), kIndexFile);
      if (found.size() > 1) {
        Fail("{}: several .safetensors files ({}) but no {} to say how they fit together", path.string(),
             fmt::join(found, ", "), kIndexFile);
      }
      shard_names = std::move(found);
    }
  } else {
    Fail("{}: neither a directory nor a regular file", path.string());
  }

  const std::string dir_name = checkpoint.dir_.string();
  for (size_t f = 0; f < shard_names.size(); ++f) {
    checkpoint.files_.push_back(SafetensorsFile::Open(checkpoint.dir_ / shard_names[f]));
    const SafetensorsFile& file = checkpoint.files_.back();
    checkpoint.first_tensor_of_file_.push_back(checkpoint.tensors_.size());
    for (size_t t = 0; t < file.tensors().size(); ++t) {
      const std::string& name = file.tensors()[t].name;
      const auto [it, inserted] = checkpoint.index_.emplace(name, std::pair(f, t));
      if (!inserted) {
        Fail("{}: tensor '{}' is in two shards, {} and {}", dir_name, name, shard_names[it->second.first],
             shard_names[f]);
      }
      if (indexed) {
        const auto mapped = weight_map.find(name);
        if (mapped == weight_map.end()) {
          Fail("{}: tensor '{}' in shard {} is absent from the weight map of {}", dir_name, name, shard_names[f],
               kIndexFile);
        }
        if (mapped->second != shard_names[f]) {
          Fail("{}: tensor '{}' is in shard {} but {} maps it to {}", dir_name, name, shard_names[f], kIndexFile,
               mapped->second);
        }
      }
      checkpoint.tensors_.push_back(file.tensors()[t]);
    }
  }
  for (const auto& [name, file] : weight_map) {
    if (!checkpoint.index_.contains(name)) {
      Fail("{}: {} maps tensor '{}' to {}, but that shard does not contain it", dir_name, kIndexFile, name, file);
    }
  }
  checkpoint.weight_file_names_ = shard_names;
  if (indexed) checkpoint.weight_file_names_.emplace_back(kIndexFile);

  const fs::path config_path = checkpoint.dir_ / "config.json";
  if (IsRegularFile(config_path)) checkpoint.config_ = ReadJsonObject(config_path);
  return checkpoint;
}

const TensorView* Checkpoint::Find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[first_tensor_of_file_[it->second.first] + it->second.second];
}

const TensorView& Checkpoint::Get(const std::string& name) const {
  const TensorView* view = Find(name);
  if (view == nullptr) Fail("{}: tensor '{}' is missing", dir_.string(), name);
  return *view;
}

void Checkpoint::Release(const TensorView& view) const {
  const auto it = index_.find(view.name);
  if (it != index_.end()) files_[it->second.first].Release(view);
}

void Checkpoint::Prefetch(const TensorView& view) const {
  const auto it = index_.find(view.name);
  if (it != index_.end()) files_[it->second.first].Prefetch(view);
}

std::vector<std::string> Checkpoint::WeightFileNames() const { return weight_file_names_; }

uint64_t Checkpoint::TotalTensorBytes() const {
  uint64_t total = 0;
  for (const TensorView& view : tensors_) total += view.bytes.size();
  return total;
}

}  // namespace octet
