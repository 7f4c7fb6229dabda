// Shared helpers for tests: where the real models in ../shared live, scratch directories, running the CLI.
#ifndef OCTET_TESTS_TEST_UTIL_H_
#define OCTET_TESTS_TEST_UTIL_H_

#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace octet::testing {

// The shared/ directory beside the checkout (OCTET_SHARED_DIR overrides), or empty if there is none.
inline std::filesystem::path SharedDir() {
  if (const char* env = std::getenv("OCTET_SHARED_DIR")) return env;
  const std::filesystem::path candidate = std::filesystem::path(OCTET_SOURCE_DIR) / ".." / "shared";
  if (std::filesystem::exists(candidate / "models")) return std::filesystem::weakly_canonical(candidate);
  return {};
}

// Path of a model in shared/models, or empty if shared/ is absent (the caller then skips, visibly).
inline std::filesystem::path SharedModel(const std::string& name) {
  const std::filesystem::path shared = SharedDir();
  if (shared.empty() || !std::filesystem::exists(shared / "models" / name)) return {};
  return shared / "models" / name;
}

// Skips the current test with a message when a shared model is not available.
#define OCTET_REQUIRE_SHARED_MODEL(var, name)                                                          \
  const std::filesystem::path var = ::octet::testing::SharedModel(name);                               \
  if (var.empty()) {                                                                                    \
    GTEST_SKIP() << "shared model '" << name << "' not found (../shared/models is absent in a fresh "  \
                 << "clone; set OCTET_SHARED_DIR to run this test)";                                   \
  }

// A fresh, empty directory under the system temp dir, removed when the object goes out of scope.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "octet-test-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// Path of the built `octet` binary.
inline std::string CliPath() { return OCTET_CLI_PATH; }

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `octet <args>` through the shell, capturing stdout and stderr.
CommandResult RunCli(const std::string& args);

}  // namespace octet::testing

#endif  // OCTET_TESTS_TEST_UTIL_H_
