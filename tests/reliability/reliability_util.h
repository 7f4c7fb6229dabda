// Shared by the reliability tests: generating small checkpoints through the real CLI, and the contract every
// refused `octet convert` must meet (one line naming the file, non-zero exit, no output left behind).
#ifndef OCTET_TESTS_RELIABILITY_RELIABILITY_UTIL_H_
#define OCTET_TESTS_RELIABILITY_RELIABILITY_UTIL_H_

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include "reliability/child_process.h"
#include "test_util.h"

namespace octet::testing {

// `octet synth --arch llama --preset <preset> -o <dir>`; fails the test if synth fails.
inline void SynthModel(const std::filesystem::path& dir, const std::string& preset, const std::string& extra = "") {
  const CommandResult result =
      RunCli(fmt::format("synth --arch llama --preset {} --seed 7 --quiet {} -o {}", preset, extra, dir.string()));
  ASSERT_EQ(result.exit_code, 0) << result.output;
}

inline std::vector<std::string> ConvertArgs(const std::filesystem::path& model, const std::filesystem::path& out,
                                            std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"convert", model.string(), "--quantization", "fp8", "--quiet", "-o", out.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// The refusal contract: non-zero exit, exactly one line "octet: error: ..." containing every `needle`, and neither
// `out` nor `out.partial` on disk. Returns whether all held, so loops can stop at the first broken case.
inline bool ExpectCleanFailure(int exit_code, const std::string& output, const std::vector<std::string>& needles,
                               const std::filesystem::path& out, const std::string& what) {
  bool ok = true;
  auto check = [&](bool condition, const std::string& message) {
    EXPECT_TRUE(condition) << what << ": " << message << "\noutput: " << output;
    ok = ok && condition;
  };
  check(exit_code != 0 && exit_code < 128, fmt::format("exit code {} (want a clean non-zero exit)", exit_code));
  check(output.rfind("octet: error: ", 0) == 0, "output does not start with 'octet: error: '");
  check(std::count(output.begin(), output.end(), '\n') == 1, "not exactly one line");
  for (const std::string& needle : needles) {
    check(output.find(needle) != std::string::npos, "missing '" + needle + "'");
  }
  check(!std::filesystem::exists(out), "output directory left behind");
  check(!std::filesystem::exists(out.string() + ".partial"),
        fmt::format("partial output left behind: {}", fmt::join(ListDir(out.string() + ".partial"), ", ")));
  return ok;
}

}  // namespace octet::testing

#endif  // OCTET_TESTS_RELIABILITY_RELIABILITY_UTIL_H_
