// Broken checkpoints through the real CLI: truncated files, flipped header bits, an all-zero weight. Every refusal
// must be one line naming the file, with nothing written; anything accepted must convert completely.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "io/checkpoint.h"
#include "io/safetensors_writer.h"
#include "quant/fp8_quantizer.h"
#include "reliability/child_process.h"
#include "reliability/reliability_util.h"
#include "test_util.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using testing::ChildProcess;
using testing::ConvertArgs;
using testing::ExpectCleanFailure;
using testing::ReadTree;
using testing::ScratchDir;
using testing::SynthModel;

std::string ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void WriteBytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

uint64_t HeaderLength(const std::string& file) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(file[i]);
  return n;
}

// Cut points that hit every region of a safetensors file: inside the length, at and around the header's ends,
// inside the data, and one byte short of complete.
std::vector<size_t> CutPoints(size_t file_size, uint64_t header_size) {
  const size_t data_start = 8 + header_size;
  std::set<size_t> cuts = {0, 1, 4, 7, 8, 9, 8 + header_size / 4, 8 + header_size / 2, data_start - 1, data_start,
                           data_start + 1, data_start + 2, (data_start + file_size) / 2, file_size - 4096,
                           file_size - 2, file_size - 1};
  std::mt19937_64 random(6);
  while (cuts.size() < 32) cuts.insert(random() % file_size);
  std::vector<size_t> result;
  for (size_t cut : cuts) {
    if (cut < file_size) result.push_back(cut);
  }
  return result;
}

TEST(CorruptInputTest, TruncatedCheckpointIsRefusedNamingTheFile) {
  ScratchDir scratch;
  SynthModel(scratch / "model", "tiny");
  const fs::path file = scratch / "model" / "model.safetensors";
  const std::string original = ReadBytes(file);
  const std::vector<size_t> cuts = CutPoints(original.size(), HeaderLength(original));
  for (size_t cut : cuts) {
    WriteBytes(file, original.substr(0, cut));
    ChildProcess convert(ConvertArgs(scratch / "model", scratch / "out"));
    const int code = convert.Wait();
    // Every cut leaves the declared layout longer than the file, so the reader's message says so.
    if (!ExpectCleanFailure(code, convert.output(), {file.string(), "truncated"}, scratch / "out",
                            fmt::format("cut at {} of {}", cut, original.size()))) {
      break;
    }
  }
  ::testing::Test::RecordProperty("truncation_points", static_cast<int>(cuts.size()));
}

TEST(CorruptInputTest, TruncatedShardIsRefusedNamingTheShard) {
  ScratchDir scratch;
  SynthModel(scratch / "model", "tiny", "--max-shard-size 100KB");
  // The last shard, so the shards before it open fine and the error must come from the right file.
  std::vector<std::string> shards;
  for (const std::string& name : testing::ListDir(scratch / "model")) {
    if (name.starts_with("model-") && name.ends_with(".safetensors")) shards.push_back(name);
  }
  ASSERT_GE(shards.size(), 2u) << "synth did not shard the model";
  const fs::path shard = scratch / "model" / shards.back();
  const std::string original = ReadBytes(shard);
  for (size_t cut : {size_t{3}, original.size() / 2, original.size() - 1}) {
    WriteBytes(shard, original.substr(0, cut));
    ChildProcess convert(ConvertArgs(scratch / "model", scratch / "out"));
    const int code = convert.Wait();
    ExpectCleanFailure(code, convert.output(), {shard.string()}, scratch / "out", fmt::format("shard cut at {}", cut));
  }
}

// A flipped bit in the header either still describes a loadable checkpoint (a changed metadata letter, padding
// that stays whitespace) and then converts completely, or is refused in one line naming the model. What must
// never happen: a crash, a hang, a silently wrong layout, or a half-written output.
TEST(CorruptInputTest, HeaderBitFlipsAreRefusedOrHarmless) {
  ScratchDir scratch;
  SynthModel(scratch / "model", "tiny");
  const fs::path file = scratch / "model" / "model.safetensors";
  const std::string original = ReadBytes(file);
  const uint64_t header_size = HeaderLength(original);
  ASSERT_LT(header_size, original.size());

  // Every bit of the length field, then bits spread over the JSON with a fixed seed so failures reproduce.
  std::vector<std::pair<size_t, int>> flips;
  for (size_t byte = 0; byte < 8; byte += 1) flips.emplace_back(byte, static_cast<int>(byte % 8));
  std::mt19937_64 random(42);
  while (flips.size() < 48) flips.emplace_back(8 + random() % header_size, static_cast<int>(random() % 8));

  int refused = 0;
  int accepted = 0;
  for (const auto& [byte, bit] : flips) {
    std::string corrupt = original;
    corrupt[byte] = static_cast<char>(corrupt[byte] ^ (1 << bit));
    WriteBytes(file, corrupt);
    const fs::path out = scratch / "out";
    ChildProcess convert(ConvertArgs(scratch / "model", out));
    const int code = convert.Wait();
    const std::string what = fmt::format("bit {} of byte {} ('{}' -> '{}')", bit, byte, original[byte], corrupt[byte]);
    if (code == 0) {
      ++accepted;
      EXPECT_LT(byte, 8u + header_size) << what;
      EXPECT_FALSE(fs::exists(out.string() + ".partial")) << what;
      EXPECT_TRUE(fs::exists(out / "model.safetensors")) << what << " converted without an output file";
      EXPECT_NO_THROW(Checkpoint::Open(out)) << what;
      fs::remove_all(out);
      continue;
    }
    ++refused;
    // A flip in the length field is caught by the reader itself, which names the file; elsewhere the message
    // may come from a later check (a renamed tensor is "missing"), which names the model directory.
    const std::string needle = byte < 8 ? file.string() : (scratch / "model").string();
    if (!ExpectCleanFailure(code, convert.output(), {needle}, out, what)) break;
  }
  EXPECT_GT(refused, 0);
  ::testing::Test::RecordProperty("refused", refused);
  ::testing::Test::RecordProperty("accepted", accepted);
}

// An all-zero weight (pruned, or never trained) must quantize to zero codes with the floor scale, never to a
// 0 or NaN scale that an engine would divide by. Checked end to end for the three FP8 scale granularities.
TEST(CorruptInputTest, AllZeroWeightsQuantizeToZerosWithFinitePositiveScale) {
  ScratchDir scratch;
  SynthModel(scratch / "synth", "tiny");
  // gate and up share one scale (fused siblings), so both are zeroed for the shared scale to be the floor.
  const std::set<std::string> zeroed = {"model.layers.1.mlp.gate_proj.weight", "model.layers.1.mlp.up_proj.weight"};
  {
    const Checkpoint synth = Checkpoint::Open(scratch / "synth");
    std::vector<std::vector<std::byte>> storage;
    storage.reserve(synth.tensors().size());
    std::vector<TensorView> tensors;
    for (const TensorView& t : synth.tensors()) {
      storage.emplace_back(t.bytes.begin(), t.bytes.end());
      if (zeroed.contains(t.name)) std::fill(storage.back().begin(), storage.back().end(), std::byte{0});
      TensorView copy = t;
      copy.bytes = storage.back();
      tensors.push_back(copy);
    }
    fs::create_directories(scratch / "model");
    WriteSafetensors(scratch / "model", tensors);
    fs::copy_file(scratch / "synth" / "config.json", scratch / "model" / "config.json");
  }
  for (const std::string scale : {"tensor", "channel", "block"}) {
    const fs::path out = scratch / ("out-" + scale);
    ChildProcess convert(ConvertArgs(scratch / "model", out, {"--weight-scale", scale}));
    ASSERT_EQ(convert.Wait(), 0) << convert.output();
    const Checkpoint converted = Checkpoint::Open(out);
    for (const std::string& name : zeroed) {
      const TensorView& weight = converted.Get(name);
      EXPECT_EQ(weight.dtype, DType::kF8E4M3) << name;
      EXPECT_TRUE(std::all_of(weight.bytes.begin(), weight.bytes.end(), [](std::byte b) { return b == std::byte{0}; }))
          << scale << ": " << name << " has non-zero codes";
      const std::string prefix = name.substr(0, name.size() - std::string("weight").size());
      const TensorView* scales = converted.Find(prefix + (scale == "block" ? "weight_scale_inv" : "weight_scale"));
      ASSERT_NE(scales, nullptr) << scale << ": no scale for " << name;
      ASSERT_EQ(scales->dtype, DType::kF32);
      ASSERT_GT(scales->num_elements(), 0u);
      for (uint64_t i = 0; i < scales->num_elements(); ++i) {
        float s;
        std::memcpy(&s, scales->bytes.data() + 4 * i, 4);
        EXPECT_TRUE(std::isfinite(s) && s > 0) << scale << ": " << name << " scale " << i << " = " << s;
        EXPECT_EQ(s, kMinFp8Scale) << scale << ": " << name << " scale " << i;
      }
    }
  }
}

// Regression for finding F1 (RELIABILITY.md): a config.json claiming 10^12 layers made the converter build the
// list of every tensor such a model would have before comparing any with the checkpoint (10 s and 1.3 GB, then
// "std::bad_alloc"). It must be refused at once, naming config.json and the key.
TEST(CorruptInputTest, ConfigClaimingHugeLayerCountIsRefusedQuickly) {
  ScratchDir scratch;
  SynthModel(scratch / "model", "tiny");
  nlohmann::json config = nlohmann::json::parse(ReadBytes(scratch / "model" / "config.json"));
  config["num_hidden_layers"] = 1'000'000'000'000;
  WriteBytes(scratch / "model" / "config.json", config.dump(2));
  ChildProcess convert(ConvertArgs(scratch / "model", scratch / "out"));
  const int code = convert.WaitAtMost(10);
  ExpectCleanFailure(code, convert.output(), {(scratch / "model" / "config.json").string(), "num_hidden_layers"},
                     scratch / "out", "num_hidden_layers = 10^12");
}

}  // namespace
}  // namespace octet
