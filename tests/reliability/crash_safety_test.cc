// The output contract of `octet convert` under failure: a full disk, SIGKILL at any point, two writers, an
// existing output. Whatever happens, OUT is either absent or a complete, byte-identical conversion; a later run
// recovers without manual cleanup.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "reliability/child_process.h"
#include "reliability/reliability_util.h"
#include "test_util.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using testing::ChildProcess;
using testing::ConvertArgs;
using testing::ExpectCleanFailure;
using testing::ListDir;
using testing::ReadTree;
using testing::ScratchDir;
using testing::SynthModel;
using Clock = std::chrono::steady_clock;

// One tiny and one medium (107 MB BF16) synthetic model with their uninterrupted conversions, made once for the
// suite: the medium one takes long enough to convert (~0.25 s at 2 threads in Release, longer under sanitizers)
// that kills and a second writer land mid-run.
class CrashSafetyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = new ScratchDir();
    SynthModel(*scratch_ / "tiny", "tiny");
    SynthModel(*scratch_ / "small", "small", "--hidden 1024 --intermediate 2816 --layers 4");
    for (const char* name : {"tiny", "small"}) {
      const Clock::time_point start = Clock::now();
      ChildProcess convert(ConvertArgs(*scratch_ / name, *scratch_ / (std::string(name) + "-ref")));
      ASSERT_EQ(convert.Wait(), 0) << convert.output();
      if (std::string(name) == "small") small_seconds_ = std::chrono::duration<double>(Clock::now() - start).count();
    }
    ::testing::Test::RecordProperty("medium_convert_seconds", std::to_string(small_seconds_));
    tiny_ref_ = new std::map<std::string, std::string>(ReadTree(*scratch_ / "tiny-ref"));
    small_ref_ = new std::map<std::string, std::string>(ReadTree(*scratch_ / "small-ref"));
  }
  static void TearDownTestSuite() {
    delete tiny_ref_;
    delete small_ref_;
    delete scratch_;
  }
  void SetUp() override {
    ASSERT_NE(small_ref_, nullptr) << "suite set-up failed";
    work_ = std::make_unique<ScratchDir>();
  }

  static fs::path Tiny() { return *scratch_ / "tiny"; }
  static fs::path Small() { return *scratch_ / "small"; }

  static inline ScratchDir* scratch_ = nullptr;
  static inline std::map<std::string, std::string>* tiny_ref_ = nullptr;
  static inline std::map<std::string, std::string>* small_ref_ = nullptr;
  static inline double small_seconds_ = 0;
  std::unique_ptr<ScratchDir> work_;
};

// Names of the files in a tree, to show what differs without dumping megabytes.
std::vector<std::string> Names(const std::map<std::string, std::string>& tree) {
  std::vector<std::string> names;
  for (const auto& [name, contents] : tree) names.push_back(name + " (" + std::to_string(contents.size()) + " B)");
  return names;
}

// A file size limit stands in for a disk that fills up: every write past it fails with EFBIG. Limits span from
// "nothing fits" to "one byte short of the largest file"; a limit that fits everything must change nothing.
TEST_F(CrashSafetyTest, DiskFullIsAClearErrorAndLeavesNothing) {
  uint64_t largest = 0;
  for (const auto& [name, contents] : *tiny_ref_) largest = std::max<uint64_t>(largest, contents.size());
  const fs::path out = *work_ / "out";
  for (uint64_t limit : {uint64_t{0}, uint64_t{100}, uint64_t{4096}, largest / 4, largest / 2, largest - 1}) {
    ChildProcess convert(ConvertArgs(Tiny(), out), limit);
    const int code = convert.Wait();
    ExpectCleanFailure(code, convert.output(), {out.string() + ".partial/", "File too large"}, out,
                       fmt::format("file size limit {} (largest output file {})", limit, largest));
  }
  ChildProcess convert(ConvertArgs(Tiny(), out), largest);
  ASSERT_EQ(convert.Wait(), 0) << "limit " << largest << " fits every file: " << convert.output();
  EXPECT_EQ(ReadTree(out), *tiny_ref_);
}

// SIGKILL cannot be caught, so nothing runs on the way out: the `.partial` directory stays behind. It must never
// be mistaken for output, and the next run must reuse it and produce exactly the uninterrupted result.
TEST_F(CrashSafetyTest, KilledAtRandomPointsThenRerunGivesIdenticalOutput) {
  const fs::path out = *work_ / "out";
  std::mt19937_64 random(20240611);
  std::uniform_real_distribution<double> jitter(-0.05, 0.05);
  int killed_mid_run = 0;
  for (double fraction : {0.02, 0.2, 0.4, 0.6, 0.8, 1.0}) {
    const double delay = std::max(0.0, small_seconds_ * (fraction + jitter(random)));
    {
      ChildProcess convert(ConvertArgs(Small(), out, {"--threads", "2"}));
      std::this_thread::sleep_for(std::chrono::duration<double>(delay));
      convert.Kill(SIGKILL);
      const int code = convert.Wait();
      if (code == 128 + SIGKILL) ++killed_mid_run;
    }
    // Either the kill came after the rename (a complete output) or there is no output at all.
    if (fs::exists(out)) {
      EXPECT_EQ(ReadTree(out), *small_ref_) << "after a kill at " << delay << " s OUT exists but is not complete";
    } else {
      ChildProcess rerun(ConvertArgs(Small(), out, {"--threads", "2"}));
      ASSERT_EQ(rerun.Wait(), 0) << "rerun after a kill at " << delay << " s: " << rerun.output();
      const auto tree = ReadTree(out);
      EXPECT_EQ(tree, *small_ref_) << "rerun after a kill at " << delay << " s differs: " << fmt::format(
                                          "{}", fmt::join(Names(tree), ", "));
    }
    EXPECT_FALSE(fs::exists(out.string() + ".partial")) << "after a kill at " << delay << " s";
    fs::remove_all(out);
  }
  // If the machine is so fast that every kill came too late, the test proved nothing.
  EXPECT_GE(killed_mid_run, 2) << "convert took " << small_seconds_ << " s";
  ::testing::Test::RecordProperty("killed_mid_run", killed_mid_run);
}

// Two converts into one OUT: exactly one wins, the other says why in one line, and OUT is the complete result.
TEST_F(CrashSafetyTest, TwoConvertsIntoOneOutputOneWins) {
  const fs::path out = *work_ / "out";
  int refused_while_writing = 0;
  for (int round = 0; round < 3; ++round) {
    // Round 0 starts the second writer once the first holds `.partial`; the others start both at once.
    ChildProcess first(ConvertArgs(Small(), out));
    if (round == 0) {
      const Clock::time_point deadline = Clock::now() + std::chrono::seconds(30);
      while (!fs::exists(out.string() + ".partial") && !fs::exists(out) && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    ChildProcess second(ConvertArgs(Small(), out));
    const int first_code = first.Wait();
    const int second_code = second.Wait();
    ASSERT_TRUE((first_code == 0) != (second_code == 0))
        << "round " << round << ": exit codes " << first_code << " and " << second_code << "\nfirst: "
        << first.output() << "\nsecond: " << second.output();
    const ChildProcess& loser = first_code == 0 ? second : first;
    const bool explained = loser.output().find("is being written by another octet process") != std::string::npos ||
                           loser.output().find("already exists; pass --overwrite") != std::string::npos;
    EXPECT_TRUE(explained) << "round " << round << ": " << loser.output();
    if (loser.output().find("is being written") != std::string::npos) ++refused_while_writing;
    EXPECT_EQ(std::count(loser.output().begin(), loser.output().end(), '\n'), 1) << loser.output();
    EXPECT_EQ(ReadTree(out), *small_ref_) << "round " << round;
    EXPECT_FALSE(fs::exists(out.string() + ".partial")) << "round " << round;
    fs::remove_all(out);
  }
  // Round 0 starts the second writer while the first holds the lock, so at least that one must overlap.
  EXPECT_GE(refused_while_writing, 1);
  ::testing::Test::RecordProperty("refused_while_writing", refused_while_writing);
}

// --overwrite does not let a second writer take over a `.partial` that a live process is writing.
TEST_F(CrashSafetyTest, OverwriteDoesNotStealALiveWritersOutput) {
  const fs::path out = *work_ / "out";
  ChildProcess first(ConvertArgs(Small(), out));
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(30);
  while (!fs::exists(out.string() + ".partial") && !fs::exists(out) && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ChildProcess second(ConvertArgs(Small(), out, {"--overwrite"}));
  const int second_code = second.Wait();
  ASSERT_EQ(first.Wait(), 0) << first.output();
  if (second_code != 0) {
    EXPECT_NE(second.output().find("is being written by another octet process"), std::string::npos)
        << second.output();
  }  // else: the first had already committed and the second replaced it with identical bytes.
  EXPECT_EQ(ReadTree(out), *small_ref_);
  EXPECT_FALSE(fs::exists(out.string() + ".partial"));
}

TEST_F(CrashSafetyTest, ExistingOutputIsRefusedUnlessOverwrite) {
  const fs::path out = *work_ / "out";
  fs::create_directories(out);
  std::ofstream(out / "precious.txt") << "not octet's";
  {
    ChildProcess convert(ConvertArgs(Tiny(), out));
    EXPECT_EQ(convert.Wait(), 1);
    EXPECT_EQ(convert.output(), fmt::format("octet: error: {}: already exists; pass --overwrite to replace it\n",
                                            out.string()));
    EXPECT_EQ(ListDir(out), std::vector<std::string>{"precious.txt"});
    EXPECT_FALSE(fs::exists(out.string() + ".partial"));
  }
  {
    ChildProcess convert(ConvertArgs(Tiny(), out, {"--overwrite"}));
    ASSERT_EQ(convert.Wait(), 0) << convert.output();
    EXPECT_EQ(ReadTree(out), *tiny_ref_);
    // The old tree is removed, not parked beside the output.
    EXPECT_EQ(ListDir(work_->path()), std::vector<std::string>{"out"});
  }
  // A plain file in the way is refused the same way.
  const fs::path file = *work_ / "file";
  std::ofstream(file) << "x";
  ChildProcess convert(ConvertArgs(Tiny(), file));
  EXPECT_EQ(convert.Wait(), 1);
  EXPECT_NE(convert.output().find("already exists"), std::string::npos) << convert.output();
}

}  // namespace
}  // namespace octet
