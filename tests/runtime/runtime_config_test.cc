// config.json parsing, token files and the FP8 tensor layouts a checkpoint may carry.
#include <gtest/gtest.h>

#include "runtime/model_config.h"
#include "runtime/quant_params.h"
#include "runtime/rope.h"
#include "runtime/token_file.h"
#include "util/error.h"

namespace octet {
namespace {

nlohmann::json LlamaConfig() {
  return nlohmann::json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 172,
    "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 4, "head_dim": 16,
    "vocab_size": 512, "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
    "rope_scaling": null, "hidden_act": "silu", "tie_word_embeddings": true})");
}

std::string ErrorOf(const nlohmann::json& config) {
  try {
    ParseModelConfig(config, "config.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(RuntimeConfigTest, ParsesLlama) {
  const ModelConfig c = ParseModelConfig(LlamaConfig(), "config.json");
  EXPECT_EQ(c.shape.head_dim, 16);
  EXPECT_EQ(c.max_position_embeddings, 128);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_FALSE(c.is_moe());
  EXPECT_EQ(c.sliding_window, 0);
}

TEST(RuntimeConfigTest, RefusesUnknownArchitectureNamingSupportedOnes) {
  nlohmann::json config = LlamaConfig();
  config["architectures"] = {"GPT2LMHeadModel"};
  const std::string error = ErrorOf(config);
  EXPECT_NE(error.find("GPT2LMHeadModel"), std::string::npos) << error;
  EXPECT_NE(error.find("MixtralForCausalLM"), std::string::npos) << error;
}

TEST(RuntimeConfigTest, RefusesWhatTheRuntimeDoesNotCompute) {
  nlohmann::json config = LlamaConfig();
  config["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  EXPECT_NE(ErrorOf(config).find("yarn"), std::string::npos);
  config = LlamaConfig();
  config["hidden_act"] = "gelu";
  EXPECT_NE(ErrorOf(config).find("gelu"), std::string::npos);
  config = LlamaConfig();
  config["attention_bias"] = true;
  EXPECT_NE(ErrorOf(config).find("attention_bias"), std::string::npos);
  config = LlamaConfig();
  config["architectures"] = {"MixtralForCausalLM"};
  EXPECT_NE(ErrorOf(config).find("num_local_experts"), std::string::npos);
}

TEST(RuntimeConfigTest, MistralSlidingWindow) {
  nlohmann::json config = LlamaConfig();
  config["architectures"] = {"MistralForCausalLM"};
  config["sliding_window"] = 4096;
  EXPECT_EQ(ParseModelConfig(config, "c").sliding_window, 4096);
  config["sliding_window"] = nullptr;
  EXPECT_EQ(ParseModelConfig(config, "c").sliding_window, 0);
}

TEST(RuntimeConfigTest, Llama3RopeScalingFrequencies) {
  nlohmann::json config = LlamaConfig();
  config["head_dim"] = 128;
  config["rope_theta"] = 500000.0;
  config["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                            {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
  const ModelConfig c = ParseModelConfig(config, "c");
  ASSERT_EQ(c.rope_scaling.kind, RopeScaling::Kind::kLlama3);
  const std::vector<double> f = RopeInverseFrequencies(c);
  ASSERT_EQ(f.size(), 64u);
  // High frequencies (wavelength < 8192/4) are unchanged, low ones (wavelength > 8192) divided by 8.
  EXPECT_DOUBLE_EQ(f[0], 1.0);
  EXPECT_DOUBLE_EQ(f[10], std::pow(500000.0, -20.0 / 128.0));
  EXPECT_DOUBLE_EQ(f[63], std::pow(500000.0, -126.0 / 128.0) / 8.0);
  // The medium band lies between the two.
  for (int i = 0; i < 64; ++i) {
    const double original = std::pow(500000.0, -2.0 * i / 128.0);
    EXPECT_LE(f[i], original * (1 + 1e-12));
    EXPECT_GE(f[i], original / 8.0 * (1 - 1e-12));
  }
}

TEST(RuntimeConfigTest, QuantizationConfigDialects) {
  nlohmann::json config = LlamaConfig();
  config["quantization_config"] = {{"quant_method", "fp8"}, {"activation_scheme", "static"}};
  CheckpointQuantParams p = ParseCheckpointQuantParams(config, "c");
  EXPECT_TRUE(p.activations_declared);
  EXPECT_EQ(p.activations, ActivationQuant::kStatic);

  config["quantization_config"] = {
      {"quant_method", "fp8"}, {"activation_scheme", "dynamic"}, {"weight_block_size", {128, 64}}};
  p = ParseCheckpointQuantParams(config, "c");
  EXPECT_EQ(p.activations, ActivationQuant::kDynamicGroup);
  EXPECT_EQ(p.activation_group_size, 64);
  EXPECT_EQ(p.block_rows, 128);

  config["quantization_config"] = nlohmann::json::parse(R"({"quant_method": "compressed-tensors",
      "config_groups": {"group_0": {"targets": ["Linear"],
        "weights": {"num_bits": 8, "type": "float", "strategy": "channel", "dynamic": false},
        "input_activations": {"num_bits": 8, "type": "float", "strategy": "token", "dynamic": true}}}})");
  p = ParseCheckpointQuantParams(config, "c");
  EXPECT_EQ(p.activations, ActivationQuant::kDynamicToken);

  config["quantization_config"]["config_groups"]["group_0"]["input_activations"] = nullptr;
  p = ParseCheckpointQuantParams(config, "c");
  EXPECT_TRUE(p.activations_declared);
  EXPECT_EQ(p.activations, ActivationQuant::kNone);

  config["quantization_config"] = {{"quant_method", "fp8"}, {"activation_scheme", "sometimes"}};
  EXPECT_THROW(ParseCheckpointQuantParams(config, "c"), Error);
}

TEST(RuntimeTokenFileTest, ParsesLinesSkipsBlanksAndNamesBadLines) {
  const auto seqs = ParseTokenText("1 2 3\n\n  4\t5 \r\n", "t.txt", 10);
  ASSERT_EQ(seqs.size(), 2u);
  EXPECT_EQ(seqs[0], (TokenSequence{1, 2, 3}));
  EXPECT_EQ(seqs[1], (TokenSequence{4, 5}));
  const auto message = [](const std::string& text) {
    try {
      ParseTokenText(text, "t.txt", 10);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(message("1 2\n3 -4\n").rfind("t.txt:2:", 0), 0u) << message("1 2\n3 -4\n");
  EXPECT_EQ(message("\n\n7 x1\n").rfind("t.txt:3:", 0), 0u);
  EXPECT_NE(message("1 10\n").find("vocabulary"), std::string::npos);
  EXPECT_NE(message("99999999999999999999\n").find("t.txt:1:"), std::string::npos);
  EXPECT_THROW(ReadTokenFile("/nonexistent/tokens.txt"), Error);
}

}  // namespace
}  // namespace octet
