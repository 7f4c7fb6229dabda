// End-to-end conversion of the real models in ../shared/models: tensors, dtypes, scales, config fields, and
// dequantized weights within the format's rounding error of the originals.
#include "convert/convert.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "io/checkpoint.h"
#include "numeric/convert_rows.h"
#include "numeric/fp8.h"
#include "numeric/half.h"
#include "convert_test_util.h"
#include "test_util.h"
#include "util/error.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using testing::ScratchDir;
using testing::ReadFile;
using testing::ToFloats;

nlohmann::json ReadJson(const fs::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// Checks every linear of `out` against `original`: FP8 dtype, scale shape, and |w - q*s| within half an E4M3 step.
void ExpectFp8WithinRounding(const Checkpoint& original, const Checkpoint& out, WeightScale kind) {
  int checked = 0;
  for (const TensorView& source : original.tensors()) {
    const bool linear = source.name.find("_proj.weight") != std::string::npos;
    const TensorView& q = out.Get(source.name);
    if (!linear) {
      EXPECT_EQ(q.dtype, source.dtype) << source.name;
      continue;
    }
    ASSERT_EQ(q.dtype, DType::kF8E4M3) << source.name;
    ASSERT_EQ(q.shape, source.shape);
    const std::string module = source.name.substr(0, source.name.size() - 7);
    const TensorView* scale_view =
        out.Find(module + (kind == WeightScale::kBlock ? ".weight_scale_inv" : ".weight_scale"));
    ASSERT_NE(scale_view, nullptr) << module;
    ASSERT_EQ(scale_view->dtype, DType::kF32);
    const std::vector<float> scales = ToFloats(*scale_view);
    const std::vector<float> w = ToFloats(source);
    const int64_t rows = source.shape[0], cols = source.shape[1];
    if (kind == WeightScale::kTensor) {
      EXPECT_EQ(scale_view->shape, Shape{});
    }
    if (kind == WeightScale::kChannel) {
      EXPECT_EQ(scale_view->shape, (Shape{rows, 1}));
    }
    if (kind == WeightScale::kBlock) {
      EXPECT_EQ(scale_view->shape, (Shape{(rows + 127) / 128, (cols + 127) / 128}));
    }
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        const float s = kind == WeightScale::kTensor ? scales[0]
                        : kind == WeightScale::kChannel ? scales[r]
                                                        : scales[(r / 128) * ((cols + 127) / 128) + c / 128];
        ASSERT_TRUE(std::isfinite(s) && s > 0);
        const float x = w[r * cols + c];
        const float y = DecodeE4M3(static_cast<uint8_t>(q.bytes[r * cols + c])) * s;
        const float bound = std::max(std::abs(x) / 16.0f, std::ldexp(1.0f, -10) * s) * 1.0001f;
        ASSERT_LE(std::abs(x - y), bound) << source.name << " [" << r << ", " << c << "]";
      }
    }
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(ConvertTest, Fp8PerTensorOnRealModelWritesVllmCheckpoint) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  ScratchDir scratch;
  const fs::path out = scratch / "fp8";
  const ConvertSummary summary = Convert(testing::QuietConvert(model, out, "fp8"));
  EXPECT_EQ(summary.tensors_quantized, 4u * 7u);
  EXPECT_EQ(summary.tensors_kept, 38u - 28u);
  EXPECT_FALSE(fs::exists(scratch / "fp8.partial"));

  const nlohmann::json config = ReadJson(out / "config.json");
  const nlohmann::json& q = config["quantization_config"];
  EXPECT_EQ(q["quant_method"], "fp8");
  EXPECT_EQ(q["activation_scheme"], "dynamic");
  EXPECT_EQ(q["ignored_layers"], nlohmann::json::array({"lm_head"}));
  EXPECT_FALSE(q.contains("weight_block_size"));
  EXPECT_EQ(config["hidden_size"], 64);  // the rest of the config is carried over

  const Checkpoint original = Checkpoint::Open(model);
  const Checkpoint converted = Checkpoint::Open(out);
  ExpectFp8WithinRounding(original, converted, WeightScale::kTensor);
  EXPECT_EQ(converted.Find("model.layers.0.self_attn.q_proj.input_scale"), nullptr);  // dynamic: no input scale

  // q/k/v share one scale (vLLM fuses them); o_proj has its own.
  const auto scale = [&](const std::string& module) { return ToFloats(converted.Get(module + ".weight_scale"))[0]; };
  EXPECT_EQ(scale("model.layers.1.self_attn.q_proj"), scale("model.layers.1.self_attn.k_proj"));
  EXPECT_EQ(scale("model.layers.1.self_attn.q_proj"), scale("model.layers.1.self_attn.v_proj"));
  EXPECT_EQ(scale("model.layers.1.mlp.gate_proj"), scale("model.layers.1.mlp.up_proj"));
  float qkv_abs_max = 0;
  for (const char* m : {"q_proj", "k_proj", "v_proj"}) {
    for (float x : ToFloats(original.Get(std::string("model.layers.1.self_attn.") + m + ".weight"))) {
      qkv_abs_max = std::max(qkv_abs_max, std::abs(x));
    }
  }
  EXPECT_FLOAT_EQ(scale("model.layers.1.self_attn.q_proj"), qkv_abs_max / 448.0f);

  // Kept tensors are bit-identical; every non-weight file is copied.
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(converted.Get("model.embed_tokens.weight").bytes.data()),
                        converted.Get("model.embed_tokens.weight").bytes.size()),
            std::string(reinterpret_cast<const char*>(original.Get("model.embed_tokens.weight").bytes.data()),
                        original.Get("model.embed_tokens.weight").bytes.size()));
  for (const char* file : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tok512.bin",
                           "sample_tokens.txt"}) {
    EXPECT_EQ(ReadFile(out / file), ReadFile(model / file)) << file;
  }

  const nlohmann::json report = ReadJson(out / "octet-report.json");
  EXPECT_EQ(report["tensors_quantized"], 28);
  EXPECT_EQ(report["worst_tensors"].size(), 5u);
  EXPECT_GT(report["worst_tensors"][0]["relative_rms_error"].get<double>(), 0.0);
  EXPECT_LT(report["worst_tensors"][0]["relative_rms_error"].get<double>(), 0.06);
}

TEST(ConvertTest, ChannelAndBlockScalesOnGroupedQueryModel) {
  OCTET_REQUIRE_SHARED_MODEL(model, "stories260K");
  const Checkpoint original = Checkpoint::Open(model);
  {
    ScratchDir scratch;
    ConvertOptions options = testing::QuietConvert(model, scratch / "channel", "fp8");
    options.overrides.weight_scale = "channel";
    Convert(options);
    const nlohmann::json q = ReadJson(scratch / "channel" / "config.json")["quantization_config"];
    EXPECT_EQ(q["quant_method"], "compressed-tensors");
    EXPECT_EQ(q["format"], "float-quantized");
    EXPECT_EQ(q["config_groups"]["group_0"]["weights"]["strategy"], "channel");
    EXPECT_EQ(q["config_groups"]["group_0"]["weights"]["type"], "float");
    EXPECT_EQ(q["config_groups"]["group_0"]["weights"]["num_bits"], 8);
    EXPECT_EQ(q["config_groups"]["group_0"]["input_activations"]["strategy"], "token");
    EXPECT_EQ(q["config_groups"]["group_0"]["input_activations"]["dynamic"], true);
    EXPECT_EQ(q["ignore"], nlohmann::json::array({"lm_head"}));
    const Checkpoint converted = Checkpoint::Open(scratch / "channel");
    EXPECT_EQ(converted.Get("model.layers.2.self_attn.k_proj.weight").shape, (Shape{32, 64}));  // 4 KV heads x 8
    ExpectFp8WithinRounding(original, converted, WeightScale::kChannel);
  }
  {
    ScratchDir scratch;
    ConvertOptions options = testing::QuietConvert(model, scratch / "block", "fp8");
    options.overrides.weight_scale = "block";
    Convert(options);
    const nlohmann::json q = ReadJson(scratch / "block" / "config.json")["quantization_config"];
    EXPECT_EQ(q["quant_method"], "fp8");
    EXPECT_EQ(q["activation_scheme"], "dynamic");
    EXPECT_EQ(q["weight_block_size"], nlohmann::json::array({128, 128}));
    ExpectFp8WithinRounding(original, Checkpoint::Open(scratch / "block"), WeightScale::kBlock);
  }
}

TEST(ConvertTest, ShardedAndSingleFileInputsGiveIdenticalOutput) {
  OCTET_REQUIRE_SHARED_MODEL(single, "aidreams260K");
  OCTET_REQUIRE_SHARED_MODEL(sharded, "aidreams260K-sharded");
  ScratchDir scratch;
  Convert(testing::QuietConvert(single, scratch / "a", "fp8"));
  Convert(testing::QuietConvert(sharded, scratch / "b", "fp8"));
  EXPECT_EQ(ReadFile(scratch / "a" / "model.safetensors"), ReadFile(scratch / "b" / "model.safetensors"));
}

TEST(ConvertTest, Bf16InputConvertsWithinRounding) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K-bf16");
  ScratchDir scratch;
  Convert(testing::QuietConvert(model, scratch / "fp8", "fp8"));
  const Checkpoint original = Checkpoint::Open(model);
  const Checkpoint converted = Checkpoint::Open(scratch / "fp8");
  ExpectFp8WithinRounding(original, converted, WeightScale::kTensor);
  EXPECT_EQ(converted.Get("model.norm.weight").dtype, DType::kBF16);
}

TEST(ConvertTest, OutputIsByteIdenticalAtAnyThreadCount) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K-sharded");
  ScratchDir scratch;
  for (const std::string scale : {"tensor", "channel", "block"}) {
    ConvertOptions one = testing::QuietConvert(model, scratch / ("t1-" + scale), "fp8");
    one.threads = 1;
    one.overrides.weight_scale = scale;
    one.max_shard_bytes = 150'000;  // several shards, to cover the index too
    ConvertOptions two = one;
    two.output = scratch / ("t2-" + scale);
    two.threads = 2;
    ConvertOptions three = one;
    three.output = scratch / ("t3-" + scale);
    three.threads = 3;
    Convert(one);
    Convert(two);
    Convert(three);
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(one.output)) names.push_back(entry.path().filename());
    EXPECT_GT(names.size(), 5u);
    for (const std::string& name : names) {
      EXPECT_EQ(ReadFile(one.output / name), ReadFile(two.output / name)) << scale << " " << name;
      EXPECT_EQ(ReadFile(one.output / name), ReadFile(three.output / name)) << scale << " " << name;
    }
  }
}

TEST(ConvertTest, DtypeOnlySchemesCastEveryFloatTensor) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  ScratchDir scratch;
  Convert(testing::QuietConvert(model, scratch / "f16", "q0f16"));
  const nlohmann::json config = ReadJson(scratch / "f16" / "config.json");
  EXPECT_FALSE(config.contains("quantization_config"));
  EXPECT_EQ(config["torch_dtype"], "float16");
  const Checkpoint original = Checkpoint::Open(model);
  const Checkpoint converted = Checkpoint::Open(scratch / "f16");
  ASSERT_EQ(converted.tensors().size(), original.tensors().size());
  for (const TensorView& t : converted.tensors()) {
    ASSERT_EQ(t.dtype, DType::kF16) << t.name;
    const std::vector<float> a = ToFloats(original.Get(t.name));
    const std::vector<float> b = ToFloats(t);
    for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(b[i], DecodeF16(EncodeF16(a[i]))) << t.name << " " << i;
  }
}

TEST(ConvertTest, E5m2CastsWithoutScaleAndIsNotMistakenForVllmFp8) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  ScratchDir scratch;
  Convert(testing::QuietConvert(model, scratch / "e5m2", "e5m2_e5m2_f16"));
  const nlohmann::json q = ReadJson(scratch / "e5m2" / "config.json")["quantization_config"];
  EXPECT_EQ(q["quant_method"], "octet");
  EXPECT_EQ(q["weight_format"], "e5m2");
  const Checkpoint original = Checkpoint::Open(model);
  const Checkpoint converted = Checkpoint::Open(scratch / "e5m2");
  const TensorView& w = converted.Get("model.layers.0.mlp.down_proj.weight");
  EXPECT_EQ(w.dtype, DType::kF8E5M2);
  EXPECT_EQ(converted.Find("model.layers.0.mlp.down_proj.weight_scale"), nullptr);
  const std::vector<float> a = ToFloats(original.Get(w.name));
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(DecodeE5M2(static_cast<uint8_t>(w.bytes[i])), DecodeE5M2(EncodeE5M2(a[i])));
  }
  EXPECT_EQ(converted.Get("model.norm.weight").dtype, DType::kF16);  // MLC's "_f16": kept tensors in F16
}

TEST(ConvertTest, StaticActivationsWithoutCalibrationStopWithAClearMessage) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  ScratchDir scratch;
  try {
    Convert(testing::QuietConvert(model, scratch / "out", "e4m3_e4m3_f16"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("need calibration: pass --calib-data"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(scratch / "out"));
  EXPECT_FALSE(fs::exists(scratch / "out.partial"));
}

TEST(ConvertTest, StaticScalesFromCalibratorAreSharedAcrossFusedSiblings) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  ScratchDir scratch;
  ConvertOptions options = testing::QuietConvert(model, scratch / "static", "fp8");
  options.overrides.activations = "static";
  std::vector<std::string> asked;
  options.calibrator = [&](const Checkpoint&, const std::vector<std::string>& modules) {
    asked = modules;
    std::map<std::string, float> scales;
    float value = 0.01f;
    for (const std::string& m : modules) scales[m] = (value += 0.01f);
    return scales;
  };
  Convert(options);
  EXPECT_EQ(asked.size(), 28u);
  const Checkpoint converted = Checkpoint::Open(scratch / "static");
  const auto input_scale = [&](const std::string& m) {
    const TensorView& v = converted.Get(m + ".input_scale");
    EXPECT_EQ(v.shape, Shape{});
    EXPECT_EQ(v.dtype, DType::kF32);
    return ToFloats(v)[0];
  };
  const std::string p = "model.layers.2.";
  EXPECT_EQ(input_scale(p + "self_attn.q_proj"), input_scale(p + "self_attn.k_proj"));
  EXPECT_EQ(input_scale(p + "self_attn.q_proj"), input_scale(p + "self_attn.v_proj"));
  EXPECT_EQ(input_scale(p + "mlp.gate_proj"), input_scale(p + "mlp.up_proj"));
  EXPECT_NE(input_scale(p + "mlp.down_proj"), input_scale(p + "mlp.up_proj"));
  EXPECT_EQ(ReadJson(scratch / "static" / "config.json")["quantization_config"]["activation_scheme"], "static");
}

TEST(ConvertTest, IgnoreKeepsModulesAndRefusesSplittingFusedSiblings) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  ScratchDir scratch;
  ConvertOptions options = testing::QuietConvert(model, scratch / "ignored", "fp8");
  options.ignore_globs = {"*.layers.0.*"};
  const ConvertSummary summary = Convert(options);
  EXPECT_EQ(summary.tensors_quantized, 3u * 7u);
  const nlohmann::json ignored = ReadJson(scratch / "ignored" / "config.json")["quantization_config"]["ignored_layers"];
  EXPECT_EQ(ignored.size(), 8u);  // 7 linears of layer 0 + lm_head
  EXPECT_EQ(Checkpoint::Open(scratch / "ignored").Get("model.layers.0.mlp.up_proj.weight").dtype, DType::kF32);

  options.output = scratch / "split";
  options.ignore_globs = {"*.q_proj"};
  EXPECT_THROW(Convert(options), Error);
  EXPECT_FALSE(fs::exists(scratch / "split"));
}

TEST(ConvertTest, ExistingOutputIsRefusedUnlessOverwrite) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  ScratchDir scratch;
  Convert(testing::QuietConvert(model, scratch / "out", "fp8"));
  EXPECT_THROW(Convert(testing::QuietConvert(model, scratch / "out", "fp8")), Error);
  ConvertOptions again = testing::QuietConvert(model, scratch / "out", "q0bf16");
  again.overwrite = true;
  Convert(again);
  EXPECT_EQ(ReadJson(scratch / "out" / "config.json")["torch_dtype"], "bfloat16");
}

}  // namespace
}  // namespace octet
