// INT4 conversion of the real model: the compressed-tensors pack-quantized layout field by field (FORMATS.md b.1,
// b.2, b.5), codes identical to the quantizer's round-to-nearest on the original weights, determinism across
// thread counts, and GPTQ / AWQ through the layer-wise calibration path.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include <gtest/gtest.h>

#include "calib/auto_mix.h"
#include "calib/layerwise_int4.h"
#include "convert/convert.h"
#include "io/checkpoint.h"
#include "numeric/convert_rows.h"
#include "quant/int4_group.h"
#include "quant/int4_pack.h"
#include "runtime/eval.h"
#include "runtime/token_file.h"
#include "convert_test_util.h"
#include "test_util.h"
#include "util/error.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using testing::ScratchDir;
using testing::ReadFile;
using testing::ToFloats;

bool IsLinear(const std::string& name) { return name.find("_proj.weight") != std::string::npos; }

std::string ModuleOf(const std::string& weight_name) { return weight_name.substr(0, weight_name.size() - 7); }

LayerwiseQuantizerFactory FactoryFor(const fs::path& tokens) {
  return [tokens](const Checkpoint& original, const QuantScheme& scheme, ThreadPool& pool) {
    return NewLayerwiseInt4Quantizer(original, scheme, ReadTokenFile(tokens, 512), pool);
  };
}

TEST(ConvertInt4Test, PackQuantizedLayoutMatchesCompressedTensors) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K-bf16");
  ScratchDir dir;
  const ConvertSummary summary = Convert(testing::QuietConvert(model, dir / "out", "int4"));
  EXPECT_EQ(summary.tensors_quantized, 28u);  // 4 layers x 7 linears

  const Checkpoint original = Checkpoint::Open(model);
  const Checkpoint out = Checkpoint::Open(dir / "out");
  const nlohmann::json& q = out.config()["quantization_config"];
  EXPECT_EQ(q["quant_method"], "compressed-tensors");
  EXPECT_EQ(q["format"], "pack-quantized");
  EXPECT_EQ(q["quantization_status"], "compressed");
  const nlohmann::json& weights = q["config_groups"]["group_0"]["weights"];
  EXPECT_EQ(weights["num_bits"], 4);
  EXPECT_EQ(weights["type"], "int");
  EXPECT_EQ(weights["symmetric"], true);
  EXPECT_EQ(weights["strategy"], "group");
  EXPECT_EQ(weights["group_size"], 32);
  EXPECT_TRUE(q["config_groups"]["group_0"]["input_activations"].is_null());
  EXPECT_EQ(q["config_groups"]["group_0"]["format"], "pack-quantized");
  EXPECT_EQ(q["config_groups"]["group_0"]["targets"], nlohmann::json::array({"Linear"}));
  EXPECT_EQ(q["ignore"], nlohmann::json::array({"lm_head"}));  // tied embeddings stay unquantized

  int linears = 0;
  for (const TensorView& source : original.tensors()) {
    if (!IsLinear(source.name)) {
      EXPECT_EQ(out.Get(source.name).dtype, source.dtype) << source.name;
      continue;
    }
    ++linears;
    const std::string module = ModuleOf(source.name);
    const int64_t rows = source.shape[0], cols = source.shape[1];
    const int64_t groups = (cols + 31) / 32;
    EXPECT_EQ(out.Find(source.name), nullptr) << "the float weight must be replaced by weight_packed";
    const TensorView& packed = out.Get(module + ".weight_packed");
    const TensorView& scale = out.Get(module + ".weight_scale");
    const TensorView& shape = out.Get(module + ".weight_shape");
    EXPECT_EQ(out.Find(module + ".weight_zero_point"), nullptr) << "symmetric: no zero point";
    ASSERT_EQ(packed.dtype, DType::kI32);
    ASSERT_EQ(packed.shape, (Shape{rows, (cols + 7) / 8}));
    ASSERT_EQ(scale.dtype, DType::kBF16) << "compressed-tensors stores scales in the model's dtype";
    ASSERT_EQ(scale.shape, (Shape{rows, groups}));
    ASSERT_EQ(shape.dtype, DType::kI64);
    ASSERT_EQ(shape.shape, Shape{2});
    const int64_t* dims = reinterpret_cast<const int64_t*>(shape.bytes.data());
    EXPECT_EQ(dims[0], rows);
    EXPECT_EQ(dims[1], cols);

    // The codes are exactly round-to-nearest of the original weight with BF16 scales.
    const std::vector<float> w = ToFloats(source);
    Int4Params params;
    params.group_size = 32;
    params.scale_dtype = Int4ScaleDtype::kBF16;
    const Int4Matrix expected = QuantizeRtn(w.data(), rows, cols, params);
    const std::vector<int8_t> codes =
        UnpackInt4AlongCols(reinterpret_cast<const int32_t*>(packed.bytes.data()), rows, cols);
    ASSERT_EQ(codes, expected.codes) << module;
    EXPECT_EQ(ToFloats(scale), expected.scales) << module;
  }
  EXPECT_EQ(linears, 28);
  const std::string report = ReadFile(dir / "out" / "octet-report.json");
  EXPECT_NE(report.find("\"method\": \"rtn\""), std::string::npos);
  const nlohmann::ordered_json& short_groups = summary.report["short_last_group"];
  ASSERT_EQ(short_groups.size(), 4u) << "the four 172-wide down_proj";
  EXPECT_EQ(short_groups[0], "model.layers.0.mlp.down_proj.weight");
}

TEST(ConvertInt4Test, ZeroPointsAndGroupSize) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  ScratchDir dir;
  ConvertOptions options = testing::QuietConvert(model, dir / "out", "int4");
  options.overrides.group_size = 64;
  options.overrides.zero_point = true;
  Convert(options);
  const Checkpoint original = Checkpoint::Open(model);
  const Checkpoint out = Checkpoint::Open(dir / "out");
  const nlohmann::json& weights = out.config()["quantization_config"]["config_groups"]["group_0"]["weights"];
  EXPECT_EQ(weights["symmetric"], false);
  EXPECT_EQ(weights["group_size"], 64);
  const std::string module = "model.layers.2.mlp.down_proj";  // [64, 172]: groups of 64, 64, 44
  const TensorView& zp = out.Get(module + ".weight_zero_point");
  ASSERT_EQ(zp.dtype, DType::kI32);
  ASSERT_EQ(zp.shape, (Shape{8, 3}));
  EXPECT_EQ(out.Get(module + ".weight_scale").dtype, DType::kF32);
  const std::vector<float> w = ToFloats(original.Get(module + ".weight"));
  Int4Params params;
  params.group_size = 64;
  params.symmetric = false;
  const Int4Matrix expected = QuantizeRtn(w.data(), 64, 172, params);
  EXPECT_EQ(UnpackInt4AlongRows(reinterpret_cast<const int32_t*>(zp.bytes.data()), 64, 3), expected.zeros);
}

TEST(ConvertInt4Test, MlcNamesAndDeterminismAcrossThreads) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  ScratchDir dir;
  Convert(testing::QuietConvert(model, dir / "one", "q4f16_1", 1));
  Convert(testing::QuietConvert(model, dir / "three", "q4f16_1", 3));
  const Checkpoint out = Checkpoint::Open(dir / "one");
  EXPECT_EQ(out.Get("model.layers.0.self_attn.q_proj.weight_scale").dtype, DType::kF16);
  EXPECT_EQ(out.Get("model.norm.weight").dtype, DType::kF16);  // kept tensors cast to F16
  EXPECT_EQ(out.config()["torch_dtype"], "float16");
  EXPECT_EQ(ReadFile(dir / "one" / "model.safetensors"), ReadFile(dir / "three" / "model.safetensors"));
}

TEST(ConvertInt4Test, CalibratedMethodsNeedCalibrationData) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  ScratchDir dir;
  ConvertOptions options = testing::QuietConvert(model, dir / "out", "int4");
  options.overrides.method = "gptq";
  try {
    Convert(options);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--calib-data"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dir / "out"));
}

// GPTQ and AWQ through convert: deterministic at any thread count, the AWQ-folded norms are written, and both
// lose less than round-to-nearest on held-out text (the real test of a calibration method).
TEST(ConvertInt4Test, GptqAndAwqBeatRoundToNearest) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  const fs::path calib = model / "sample_text_ids.txt";
  const fs::path eval = model / "sample_tokens.txt";
  ScratchDir dir;
  Convert(testing::QuietConvert(model, dir / "rtn", "int4"));
  for (const std::string method : {"gptq", "awq"}) {
    ConvertOptions one = testing::QuietConvert(model, dir / (method + "1"), "int4", 1);
    one.overrides.method = method;
    one.layerwise_quantizer = FactoryFor(calib);
    Convert(one);
    ConvertOptions three = testing::QuietConvert(model, dir / (method + "3"), "int4", 3);
    three.overrides.method = method;
    three.layerwise_quantizer = FactoryFor(calib);
    Convert(three);
    EXPECT_EQ(ReadFile(dir / (method + "1") / "model.safetensors"),
              ReadFile(dir / (method + "3") / "model.safetensors"))
        << method << " output depends on the thread count";
  }
  const Checkpoint original = Checkpoint::Open(model);
  const Checkpoint awq = Checkpoint::Open(dir / "awq1");
  EXPECT_NE(ToFloats(awq.Get("model.layers.0.input_layernorm.weight")),
            ToFloats(original.Get("model.layers.0.input_layernorm.weight")))
      << "AWQ folds 1/s into the norm before q/k/v";

  const Transformer reference(original);
  const std::vector<TokenSequence> sequences = ReadTokenFile(eval, 512);
  ThreadPool pool(2);
  const auto kld = [&](const std::string& name) {
    const Checkpoint checkpoint = Checkpoint::Open(dir / name);
    const Transformer model_q(checkpoint);
    const EvalMetrics metrics = Evaluate(model_q, &reference, sequences, pool);
    std::printf("%s: ppl %.4f (%+.3f%%), kld %.5f, top1 %.4f\n", name.c_str(), metrics.ppl,
                metrics.reference->delta_ppl_pct, metrics.reference->kld_mean, metrics.reference->top1_agreement);
    return metrics.reference->kld_mean;
  };
  const double rtn = kld("rtn");
  EXPECT_LT(kld("gptq1"), rtn);
  EXPECT_LT(kld("awq1"), rtn);
}

// AWQ divides up_proj's rows by the s it multiplies down_proj's input columns with. When a --keep rule keeps
// down_proj out of INT4 (BF16, or FP8), down_proj must still get s, or the model computes something else: the kept
// BF16 weight is the original with each column scaled by one factor, and keeping down_proj in BF16 or FP8 loses
// less than quantizing it too (before the fix, FP8 lost more: KLD 0.039 against 0.024).
TEST(ConvertInt4Test, AwqScalesReachLinearsKeptInOtherFormats) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  ScratchDir dir;
  const auto convert = [&](const std::string& name, std::vector<std::string> keep) {
    ConvertOptions options = testing::QuietConvert(model, dir / name, "int4");
    options.overrides.method = "awq";
    options.layerwise_quantizer = FactoryFor(model / "sample_text_ids.txt");
    options.keep_rules = std::move(keep);
    Convert(options);
  };
  convert("all", {});
  convert("bf16", {"*.down_proj=bf16"});
  convert("fp8", {"*.down_proj=fp8"});
  const Checkpoint original = Checkpoint::Open(model);
  const std::vector<float> down = ToFloats(original.Get("model.layers.1.mlp.down_proj.weight"));
  const std::vector<float> kept = ToFloats(Checkpoint::Open(dir / "bf16").Get("model.layers.1.mlp.down_proj.weight"));
  ASSERT_EQ(kept.size(), 64u * 172u);
  int scaled_columns = 0;
  for (size_t c = 0; c < 172; ++c) {
    size_t largest = c;
    for (size_t r = 0; r < 64; ++r) {
      if (std::fabs(down[r * 172 + c]) > std::fabs(down[largest])) largest = r * 172 + c;
    }
    const double s = static_cast<double>(kept[largest]) / down[largest];
    scaled_columns += std::fabs(s - 1.0) > 0.01;
    for (size_t r = 0; r < 64; ++r) {
      const size_t i = r * 172 + c;
      ASSERT_NEAR(kept[i], down[i] * s, 1e-2 * std::fabs(down[i] * s) + 1e-7) << "row " << r << " column " << c;
    }
  }
  EXPECT_GT(scaled_columns, 0);
  const Transformer reference(original);
  const std::vector<TokenSequence> sequences = ReadTokenFile(model / "sample_tokens.txt", 512);
  ThreadPool pool(2);
  const auto kld = [&](const std::string& name) {
    const Checkpoint checkpoint = Checkpoint::Open(dir / name);
    return Evaluate(Transformer(checkpoint), &reference, sequences, pool).reference->kld_mean;
  };
  const double all = kld("all");
  EXPECT_LT(kld("bf16"), all);
  EXPECT_LT(kld("fp8"), all);
}

TEST(ConvertInt4Test, KeepRulesGiveLayersTheirOwnFormat) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  ScratchDir dir;
  ConvertOptions options = testing::QuietConvert(model, dir / "out", "int4");
  // First match wins: layer 0 is FP8 entirely, the other down_projs stay BF16, layer 1's attention uses g128.
  options.keep_rules = {"*.layers.0.*=fp8", "*.down_proj=bf16", "model.layers.1.self_attn.*=int4-g128"};
  Convert(options);
  const Checkpoint out = Checkpoint::Open(dir / "out");
  const TensorView& fp8 = out.Get("model.layers.0.mlp.down_proj.weight");
  EXPECT_EQ(fp8.dtype, DType::kF8E4M3);
  EXPECT_EQ(out.Get("model.layers.0.mlp.down_proj.weight_scale").shape, (Shape{64, 1}));
  EXPECT_EQ(out.Get("model.layers.2.mlp.down_proj.weight").dtype, DType::kBF16);
  EXPECT_EQ(out.Get("model.layers.1.self_attn.q_proj.weight_scale").shape, (Shape{64, 1}));  // 64 inputs, g128
  EXPECT_EQ(out.Get("model.layers.2.self_attn.q_proj.weight_scale").shape, (Shape{64, 2}));  // g32
  const nlohmann::json& q = out.config()["quantization_config"];
  EXPECT_EQ(q["format"], "mixed-precision");
  ASSERT_EQ(q["config_groups"].size(), 3u);
  bool saw_fp8 = false;
  for (const auto& [name, group] : q["config_groups"].items()) {
    if (group["weights"]["type"] == "float") {
      saw_fp8 = true;
      EXPECT_EQ(group["format"], "float-quantized");
      EXPECT_EQ(group["weights"]["strategy"], "channel");
      EXPECT_EQ(group["targets"].size(), 7u);  // layer 0's linears
    } else {
      EXPECT_EQ(group["format"], "pack-quantized");
      EXPECT_EQ(group["targets"].size(), group["weights"]["group_size"] == 128 ? 4u : 14u);
    }
  }
  EXPECT_TRUE(saw_fp8);
  const nlohmann::json ignore = q["ignore"];
  EXPECT_NE(std::find(ignore.begin(), ignore.end(), "model.layers.3.mlp.down_proj"), ignore.end());

  ConvertOptions split = testing::QuietConvert(model, dir / "split", "int4");
  split.keep_rules = {"*.q_proj=fp8"};
  try {
    Convert(split);
    ADD_FAILURE() << "a rule splitting q/k/v must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("one fused module"), std::string::npos) << e.what();
  }
  ConvertOptions fp8_scheme = testing::QuietConvert(model, dir / "fp8", "fp8");
  fp8_scheme.keep_rules = {"*.layers.0.*=int4"};
  EXPECT_THROW(Convert(fp8_scheme), Error);
  ConvertOptions malformed = testing::QuietConvert(model, dir / "bad", "int4");
  malformed.keep_rules = {"*.layers.0.*=int3"};
  EXPECT_THROW(Convert(malformed), Error);
  EXPECT_FALSE(fs::exists(dir / "split"));
}

TEST(ConvertInt4Test, AutoMixFitsTheBudgetAndSpendsItWhereItHelps) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K-bf16");
  std::vector<TokenSequence> calib =
      ReadTokenFile(model.parent_path() / "aidreams260K" / "sample_text_ids.txt", 512);
  calib.resize(4);  // enough to rank the layers; keeps the test quick
  const Checkpoint original = Checkpoint::Open(model);
  const QuantScheme scheme = ResolveScheme("q4bf16_1");
  std::vector<std::string> modules;
  for (const TensorView& view : original.tensors()) {
    if (view.name.find("_proj.weight") != std::string::npos) modules.push_back(ModuleOf(view.name));
  }
  ThreadPool pool(2);
  const std::vector<MixGroup> groups = MeasureSensitivity(original, scheme, modules, calib, pool);
  ASSERT_EQ(groups.size(), 16u);  // per layer: qkv, o, gate/up, down
  for (const MixGroup& g : groups) {
    ASSERT_EQ(g.candidates.size(), 5u);
    EXPECT_EQ(g.candidates.front().format.Name(), "int4-g128");
    EXPECT_EQ(g.candidates.back().format.Name(), "bf16");
    EXPECT_LT(g.candidates.back().kld, g.candidates.front().kld) << g.name;
  }
  double previous_kld = 1e9;
  for (const double bits : {4.3, 4.5, 6.0, 16.0}) {
    const MixedPrecisionPlan plan = ChooseWithinBudget(groups, bits);
    EXPECT_LE(plan.average_bits, bits + 1e-9);
    EXPECT_LT(plan.predicted_kld, previous_kld) << "a larger budget must buy a smaller predicted loss";
    previous_kld = plan.predicted_kld;
    std::printf("auto-mix %.1f: %.3f bits, predicted KLD %.5f\n", bits, plan.average_bits, plan.predicted_kld);
  }
  EXPECT_NEAR(ChooseWithinBudget(groups, 16.0).average_bits, 16.0, 1e-9) << "everything affordable is kept BF16";
  try {
    ChooseWithinBudget(groups, 3.0);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cheapest plan"), std::string::npos) << e.what();
  }

  // Through convert: the plan's formats are what is written, and the report records them.
  const MixedPrecisionPlan plan = ChooseWithinBudget(groups, 4.5);
  ScratchDir dir;
  ConvertOptions options = testing::QuietConvert(model, dir / "mix", "q4bf16_1");
  options.auto_mix_bits = 4.5;
  options.mixed_precision_planner = [&](const Checkpoint&, const QuantScheme&, const std::vector<std::string>& m,
                                        double bits, ThreadPool&) {
    EXPECT_EQ(m, modules);
    EXPECT_EQ(bits, 4.5);
    return MixedPrecisionChoice{plan.Rules(), plan.ToText(), MixedPrecisionReport(plan)};
  };
  const ConvertSummary summary = Convert(options);
  EXPECT_EQ(summary.report["auto_mix"]["average_bits"].get<double>(), plan.average_bits);
  const Checkpoint out = Checkpoint::Open(dir / "mix");
  for (const MixGroup& g : plan.groups) {
    const LinearFormat& format = g.candidates[g.chosen].format;
    for (const std::string& module : g.modules) {
      if (format.precision == LinearPrecision::kInt4) {
        const int64_t cols = original.Get(module + ".weight").cols();
        EXPECT_EQ(out.Get(module + ".weight_scale").shape[1], (cols + format.group_size - 1) / format.group_size)
            << module;
      } else if (format.precision == LinearPrecision::kFp8) {
        EXPECT_EQ(out.Get(module + ".weight").dtype, DType::kF8E4M3) << module;
      } else {
        EXPECT_EQ(out.Get(module + ".weight").dtype, DType::kBF16) << module;
      }
    }
  }
}

}  // namespace
}  // namespace octet
