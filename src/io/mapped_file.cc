#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "util/error.h"

namespace octet {

MappedFile::MappedFile(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) Fail("{}: cannot open: {}", path.string(), std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    Fail("{}: cannot stat: {}", path.string(), std::strerror(error));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    Fail("{}: not a regular file", path.string());
  }
  size_ = static_cast<uint64_t>(st.st_size);
  if (size_ > 0) {
    // The mapping keeps the file alive after the descriptor is closed.
    void* data = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
    if (data == MAP_FAILED) {
      const int error = errno;
      ::close(fd);
      Fail("{}: cannot map {} bytes: {}", path.string(), size_, std::strerror(error));
    }
    data_ = static_cast<const std::byte*>(data);
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
}

namespace {

// madvise() on the pages covering `range`, rounded outward to whole pages and clipped to the map.
void AdvisePages(const std::byte* data, uint64_t size, std::span<const std::byte> range, int advice) {
  if (data == nullptr || range.empty()) return;
  const auto base = reinterpret_cast<uintptr_t>(data);
  const auto end_of_map = base + size;
  auto begin = reinterpret_cast<uintptr_t>(range.data());
  auto end = begin + range.size();
  if (begin < base || end > end_of_map) return;  // Not ours.
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  begin &= ~(page - 1);
  end = std::min((end + page - 1) & ~(page - 1), (end_of_map + page - 1) & ~(page - 1));
  ::madvise(reinterpret_cast<void*>(begin), end - begin, advice);
}

}  // namespace

void MappedFile::Release(std::span<const std::byte> range) const {
  // Rounding outward may drop a neighbour's pages too; harmless, they fault back in from the page cache because
  // the map is read-only and file-backed.
  AdvisePages(data_, size_, range, MADV_DONTNEED);
}

void MappedFile::Prefetch(std::span<const std::byte> range) const {
  AdvisePages(data_, size_, range, MADV_WILLNEED);
}

void MappedFile::AdviseSequential() const {
  if (data_ != nullptr) ::madvise(const_cast<std::byte*>(data_), size_, MADV_SEQUENTIAL);
}

}  // namespace octet
