// Writes a GGUF v3 file (layout in io/gguf_reader.h; writer behaviour of ggml src/gguf.cpp gguf_write_to_buf and
// llama.cpp gguf-py/gguf/gguf_writer.py), streaming: the caller declares every tensor (name, ggml type, ne) up
// front, so the header and every tensor's offset are fixed before any data arrives; tensor bytes are then written
// in any order, in pieces, from any thread, straight to their final place with pwrite. Nothing is buffered, so
// memory does not grow with the model, and the bytes on disk do not depend on the order workers finish in.
//
// Layout: metadata in the order given; tensor infos in the order given; tensors packed in that order, each at the
// next multiple of the alignment (ggml's loader requires exactly this: offset_i = sum of the previous tensors'
// sizes padded to the alignment); padding bytes are zeros. The alignment is `general.alignment` when the metadata
// has it (a u32 power of two) and 32 otherwise.
//
// Crash safety (the convention of io/output_directory.h, for a single file): bytes go to `<path>.partial` beside
// the destination, locked with flock so two writers cannot share it; Finish() fsyncs it and renames it over
// `<path>`, then fsyncs the directory. A writer destroyed without Finish() (an error, an exception) removes the
// `.partial`; a killed process leaves only a `.partial`, never a file under the final name.
#ifndef OCTET_IO_GGUF_WRITER_H_
#define OCTET_IO_GGUF_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/gguf_value.h"
#include "numeric/ggml_blocks.h"

namespace octet {

struct GgufTensorSpec {
  std::string name;
  GgmlType type = GgmlType::kF32;
  std::vector<int64_t> ne;  // ggml order, ne[0] fastest: a PyTorch shape [out, in] is ne {in, out}

  // Throws octet::Error naming the tensor on a bad spec: empty or over-long (>= 64 bytes) name, 0 or > 4 dims, a
  // dimension <= 0, ne[0] not a multiple of the block size, or a size that overflows.
  uint64_t byte_size() const;
};

// ne for a PyTorch / row-major shape (the reverse).
std::vector<int64_t> GgufNeFromShape(const std::vector<int64_t>& shape);

class GgufWriter {
 public:
  // Validates the metadata (unique, non-empty keys; `general.alignment` a u32 power of two <= 1 MiB) and specs
  // (valid, unique names), creates `<path>.partial`, writes the header and reserves the file's full size.
  // Refuses when `path` exists and !overwrite ("... already exists; pass --overwrite to replace it"). Throws
  // octet::Error naming the file or tensor.
  GgufWriter(const std::filesystem::path& path, std::vector<GgufKeyValue> metadata,
             std::vector<GgufTensorSpec> tensors, bool overwrite = false);
  // Without Finish(): closes and removes the `.partial`.
  ~GgufWriter();
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;

  const std::vector<GgufTensorSpec>& tensors() const;
  uint32_t alignment() const;
  // Absolute file offset of the data section and of tensor `index`'s first byte.
  uint64_t data_offset() const;
  uint64_t tensor_file_offset(size_t index) const;
  // Total file size once finished.
  uint64_t file_size() const;

  // Thread-safe. Writes `bytes` at `offset` within tensor `index`'s data. Throws naming the file and tensor when
  // the range lies outside the tensor, or on a short write (disk full, file size limit).
  void Write(size_t index, uint64_t offset, std::span<const std::byte> bytes);
  // Every tensor must have received exactly byte_size() bytes in total (throws naming the first that did not).
  // Fsyncs, renames `.partial` to the final name (replacing an old file when overwrite), fsyncs the directory.
  void Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Convenience for small files and tests: writes `metadata` and every tensor's bytes (bytes[i] must be
// tensors[i].byte_size() long) in one call.
void WriteGguf(const std::filesystem::path& path, std::vector<GgufKeyValue> metadata,
               std::vector<GgufTensorSpec> tensors, const std::vector<std::span<const std::byte>>& bytes,
               bool overwrite = false);

// The encoded header alone (magic through the padding before the data section) for these inputs; what
// GgufWriter writes first. For tests and the fuzz corpus generator, which need to build near-valid files.
std::string EncodeGgufHeader(const std::vector<GgufKeyValue>& metadata, const std::vector<GgufTensorSpec>& tensors,
                             uint32_t alignment);

}  // namespace octet

#endif  // OCTET_IO_GGUF_WRITER_H_
