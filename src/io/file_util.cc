#include "io/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/error.h"

namespace octet {

void PwriteAll(int fd, const std::filesystem::path& path, std::span<const std::byte> bytes, uint64_t offset,
               const std::string& what) {
  while (!bytes.empty()) {
    const ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // A zero-byte write means no space, as far as the caller can tell.
      const char* reason = n < 0 ? std::strerror(errno) : "no progress (disk full?)";
      Fail("{}: {}: cannot write {} bytes at offset {}: {}", path.string(), what, bytes.size(), offset, reason);
    }
    bytes = bytes.subspan(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
}

void FsyncOrFail(int fd, const std::filesystem::path& path) {
  if (::fsync(fd) != 0) Fail("{}: fsync failed: {}", path.string(), std::strerror(errno));
}

void FsyncDirectory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) Fail("{}: cannot open directory: {}", dir.string(), std::strerror(errno));
  const int result = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  // Some filesystems refuse fsync on directories (EINVAL); the data is as durable as they can make it.
  if (result != 0 && error != EINVAL) Fail("{}: fsync failed: {}", dir.string(), std::strerror(error));
}

}  // namespace octet
