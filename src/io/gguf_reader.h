// Reads a GGUF file (ggml's model container; ggml-org/ggml docs/gguf.md, include/gguf.h, src/gguf.cpp): versions
// 2 and 3, little-endian. The file is memory-mapped; tensor bytes are handed out as spans into the map, never
// copied. Layout:
//
//   u32 magic "GGUF" (bytes 47 47 55 46) | u32 version | u64 n_tensors | u64 n_kv
//   n_kv x  { string key; u32 value_type; value }                (string = u64 length + bytes)
//   n_tensors x { string name; u32 n_dims; u64 ne[n_dims]; u32 ggml_type; u64 offset }
//   zero padding to `alignment`, then the data section; tensor i lies at data_start + offset_i.
//
// Everything is validated before Open returns, following gguf_init_from_file_impl (src/gguf.cpp) and octet's
// safetensors reader, so a truncated download or a hostile file gives one line naming the file and the key or
// tensor, never a crash and never an allocation larger than the file justifies:
//   - magic; version 2 or 3 (1 is obsolete; a version whose low 16 bits are 0 is a big-endian file: refused);
//   - every count (tensors, keys, array elements) and string length is bounded by the bytes left in the file
//     (and strings by ggml's GGUF_MAX_STRING_LENGTH, 1 GiB); array nesting depth is limited;
//   - value types known; bools 0 or 1; keys non-empty and unique;
//   - `general.alignment`, when present, a u32 power of two no larger than 1 MiB (ggml's GGUF_MAX_ALIGNMENT);
//     default 32;
//   - tensor names < 64 bytes (GGML_MAX_NAME) and unique; 1..4 dims, each > 0, element count and byte
//     size without overflow; ggml type known; ne[0] a multiple of the type's block size;
//   - offsets multiples of the alignment; every tensor's bytes inside the file; no two tensors overlap. (ggml's
//     loader additionally demands that tensors be packed in info order; octet accepts any non-overlapping
//     aligned placement, which is what a reader needs to be safe.)
#ifndef OCTET_IO_GGUF_READER_H_
#define OCTET_IO_GGUF_READER_H_

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/gguf_value.h"
#include "io/mapped_file.h"
#include "io/tensor_view.h"
#include "numeric/ggml_blocks.h"

namespace octet {

inline constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as a little-endian u32
inline constexpr uint32_t kGgufVersion = 3;
inline constexpr uint32_t kGgufDefaultAlignment = 32;     // GGUF_DEFAULT_ALIGNMENT
inline constexpr uint32_t kGgufMaxAlignment = 1u << 20;   // GGUF_MAX_ALIGNMENT in gguf.cpp
inline constexpr uint64_t kGgufMaxStringLength = 1ull << 30;  // GGUF_MAX_STRING_LENGTH
inline constexpr size_t kGgufMaxNameLength = 63;          // GGML_MAX_NAME (64) minus the NUL
inline constexpr int kGgufMaxDims = 4;                    // GGML_MAX_DIMS
inline constexpr const char* kGgufAlignmentKey = "general.alignment";

struct GgufTensorInfo {
  std::string name;
  GgmlType type = GgmlType::kF32;
  // ggml order: ne[0] is the fastest-varying (contiguous) dimension. 1..4 entries, each > 0.
  std::vector<int64_t> ne;
  uint64_t offset = 0;  // relative to the data section start
  std::span<const std::byte> bytes;  // exactly byte_size() bytes inside the map

  // PyTorch / row-major order: ne reversed (a Linear weight {in, out} becomes [out, in]).
  Shape shape() const;
  uint64_t num_elements() const;
  // Rows of ne[0] elements; each row is GgmlRowBytes(type, ne[0]) bytes.
  uint64_t num_rows() const { return num_elements() / static_cast<uint64_t>(ne[0]); }
  uint64_t byte_size() const { return bytes.size(); }
};

class GgufFile {
 public:
  // Maps and validates `path`; throws octet::Error ("PATH: ...") on any problem.
  static GgufFile Open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  // Absolute file offset of the data section (aligned).
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const { return map_->size(); }

  // ---- metadata, in file order
  const std::vector<GgufKeyValue>& metadata() const { return metadata_; }
  // nullptr when absent.
  const GgufValue* Find(std::string_view key) const;
  bool Has(std::string_view key) const { return Find(key) != nullptr; }
  // Typed getters. Each throws one line naming the file and key when the key is absent ("PATH: metadata key
  // 'llama.block_count' is missing") or has the wrong type ("PATH: metadata key 'llama.block_count' is a
  // string, expected an integer"). Integers accept any GGUF integer type whose value fits (gguf-py writes counts
  // as u32, the spec suggests u64); floats accept f32 and f64.
  uint64_t GetUint(std::string_view key) const;
  int64_t GetInt(std::string_view key) const;
  double GetFloat(std::string_view key) const;
  bool GetBool(std::string_view key) const;
  const std::string& GetString(std::string_view key) const;
  const GgufArray& GetArray(std::string_view key) const;
  // Arrays of one kind, converted element-wise with the same rules.
  std::vector<std::string> GetStringArray(std::string_view key) const;
  std::vector<double> GetFloatArray(std::string_view key) const;
  std::vector<int64_t> GetIntArray(std::string_view key) const;
  // The same, or nullopt when the key is absent (a present key of the wrong type still throws).
  std::optional<uint64_t> FindUint(std::string_view key) const;
  std::optional<int64_t> FindInt(std::string_view key) const;
  std::optional<double> FindFloat(std::string_view key) const;
  std::optional<bool> FindBool(std::string_view key) const;
  std::optional<std::string> FindString(std::string_view key) const;

  // ---- tensors, in tensor-info order
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  // nullptr when absent.
  const GgufTensorInfo* FindTensor(std::string_view name) const;
  // As an octet TensorView when the type has an octet DType (F32, F16, BF16, I8..I64, F64); throws naming the
  // tensor otherwise ("... is Q8_0, which has no octet dtype; decode it with DequantizeGgmlRow").
  TensorView View(const GgufTensorInfo& tensor) const;
  // Drops the tensor's pages from the resident set / reads them ahead (see MappedFile).
  void Release(const GgufTensorInfo& tensor) const;
  void Prefetch(const GgufTensorInfo& tensor) const;

  // Error prefix for messages about this file's metadata: "PATH: metadata key 'KEY'".
  std::string KeyContext(std::string_view key) const;

 private:
  std::filesystem::path path_;
  std::shared_ptr<MappedFile> map_;
  uint32_t version_ = 0;
  uint32_t alignment_ = kGgufDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<GgufKeyValue> metadata_;
  std::map<std::string, size_t, std::less<>> key_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

// Parses GGUF bytes already in memory (what Open does after mapping; the fuzzer calls it directly). `name` is
// used in error messages in place of the path. The returned tensors' spans point into `bytes`.
struct GgufContents {
  uint32_t version = 0;
  uint32_t alignment = kGgufDefaultAlignment;
  uint64_t data_offset = 0;
  std::vector<GgufKeyValue> metadata;
  std::vector<GgufTensorInfo> tensors;
};
GgufContents ParseGguf(std::span<const std::byte> bytes, const std::string& name);

}  // namespace octet

#endif  // OCTET_IO_GGUF_READER_H_
