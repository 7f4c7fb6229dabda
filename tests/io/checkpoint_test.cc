#include "io/checkpoint.h"

#include <algorithm>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "io/safetensors_writer.h"
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

std::string Bytes(const TensorView& view) {
  return {reinterpret_cast<const char*>(view.bytes.data()), view.bytes.size()};
}

// The single-file and sharded variants must expose the same tensors, byte for byte.
void ExpectSameTensors(const Checkpoint& a, const Checkpoint& b, size_t count) {
  ASSERT_EQ(a.tensors().size(), count);
  ASSERT_EQ(b.tensors().size(), count);
  for (const TensorView& view : a.tensors()) {
    const TensorView* other = b.Find(view.name);
    ASSERT_NE(other, nullptr) << view.name;
    EXPECT_EQ(other->dtype, view.dtype) << view.name;
    EXPECT_EQ(other->shape, view.shape) << view.name;
    EXPECT_EQ(Bytes(*other), Bytes(view)) << view.name;
  }
}

TEST(CheckpointTest, AidreamsSingleAndShardedAgree) {
  OCTET_REQUIRE_SHARED_MODEL(single_dir, "aidreams260K");
  OCTET_REQUIRE_SHARED_MODEL(sharded_dir, "aidreams260K-sharded");
  const Checkpoint single = Checkpoint::Open(single_dir);
  const Checkpoint sharded = Checkpoint::Open(sharded_dir);
  ExpectSameTensors(single, sharded, 38);
  EXPECT_EQ(single.TotalTensorBytes(), 923'904u);
  EXPECT_EQ(sharded.TotalTensorBytes(), 923'904u);
  for (const TensorView& view : single.tensors()) EXPECT_EQ(view.dtype, DType::kF32) << view.name;
  EXPECT_EQ(single.Get("model.layers.0.mlp.up_proj.weight").shape, (Shape{172, 64}));
  EXPECT_EQ(single.config()["hidden_size"], 64);
  EXPECT_EQ(sharded.config()["hidden_size"], 64);
  EXPECT_EQ(single.WeightFileNames(), (std::vector<std::string>{"model.safetensors"}));
  EXPECT_EQ(sharded.WeightFileNames(),
            (std::vector<std::string>{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                      "model.safetensors.index.json"}));
  ASSERT_EQ(sharded.files().size(), 2u);
  // Tensor order: shard by shard, data order within each.
  size_t position = 0;
  for (const SafetensorsFile& file : sharded.files()) {
    for (const TensorView& view : file.tensors()) EXPECT_EQ(sharded.tensors()[position++].name, view.name);
  }
  // Release keeps views valid.
  const TensorView& embed = sharded.Get("model.embed_tokens.weight");
  const std::string before = Bytes(embed);
  sharded.Release(embed);
  EXPECT_EQ(Bytes(embed), before);
}

TEST(CheckpointTest, AidreamsBf16HasBf16Tensors) {
  OCTET_REQUIRE_SHARED_MODEL(f32_dir, "aidreams260K");
  OCTET_REQUIRE_SHARED_MODEL(bf16_dir, "aidreams260K-bf16");
  const Checkpoint f32 = Checkpoint::Open(f32_dir);
  const Checkpoint bf16 = Checkpoint::Open(bf16_dir);
  ASSERT_EQ(bf16.tensors().size(), 38u);
  for (const TensorView& view : bf16.tensors()) {
    EXPECT_EQ(view.dtype, DType::kBF16) << view.name;
    EXPECT_EQ(view.shape, f32.Get(view.name).shape) << view.name;
    EXPECT_EQ(view.bytes.size() * 2, f32.Get(view.name).bytes.size()) << view.name;
  }
}

TEST(CheckpointTest, StoriesVariantsAgree) {
  OCTET_REQUIRE_SHARED_MODEL(single_dir, "stories260K");
  OCTET_REQUIRE_SHARED_MODEL(sharded_dir, "stories260K-sharded");
  OCTET_REQUIRE_SHARED_MODEL(bf16_dir, "stories260K-bf16");
  const Checkpoint single = Checkpoint::Open(single_dir);
  ExpectSameTensors(single, Checkpoint::Open(sharded_dir), 47);
  EXPECT_EQ(single.TotalTensorBytes(), 1'040'128u);
  const Checkpoint bf16 = Checkpoint::Open(bf16_dir);
  ASSERT_EQ(bf16.tensors().size(), 47u);
  for (const TensorView& view : bf16.tensors()) EXPECT_EQ(view.dtype, DType::kBF16) << view.name;
}

TEST(CheckpointTest, OpensASingleFileAndFindsConfigBesideIt) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  const Checkpoint checkpoint = Checkpoint::Open(model / "model.safetensors");
  EXPECT_EQ(checkpoint.tensors().size(), 38u);
  EXPECT_EQ(checkpoint.dir(), model);
  EXPECT_EQ(checkpoint.config()["vocab_size"], 512);
}

TEST(CheckpointTest, RewrittenCheckpointIsIdentical) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  const Checkpoint original = Checkpoint::Open(model);
  ScratchDir dir;
  WriteSafetensors(dir.path(), original.tensors(), 500'000);
  const Checkpoint copy = Checkpoint::Open(dir.path());
  ExpectSameTensors(original, copy, 38);
  EXPECT_EQ(copy.files().size(), 2u);
  EXPECT_TRUE(copy.config().is_object());
  EXPECT_TRUE(copy.config().empty());
}

TEST(CheckpointTest, MissingTensorNamesTheDirectory) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  const Checkpoint checkpoint = Checkpoint::Open(model);
  EXPECT_EQ(checkpoint.Find("lm_head.weight"), nullptr);
  ExpectError([&] { checkpoint.Get("lm_head.weight"); }, {model.string() + ": tensor 'lm_head.weight' is missing"});
}

// A scratch copy of the sharded aidreams checkpoint whose index the tests then corrupt.
class CheckpointIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = ::octet::testing::SharedModel("aidreams260K-sharded");
    if (source_.empty()) GTEST_SKIP() << "shared model 'aidreams260K-sharded' not found";
    for (const auto& entry : fs::directory_iterator(source_)) {
      fs::copy_file(entry.path(), dir_ / entry.path().filename().string());
    }
    index_ = nlohmann::json::parse(ReadFileBytes(dir_ / "model.safetensors.index.json"));
  }
  void WriteIndex() { WriteFileBytes(dir_ / "model.safetensors.index.json", index_.dump(2)); }
  void ExpectOpenFails(const std::vector<std::string>& parts) {
    ExpectError([&] { Checkpoint::Open(dir_.path()); }, parts);
  }

  fs::path source_;
  ScratchDir dir_;
  nlohmann::json index_;
};

TEST_F(CheckpointIndexTest, CopyOpens) { EXPECT_EQ(Checkpoint::Open(dir_.path()).tensors().size(), 38u); }

TEST_F(CheckpointIndexTest, TensorMissingFromItsShard) {
  index_["weight_map"]["model.layers.9.mlp.up_proj.weight"] = "model-00001-of-00002.safetensors";
  WriteIndex();
  ExpectOpenFails({dir_.path().string(), "'model.layers.9.mlp.up_proj.weight'", "does not contain it"});
}

TEST_F(CheckpointIndexTest, NonexistentShardFile) {
  index_["weight_map"]["model.norm.weight"] = "model-00003-of-00002.safetensors";
  WriteIndex();
  ExpectOpenFails({"model.safetensors.index.json", "'model-00003-of-00002.safetensors'", "does not exist"});
}

TEST_F(CheckpointIndexTest, ShardTensorAbsentFromTheMap) {
  index_["weight_map"].erase("model.norm.weight");
  WriteIndex();
  ExpectOpenFails({dir_.path().string(), "'model.norm.weight'", "absent from the weight map"});
}

TEST_F(CheckpointIndexTest, TensorMappedToTheWrongShard) {
  const std::string name = "model.norm.weight";
  const std::string actual = index_["weight_map"][name];
  index_["weight_map"][name] = actual == "model-00001-of-00002.safetensors" ? "model-00002-of-00002.safetensors"
                                                                             : "model-00001-of-00002.safetensors";
  WriteIndex();
  ExpectOpenFails({"'model.norm.weight'", "maps it to"});
}

TEST_F(CheckpointIndexTest, TensorInTwoShards) {
  // A third shard holding a copy of a tensor that already lives in shard 1.
  const Checkpoint original = Checkpoint::Open(dir_.path());
  const TensorView& embed = original.Get("model.embed_tokens.weight");
  ScratchDir extra;
  WriteSafetensors(extra.path(), {embed});
  fs::copy_file(extra / "model.safetensors", dir_ / "model-extra.safetensors");
  index_["weight_map"]["zzz.unused"] = "model-extra.safetensors";
  WriteIndex();
  ExpectOpenFails({"'model.embed_tokens.weight' is in two shards"});
}

TEST_F(CheckpointIndexTest, MalformedIndex) {
  WriteFileBytes(dir_ / "model.safetensors.index.json", "{\"weight_map\": ");
  ExpectOpenFails({"model.safetensors.index.json", "not valid JSON"});
  WriteFileBytes(dir_ / "model.safetensors.index.json", R"({"weight_map": []})");
  ExpectOpenFails({"model.safetensors.index.json", "weight_map"});
  WriteFileBytes(dir_ / "model.safetensors.index.json", R"({"weight_map": {"a": 3}})");
  ExpectOpenFails({"model.safetensors.index.json", "tensor 'a'"});
  WriteFileBytes(dir_ / "model.safetensors.index.json", R"({"weight_map": {"a": "../model.safetensors"}})");
  ExpectOpenFails({"model.safetensors.index.json", "not a file name in this directory"});
}

TEST_F(CheckpointIndexTest, MalformedConfig) {
  WriteFileBytes(dir_ / "config.json", "{\"hidden_size\": 64,");
  ExpectOpenFails({(dir_ / "config.json").string(), "not valid JSON"});
}

TEST_F(CheckpointIndexTest, SeveralFilesWithoutIndex) {
  fs::remove(dir_ / "model.safetensors.index.json");
  ExpectOpenFails({dir_.path().string(), "model-00001-of-00002.safetensors, model-00002-of-00002.safetensors",
                   "no model.safetensors.index.json"});
}

TEST(CheckpointTest, DirectoryLayouts) {
  ScratchDir empty;
  ExpectError([&] { Checkpoint::Open(empty.path()); }, {empty.path().string(), "no .safetensors file"});
  ExpectError([&] { Checkpoint::Open(empty / "absent"); }, {"does not exist"});

  // One oddly named .safetensors file and no index: used as is.
  ScratchDir odd;
  WriteSafetensors(odd.path(), {});
  fs::rename(odd / "model.safetensors", odd / "weights.safetensors");
  EXPECT_EQ(Checkpoint::Open(odd.path()).WeightFileNames(), (std::vector<std::string>{"weights.safetensors"}));

  // A corrupt shard is reported with its own name.
  WriteFileBytes(odd / "weights.safetensors", "short");
  ExpectError([&] { Checkpoint::Open(odd.path()); }, {(odd / "weights.safetensors").string(), "too short"});
}

}  // namespace
}  // namespace octet
