#include "io/safetensors_reader.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace octet {
namespace {

using nlohmann::json;

// One header entry before the layout checks.
struct Entry {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  uint64_t begin = 0;
  uint64_t end = 0;
};

uint64_t ReadLittleEndian64(const std::byte* p) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | static_cast<uint64_t>(p[i]);
  return value;
}

// nlohmann keeps the last of duplicate keys without a word; the spec disallows them and a header whose meaning
// depends on which duplicate wins is corrupt, so a parser callback tracks the keys of every open object.
json ParseHeaderJson(const std::string& file, std::string_view text) {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  const json::parser_callback_t callback = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open_objects.empty() && parsed.is_string() &&
            !open_objects.back().insert(parsed.get<std::string>()).second && duplicate.empty()) {
          duplicate = parsed.get<std::string>();
        }
        break;
      default:
        break;
    }
    return true;
  };
  // nlohmann treats a NUL byte as the end of input, which would accept "{}" followed by anything; a raw NUL is
  // never valid JSON.
  if (const size_t nul = text.find('\0'); nul != std::string_view::npos) {
    Fail("{}: header is not valid JSON: NUL byte at header offset {}", file, nul);
  }
  json header;
  try {
    header = json::parse(text.begin(), text.end(), callback);
  } catch (const json::exception& e) {
    Fail("{}: header is not valid JSON: {}", file, e.what());
  }
  if (!duplicate.empty()) Fail("{}: header has duplicate key '{}'", file, duplicate);
  return header;
}

// The value of a non-negative JSON integer, or an error message describing what it is instead.
std::optional<uint64_t> AsUnsigned(const json& value) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  return std::nullopt;
}

std::string Describe(const json& value) {
  if (value.is_number_integer() && !value.is_number_unsigned()) return fmt::format("negative number {}", value.dump());
  if (value.is_number_float()) return fmt::format("non-integer {}", value.dump());
  return std::string(value.type_name());
}

Entry ParseEntry(const std::string& file, const std::string& name, const json& value) {
  Entry entry;
  entry.name = name;
  if (!value.is_object()) Fail("{}: tensor '{}': entry is a {}, not an object", file, name, value.type_name());

  const auto dtype_it = value.find("dtype");
  if (dtype_it == value.end() || !dtype_it->is_string()) {
    Fail("{}: tensor '{}': missing or non-string \"dtype\"", file, name);
  }
  const std::string dtype_name = dtype_it->get<std::string>();
  const std::optional<DType> dtype = ParseDTypeName(dtype_name);
  if (!dtype) Fail("{}: tensor '{}': unknown dtype '{}'", file, name, dtype_name);
  entry.dtype = *dtype;

  const auto shape_it = value.find("shape");
  if (shape_it == value.end() || !shape_it->is_array()) {
    Fail("{}: tensor '{}': missing or non-array \"shape\"", file, name);
  }
  for (const json& dim : *shape_it) {
    const std::optional<uint64_t> d = AsUnsigned(dim);
    if (!d) Fail("{}: tensor '{}': shape dimension is a {}, not a non-negative integer", file, name, Describe(dim));
    if (*d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      Fail("{}: tensor '{}': shape dimension {} is too large", file, name, *d);
    }
    entry.shape.push_back(static_cast<int64_t>(*d));
  }

  const auto offsets_it = value.find("data_offsets");
  if (offsets_it == value.end() || !offsets_it->is_array() || offsets_it->size() != 2) {
    Fail("{}: tensor '{}': \"data_offsets\" must be an array of two integers", file, name);
  }
  const std::optional<uint64_t> begin = AsUnsigned((*offsets_it)[0]);
  const std::optional<uint64_t> end = AsUnsigned((*offsets_it)[1]);
  if (!begin || !end) {
    Fail("{}: tensor '{}': data_offsets {} must be two non-negative integers", file, name, offsets_it->dump());
  }
  if (*begin > *end) Fail("{}: tensor '{}': data_offsets [{}, {}] end before they begin", file, name, *begin, *end);
  entry.begin = *begin;
  entry.end = *end;

  uint64_t elements = 1;
  for (int64_t d : entry.shape) {
    if (__builtin_mul_overflow(elements, static_cast<uint64_t>(d), &elements)) {
      Fail("{}: tensor '{}': shape {} has more elements than fit in 64 bits", file, name, ShapeToString(entry.shape));
    }
  }
  uint64_t bits = 0;
  if (__builtin_mul_overflow(elements, static_cast<uint64_t>(DTypeBits(entry.dtype)), &bits)) {
    Fail("{}: tensor '{}': shape {} with dtype {} has more bits than fit in 64 bits", file, name,
         ShapeToString(entry.shape), dtype_name);
  }
  if (bits % 8 != 0) {
    Fail("{}: tensor '{}': shape {} with dtype {} is {} bits, not a whole number of bytes", file, name,
         ShapeToString(entry.shape), dtype_name, bits);
  }
  if (bits / 8 != entry.end - entry.begin) {
    Fail("{}: tensor '{}': shape {} with dtype {} needs {} bytes but data_offsets span {}", file, name,
         ShapeToString(entry.shape), dtype_name, bits / 8, entry.end - entry.begin);
  }
  return entry;
}

}  // namespace

SafetensorsFile SafetensorsFile::Open(const std::filesystem::path& path) {
  SafetensorsFile file;
  file.path_ = path;
  file.map_ = std::make_shared<MappedFile>(path);
  const std::string name = path.string();
  const std::span<const std::byte> bytes = file.map_->bytes();

  if (bytes.size() < 8) {
    Fail("{}: file is {} bytes, too short for the 8-byte header length (truncated?)", name, bytes.size());
  }
  const uint64_t header_size = ReadLittleEndian64(bytes.data());
  if (header_size > kMaxHeaderBytes) {
    Fail("{}: header length {} exceeds the {}-byte limit (not a safetensors file?)", name, header_size,
         kMaxHeaderBytes);
  }
  if (header_size > bytes.size() - 8) {
    Fail("{}: header length {} runs past the end of the {}-byte file (truncated?)", name, header_size, bytes.size());
  }
  const std::string_view text(reinterpret_cast<const char*>(bytes.data() + 8), header_size);
  const json header = ParseHeaderJson(name, text);
  if (!header.is_object()) Fail("{}: header is a JSON {}, not an object", name, header.type_name());

  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) Fail("{}: __metadata__ is a {}, not an object of strings", name, value.type_name());
      for (const auto& [meta_key, meta_value] : value.items()) {
        if (!meta_value.is_string()) {
          Fail("{}: __metadata__ must map strings to strings, but '{}' is a {}", name, meta_key,
               meta_value.type_name());
        }
        file.metadata_.emplace(meta_key, meta_value.get<std::string>());
      }
      continue;
    }
    entries.push_back(ParseEntry(name, key, value));
  }

  // Keys come sorted by name, so ties (empty tensors at one offset) stay in name order: deterministic.
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::pair(a.begin, a.end) < std::pair(b.begin, b.end);
  });
  const uint64_t data_size = bytes.size() - 8 - header_size;
  uint64_t expected = 0;
  const Entry* previous = nullptr;
  for (const Entry& entry : entries) {
    if (entry.begin < expected) {
      Fail("{}: tensor '{}': data_offsets [{}, {}] overlap tensor '{}', which ends at {}", name, entry.name,
           entry.begin, entry.end, previous->name, expected);
    }
    if (entry.begin > expected) {
      Fail("{}: tensor '{}': data_offsets [{}, {}] leave a gap: bytes [{}, {}) belong to no tensor", name,
           entry.name, entry.begin, entry.end, expected, entry.begin);
    }
    expected = entry.end;
    previous = &entry;
  }
  if (expected > data_size) {
    Fail("{}: tensors need {} data bytes but the file holds only {} after the header (truncated?)", name, expected,
         data_size);
  }
  if (expected < data_size) {
    Fail("{}: {} trailing bytes after the last tensor (tensors end at data offset {}, the data buffer is {} bytes)",
         name, data_size - expected, expected, data_size);
  }

  const std::byte* data = bytes.data() + 8 + header_size;
  file.tensors_.reserve(entries.size());
  for (Entry& entry : entries) {
    file.index_.emplace(entry.name, file.tensors_.size());
    file.tensors_.push_back(TensorView{.name = std::move(entry.name),
                                       .dtype = entry.dtype,
                                       .shape = std::move(entry.shape),
                                       .bytes = {data + entry.begin, entry.end - entry.begin},
                                       .file = name});
  }
  return file;
}

const TensorView* SafetensorsFile::Find(const std::string& name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

uint64_t SafetensorsFile::file_size() const { return map_->size(); }

void SafetensorsFile::Release(const TensorView& view) const { map_->Release(view.bytes); }

void SafetensorsFile::Prefetch(const TensorView& view) const { map_->Prefetch(view.bytes); }

}  // namespace octet
