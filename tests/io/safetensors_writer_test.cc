#include "io/safetensors_writer.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "io/checkpoint.h"
#include "io/file_util.h"
#include "io/safetensors_reader.h"
#include "io_test_util.h"
#include "test_util.h"
#include "util/error.h"

namespace octet {
namespace {

using ::octet::testing::ExpectError;
using ::octet::testing::RandomBytes;
using ::octet::testing::ReadFileBytes;
using ::octet::testing::ScratchDir;

// Tensors with their contents, the input of a write.
struct Tensors {
  std::vector<TensorSpec> specs;
  std::vector<std::vector<std::byte>> data;

  void Add(std::string name, DType dtype, Shape shape) {
    specs.push_back({std::move(name), dtype, std::move(shape)});
    data.push_back(RandomBytes(specs.back().byte_size(), static_cast<uint32_t>(specs.size())));
  }
  std::vector<TensorView> Views() const {
    std::vector<TensorView> views;
    for (size_t i = 0; i < specs.size(); ++i) {
      views.push_back({.name = specs[i].name, .dtype = specs[i].dtype, .shape = specs[i].shape, .bytes = data[i], .file = ""});
    }
    return views;
  }
};

Tensors MixedTensors() {
  Tensors t;
  t.Add("embed", DType::kBF16, {7, 3});
  t.Add("scalar", DType::kF32, {});
  t.Add("fp8", DType::kF8E4M3, {5, 3});
  t.Add("counts", DType::kI64, {3});
  t.Add("empty", DType::kF32, {0, 4});
  t.Add("weight", DType::kF32, {4, 6});
  t.Add("packed", DType::kF4, {2, 3});
  return t;
}

// The parsed JSON header of a safetensors file, in file order, and the position of its data buffer.
struct RawHeader {
  nlohmann::ordered_json json;
  uint64_t data_start = 0;
  std::string text;
};

RawHeader ReadRawHeader(const std::filesystem::path& path) {
  const std::string bytes = ReadFileBytes(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  RawHeader header;
  header.text = bytes.substr(8, n);
  header.json = nlohmann::ordered_json::parse(header.text);
  header.data_start = 8 + n;
  return header;
}

void ExpectMatches(const TensorView& got, const TensorSpec& spec, const std::vector<std::byte>& data) {
  EXPECT_EQ(got.name, spec.name);
  EXPECT_EQ(got.dtype, spec.dtype) << spec.name;
  EXPECT_EQ(got.shape, spec.shape) << spec.name;
  ASSERT_EQ(got.bytes.size(), data.size()) << spec.name;
  EXPECT_TRUE(std::equal(data.begin(), data.end(), got.bytes.begin())) << spec.name;
}

TEST(SafetensorsWriterTest, RoundTripsEveryKindOfTensor) {
  ScratchDir dir;
  const Tensors t = MixedTensors();
  WriteSafetensors(dir.path(), t.Views());
  EXPECT_TRUE(std::filesystem::exists(dir / "model.safetensors"));
  EXPECT_FALSE(std::filesystem::exists(dir / "model.safetensors.index.json"));
  const SafetensorsFile file = SafetensorsFile::Open(dir / "model.safetensors");
  ASSERT_EQ(file.tensors().size(), t.specs.size());
  for (size_t i = 0; i < t.specs.size(); ++i) {
    const TensorView* got = file.Find(t.specs[i].name);
    ASSERT_NE(got, nullptr) << t.specs[i].name;
    ExpectMatches(*got, t.specs[i], t.data[i]);
  }
  EXPECT_EQ(file.metadata(), (std::map<std::string, std::string>{{"format", "pt"}}));
}

TEST(SafetensorsWriterTest, HeaderFollowsTheReferenceLayout) {
  ScratchDir dir;
  const Tensors t = MixedTensors();
  WriteSafetensors(dir.path(), t.Views());
  const RawHeader header = ReadRawHeader(dir / "model.safetensors");
  EXPECT_EQ(header.data_start % 8, 0u);
  // Padding is spaces only, after the closing brace.
  const size_t close = header.text.rfind('}');
  EXPECT_EQ(header.text.find_first_not_of(' ', close + 1), std::string::npos);
  EXPECT_LT(header.text.size() - close - 1, 8u);
  // Compact JSON, as the reference writer emits.
  EXPECT_EQ(header.text.substr(0, close + 1), header.json.dump());

  auto it = header.json.begin();
  ASSERT_EQ(it.key(), "__metadata__");
  EXPECT_EQ(it.value(), nlohmann::ordered_json({{"format", "pt"}}));
  ++it;
  // Expected data order: stable sort of the specs by descending element bits.
  std::vector<size_t> order(t.specs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return DTypeBits(t.specs[a].dtype) > DTypeBits(t.specs[b].dtype);
  });
  uint64_t offset = 0;
  for (size_t i : order) {
    ASSERT_NE(it, header.json.end());
    EXPECT_EQ(it.key(), t.specs[i].name);
    const auto& entry = it.value();
    std::vector<std::string> keys;
    for (auto field = entry.begin(); field != entry.end(); ++field) keys.push_back(field.key());
    EXPECT_EQ(keys, (std::vector<std::string>{"dtype", "shape", "data_offsets"}));
    EXPECT_EQ(entry["dtype"], std::string(DTypeName(t.specs[i].dtype)));
    EXPECT_EQ(entry["shape"].get<Shape>(), t.specs[i].shape);
    EXPECT_EQ(entry["data_offsets"][0].get<uint64_t>(), offset) << t.specs[i].name;
    offset += t.specs[i].byte_size();
    EXPECT_EQ(entry["data_offsets"][1].get<uint64_t>(), offset);
    // Every tensor starts aligned to its element size.
    EXPECT_EQ((header.data_start + entry["data_offsets"][0].get<uint64_t>()) % std::max<size_t>(1, DTypeBits(t.specs[i].dtype) / 8), 0u);
    ++it;
  }
  EXPECT_EQ(it, header.json.end());
  EXPECT_EQ(std::filesystem::file_size(dir / "model.safetensors"), header.data_start + offset);
}

TEST(SafetensorsWriterTest, ShardsGreedilyAndWritesTheIndex) {
  ScratchDir dir;
  Tensors t;
  t.Add("a", DType::kF32, {10});      // 40
  t.Add("b", DType::kF32, {10});      // 40 -> 80
  t.Add("c", DType::kBF16, {20});     // 40 -> 120 > 100: new shard
  t.Add("d", DType::kU8, {150});      // bigger than the limit: alone
  t.Add("e", DType::kF32, {5});       // 20: new shard after the big one
  t.Add("f", DType::kI64, {10});      // 80 -> 100: fits exactly
  t.Add("g", DType::kF32, {0});       // 0 -> 100: fits
  t.Add("h", DType::kU8, {1});        // 1 -> 101: new shard
  const uint64_t max_shard = 100;

  // The greedy assignment, computed independently.
  std::vector<std::vector<std::string>> expected(1);
  uint64_t current = 0;
  uint64_t total = 0;
  for (const TensorSpec& spec : t.specs) {
    if (!expected.back().empty() && current + spec.byte_size() > max_shard) {
      expected.emplace_back();
      current = 0;
    }
    expected.back().push_back(spec.name);
    current += spec.byte_size();
    total += spec.byte_size();
  }
  ASSERT_EQ(expected.size(), 5u);

  SafetensorsWriter writer(dir.path(), t.specs, max_shard);
  EXPECT_EQ(writer.FileNames(), (std::vector<std::string>{
                                    "model-00001-of-00005.safetensors", "model-00002-of-00005.safetensors",
                                    "model-00003-of-00005.safetensors", "model-00004-of-00005.safetensors",
                                    "model-00005-of-00005.safetensors", "model.safetensors.index.json"}));
  for (size_t i = 0; i < t.specs.size(); ++i) writer.Write(i, 0, t.data[i]);
  writer.Finish();

  const std::string index_text = ReadFileBytes(dir / "model.safetensors.index.json");
  const nlohmann::ordered_json index = nlohmann::ordered_json::parse(index_text);
  EXPECT_EQ(index.begin().key(), "metadata");
  EXPECT_EQ(index["metadata"]["total_size"].get<uint64_t>(), total);
  nlohmann::ordered_json expected_map = nlohmann::ordered_json::object();
  std::vector<std::pair<std::string, std::string>> pairs;
  for (size_t s = 0; s < expected.size(); ++s) {
    for (const std::string& name : expected[s]) {
      pairs.emplace_back(name, fmt::format("model-{:05d}-of-00005.safetensors", s + 1));
    }
  }
  std::sort(pairs.begin(), pairs.end());
  for (const auto& [name, file] : pairs) expected_map[name] = file;
  EXPECT_EQ(index["weight_map"].dump(), expected_map.dump());  // Same keys in the same (sorted) order.

  for (size_t s = 0; s < expected.size(); ++s) {
    const SafetensorsFile shard = SafetensorsFile::Open(dir / fmt::format("model-{:05d}-of-00005.safetensors", s + 1));
    std::vector<std::string> names;
    for (const TensorView& view : shard.tensors()) names.push_back(view.name);
    std::vector<std::string> want = expected[s];
    std::stable_sort(want.begin(), want.end(), [&](const std::string& a, const std::string& b) {
      auto bits = [&](const std::string& n) {
        return DTypeBits(std::find_if(t.specs.begin(), t.specs.end(), [&](const TensorSpec& x) { return x.name == n; })->dtype);
      };
      return bits(a) > bits(b);
    });
    EXPECT_EQ(names, want) << "shard " << s + 1;
  }

  const Checkpoint checkpoint = Checkpoint::Open(dir.path());
  ASSERT_EQ(checkpoint.tensors().size(), t.specs.size());
  for (size_t i = 0; i < t.specs.size(); ++i) ExpectMatches(checkpoint.Get(t.specs[i].name), t.specs[i], t.data[i]);
  EXPECT_EQ(checkpoint.TotalTensorBytes(), total);
}

TEST(SafetensorsWriterTest, ShuffledMultiThreadedWritesGiveIdenticalBytes) {
  Tensors t;
  for (int i = 0; i < 40; ++i) {
    const DType dtypes[] = {DType::kF32, DType::kBF16, DType::kF8E4M3, DType::kI64};
    t.Add(fmt::format("layer.{}.weight", i), dtypes[i % 4], {i % 7 + 1, 33});
  }
  ScratchDir in_order;
  ScratchDir shuffled;
  {
    SafetensorsWriter writer(in_order.path(), t.specs, 3000);
    for (size_t i = 0; i < t.specs.size(); ++i) writer.Write(i, 0, t.data[i]);
    writer.Finish();
  }
  {
    SafetensorsWriter writer(shuffled.path(), t.specs, 3000);
    // Every tensor in chunks of 10 bytes (the last shorter), all chunks shuffled and spread over four threads.
    std::vector<std::pair<size_t, uint64_t>> chunks;
    for (size_t i = 0; i < t.specs.size(); ++i) {
      for (uint64_t offset = 0; offset < t.data[i].size(); offset += 10) chunks.emplace_back(i, offset);
    }
    std::shuffle(chunks.begin(), chunks.end(), std::mt19937(7));
    std::vector<std::thread> threads;
    for (size_t w = 0; w < 4; ++w) {
      threads.emplace_back([&, w] {
        for (size_t c = w; c < chunks.size(); c += 4) {
          const auto [i, offset] = chunks[c];
          const std::span<const std::byte> all(t.data[i]);
          writer.Write(i, offset, all.subspan(offset, std::min<uint64_t>(10, all.size() - offset)));
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    writer.Finish();
    EXPECT_GT(writer.FileNames().size(), 2u);
  }
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(in_order.path())) {
    names.push_back(entry.path().filename().string());
  }
  std::vector<std::string> other_names;
  for (const auto& entry : std::filesystem::directory_iterator(shuffled.path())) {
    other_names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  std::sort(other_names.begin(), other_names.end());
  EXPECT_EQ(names, other_names);
  for (const std::string& name : names) {
    EXPECT_EQ(ReadFileBytes(in_order / name), ReadFileBytes(shuffled / name)) << name;
  }
}

TEST(SafetensorsWriterTest, FinishRequiresEveryByteExactlyOnce) {
  ScratchDir dir;
  const Tensors t = MixedTensors();
  {
    SafetensorsWriter writer(dir.path(), t.specs);
    for (size_t i = 1; i < t.specs.size(); ++i) writer.Write(i, 0, t.data[i]);
    writer.Write(0, 0, std::span(t.data[0]).first(5));
    ExpectError([&] { writer.Finish(); }, {"model.safetensors", "tensor 'embed'", "5 of its 42 bytes"});
  }
  {
    SafetensorsWriter writer(dir.path(), t.specs);
    writer.Write(0, 0, t.data[0]);
    ExpectError([&] { writer.Write(0, 40, std::span(t.data[0]).first(2)); },
                {"model.safetensors", "tensor 'embed'", "written twice"});
    ExpectError([&] { writer.Write(0, 41, std::span(t.data[0]).first(2)); }, {"tensor 'embed'", "runs past"});
    ExpectError([&] { writer.Write(99, 0, {}); }, {"out of range"});
  }
}

TEST(SafetensorsWriterTest, RejectsBadSpecs) {
  ScratchDir dir;
  ExpectError([&] { SafetensorsWriter(dir.path(), {{"a", DType::kF32, {1}}, {"a", DType::kF32, {2}}}); },
              {dir.path().string(), "tensor 'a' is listed twice"});
  ExpectError([&] { SafetensorsWriter(dir.path(), {{"a", DType::kF4, {3}}}); },
              {dir.path().string(), "tensor 'a'", "whole number of bytes"});
  ExpectError([&] { SafetensorsWriter(dir.path(), {{"a", DType::kF32, {-1}}}); }, {"negative"});
  ExpectError([&] { SafetensorsWriter(dir / "absent", {{"a", DType::kF32, {1}}}); },
              {(dir / "absent" / "model.safetensors").string(), "cannot create"});
}

TEST(SafetensorsWriterTest, EmptyTensorListWritesAValidFile) {
  ScratchDir dir;
  WriteSafetensors(dir.path(), {});
  const SafetensorsFile file = SafetensorsFile::Open(dir / "model.safetensors");
  EXPECT_TRUE(file.tensors().empty());
  EXPECT_EQ(file.metadata().at("format"), "pt");
}

TEST(SafetensorsWriterTest, DeterministicAcrossRuns) {
  ScratchDir a;
  ScratchDir b;
  WriteSafetensors(a.path(), MixedTensors().Views());
  WriteSafetensors(b.path(), MixedTensors().Views());
  EXPECT_EQ(ReadFileBytes(a / "model.safetensors"), ReadFileBytes(b / "model.safetensors"));
}

// A file size limit (RLIMIT_FSIZE, with SIGXFSZ ignored so writes fail with EFBIG instead of killing us) stands
// in for a full disk. Runs in a child so the limit does not leak into other tests.
TEST(SafetensorsWriterTest, FileSizeLimitIsAnErrorNamingTheFile) {
  ScratchDir dir;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{.rlim_cur = 4096, .rlim_max = 4096};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(3);
    try {
      const std::vector<std::byte> big(100'000, std::byte{1});
      SafetensorsWriter writer(dir.path(), {{"big", DType::kU8, {100'000}}});
      writer.Write(0, 0, big);
      writer.Finish();
      ::_exit(1);  // No error: wrong.
    } catch (const Error& e) {
      const std::string message = e.what();
      if (message.find((dir / "model.safetensors").string()) == std::string::npos) ::_exit(2);
    } catch (...) {
      ::_exit(4);
    }
    // The reservation above fails first; the write path must fail just as clearly.
    const std::filesystem::path path = dir / "raw";
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT, 0644);
    try {
      const std::vector<std::byte> big(100'000, std::byte{1});
      PwriteAll(fd, path, big, 0, "tensor 'big'");
      ::_exit(5);
    } catch (const Error& e) {
      const std::string message = e.what();
      ::_exit(message.find(path.string() + ": tensor 'big'") != std::string::npos ? 0 : 6);
    }
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "child died with signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1/5: no error, 2/6: message without the file name, 3: setrlimit, 4: other";
}

}  // namespace
}  // namespace octet
