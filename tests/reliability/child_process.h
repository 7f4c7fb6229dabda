// Runs the real `octet` binary as a child process that a test can limit (RLIMIT_FSIZE), time and kill, which
// popen-based RunCli cannot do. Output (stdout and stderr together) is captured through a pipe.
#ifndef OCTET_TESTS_RELIABILITY_CHILD_PROCESS_H_
#define OCTET_TESTS_RELIABILITY_CHILD_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace octet::testing {

class ChildProcess {
 public:
  // Starts `octet <args...>`. With `file_size_limit`, the child gets RLIMIT_FSIZE set to that many bytes before
  // exec, standing in for a disk that fills up (octet ignores SIGXFSZ, so writes fail with EFBIG).
  explicit ChildProcess(const std::vector<std::string>& args, std::optional<uint64_t> file_size_limit = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  void Kill(int signal);
  // Waits for exit and returns the exit code, or 128 + signal when killed. Output is then in output().
  int Wait();
  // As Wait(), but SIGKILLs the child first if it is still running after `seconds` (a hang must fail the test,
  // not stall the suite).
  int WaitAtMost(double seconds);
  const std::string& output() const { return output_; }

 private:
  pid_t pid_ = -1;
  int read_fd_ = -1;
  int exit_code_ = -1;
  std::string output_;
};

// Every regular file under `dir` (relative path -> contents), for byte-for-byte comparison of outputs.
std::map<std::string, std::string> ReadTree(const std::filesystem::path& dir);

// The entries directly in `dir` (names), to show what a failed run left behind.
std::vector<std::string> ListDir(const std::filesystem::path& dir);

}  // namespace octet::testing

#endif  // OCTET_TESTS_RELIABILITY_CHILD_PROCESS_H_
