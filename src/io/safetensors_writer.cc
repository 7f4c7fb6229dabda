#include "io/safetensors_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <numeric>
#include <set>

#include <nlohmann/json.hpp>

#include "io/file_util.h"
#include "io/output_directory.h"
#include "util/error.h"

namespace octet {

uint64_t TensorSpec::byte_size() const {
  uint64_t elements = 1;
  for (int64_t d : shape) {
    if (d < 0) Fail("tensor '{}': shape {} has a negative dimension", name, ShapeToString(shape));
    if (__builtin_mul_overflow(elements, static_cast<uint64_t>(d), &elements)) {
      Fail("tensor '{}': shape {} has more elements than fit in 64 bits", name, ShapeToString(shape));
    }
  }
  uint64_t bits = 0;
  if (__builtin_mul_overflow(elements, static_cast<uint64_t>(DTypeBits(dtype)), &bits)) {
    Fail("tensor '{}': shape {} is too large", name, ShapeToString(shape));
  }
  if (bits % 8 != 0) {
    Fail("tensor '{}': shape {} with dtype {} is {} bits, not a whole number of bytes", name, ShapeToString(shape),
         DTypeName(dtype), bits);
  }
  return bits / 8;
}

namespace {

constexpr const char* kIndexFileName = "model.safetensors.index.json";

struct Shard {
  std::string file_name;
  std::filesystem::path path;
  std::vector<size_t> tensors;  // Spec indices in data order.
  std::string header;           // 8-byte length + padded JSON.
  uint64_t data_bytes = 0;
  int fd = -1;
};

struct Placement {
  size_t shard = 0;
  uint64_t file_offset = 0;  // Absolute position of the tensor's first byte in its shard file.
  uint64_t size = 0;
};

std::string EncodeHeader(const std::map<std::string, std::string>& metadata, const std::vector<TensorSpec>& specs,
                         const std::vector<size_t>& order, const std::vector<Placement>& placement) {
  nlohmann::ordered_json json = nlohmann::ordered_json::object();
  if (!metadata.empty()) json["__metadata__"] = metadata;
  for (size_t i : order) {
    const TensorSpec& spec = specs[i];
    const uint64_t begin = placement[i].file_offset;  // Still relative to the data buffer here.
    nlohmann::ordered_json entry = nlohmann::ordered_json::object();
    entry["dtype"] = std::string(DTypeName(spec.dtype));
    entry["shape"] = spec.shape;
    entry["data_offsets"] = {begin, begin + placement[i].size};
    json[spec.name] = std::move(entry);
  }
  std::string text = json.dump();
  // Spaces (legal JSON whitespace) so the data buffer starts at a multiple of 8, as the reference writer does.
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string header(8, '\0');
  uint64_t length = text.size();
  for (int i = 0; i < 8; ++i) header[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  return header + text;
}

}  // namespace

struct SafetensorsWriter::Impl {
  std::filesystem::path dir;
  std::vector<TensorSpec> specs;
  std::vector<Shard> shards;
  std::vector<Placement> placement;
  std::unique_ptr<std::atomic<uint64_t>[]> written;
  uint64_t total_bytes = 0;
  bool finished = false;

  void CloseAll() {
    for (Shard& shard : shards) {
      if (shard.fd >= 0) ::close(shard.fd);
      shard.fd = -1;
    }
  }
};

SafetensorsWriter::SafetensorsWriter(const std::filesystem::path& dir, std::vector<TensorSpec> specs,
                                     uint64_t max_shard_bytes, std::map<std::string, std::string> metadata)
    : impl_(std::make_unique<Impl>()) {
  Impl& impl = *impl_;
  impl.dir = dir;
  impl.specs = std::move(specs);
  const std::vector<TensorSpec>& all = impl.specs;
  impl.placement.resize(all.size());
  impl.written = std::make_unique<std::atomic<uint64_t>[]>(all.size());

  std::set<std::string> names;
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i].name == "__metadata__") Fail("{}: a tensor cannot be named '__metadata__'", dir.string());
    if (!names.insert(all[i].name).second) Fail("{}: tensor '{}' is listed twice", dir.string(), all[i].name);
    impl.placement[i].size = WithContext(dir.string(), [&] { return all[i].byte_size(); });
    if (__builtin_add_overflow(impl.total_bytes, impl.placement[i].size, &impl.total_bytes)) {
      Fail("{}: total tensor size overflows 64 bits", dir.string());
    }
  }

  // Greedy in spec order: a tensor that would push the current shard past the limit starts a new one, so a
  // tensor bigger than the limit ends up alone.
  std::vector<std::vector<size_t>> groups(1);
  uint64_t current = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    const uint64_t size = impl.placement[i].size;
    if (!groups.back().empty() && (size > max_shard_bytes || current > max_shard_bytes - size)) {
      groups.emplace_back();
      current = 0;
    }
    groups.back().push_back(i);
    current += size;
  }

  const size_t num_shards = groups.size();
  for (size_t s = 0; s < num_shards; ++s) {
    Shard shard;
    shard.file_name =
        num_shards == 1 ? "model.safetensors" : fmt::format("model-{:05d}-of-{:05d}.safetensors", s + 1, num_shards);
    shard.path = dir / shard.file_name;
    shard.tensors = std::move(groups[s]);
    // Descending element size keeps every tensor aligned to its element size within the 8-aligned data buffer.
    std::stable_sort(shard.tensors.begin(), shard.tensors.end(),
                     [&](size_t a, size_t b) { return DTypeBits(all[a].dtype) > DTypeBits(all[b].dtype); });
    uint64_t offset = 0;
    for (size_t i : shard.tensors) {
      impl.placement[i].shard = s;
      impl.placement[i].file_offset = offset;  // Relative for now; made absolute once the header size is known.
      offset += impl.placement[i].size;
    }
    shard.data_bytes = offset;
    shard.header = EncodeHeader(metadata, all, shard.tensors, impl.placement);
    for (size_t i : shard.tensors) impl.placement[i].file_offset += shard.header.size();
    impl.shards.push_back(std::move(shard));
  }

  for (Shard& shard : impl.shards) {
    const std::string name = shard.path.string();
    shard.fd = ::open(shard.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (shard.fd < 0) Fail("{}: cannot create: {}", name, std::strerror(errno));
    uint64_t file_size = 0;
    if (__builtin_add_overflow(shard.header.size(), shard.data_bytes, &file_size) ||
        file_size > static_cast<uint64_t>(std::numeric_limits<off_t>::max())) {
      Fail("{}: file would be too large", name);
    }
    // Reserving the whole file now reports a full disk before hours of conversion, not at the end.
    const int reserve = ::posix_fallocate(shard.fd, 0, static_cast<off_t>(file_size));
    if (reserve == EOPNOTSUPP || reserve == ENOSYS || reserve == EINVAL) {
      if (::ftruncate(shard.fd, static_cast<off_t>(file_size)) != 0) {
        Fail("{}: cannot size to {} bytes: {}", name, file_size, std::strerror(errno));
      }
    } else if (reserve != 0) {
      Fail("{}: cannot reserve {} bytes: {}", name, file_size, std::strerror(reserve));
    }
    PwriteAll(shard.fd, shard.path, std::as_bytes(std::span(shard.header)), 0, "header");
  }
}

SafetensorsWriter::~SafetensorsWriter() { impl_->CloseAll(); }

const std::vector<TensorSpec>& SafetensorsWriter::specs() const { return impl_->specs; }

void SafetensorsWriter::Write(size_t index, uint64_t offset, std::span<const std::byte> bytes) {
  Impl& impl = *impl_;
  if (impl.finished) Fail("{}: Write after Finish", impl.dir.string());
  if (index >= impl.specs.size()) Fail("{}: tensor index {} out of range", impl.dir.string(), index);
  const Placement& place = impl.placement[index];
  const Shard& shard = impl.shards[place.shard];
  const std::string& name = impl.specs[index].name;
  if (offset > place.size || bytes.size() > place.size - offset) {
    Fail("{}: tensor '{}': writing {} bytes at offset {} runs past its {} bytes", shard.path.string(), name,
         bytes.size(), offset, place.size);
  }
  const uint64_t before = impl.written[index].fetch_add(bytes.size());
  if (before + bytes.size() > place.size) {
    Fail("{}: tensor '{}': more than its {} bytes written (a part written twice?)", shard.path.string(), name,
         place.size);
  }
  PwriteAll(shard.fd, shard.path, bytes, place.file_offset + offset, fmt::format("tensor '{}'", name));
}

void SafetensorsWriter::Finish() {
  Impl& impl = *impl_;
  if (impl.finished) Fail("{}: Finish called twice", impl.dir.string());
  for (size_t i = 0; i < impl.specs.size(); ++i) {
    const uint64_t written = impl.written[i].load();
    if (written != impl.placement[i].size) {
      Fail("{}: tensor '{}': {} of its {} bytes were written", impl.shards[impl.placement[i].shard].path.string(),
           impl.specs[i].name, written, impl.placement[i].size);
    }
  }
  for (Shard& shard : impl.shards) {
    FsyncOrFail(shard.fd, shard.path);
    const int result = ::close(shard.fd);
    shard.fd = -1;
    if (result != 0) Fail("{}: close failed: {}", shard.path.string(), std::strerror(errno));
  }
  if (impl.shards.size() > 1) {
    std::map<std::string, std::string> weight_map;
    for (size_t i = 0; i < impl.specs.size(); ++i) {
      weight_map.emplace(impl.specs[i].name, impl.shards[impl.placement[i].shard].file_name);
    }
    nlohmann::ordered_json index = nlohmann::ordered_json::object();
    index["metadata"] = {{"total_size", impl.total_bytes}};
    index["weight_map"] = weight_map;
    WriteFileAtomically(impl.dir / kIndexFileName, index.dump(2) + "\n");
  }
  FsyncDirectory(impl.dir);
  impl.finished = true;
}

std::vector<std::string> SafetensorsWriter::FileNames() const {
  std::vector<std::string> names;
  for (const Shard& shard : impl_->shards) names.push_back(shard.file_name);
  if (impl_->shards.size() > 1) names.emplace_back(kIndexFileName);
  return names;
}

void WriteSafetensors(const std::filesystem::path& dir, const std::vector<TensorView>& tensors,
                      uint64_t max_shard_bytes) {
  std::vector<TensorSpec> specs;
  specs.reserve(tensors.size());
  for (const TensorView& view : tensors) specs.push_back({view.name, view.dtype, view.shape});
  SafetensorsWriter writer(dir, specs, max_shard_bytes);
  for (size_t i = 0; i < tensors.size(); ++i) {
    const uint64_t expected = writer.specs()[i].byte_size();
    if (tensors[i].bytes.size() != expected) {
      Fail("{}: tensor '{}': shape {} needs {} bytes but the view holds {}", dir.string(), tensors[i].name,
           ShapeToString(tensors[i].shape), expected, tensors[i].bytes.size());
    }
    writer.Write(i, 0, tensors[i].bytes);
  }
  writer.Finish();
}

}  // namespace octet
