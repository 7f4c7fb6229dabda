#include "io/gguf_writer.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>

#include "io/file_util.h"
#include "io/gguf_reader.h"  // format constants
#include "util/error.h"

namespace octet {
namespace {

static_assert(std::endian::native == std::endian::little, "the GGUF writer assumes a little-endian host");

// Matches the reader's nesting limit, so everything written can be read back.
constexpr int kMaxArrayDepth = 8;

template <typename T>
void Append(std::string& out, T value) {
  char raw[sizeof(T)];
  std::memcpy(raw, &value, sizeof(T));
  out.append(raw, sizeof(T));
}

void AppendString(std::string& out, const std::string& s) {
  Append<uint64_t>(out, s.size());
  out += s;
}

void CheckValue(const GgufValue& value, const std::string& what, int depth) {
  if (value.type() == GgufValueType::kString && value.AsString().size() > kGgufMaxStringLength) {
    Fail("{}: string of {} bytes is above GGUF's {}-byte limit", what, value.AsString().size(),
         kGgufMaxStringLength);
  }
  if (value.is_array()) {
    if (depth >= kMaxArrayDepth) Fail("{}: arrays nested more than {} deep", what, kMaxArrayDepth);
    for (const GgufValue& element : value.AsArray().elements) CheckValue(element, what, depth + 1);
  }
}

// Payload only (the type id is written by the caller: once per key, once per array for its elements).
void AppendValue(std::string& out, const GgufValue& value) {
  switch (value.type()) {
    case GgufValueType::kUint8: Append<uint8_t>(out, static_cast<uint8_t>(value.AsUint64())); return;
    case GgufValueType::kInt8: Append<int8_t>(out, static_cast<int8_t>(value.AsInt64())); return;
    case GgufValueType::kUint16: Append<uint16_t>(out, static_cast<uint16_t>(value.AsUint64())); return;
    case GgufValueType::kInt16: Append<int16_t>(out, static_cast<int16_t>(value.AsInt64())); return;
    case GgufValueType::kUint32: Append<uint32_t>(out, static_cast<uint32_t>(value.AsUint64())); return;
    case GgufValueType::kInt32: Append<int32_t>(out, static_cast<int32_t>(value.AsInt64())); return;
    case GgufValueType::kUint64: Append<uint64_t>(out, value.AsUint64()); return;
    case GgufValueType::kInt64: Append<int64_t>(out, value.AsInt64()); return;
    case GgufValueType::kFloat32: Append<float>(out, static_cast<float>(value.AsDouble())); return;
    case GgufValueType::kFloat64: Append<double>(out, value.AsDouble()); return;
    case GgufValueType::kBool: Append<uint8_t>(out, value.AsBool() ? 1 : 0); return;
    case GgufValueType::kString: AppendString(out, value.AsString()); return;
    case GgufValueType::kArray: {
      const GgufArray& array = value.AsArray();
      Append<uint32_t>(out, static_cast<uint32_t>(array.element_type));
      Append<uint64_t>(out, array.elements.size());
      for (const GgufValue& element : array.elements) AppendValue(out, element);
      return;
    }
  }
}

uint64_t AlignUp(uint64_t v, uint64_t alignment) {
  uint64_t padded = 0;
  if (__builtin_add_overflow(v, alignment - 1, &padded)) Fail("GGUF file would be too large");
  return padded / alignment * alignment;
}

// The alignment the metadata asks for (validated), or the default.
uint32_t AlignmentOf(const std::vector<GgufKeyValue>& metadata) {
  for (const GgufKeyValue& kv : metadata) {
    if (kv.key != kGgufAlignmentKey) continue;
    if (kv.value.type() != GgufValueType::kUint32) {
      Fail("metadata key '{}' must be u32, got {}", kGgufAlignmentKey, GgufValueTypeName(kv.value.type()));
    }
    const uint64_t alignment = kv.value.AsUint64();
    if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > kGgufMaxAlignment) {
      Fail("metadata key '{}' is {}: must be a power of two no larger than {}", kGgufAlignmentKey, alignment,
           kGgufMaxAlignment);
    }
    return static_cast<uint32_t>(alignment);
  }
  return kGgufDefaultAlignment;
}

void CheckInputs(const std::vector<GgufKeyValue>& metadata, const std::vector<GgufTensorSpec>& tensors) {
  std::set<std::string> keys;
  for (const GgufKeyValue& kv : metadata) {
    if (kv.key.empty()) Fail("GGUF metadata key is empty");
    if (!keys.insert(kv.key).second) Fail("duplicate GGUF metadata key '{}'", kv.key);
    CheckValue(kv.value, fmt::format("metadata key '{}'", kv.key), 0);
  }
  std::set<std::string> names;
  for (const GgufTensorSpec& spec : tensors) {
    spec.byte_size();  // validates
    if (!names.insert(spec.name).second) Fail("duplicate GGUF tensor name '{}'", spec.name);
  }
}

}  // namespace

uint64_t GgufTensorSpec::byte_size() const {
  if (name.empty()) Fail("GGUF tensor name is empty");
  if (name.size() > kGgufMaxNameLength) {
    Fail("tensor '{}': name is {} bytes, above ggml's limit of {}", name, name.size(), kGgufMaxNameLength);
  }
  if (ne.empty() || ne.size() > static_cast<size_t>(kGgufMaxDims)) {
    Fail("tensor '{}': {} dimensions, GGUF allows 1 to {}", name, ne.size(), kGgufMaxDims);
  }
  const GgmlTypeTraits traits = GgmlTraits(type);
  uint64_t elements = 1;
  for (int64_t d : ne) {
    if (d <= 0) Fail("tensor '{}': dimension {} must be > 0", name, d);
    if (__builtin_mul_overflow(elements, static_cast<uint64_t>(d), &elements) ||
        elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      Fail("tensor '{}': too many elements", name);
    }
  }
  if (ne[0] % traits.block_elements != 0) {
    Fail("tensor '{}': ne[0] = {} is not a multiple of the {} block size {}", name, ne[0], GgmlTypeName(type),
         traits.block_elements);
  }
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(elements / traits.block_elements, traits.block_bytes, &bytes)) {
    Fail("tensor '{}': byte size overflows", name);
  }
  return bytes;
}

std::vector<int64_t> GgufNeFromShape(const std::vector<int64_t>& shape) {
  return std::vector<int64_t>(shape.rbegin(), shape.rend());
}

std::string EncodeGgufHeader(const std::vector<GgufKeyValue>& metadata, const std::vector<GgufTensorSpec>& tensors,
                             uint32_t alignment) {
  std::string out;
  Append<uint32_t>(out, kGgufMagic);
  Append<uint32_t>(out, kGgufVersion);
  Append<uint64_t>(out, tensors.size());
  Append<uint64_t>(out, metadata.size());
  for (const GgufKeyValue& kv : metadata) {
    AppendString(out, kv.key);
    Append<uint32_t>(out, static_cast<uint32_t>(kv.value.type()));
    AppendValue(out, kv.value);
  }
  // Tensors packed in the given order, each padded to the alignment (what gguf.cpp's loader demands).
  uint64_t offset = 0;
  for (const GgufTensorSpec& spec : tensors) {
    AppendString(out, spec.name);
    Append<uint32_t>(out, static_cast<uint32_t>(spec.ne.size()));
    for (int64_t d : spec.ne) Append<int64_t>(out, d);
    Append<uint32_t>(out, static_cast<uint32_t>(spec.type));
    Append<uint64_t>(out, offset);
    offset = AlignUp(offset + spec.byte_size(), alignment);
  }
  out.append(AlignUp(out.size(), alignment) - out.size(), '\0');
  return out;
}

struct GgufWriter::Impl {
  std::filesystem::path path;
  std::filesystem::path partial;
  bool overwrite = false;
  std::vector<GgufTensorSpec> tensors;
  std::vector<uint64_t> sizes;
  std::vector<uint64_t> file_offsets;
  std::unique_ptr<std::atomic<uint64_t>[]> written;
  uint32_t alignment = kGgufDefaultAlignment;
  uint64_t data_offset = 0;
  uint64_t file_size = 0;
  int fd = -1;
  bool finished = false;

  void Abandon() noexcept {
    if (fd >= 0) {
      ::close(fd);
      fd = -1;
      ::unlink(partial.c_str());
    }
  }
};

GgufWriter::GgufWriter(const std::filesystem::path& path, std::vector<GgufKeyValue> metadata,
                       std::vector<GgufTensorSpec> tensors, bool overwrite)
    : impl_(std::make_unique<Impl>()) {
  Impl& impl = *impl_;
  impl.path = path;
  impl.partial = path.string() + ".partial";
  impl.overwrite = overwrite;
  const std::string name = path.string();
  WithContext(name, [&] {
    CheckInputs(metadata, tensors);
    impl.alignment = AlignmentOf(metadata);
  });
  impl.tensors = std::move(tensors);
  const std::string header = EncodeGgufHeader(metadata, impl.tensors, impl.alignment);
  impl.data_offset = header.size();
  uint64_t offset = impl.data_offset;
  for (const GgufTensorSpec& spec : impl.tensors) {
    impl.sizes.push_back(spec.byte_size());
    impl.file_offsets.push_back(offset);
    offset = AlignUp(offset + impl.sizes.back(), impl.alignment);
  }
  impl.file_size = offset;
  if (impl.file_size > static_cast<uint64_t>(std::numeric_limits<off_t>::max())) Fail("{}: file too large", name);
  impl.written = std::make_unique<std::atomic<uint64_t>[]>(impl.tensors.size());

  struct stat st {};
  if (!overwrite && ::lstat(path.c_str(), &st) == 0) {
    Fail("{}: already exists; pass --overwrite to replace it", name);
  }
  // Not O_TRUNC: a live writer's file must not be truncated before the lock tells us it is in use.
  const int fd = ::open(impl.partial.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) Fail("{}: cannot create: {}", impl.partial.string(), std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(fd);
    if (error == EWOULDBLOCK) Fail("{}: is being written by another octet process", impl.partial.string());
    Fail("{}: cannot lock: {}", impl.partial.string(), std::strerror(error));
  }
  impl.fd = fd;
  try {
    if (::ftruncate(fd, 0) != 0) Fail("{}: cannot truncate: {}", impl.partial.string(), std::strerror(errno));
    // Reserving the whole file now reports a full disk before the conversion, not at its end; the reserved
    // range reads as zeros, which is the padding GGUF wants.
    const int reserve = ::posix_fallocate(fd, 0, static_cast<off_t>(impl.file_size));
    if (reserve == EOPNOTSUPP || reserve == ENOSYS || reserve == EINVAL) {
      if (::ftruncate(fd, static_cast<off_t>(impl.file_size)) != 0) {
        Fail("{}: cannot size to {} bytes: {}", impl.partial.string(), impl.file_size, std::strerror(errno));
      }
    } else if (reserve != 0) {
      Fail("{}: cannot reserve {} bytes: {}", impl.partial.string(), impl.file_size, std::strerror(reserve));
    }
    PwriteAll(fd, impl.partial, std::as_bytes(std::span(header)), 0, "header");
  } catch (...) {
    impl.Abandon();
    throw;
  }
}

GgufWriter::~GgufWriter() {
  if (!impl_->finished) impl_->Abandon();
}

const std::vector<GgufTensorSpec>& GgufWriter::tensors() const { return impl_->tensors; }
uint32_t GgufWriter::alignment() const { return impl_->alignment; }
uint64_t GgufWriter::data_offset() const { return impl_->data_offset; }
uint64_t GgufWriter::tensor_file_offset(size_t index) const { return impl_->file_offsets.at(index); }
uint64_t GgufWriter::file_size() const { return impl_->file_size; }

void GgufWriter::Write(size_t index, uint64_t offset, std::span<const std::byte> bytes) {
  Impl& impl = *impl_;
  const std::string name = impl.path.string();
  if (impl.finished || impl.fd < 0) Fail("{}: Write after Finish", name);
  if (index >= impl.tensors.size()) Fail("{}: tensor index {} out of range", name, index);
  const std::string& tensor = impl.tensors[index].name;
  const uint64_t size = impl.sizes[index];
  if (offset > size || bytes.size() > size - offset) {
    Fail("{}: tensor '{}': writing {} bytes at offset {} runs past its {} bytes", name, tensor, bytes.size(),
         offset, size);
  }
  const uint64_t before = impl.written[index].fetch_add(bytes.size());
  if (before + bytes.size() > size) {
    Fail("{}: tensor '{}': more than its {} bytes written (a part written twice?)", name, tensor, size);
  }
  PwriteAll(impl.fd, impl.partial, bytes, impl.file_offsets[index] + offset, fmt::format("tensor '{}'", tensor));
}

void GgufWriter::Finish() {
  Impl& impl = *impl_;
  const std::string name = impl.path.string();
  if (impl.finished) Fail("{}: Finish called twice", name);
  for (size_t i = 0; i < impl.tensors.size(); ++i) {
    const uint64_t written = impl.written[i].load();
    if (written != impl.sizes[i]) {
      Fail("{}: tensor '{}': {} of its {} bytes were written", name, impl.tensors[i].name, written, impl.sizes[i]);
    }
  }
  FsyncOrFail(impl.fd, impl.partial);
  struct stat st {};
  if (!impl.overwrite && ::lstat(impl.path.c_str(), &st) == 0) {
    Fail("{}: already exists; pass --overwrite to replace it", name);
  }
  // rename(2) replaces an existing file atomically: readers see the old file or the new one.
  if (::rename(impl.partial.c_str(), impl.path.c_str()) != 0) {
    Fail("{}: cannot rename {} into place: {}", name, impl.partial.string(), std::strerror(errno));
  }
  // The lock goes with the descriptor; closing after the rename keeps the .partial locked until it is gone.
  const int result = ::close(impl.fd);
  impl.fd = -1;
  impl.finished = true;
  if (result != 0) Fail("{}: close failed: {}", name, std::strerror(errno));
  const std::filesystem::path parent = impl.path.parent_path();
  FsyncDirectory(parent.empty() ? std::filesystem::path(".") : parent);
}

void WriteGguf(const std::filesystem::path& path, std::vector<GgufKeyValue> metadata,
               std::vector<GgufTensorSpec> tensors, const std::vector<std::span<const std::byte>>& bytes,
               bool overwrite) {
  if (bytes.size() != tensors.size()) {
    Fail("{}: {} tensors declared but {} byte buffers given", path.string(), tensors.size(), bytes.size());
  }
  GgufWriter writer(path, std::move(metadata), std::move(tensors), overwrite);
  for (size_t i = 0; i < bytes.size(); ++i) {
    const uint64_t expected = writer.tensors()[i].byte_size();
    if (bytes[i].size() != expected) {
      Fail("{}: tensor '{}' needs {} bytes but {} were given", path.string(), writer.tensors()[i].name, expected,
           bytes[i].size());
    }
    writer.Write(i, 0, bytes[i]);
  }
  writer.Finish();
}

}  // namespace octet
