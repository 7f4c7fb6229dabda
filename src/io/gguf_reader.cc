#include "io/gguf_reader.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <numeric>

#include "util/error.h"

namespace octet {
namespace {

static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a little-endian host");

// Nested arrays are legal GGUF (docs/gguf.md) but nothing real uses more than one level; a limit keeps a hostile
// file from recursing the parser off the stack.
constexpr int kMaxArrayDepth = 8;

// Smallest encoding of one element of each type, to reject a count the remaining bytes cannot hold before
// allocating for it.
uint64_t MinEncodedBytes(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kBool: return 1;
    case GgufValueType::kUint16:
    case GgufValueType::kInt16: return 2;
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kFloat32: return 4;
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
    case GgufValueType::kFloat64:
    case GgufValueType::kString: return 8;   // the u64 length
    case GgufValueType::kArray: return 12;   // u32 element type + u64 count
  }
  return 1;
}

bool IsKnownValueType(uint32_t id) { return id <= static_cast<uint32_t>(GgufValueType::kFloat64); }

// Reads little-endian fields from the mapped bytes, failing with the file name and what was being read.
class Cursor {
 public:
  Cursor(std::span<const std::byte> bytes, const std::string& name) : bytes_(bytes), name_(name) {}

  uint64_t position() const { return pos_; }
  uint64_t remaining() const { return bytes_.size() - pos_; }

  template <typename T>
  T Read(std::string_view what) {
    if (remaining() < sizeof(T)) {
      Fail("{}: file ends at byte {} while reading {} (truncated?)", name_, bytes_.size(), what);
    }
    T value;
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }

  std::string ReadString(std::string_view what) {
    const uint64_t length = Read<uint64_t>(what);
    if (length > kGgufMaxStringLength) {
      Fail("{}: {} has length {}, above the {}-byte limit (corrupt file?)", name_, what, length,
           kGgufMaxStringLength);
    }
    if (length > remaining()) {
      Fail("{}: {} has length {} but only {} bytes remain in the file (truncated?)", name_, what, length,
           remaining());
    }
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), static_cast<size_t>(length));
    pos_ += length;
    return s;
  }

 private:
  std::span<const std::byte> bytes_;
  const std::string& name_;
  uint64_t pos_ = 0;
};

GgufValue ReadValue(Cursor& cursor, GgufValueType type, const std::string& name, const std::string& what,
                    int depth) {
  switch (type) {
    case GgufValueType::kUint8: return GgufValue::Uint8(cursor.Read<uint8_t>(what));
    case GgufValueType::kInt8: return GgufValue::Int8(cursor.Read<int8_t>(what));
    case GgufValueType::kUint16: return GgufValue::Uint16(cursor.Read<uint16_t>(what));
    case GgufValueType::kInt16: return GgufValue::Int16(cursor.Read<int16_t>(what));
    case GgufValueType::kUint32: return GgufValue::Uint32(cursor.Read<uint32_t>(what));
    case GgufValueType::kInt32: return GgufValue::Int32(cursor.Read<int32_t>(what));
    case GgufValueType::kUint64: return GgufValue::Uint64(cursor.Read<uint64_t>(what));
    case GgufValueType::kInt64: return GgufValue::Int64(cursor.Read<int64_t>(what));
    case GgufValueType::kFloat32: return GgufValue::Float32(cursor.Read<float>(what));
    case GgufValueType::kFloat64: return GgufValue::Float64(cursor.Read<double>(what));
    case GgufValueType::kBool: {
      const uint8_t b = cursor.Read<uint8_t>(what);
      if (b > 1) Fail("{}: {} is a bool stored as {}, expected 0 or 1", name, what, b);
      return GgufValue::Bool(b != 0);
    }
    case GgufValueType::kString: return GgufValue::String(cursor.ReadString(what));
    case GgufValueType::kArray: {
      if (depth >= kMaxArrayDepth) Fail("{}: {} nests arrays more than {} deep", name, what, kMaxArrayDepth);
      const uint32_t element_id = cursor.Read<uint32_t>(what);
      if (!IsKnownValueType(element_id)) {
        Fail("{}: {} is an array of unknown GGUF value type {}", name, what, element_id);
      }
      const auto element_type = static_cast<GgufValueType>(element_id);
      const uint64_t count = cursor.Read<uint64_t>(what);
      const uint64_t min_bytes = MinEncodedBytes(element_type);
      if (count > cursor.remaining() / min_bytes) {
        Fail("{}: {} is an array of {} {} elements, more than the {} remaining bytes can hold (corrupt file?)",
             name, what, count, GgufValueTypeName(element_type), cursor.remaining());
      }
      std::vector<GgufValue> elements;
      elements.reserve(static_cast<size_t>(count));
      for (uint64_t i = 0; i < count; ++i) {
        elements.push_back(ReadValue(cursor, element_type, name, what, depth + 1));
      }
      return GgufValue::Array(element_type, std::move(elements));
    }
  }
  Fail("{}: {} has unknown GGUF value type {}", name, what, static_cast<uint32_t>(type));
}

bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

// ggml type -> octet dtype for the plain element types.
std::optional<DType> PlainDType(GgmlType type) {
  switch (type) {
    case GgmlType::kF32: return DType::kF32;
    case GgmlType::kF16: return DType::kF16;
    case GgmlType::kBF16: return DType::kBF16;
    case GgmlType::kF64: return DType::kF64;
    case GgmlType::kI8: return DType::kI8;
    case GgmlType::kI16: return DType::kI16;
    case GgmlType::kI32: return DType::kI32;
    case GgmlType::kI64: return DType::kI64;
    default: return std::nullopt;
  }
}

std::string NeToString(const std::vector<int64_t>& ne) {
  std::string s = "{";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "}";
}

}  // namespace

Shape GgufTensorInfo::shape() const { return Shape(ne.rbegin(), ne.rend()); }

uint64_t GgufTensorInfo::num_elements() const {
  uint64_t n = 1;
  for (int64_t d : ne) n *= static_cast<uint64_t>(d);
  return n;
}

GgufContents ParseGguf(std::span<const std::byte> bytes, const std::string& name) {
  Cursor cursor(bytes, name);
  GgufContents contents;

  // ---- header (gguf.cpp gguf_init_from_reader)
  if (bytes.size() < 4) Fail("{}: file is {} bytes, too short for a GGUF header (truncated?)", name, bytes.size());
  const uint32_t magic = cursor.Read<uint32_t>("the magic");
  if (magic != kGgufMagic) {
    std::string shown;
    for (int i = 0; i < 4; ++i) {
      const char c = static_cast<char>(bytes[i]);
      shown += (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    Fail("{}: not a GGUF file: magic is '{}', expected 'GGUF'", name, shown);
  }
  contents.version = cursor.Read<uint32_t>("the version");
  if (contents.version != 0 && (contents.version & 0xFFFF) == 0) {
    Fail("{}: GGUF version {:#x} looks byte-swapped: big-endian GGUF files are not supported", name,
         contents.version);
  }
  if (contents.version == 1) Fail("{}: GGUF version 1 is obsolete and not supported (need 2 or 3)", name);
  if (contents.version != 2 && contents.version != 3) {
    Fail("{}: unsupported GGUF version {} (need 2 or 3)", name, contents.version);
  }
  const uint64_t n_tensors = cursor.Read<uint64_t>("the tensor count");
  const uint64_t n_kv = cursor.Read<uint64_t>("the metadata count");
  // Each key-value takes at least 8 (key length) + 1 (key) + 4 (type) + 1 (value) bytes; each tensor info at
  // least 8 + 4 + 8 + 4 + 8 (name length, n_dims, one dim, type, offset).
  if (n_kv > cursor.remaining() / 14) {
    Fail("{}: metadata count {} is more than the {}-byte file can hold (corrupt file?)", name, n_kv, bytes.size());
  }
  if (n_tensors > cursor.remaining() / 32) {
    Fail("{}: tensor count {} is more than the {}-byte file can hold (corrupt file?)", name, n_tensors,
         bytes.size());
  }

  // ---- metadata
  std::map<std::string, size_t, std::less<>> keys;
  contents.metadata.reserve(static_cast<size_t>(n_kv));
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = cursor.ReadString(fmt::format("metadata key #{}", i));
    if (key.empty()) Fail("{}: metadata key #{} is empty", name, i);
    const std::string what = fmt::format("metadata key '{}'", key);
    if (keys.count(key)) Fail("{}: duplicate {}", name, what);
    const uint32_t type_id = cursor.Read<uint32_t>(what);
    if (!IsKnownValueType(type_id)) Fail("{}: {} has unknown GGUF value type {}", name, what, type_id);
    GgufValue value = ReadValue(cursor, static_cast<GgufValueType>(type_id), name, what, 0);
    keys.emplace(key, contents.metadata.size());
    contents.metadata.push_back({std::move(key), std::move(value)});
  }

  // ---- alignment (gguf.cpp: must be u32, a power of two, at most GGUF_MAX_ALIGNMENT)
  if (auto it = keys.find(kGgufAlignmentKey); it != keys.end()) {
    const GgufValue& value = contents.metadata[it->second].value;
    if (value.type() != GgufValueType::kUint32) {
      Fail("{}: metadata key '{}' is of type {}, expected u32", name, kGgufAlignmentKey,
           GgufValueTypeName(value.type()));
    }
    const uint64_t alignment = value.AsUint64();
    if (!IsPowerOfTwo(alignment)) Fail("{}: {} {} is not a power of two", name, kGgufAlignmentKey, alignment);
    if (alignment > kGgufMaxAlignment) {
      Fail("{}: {} {} exceeds the maximum {}", name, kGgufAlignmentKey, alignment, kGgufMaxAlignment);
    }
    contents.alignment = static_cast<uint32_t>(alignment);
  }

  // ---- tensor infos
  std::map<std::string, size_t, std::less<>> names;
  std::vector<uint64_t> sizes;  // byte size of each tensor, in info order
  contents.tensors.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo info;
    info.name = cursor.ReadString(fmt::format("tensor #{} name", i));
    if (info.name.size() > kGgufMaxNameLength) {
      Fail("{}: tensor #{} name is {} bytes, above ggml's limit of {}", name, i, info.name.size(),
           kGgufMaxNameLength);
    }
    const std::string what = fmt::format("tensor '{}'", info.name);
    if (names.count(info.name)) Fail("{}: duplicate {}", name, what);
    const uint32_t n_dims = cursor.Read<uint32_t>(what);
    if (n_dims == 0 || n_dims > static_cast<uint32_t>(kGgufMaxDims)) {
      Fail("{}: {} has {} dimensions, expected 1 to {}", name, what, n_dims, kGgufMaxDims);
    }
    uint64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const int64_t extent = cursor.Read<int64_t>(what);
      if (extent <= 0) Fail("{}: {} dimension ne[{}] is {}, expected > 0", name, what, d, extent);
      info.ne.push_back(extent);
      if (__builtin_mul_overflow(elements, static_cast<uint64_t>(extent), &elements) ||
          elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        Fail("{}: {} has too many elements (overflow in ne[{}])", name, what, d);
      }
    }
    const uint32_t type_id = cursor.Read<uint32_t>(what);
    const std::optional<GgmlTypeTraits> traits = FindGgmlType(type_id);
    if (!traits) Fail("{}: {} has unknown ggml type {}", name, what, type_id);
    info.type = traits->type;
    if (info.ne[0] % traits->block_elements != 0) {
      Fail("{}: {} of type {} has ne[0] = {}, not a multiple of the block size {}", name, what,
           GgmlTypeName(info.type), info.ne[0], traits->block_elements);
    }
    uint64_t size = 0;
    if (__builtin_mul_overflow(elements / traits->block_elements, traits->block_bytes, &size)) {
      Fail("{}: {} is too large: its byte size overflows", name, what);
    }
    info.offset = cursor.Read<uint64_t>(what);
    names.emplace(info.name, contents.tensors.size());
    contents.tensors.push_back(std::move(info));
    sizes.push_back(size);
  }

  // ---- data section: starts at the next multiple of the alignment after the tensor infos
  const uint64_t alignment = contents.alignment;
  const uint64_t header_end = cursor.position();
  contents.data_offset = (header_end + alignment - 1) / alignment * alignment;  // header_end < 2^63: no overflow
  if (!contents.tensors.empty() && contents.data_offset > bytes.size()) {
    Fail("{}: data section would start at byte {}, past the end of the {}-byte file (truncated?)", name,
         contents.data_offset, bytes.size());
  }
  const uint64_t data_bytes = contents.data_offset <= bytes.size() ? bytes.size() - contents.data_offset : 0;

  // ---- tensor byte ranges: aligned, inside the file, not overlapping
  std::vector<size_t> order(contents.tensors.size());
  std::iota(order.begin(), order.end(), size_t{0});
  for (size_t i = 0; i < contents.tensors.size(); ++i) {
    GgufTensorInfo& info = contents.tensors[i];
    if (info.offset % alignment != 0) {
      Fail("{}: tensor '{}' has offset {}, not a multiple of the alignment {}", name, info.name, info.offset,
           alignment);
    }
    if (info.offset > data_bytes || sizes[i] > data_bytes - info.offset) {
      Fail("{}: tensor '{}' ({} {}, {} bytes at data offset {}) runs past the end of the file: the data section "
           "holds {} bytes (truncated?)",
           name, info.name, GgmlTypeName(info.type), NeToString(info.ne), sizes[i], info.offset, data_bytes);
    }
    info.bytes = bytes.subspan(static_cast<size_t>(contents.data_offset + info.offset), static_cast<size_t>(sizes[i]));
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return contents.tensors[a].offset < contents.tensors[b].offset;
  });
  for (size_t k = 1; k < order.size(); ++k) {
    const GgufTensorInfo& previous = contents.tensors[order[k - 1]];
    const GgufTensorInfo& current = contents.tensors[order[k]];
    const uint64_t previous_end = previous.offset + sizes[order[k - 1]];
    if (current.offset < previous_end) {
      Fail("{}: tensor '{}' (data offset {}) overlaps tensor '{}' (data bytes [{}, {}))", name, current.name,
           current.offset, previous.name, previous.offset, previous_end);
    }
  }
  return contents;
}

GgufFile GgufFile::Open(const std::filesystem::path& path) {
  GgufFile file;
  file.path_ = path;
  file.map_ = std::make_shared<MappedFile>(path);
  GgufContents contents = ParseGguf(file.map_->bytes(), path.string());
  file.version_ = contents.version;
  file.alignment_ = contents.alignment;
  file.data_offset_ = contents.data_offset;
  file.metadata_ = std::move(contents.metadata);
  file.tensors_ = std::move(contents.tensors);
  for (size_t i = 0; i < file.metadata_.size(); ++i) file.key_index_.emplace(file.metadata_[i].key, i);
  for (size_t i = 0; i < file.tensors_.size(); ++i) file.tensor_index_.emplace(file.tensors_[i].name, i);
  return file;
}

std::string GgufFile::KeyContext(std::string_view key) const {
  return fmt::format("{}: metadata key '{}'", path_.string(), key);
}

const GgufValue* GgufFile::Find(std::string_view key) const {
  const auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &metadata_[it->second].value;
}

namespace {

const GgufValue& Require(const GgufFile& file, std::string_view key) {
  const GgufValue* value = file.Find(key);
  if (value == nullptr) Fail("{} is missing", file.KeyContext(key));
  return *value;
}

}  // namespace

uint64_t GgufFile::GetUint(std::string_view key) const { return Require(*this, key).AsUint64(KeyContext(key)); }
int64_t GgufFile::GetInt(std::string_view key) const { return Require(*this, key).AsInt64(KeyContext(key)); }
double GgufFile::GetFloat(std::string_view key) const { return Require(*this, key).AsDouble(KeyContext(key)); }
bool GgufFile::GetBool(std::string_view key) const { return Require(*this, key).AsBool(KeyContext(key)); }
const std::string& GgufFile::GetString(std::string_view key) const {
  return Require(*this, key).AsString(KeyContext(key));
}
const GgufArray& GgufFile::GetArray(std::string_view key) const {
  return Require(*this, key).AsArray(KeyContext(key));
}

std::vector<std::string> GgufFile::GetStringArray(std::string_view key) const {
  const GgufArray& array = GetArray(key);
  std::vector<std::string> out;
  out.reserve(array.elements.size());
  for (size_t i = 0; i < array.elements.size(); ++i) {
    out.push_back(array.elements[i].AsString(fmt::format("{} element {}", KeyContext(key), i)));
  }
  return out;
}

std::vector<double> GgufFile::GetFloatArray(std::string_view key) const {
  const GgufArray& array = GetArray(key);
  std::vector<double> out;
  out.reserve(array.elements.size());
  for (size_t i = 0; i < array.elements.size(); ++i) {
    out.push_back(array.elements[i].AsDouble(fmt::format("{} element {}", KeyContext(key), i)));
  }
  return out;
}

std::vector<int64_t> GgufFile::GetIntArray(std::string_view key) const {
  const GgufArray& array = GetArray(key);
  std::vector<int64_t> out;
  out.reserve(array.elements.size());
  for (size_t i = 0; i < array.elements.size(); ++i) {
    out.push_back(array.elements[i].AsInt64(fmt::format("{} element {}", KeyContext(key), i)));
  }
  return out;
}

std::optional<uint64_t> GgufFile::FindUint(std::string_view key) const {
  if (!Has(key)) return std::nullopt;
  return GetUint(key);
}
std::optional<int64_t> GgufFile::FindInt(std::string_view key) const {
  if (!Has(key)) return std::nullopt;
  return GetInt(key);
}
std::optional<double> GgufFile::FindFloat(std::string_view key) const {
  if (!Has(key)) return std::nullopt;
  return GetFloat(key);
}
std::optional<bool> GgufFile::FindBool(std::string_view key) const {
  if (!Has(key)) return std::nullopt;
  return GetBool(key);
}
std::optional<std::string> GgufFile::FindString(std::string_view key) const {
  if (!Has(key)) return std::nullopt;
  return GetString(key);
}

const GgufTensorInfo* GgufFile::FindTensor(std::string_view name) const {
  const auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

TensorView GgufFile::View(const GgufTensorInfo& tensor) const {
  const std::optional<DType> dtype = PlainDType(tensor.type);
  if (!dtype) {
    Fail("{}: tensor '{}' is {}, which has no octet dtype; decode it with DequantizeGgmlRow", path_.string(),
         tensor.name, GgmlTypeName(tensor.type));
  }
  TensorView view;
  view.name = tensor.name;
  view.dtype = *dtype;
  view.shape = tensor.shape();
  view.bytes = tensor.bytes;
  view.file = path_.string();
  return view;
}

void GgufFile::Release(const GgufTensorInfo& tensor) const { map_->Release(tensor.bytes); }
void GgufFile::Prefetch(const GgufTensorInfo& tensor) const { map_->Prefetch(tensor.bytes); }

}  // namespace octet
