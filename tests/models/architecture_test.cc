#include "models/architecture.h"

#include <gtest/gtest.h>

#include "util/error.h"

namespace octet {
namespace {

nlohmann::json LlamaConfig(const std::string& arch = "LlamaForCausalLM") {
  return {{"architectures", {arch}}, {"hidden_size", 64},      {"intermediate_size", 172},
          {"num_hidden_layers", 2},  {"num_attention_heads", 8}, {"num_key_value_heads", 4},
          {"vocab_size", 512},       {"tie_word_embeddings", true}};
}

TEST(ArchitectureTest, ClassifiesLlamaTensors) {
  const Architecture& arch = Architecture::ForConfig(LlamaConfig(), "config.json");
  EXPECT_EQ(arch.Classify("model.layers.3.self_attn.q_proj.weight"), TensorRole::kLinear);
  EXPECT_EQ(arch.Classify("model.layers.3.self_attn.o_proj.weight"), TensorRole::kLinear);
  EXPECT_EQ(arch.Classify("model.layers.10.mlp.down_proj.weight"), TensorRole::kLinear);
  EXPECT_EQ(arch.Classify("model.layers.0.input_layernorm.weight"), TensorRole::kNorm);
  EXPECT_EQ(arch.Classify("model.norm.weight"), TensorRole::kNorm);
  EXPECT_EQ(arch.Classify("model.embed_tokens.weight"), TensorRole::kEmbedding);
  EXPECT_EQ(arch.Classify("lm_head.weight"), TensorRole::kOutputHead);
  EXPECT_EQ(arch.Classify("model.layers.0.self_attn.q_proj.bias"), TensorRole::kOther);
  EXPECT_EQ(arch.Classify("model.layers.0.self_attn.rotary_emb.inv_freq"), TensorRole::kOther);
  // Mixtral names mean nothing to a dense Llama.
  EXPECT_EQ(arch.Classify("model.layers.0.block_sparse_moe.experts.0.w1.weight"), TensorRole::kOther);
}

TEST(ArchitectureTest, ClassifiesMixtralExpertsAndRouter) {
  nlohmann::json config = LlamaConfig("MixtralForCausalLM");
  config["num_local_experts"] = 4;
  config["num_experts_per_tok"] = 2;
  const Architecture& arch = Architecture::ForConfig(config, "config.json");
  EXPECT_TRUE(arch.is_moe());
  EXPECT_EQ(arch.Classify("model.layers.1.block_sparse_moe.experts.3.w2.weight"), TensorRole::kLinear);
  EXPECT_EQ(arch.Classify("model.layers.1.block_sparse_moe.gate.weight"), TensorRole::kRouter);
  EXPECT_EQ(arch.Classify("model.layers.1.mlp.up_proj.weight"), TensorRole::kOther);

  const auto expected = arch.ExpectedTensors(ParseModelShape(config, "config.json"));
  // embed + norm + per layer (2 norms + 4 attention + router + 4 experts * 3)
  EXPECT_EQ(expected.size(), 2u + 2u * (2 + 4 + 1 + 12));
  bool found_w2 = false;
  for (const ExpectedTensor& t : expected) {
    if (t.name == "model.layers.1.block_sparse_moe.experts.3.w2.weight") {
      found_w2 = true;
      EXPECT_EQ(t.shape, (Shape{64, 172}));
    }
  }
  EXPECT_TRUE(found_w2);
}

TEST(ArchitectureTest, ExpectedShapesFollowGroupedQueryAttention) {
  const Architecture& arch = Architecture::ForConfig(LlamaConfig(), "config.json");
  const ModelShape shape = ParseModelShape(LlamaConfig(), "config.json");
  EXPECT_EQ(shape.head_dim, 8);
  for (const ExpectedTensor& t : arch.ExpectedTensors(shape)) {
    if (t.name == "model.layers.0.self_attn.k_proj.weight") {
      EXPECT_EQ(t.shape, (Shape{32, 64}));
    }
    if (t.name == "model.layers.0.self_attn.q_proj.weight") {
      EXPECT_EQ(t.shape, (Shape{64, 64}));
    }
    EXPECT_NE(t.name, "lm_head.weight") << "tied embeddings need no lm_head";
  }
}

TEST(ArchitectureTest, UnknownArchitectureNamesItAndListsSupported) {
  try {
    Architecture::ForConfig(LlamaConfig("FalconForCausalLM"), "/m/config.json");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("/m/config.json"), std::string::npos) << message;
    EXPECT_NE(message.find("'FalconForCausalLM' is not supported"), std::string::npos) << message;
    EXPECT_NE(message.find("LlamaForCausalLM, MistralForCausalLM, MixtralForCausalLM"), std::string::npos)
        << message;
  }
}

TEST(ArchitectureTest, ConfigErrorsNameTheKey) {
  nlohmann::json config = LlamaConfig();
  config.erase("hidden_size");
  EXPECT_THROW(
      {
        try {
          ParseModelShape(config, "c.json");
        } catch (const Error& e) {
          EXPECT_STREQ(e.what(), "c.json: missing \"hidden_size\"");
          throw;
        }
      },
      Error);
  config = LlamaConfig();
  config["num_key_value_heads"] = 3;
  EXPECT_THROW(ParseModelShape(config, "c.json"), Error);
  config = LlamaConfig();
  config["architectures"] = "LlamaForCausalLM";
  EXPECT_THROW(ParseModelShape(config, "c.json"), Error);
}

}  // namespace
}  // namespace octet
