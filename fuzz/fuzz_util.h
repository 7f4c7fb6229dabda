// Helpers shared by the libFuzzer targets: scratch files that the parsers under test can open by path (they take
// paths, not buffers, because production code memory-maps real files), and a hard check that survives NDEBUG.
#ifndef OCTET_FUZZ_FUZZ_UTIL_H_
#define OCTET_FUZZ_FUZZ_UTIL_H_

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace octet::fuzz {

// An invariant the parser promised and broke: abort so libFuzzer records the input as a crash.
#define OCTET_FUZZ_CHECK(condition)                                                        \
  do {                                                                                     \
    if (!(condition)) {                                                                    \
      std::fprintf(stderr, "%s:%d: invariant violated: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)

// An anonymous in-memory file (memfd) reachable by path through /proc/self/fd, rewritten for every input: no disk
// traffic, nothing left behind, and the real open+mmap path of the reader is exercised.
class MemFile {
 public:
  MemFile() : fd_(::memfd_create("octet-fuzz", MFD_CLOEXEC)) {
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() { ::close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  void Set(const uint8_t* data, size_t size) {
    if (::ftruncate(fd_, 0) != 0) std::abort();
    size_t done = 0;
    while (done < size) {
      const ssize_t n = ::pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      if (n <= 0) std::abort();
      done += static_cast<size_t>(n);
    }
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  int fd_;
  std::filesystem::path path_;
};

// A directory on tmpfs (or TMPDIR) for targets that need several files, removed at exit.
inline std::filesystem::path MakeScratchDir() {
  const std::filesystem::path base =
      std::filesystem::exists("/dev/shm") ? std::filesystem::path("/dev/shm") : std::filesystem::temp_directory_path();
  std::string pattern = (base / "octet-fuzz-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  static std::filesystem::path to_remove;
  to_remove = pattern;
  std::atexit([] {
    std::error_code ignored;
    std::filesystem::remove_all(to_remove, ignored);
  });
  return pattern;
}

// Writes `size` bytes to `path`, replacing it.
inline void WriteFile(const std::filesystem::path& path, const void* data, size_t size) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}

}  // namespace octet::fuzz

#endif  // OCTET_FUZZ_FUZZ_UTIL_H_
