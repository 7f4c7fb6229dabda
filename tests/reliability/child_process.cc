#include "reliability/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <cerrno>
#include <fstream>
#include <sstream>

#include "test_util.h"

namespace octet::testing {

ChildProcess::ChildProcess(const std::vector<std::string>& args, std::optional<uint64_t> file_size_limit) {
  // argv is built before fork: between fork and exec only async-signal-safe calls are allowed.
  const std::string binary = CliPath();
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(binary.c_str()));
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return;
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    if (file_size_limit) {
      const rlimit limit{.rlim_cur = *file_size_limit, .rlim_max = *file_size_limit};
      if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(126);
    }
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  read_fd_ = fds[0];
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && exit_code_ < 0) {
    Kill(SIGKILL);
    Wait();
  }
  if (read_fd_ >= 0) ::close(read_fd_);
}

void ChildProcess::Kill(int signal) {
  if (pid_ > 0 && exit_code_ < 0) ::kill(pid_, signal);
}

int ChildProcess::Wait() {
  if (exit_code_ >= 0 || pid_ <= 0) return exit_code_;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(read_fd_, buffer, sizeof buffer);
    if (n > 0) {
      output_.append(buffer, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return exit_code_;
}

int ChildProcess::WaitAtMost(double seconds) {
  if (exit_code_ >= 0 || pid_ <= 0) return exit_code_;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  siginfo_t info{};
  // WNOWAIT leaves the child reapable, so Wait() below still collects its status and output.
  while (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      Kill(SIGKILL);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return Wait();
}

std::map<std::string, std::string> ReadTree(const std::filesystem::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream contents;
    contents << in.rdbuf();
    files[std::filesystem::relative(entry.path(), dir).string()] = contents.str();
  }
  return files;
}

std::vector<std::string> ListDir(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  std::error_code error;
  for (std::filesystem::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    names.push_back(it->path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace octet::testing
