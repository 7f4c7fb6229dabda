// Reads one .safetensors file (format: huggingface/safetensors README and safetensors/src/tensor.rs): an 8-byte
// little-endian header length N, N bytes of JSON, then the data buffer. The file is memory-mapped and tensors are
// handed out as views into the map, never copied.
//
// Everything is validated before a single view is handed out, as the reference reader does, so a truncated
// download or a hand-edited header gives one clear error naming the file:
//   - file at least 8 bytes; N <= kMaxHeaderBytes and 8 + N <= file size;
//   - header is UTF-8 JSON, an object; each entry has a known dtype string, a shape of non-negative integers and
//     two data_offsets [begin, end] with begin <= end;
//   - element count * dtype bits is a whole number of bytes and equals end - begin (overflow-checked);
//   - sorted by offsets, tensors start at 0, are contiguous (no gap, no overlap) and end exactly at the file end;
//   - `__metadata__`, if present, maps strings to strings;
//   - no key appears twice in one JSON object (nlohmann would silently keep the last), no raw NUL in the header.
#ifndef OCTET_IO_SAFETENSORS_READER_H_
#define OCTET_IO_SAFETENSORS_READER_H_

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/mapped_file.h"
#include "io/tensor_view.h"

namespace octet {

class SafetensorsFile {
 public:
  // The reference implementation's MAX_HEADER_SIZE.
  static constexpr uint64_t kMaxHeaderBytes = 100'000'000;

  // Maps and validates `path`; throws octet::Error naming the file on any problem.
  static SafetensorsFile Open(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  // Tensors in data order (ascending offsets).
  const std::vector<TensorView>& tensors() const { return tensors_; }
  // nullptr when absent.
  const TensorView* Find(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  uint64_t file_size() const;
  // Tells the kernel the pages of `view` are no longer needed, so they leave this process's resident set (the
  // converter calls it after each tensor so its memory does not grow with the model).
  void Release(const TensorView& view) const;
  // Starts reading the view's bytes from disk in the background (see MappedFile::Prefetch).
  void Prefetch(const TensorView& view) const;

 private:
  std::filesystem::path path_;
  std::shared_ptr<MappedFile> map_;
  std::vector<TensorView> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace octet

#endif  // OCTET_IO_SAFETENSORS_READER_H_
