#include "io/output_directory.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include <gtest/gtest.h>

#include "io_test_util.h"
#include "test_util.h"
#include "util/error.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using ::octet::testing::ExpectError;
using ::octet::testing::ReadFileBytes;
using ::octet::testing::ScratchDir;
using ::octet::testing::WriteFileBytes;

std::vector<std::string> List(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(OutputDirectoryTest, RefusesAnExistingDirectoryWithoutOverwrite) {
  ScratchDir root;
  fs::create_directory(root / "out");
  ExpectError([&] { OutputDirectory::Begin(root / "out", false); },
              {(root / "out").string(), "already exists; pass --overwrite to replace it"});
  EXPECT_EQ(List(root.path()), (std::vector<std::string>{"out"}));
}

TEST(OutputDirectoryTest, CommitRenamesThePartialDirectory) {
  ScratchDir root;
  OutputDirectory out = OutputDirectory::Begin(root / "out", false);
  EXPECT_EQ(out.path(), root / "out.partial");
  EXPECT_TRUE(fs::is_directory(out.path()));
  EXPECT_FALSE(fs::exists(root / "out"));
  WriteFileBytes(out.path() / "a.txt", "hello");
  fs::create_directory(out.path() / "sub");
  WriteFileBytes(out.path() / "sub" / "b.txt", "nested");
  out.Commit();
  EXPECT_EQ(List(root.path()), (std::vector<std::string>{"out"}));
  EXPECT_EQ(ReadFileBytes(root / "out" / "a.txt"), "hello");
  EXPECT_EQ(ReadFileBytes(root / "out" / "sub" / "b.txt"), "nested");
  ExpectError([&] { out.Commit(); }, {"already committed"});
}

TEST(OutputDirectoryTest, DestructorWithoutCommitLeavesNothing) {
  ScratchDir root;
  {
    OutputDirectory out = OutputDirectory::Begin(root / "out", false);
    WriteFileBytes(out.path() / "half.safetensors", "partial data");
  }
  EXPECT_TRUE(List(root.path()).empty());
}

TEST(OutputDirectoryTest, OverwriteReplacesAtomically) {
  ScratchDir root;
  fs::create_directory(root / "out");
  WriteFileBytes(root / "out" / "old.txt", "old");
  OutputDirectory out = OutputDirectory::Begin(root / "out", true);
  WriteFileBytes(out.path() / "new.txt", "new");
  // Until the commit the old output is untouched.
  EXPECT_EQ(List(root / "out"), (std::vector<std::string>{"old.txt"}));
  out.Commit();
  EXPECT_EQ(List(root.path()), (std::vector<std::string>{"out"}));
  EXPECT_EQ(List(root / "out"), (std::vector<std::string>{"new.txt"}));
}

TEST(OutputDirectoryTest, OverwriteWithoutAnExistingDirectory) {
  ScratchDir root;
  OutputDirectory out = OutputDirectory::Begin(root / "out", true);
  WriteFileBytes(out.path() / "x", "1");
  out.Commit();
  EXPECT_EQ(ReadFileBytes(root / "out" / "x"), "1");
}

TEST(OutputDirectoryTest, StalePartialIsEmptiedAndReused) {
  ScratchDir root;
  fs::create_directories(root / "out.partial" / "junkdir");
  WriteFileBytes(root / "out.partial" / "junk.safetensors", "left by a killed run");
  OutputDirectory out = OutputDirectory::Begin(root / "out", false);
  EXPECT_TRUE(List(out.path()).empty());
  WriteFileBytes(out.path() / "fresh", "1");
  out.Commit();
  EXPECT_EQ(List(root / "out"), (std::vector<std::string>{"fresh"}));
}

TEST(OutputDirectoryTest, SecondWriterIsRefusedWhileTheFirstLives) {
  ScratchDir root;
  {
    OutputDirectory first = OutputDirectory::Begin(root / "out", false);
    WriteFileBytes(first.path() / "mine", "1");
    ExpectError([&] { OutputDirectory::Begin(root / "out", false); },
                {(root / "out.partial").string(), "is being written by another octet process"});
    ExpectError([&] { OutputDirectory::Begin(root / "out", true); }, {"another octet process"});
    // The refused attempt must not have touched the first one's files.
    EXPECT_EQ(List(first.path()), (std::vector<std::string>{"mine"}));
  }
  OutputDirectory again = OutputDirectory::Begin(root / "out", false);
  again.Commit();
  EXPECT_TRUE(fs::is_directory(root / "out"));
}

TEST(OutputDirectoryTest, LockHeldByAnotherProcess) {
  ScratchDir root;
  int ready[2];
  int done[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(done), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int code = 0;
    try {
      OutputDirectory out = OutputDirectory::Begin(root / "out", false);
      char c = 'r';
      if (::write(ready[1], &c, 1) != 1) code = 2;
      if (::read(done[0], &c, 1) != 1) code = 3;
    } catch (...) {
      code = 1;
    }
    ::_exit(code);
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ExpectError([&] { OutputDirectory::Begin(root / "out", false); }, {"another octet process"});
  ASSERT_EQ(::write(done[1], &c, 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  for (int fd : {ready[0], ready[1], done[0], done[1]}) ::close(fd);
  // The child abandoned its output and removed it.
  EXPECT_TRUE(List(root.path()).empty());
}

TEST(OutputDirectoryTest, MovedObjectOwnsTheOutput) {
  ScratchDir root;
  OutputDirectory first = OutputDirectory::Begin(root / "out", false);
  OutputDirectory second = std::move(first);
  WriteFileBytes(second.path() / "x", "1");
  second.Commit();
  EXPECT_EQ(ReadFileBytes(root / "out" / "x"), "1");
}

TEST(OutputDirectoryTest, TrailingSlashNamesTheSameDirectory) {
  ScratchDir root;
  OutputDirectory out = OutputDirectory::Begin((root / "out").string() + "/", false);
  EXPECT_EQ(out.path(), root / "out.partial");
  out.Commit();
  EXPECT_TRUE(fs::is_directory(root / "out"));
}

TEST(OutputDirectoryTest, WriteFileAtomicallyReplacesWholeFiles) {
  ScratchDir root;
  WriteFileAtomically(root / "config.json", "{\"a\": 1}");
  EXPECT_EQ(ReadFileBytes(root / "config.json"), "{\"a\": 1}");
  WriteFileAtomically(root / "config.json", "{}");
  EXPECT_EQ(ReadFileBytes(root / "config.json"), "{}");
  EXPECT_EQ(List(root.path()), (std::vector<std::string>{"config.json"}));
  ExpectError([&] { WriteFileAtomically(root / "absent" / "f", "x"); }, {(root / "absent" / "f").string()});
}

}  // namespace
}  // namespace octet
