#include "inspect/model_report.h"

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "inspect/report_format.h"
#include "io/safetensors_writer.h"
#include "test_util.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using ::octet::testing::RunCli;
using ::octet::testing::ScratchDir;

// Owns the bytes behind the views handed to WriteSafetensors.
class TensorSet {
 public:
  template <typename T>
  void Add(const std::string& name, DType dtype, Shape shape, const std::vector<T>& values) {
    auto& storage = storage_.emplace_back(values.size() * sizeof(T));
    std::memcpy(storage.data(), values.data(), storage.size());
    views_.push_back({name, dtype, std::move(shape), {storage.data(), storage.size()}, ""});
  }
  const std::vector<TensorView>& views() const { return views_; }

 private:
  std::vector<std::vector<std::byte>> storage_;  // vectors of vectors: inner buffers never move
  std::vector<TensorView> views_;
};

void WriteConfig(const fs::path& dir, const nlohmann::json& config) {
  std::ofstream(dir / "config.json") << config.dump(2);
}

const ScaleReport* FindScale(const TensorReport& tensor, const std::string& role) {
  for (const ScaleReport& scale : tensor.scales) {
    if (scale.role == role) return &scale;
  }
  return nullptr;
}

const TensorReport& FindTensor(const ModelReport& report, const std::string& name) {
  for (const TensorReport& tensor : report.tensors) {
    if (tensor.name == name) return tensor;
  }
  throw std::runtime_error("no tensor " + name);
}

TEST(InspectTest, AidreamsParametersTensorsAndArchitecture) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  const ModelReport report = InspectModel(model);
  EXPECT_EQ(report.parameter_count, 230'976u);
  EXPECT_EQ(report.tensors.size(), 38u);
  EXPECT_EQ(report.architecture, "LlamaForCausalLM");
  EXPECT_EQ(report.tensor_bytes, 923'904u);
  EXPECT_EQ(report.disk_bytes, fs::file_size(model / "model.safetensors"));
  ASSERT_EQ(report.dtypes.size(), 1u);
  EXPECT_EQ(report.dtypes.at("F32").tensors, 38u);
  EXPECT_TRUE(report.quantization_config.is_null());
  for (const TensorReport& tensor : report.tensors) EXPECT_TRUE(tensor.scales.empty()) << tensor.name;
}

TEST(InspectTest, ShardedAndSingleFileGiveTheSameCounts) {
  OCTET_REQUIRE_SHARED_MODEL(sharded, "aidreams260K-sharded");
  OCTET_REQUIRE_SHARED_MODEL(single, "aidreams260K");
  const ModelReport a = InspectModel(sharded);
  EXPECT_EQ(a.parameter_count, 230'976u);
  EXPECT_EQ(a.tensors.size(), 38u);
  EXPECT_EQ(a.files.size(), 3u);  // two shards and the index
  uint64_t disk = 0;
  for (const std::string& file : a.files) disk += fs::file_size(sharded / file);
  EXPECT_EQ(a.disk_bytes, disk);
  const ModelReport b = InspectModel(single / "model.safetensors");
  EXPECT_EQ(b.parameter_count, 230'976u);
  EXPECT_EQ(b.architecture, "LlamaForCausalLM");  // config.json beside the file
}

TEST(InspectTest, Fp8CheckpointReportsScaleStatistics) {
  ScratchDir scratch;
  TensorSet set;
  const std::vector<uint8_t> fp8(32, 0x38);
  set.Add("model.layers.0.mlp.up_proj.weight", DType::kF8E4M3, {4, 8}, fp8);
  set.Add("model.layers.0.mlp.up_proj.weight_scale", DType::kF32, {}, std::vector<float>{0.5f});
  set.Add("model.layers.0.mlp.up_proj.input_scale", DType::kF32, {}, std::vector<float>{0.25f});
  set.Add("model.layers.0.mlp.down_proj.weight", DType::kF8E4M3, {4, 8}, fp8);
  set.Add("model.layers.0.mlp.down_proj.weight_scale", DType::kF32, {4, 1}, std::vector<float>{1, 2, 3, 6});
  set.Add("model.layers.0.self_attn.q_proj.weight", DType::kF8E4M3, {256, 256}, std::vector<uint8_t>(65536, 0x30));
  set.Add("model.layers.0.self_attn.q_proj.weight_scale_inv", DType::kF32, {2, 2},
          std::vector<float>{0.125f, 0.25f, 0.5f, 1.0f});
  set.Add("model.norm.weight", DType::kBF16, {8}, std::vector<uint16_t>(8, 0x3F80));
  WriteSafetensors(scratch.path(), set.views());
  WriteConfig(scratch.path(), {{"architectures", {"LlamaForCausalLM"}},
                               {"model_type", "llama"},
                               {"quantization_config",
                                {{"quant_method", "fp8"},
                                 {"activation_scheme", "static"},
                                 {"ignored_layers", {"lm_head", "model.layers.0.mlp.gate_proj"}}}}});

  const ModelReport report = InspectModel(scratch.path());
  EXPECT_EQ(report.tensors.size(), 8u);
  EXPECT_EQ(report.parameter_count, 32u + 32u + 65536u + 8u);  // scales are not parameters
  EXPECT_EQ(report.dtypes.at("F8_E4M3").tensors, 3u);
  EXPECT_EQ(report.dtypes.at("F32").parameters, 0u);

  const TensorReport& up = FindTensor(report, "model.layers.0.mlp.up_proj.weight");
  ASSERT_EQ(up.scales.size(), 2u);
  const ScaleReport* weight_scale = FindScale(up, "weight_scale");
  ASSERT_NE(weight_scale, nullptr);
  EXPECT_EQ(weight_scale->kind, "tensor");
  EXPECT_EQ(weight_scale->count, 1u);
  EXPECT_TRUE(weight_scale->has_stats);
  EXPECT_DOUBLE_EQ(weight_scale->min, 0.5);
  EXPECT_DOUBLE_EQ(weight_scale->max, 0.5);
  const ScaleReport* input_scale = FindScale(up, "input_scale");
  ASSERT_NE(input_scale, nullptr);
  EXPECT_EQ(input_scale->kind, "tensor");
  EXPECT_DOUBLE_EQ(input_scale->mean, 0.25);

  const ScaleReport& channel = FindTensor(report, "model.layers.0.mlp.down_proj.weight").scales.at(0);
  EXPECT_EQ(channel.kind, "channel");
  EXPECT_EQ(channel.count, 4u);
  EXPECT_DOUBLE_EQ(channel.min, 1.0);
  EXPECT_DOUBLE_EQ(channel.max, 6.0);
  EXPECT_DOUBLE_EQ(channel.mean, 3.0);

  const ScaleReport& block = FindTensor(report, "model.layers.0.self_attn.q_proj.weight").scales.at(0);
  EXPECT_EQ(block.role, "weight_scale_inv");
  EXPECT_EQ(block.kind, "block");
  EXPECT_EQ(block.block, (std::vector<int64_t>{128, 128}));
  EXPECT_DOUBLE_EQ(block.mean, 0.46875);

  const nlohmann::json quant = SummarizeQuantizationConfig(report.quantization_config);
  EXPECT_EQ(quant["quant_method"], "fp8");
  EXPECT_EQ(quant["activation_scheme"], "static");
  EXPECT_EQ(quant["ignored_count"], 2);

  const std::string text = FormatReportText(report);
  EXPECT_NE(text.find("weight_scale_inv"), std::string::npos) << text;
  EXPECT_NE(text.find("block 128x128"), std::string::npos) << text;
  EXPECT_NE(text.find("activation_scheme static"), std::string::npos) << text;
}

TEST(InspectTest, PackedInt4WeightsCountTheirLogicalShape) {
  ScratchDir scratch;
  TensorSet set;
  // compressed-tensors pack-quantized W4A16, group 8: [4, 16] int4 -> I32 [4, 2].
  set.Add("model.layers.0.mlp.up_proj.weight_packed", DType::kI32, {4, 2}, std::vector<int32_t>(8, 0x12345678));
  set.Add("model.layers.0.mlp.up_proj.weight_shape", DType::kI64, {2}, std::vector<int64_t>{4, 16});
  set.Add("model.layers.0.mlp.up_proj.weight_scale", DType::kBF16, {4, 2},
          std::vector<uint16_t>{0x3F80, 0x4000, 0x3F80, 0x4000, 0x3F80, 0x4000, 0x3F80, 0x4000});
  // Without weight_shape the bit width comes from the config: 2 x 32 bits / 4 = 16 columns.
  set.Add("model.layers.0.mlp.down_proj.weight_packed", DType::kI32, {4, 2}, std::vector<int32_t>(8, 0));
  WriteSafetensors(scratch.path(), set.views());
  WriteConfig(scratch.path(),
              {{"architectures", {"LlamaForCausalLM"}},
               {"quantization_config",
                {{"quant_method", "compressed-tensors"},
                 {"format", "pack-quantized"},
                 {"ignore", {"lm_head"}},
                 {"config_groups",
                  {{"group_0",
                    {{"targets", {"Linear"}},
                     {"weights", {{"num_bits", 4}, {"type", "int"}, {"strategy", "group"}, {"group_size", 8},
                                  {"symmetric", true}, {"dynamic", false}}},
                     {"input_activations", nullptr}}}}}}}});
  const ModelReport report = InspectModel(scratch.path());
  EXPECT_EQ(report.parameter_count, 64u + 64u);
  const ScaleReport& group = FindTensor(report, "model.layers.0.mlp.up_proj.weight_packed").scales.at(0);
  EXPECT_EQ(group.kind, "group");
  EXPECT_EQ(group.group_size, 8);
  EXPECT_DOUBLE_EQ(group.mean, 1.5);
  const nlohmann::json quant = SummarizeQuantizationConfig(report.quantization_config);
  EXPECT_EQ(quant["format"], "pack-quantized");
  EXPECT_EQ(quant["config_groups"]["group_0"]["weights"]["strategy"], "group");
  EXPECT_EQ(quant["ignored_count"], 1);
  EXPECT_NE(FormatReportText(report).find("int4 group 8"), std::string::npos) << FormatReportText(report);
}

TEST(InspectCliTest, JsonOutputHasTheDocumentedKeys) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  const auto result = RunCli("inspect --json " + model.string());
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const nlohmann::json json = nlohmann::json::parse(result.output);
  for (const char* key : {"path", "architecture", "model_type", "parameter_count", "tensor_count", "tensor_bytes",
                          "disk_bytes", "files", "dtypes", "quantization", "quantization_config", "tensors"}) {
    EXPECT_TRUE(json.contains(key)) << key;
  }
  EXPECT_EQ(json["parameter_count"], 230976);
  EXPECT_EQ(json["tensor_count"], 38);
  EXPECT_EQ(json["architecture"], "LlamaForCausalLM");
  EXPECT_EQ(json["dtypes"]["F32"]["tensors"], 38);
  ASSERT_EQ(json["tensors"].size(), 38u);
  for (const char* key : {"name", "dtype", "shape", "bytes", "parameters", "file", "scales"}) {
    EXPECT_TRUE(json["tensors"][0].contains(key)) << key;
  }
}

TEST(InspectCliTest, TableAndErrors) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K-bf16");
  const auto table = RunCli("inspect " + model.string());
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_NE(table.output.find("LlamaForCausalLM"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("230,976"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("model.layers.3.mlp.down_proj.weight"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("BF16"), std::string::npos) << table.output;

  const auto missing = RunCli("inspect /nonexistent/model");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("octet: error:"), std::string::npos) << missing.output;
  EXPECT_NE(missing.output.find("/nonexistent/model"), std::string::npos) << missing.output;
}

TEST(InspectCliTest, InspectsASyntheticMixtral) {
  ScratchDir scratch;
  const auto synth = RunCli("synth --arch mixtral --preset tiny -o " + (scratch / "m").string());
  ASSERT_EQ(synth.exit_code, 0) << synth.output;
  const auto result = RunCli("inspect --json " + (scratch / "m").string());
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const nlohmann::json json = nlohmann::json::parse(result.output);
  EXPECT_EQ(json["architecture"], "MixtralForCausalLM");
  EXPECT_TRUE(json["quantization"].is_null());
  EXPECT_EQ(json["dtypes"].size(), 1u);
  EXPECT_TRUE(json["dtypes"].contains("BF16"));
}

}  // namespace
}  // namespace octet
