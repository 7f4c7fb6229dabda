// Crash-safe output: a conversion writes into `<final>.partial` and renames it to `<final>` only once everything
// is on disk, so an interrupted run (error, Ctrl-C, SIGKILL, power loss) never leaves a directory that looks like
// a complete model. The `.partial` directory is locked with flock(2) so two octet processes cannot write the same
// output; a lock dies with its process, so a stale `.partial` from a killed run is recognised and reused.
#ifndef OCTET_IO_OUTPUT_DIRECTORY_H_
#define OCTET_IO_OUTPUT_DIRECTORY_H_

#include <filesystem>
#include <string>

namespace octet {

class OutputDirectory {
 public:
  // Refuses (octet::Error) if `final_dir` exists and !overwrite ("... already exists; pass --overwrite to replace
  // it"). Creates or reuses the sibling `<final_dir>.partial` and holds an exclusive flock on the directory itself,
  // so the lock follows the inode through the final rename. A `.partial` locked by a live process is an error
  // ("... is being written by another octet process"); an unlocked (stale) one is emptied and reused.
  static OutputDirectory Begin(const std::filesystem::path& final_dir, bool overwrite);

  OutputDirectory(OutputDirectory&& other) noexcept;
  OutputDirectory& operator=(OutputDirectory&& other) noexcept;
  OutputDirectory(const OutputDirectory&) = delete;
  OutputDirectory& operator=(const OutputDirectory&) = delete;
  // Not committed: removes the `.partial` tree.
  ~OutputDirectory();

  // The `.partial` directory to write into.
  const std::filesystem::path& path() const { return partial_dir_; }
  const std::filesystem::path& final_path() const { return final_dir_; }

  // Fsyncs the tree, then renames `.partial` to the final name. With overwrite and an existing final directory the
  // two are swapped atomically (renameat2 RENAME_EXCHANGE; rename-aside where unsupported) and the old tree is
  // removed, so at every instant the final name holds either the old or the new complete output. Fsyncs the
  // parent directory. Throws octet::Error naming the directory on failure; the `.partial` is then left to the
  // destructor.
  void Commit();

 private:
  OutputDirectory() = default;
  void Abandon() noexcept;

  std::filesystem::path final_dir_;
  std::filesystem::path partial_dir_;
  bool overwrite_ = false;
  int lock_fd_ = -1;
  bool committed_ = false;
};

// Writes a small whole file atomically: a temporary file beside `path`, fsync, rename over `path`, fsync of the
// directory. Readers see the old file or the new one, never a torn one. Throws octet::Error naming `path`.
void WriteFileAtomically(const std::filesystem::path& path, const std::string& contents);

}  // namespace octet

#endif  // OCTET_IO_OUTPUT_DIRECTORY_H_
