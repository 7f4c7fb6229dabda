#include "test_util.h"

#include <sys/wait.h>

#include <array>
#include <cstdio>

namespace octet::testing {

CommandResult RunCli(const std::string& args) {
  CommandResult result;
  const std::string command = CliPath() + " " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace octet::testing
