// Small POSIX helpers shared by the writers in io/: whole-buffer positioned writes and fsync, each failing with
// an octet::Error that names the file.
#ifndef OCTET_IO_FILE_UTIL_H_
#define OCTET_IO_FILE_UTIL_H_

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

namespace octet {

// Writes all of `bytes` at `offset`, looping on partial writes and EINTR. A write that makes no progress
// (disk full, file size limit) throws "<path>: <what>: <strerror>".
void PwriteAll(int fd, const std::filesystem::path& path, std::span<const std::byte> bytes, uint64_t offset,
               const std::string& what);
// fsync(fd); throws naming `path` on failure.
void FsyncOrFail(int fd, const std::filesystem::path& path);
// Opens the directory read-only and fsyncs it, so a rename or file creation inside it is durable.
void FsyncDirectory(const std::filesystem::path& dir);

}  // namespace octet

#endif  // OCTET_IO_FILE_UTIL_H_
