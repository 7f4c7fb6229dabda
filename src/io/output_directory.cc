#include "io/output_directory.h"

#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <span>
#include <utility>

#include "io/file_util.h"
#include "util/error.h"

namespace octet {
namespace {

namespace fs = std::filesystem;

// "out/" and "out/." name the same directory as "out"; the sibling must be "out.partial", not "out/.partial".
fs::path Normalize(const fs::path& dir) {
  fs::path normal = dir.lexically_normal();
  if (!normal.empty() && !normal.has_filename()) normal = normal.parent_path();
  if (normal.empty() || normal.filename() == "." || normal.filename() == "..") {
    Fail("{}: cannot be used as an output directory name", dir.string());
  }
  return normal;
}

fs::path ParentOf(const fs::path& path) {
  const fs::path parent = path.parent_path();
  return parent.empty() ? fs::path(".") : parent;
}

bool Exists(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

void RemoveTree(const fs::path& path) {
  std::error_code error;
  fs::remove_all(path, error);
  if (error) Fail("{}: cannot remove: {}", path.string(), error.message());
}

// Fsyncs every file and directory under `dir` (and `dir` itself), so the rename that publishes it cannot become
// durable before its contents.
void FsyncTree(const fs::path& dir) {
  std::error_code error;
  for (fs::recursive_directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    const fs::file_status status = it->symlink_status();
    if (!fs::is_regular_file(status) && !fs::is_directory(status)) continue;
    const int fd = ::open(it->path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) Fail("{}: cannot open to fsync: {}", it->path().string(), std::strerror(errno));
    const int result = ::fsync(fd);
    const int fsync_error = errno;
    ::close(fd);
    if (result != 0 && fsync_error != EINVAL) {
      Fail("{}: fsync failed: {}", it->path().string(), std::strerror(fsync_error));
    }
  }
  if (error) Fail("{}: cannot list: {}", dir.string(), error.message());
  FsyncDirectory(dir);
}

}  // namespace

OutputDirectory OutputDirectory::Begin(const fs::path& final_dir, bool overwrite) {
  OutputDirectory out;
  out.final_dir_ = Normalize(final_dir);
  out.partial_dir_ = out.final_dir_;
  out.partial_dir_ += ".partial";
  out.overwrite_ = overwrite;
  const std::string partial = out.partial_dir_.string();

  if (!overwrite && Exists(out.final_dir_)) {
    Fail("{}: already exists; pass --overwrite to replace it", out.final_dir_.string());
  }
  // A concurrent commit can rename the `.partial` between our open and our lock; then we locked a directory that
  // is no longer at that path, so we start over with a fresh one.
  for (int attempt = 0;; ++attempt) {
    if (attempt == 100) Fail("{}: keeps changing under us; is another octet process writing it?", partial);
    if (::mkdir(out.partial_dir_.c_str(), 0755) != 0 && errno != EEXIST) {
      Fail("{}: cannot create: {}", partial, std::strerror(errno));
    }
    const int fd = ::open(out.partial_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      if (errno == ENOENT) continue;
      Fail("{}: cannot open as a directory: {}", partial, std::strerror(errno));
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int error = errno;
      ::close(fd);
      if (error == EWOULDBLOCK) Fail("{}: is being written by another octet process", partial);
      Fail("{}: cannot lock: {}", partial, std::strerror(error));
    }
    struct stat locked {};
    struct stat named {};
    if (::fstat(fd, &locked) != 0 || ::lstat(out.partial_dir_.c_str(), &named) != 0 ||
        locked.st_dev != named.st_dev || locked.st_ino != named.st_ino) {
      ::close(fd);
      continue;
    }
    out.lock_fd_ = fd;
    break;
  }
  // Ours now. Whatever is inside was left by a run that died before committing: start from empty.
  std::error_code error;
  for (fs::directory_iterator it(out.partial_dir_, error), end; !error && it != end; it.increment(error)) {
    RemoveTree(it->path());
  }
  if (error) Fail("{}: cannot list: {}", partial, error.message());
  return out;
}

OutputDirectory::OutputDirectory(OutputDirectory&& other) noexcept
    : final_dir_(std::move(other.final_dir_)),
      partial_dir_(std::move(other.partial_dir_)),
      overwrite_(other.overwrite_),
      lock_fd_(std::exchange(other.lock_fd_, -1)),
      committed_(other.committed_) {}

OutputDirectory& OutputDirectory::operator=(OutputDirectory&& other) noexcept {
  if (this != &other) {
    Abandon();
    final_dir_ = std::move(other.final_dir_);
    partial_dir_ = std::move(other.partial_dir_);
    overwrite_ = other.overwrite_;
    lock_fd_ = std::exchange(other.lock_fd_, -1);
    committed_ = other.committed_;
  }
  return *this;
}

OutputDirectory::~OutputDirectory() { Abandon(); }

void OutputDirectory::Abandon() noexcept {
  if (lock_fd_ < 0) return;
  if (!committed_) {
    // Removed while still locked, so no other process starts reusing it half-deleted.
    std::error_code ignored;
    fs::remove_all(partial_dir_, ignored);
  }
  ::close(lock_fd_);
  lock_fd_ = -1;
}

void OutputDirectory::Commit() {
  const std::string final_name = final_dir_.string();
  if (lock_fd_ < 0 || committed_) Fail("{}: output already committed", final_name);
  FsyncTree(partial_dir_);

  if (Exists(final_dir_)) {
    if (!overwrite_) Fail("{}: already exists; pass --overwrite to replace it", final_name);
    if (::renameat2(AT_FDCWD, partial_dir_.c_str(), AT_FDCWD, final_dir_.c_str(), RENAME_EXCHANGE) == 0) {
      // The old tree now sits at the `.partial` name; it is no longer needed.
      committed_ = true;
      RemoveTree(partial_dir_);
    } else if (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) {
      // No atomic swap here: move the old output aside first. A crash in between leaves it under `.old`.
      fs::path aside = final_dir_;
      aside += fmt::format(".old-{}", ::getpid());
      if (::rename(final_dir_.c_str(), aside.c_str()) != 0) {
        Fail("{}: cannot move the old output aside: {}", final_name, std::strerror(errno));
      }
      if (::rename(partial_dir_.c_str(), final_dir_.c_str()) != 0) {
        const int error = errno;
        ::rename(aside.c_str(), final_dir_.c_str());
        Fail("{}: cannot rename {} into place: {}", final_name, partial_dir_.string(), std::strerror(error));
      }
      committed_ = true;
      RemoveTree(aside);
    } else {
      Fail("{}: cannot swap in {}: {}", final_name, partial_dir_.string(), std::strerror(errno));
    }
  } else {
    // NOREPLACE: a directory created meanwhile by someone else is not silently replaced (plain rename would
    // replace an empty one).
    int result = ::renameat2(AT_FDCWD, partial_dir_.c_str(), AT_FDCWD, final_dir_.c_str(), RENAME_NOREPLACE);
    if (result != 0 && (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
      result = ::rename(partial_dir_.c_str(), final_dir_.c_str());
    }
    if (result != 0) {
      if (errno == EEXIST || errno == ENOTEMPTY) {
        Fail("{}: already exists; pass --overwrite to replace it", final_name);
      }
      Fail("{}: cannot rename {} into place: {}", final_name, partial_dir_.string(), std::strerror(errno));
    }
    committed_ = true;
  }
  FsyncDirectory(ParentOf(final_dir_));
  ::close(lock_fd_);
  lock_fd_ = -1;
}

void WriteFileAtomically(const fs::path& path, const std::string& contents) {
  std::string temp = path.string() + ".tmp-XXXXXX";
  const int fd = ::mkstemp(temp.data());
  if (fd < 0) Fail("{}: cannot create a temporary file: {}", path.string(), std::strerror(errno));
  try {
    PwriteAll(fd, temp, std::as_bytes(std::span(contents)), 0, "contents");
    if (::fchmod(fd, 0644) != 0) Fail("{}: chmod failed: {}", temp, std::strerror(errno));
    FsyncOrFail(fd, temp);
  } catch (...) {
    ::close(fd);
    ::unlink(temp.c_str());
    throw;
  }
  ::close(fd);
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int error = errno;
    ::unlink(temp.c_str());
    Fail("{}: cannot rename {} into place: {}", path.string(), temp, std::strerror(error));
  }
  FsyncDirectory(ParentOf(path));
}

}  // namespace octet
