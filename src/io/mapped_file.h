// A read-only memory map of a whole file.
#ifndef OCTET_IO_MAPPED_FILE_H_
#define OCTET_IO_MAPPED_FILE_H_

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>

namespace octet {

class MappedFile {
 public:
  // Throws octet::Error naming the file if it cannot be opened or mapped. An empty file maps to an empty span.
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const std::byte> bytes() const { return {data_, size_}; }
  uint64_t size() const { return size_; }
  // Drops the pages covering `range` (a sub-span of bytes()) from the resident set; a later access faults them
  // back in from the page cache. Safe because the map is read-only and file-backed.
  void Release(std::span<const std::byte> range) const;
  // Starts reading `range` into the page cache in the background (MADV_WILLNEED), so a later pass over it does
  // not wait on the disk page by page.
  void Prefetch(std::span<const std::byte> range) const;
  // Hints sequential access to the kernel (larger read-ahead).
  void AdviseSequential() const;

 private:
  const std::byte* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace octet

#endif  // OCTET_IO_MAPPED_FILE_H_
