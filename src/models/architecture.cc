#include "models/architecture.h"

#include <regex>

#include <fmt/format.h>

#include "util/error.h"

namespace octet {
namespace {

// Hugging Face transformers' module names (modeling_llama.py, modeling_mistral.py, modeling_mixtral.py).
const std::regex kAttentionLinear(R"(model\.layers\.\d+\.self_attn\.[qkvo]_proj\.weight)");
const std::regex kDenseMlpLinear(R"(model\.layers\.\d+\.mlp\.(gate|up|down)_proj\.weight)");
const std::regex kExpertLinear(R"(model\.layers\.\d+\.block_sparse_moe\.experts\.\d+\.w[123]\.weight)");
const std::regex kRouter(R"(model\.layers\.\d+\.block_sparse_moe\.gate\.weight)");
const std::regex kNorm(R"(model\.(layers\.\d+\.(input_layernorm|post_attention_layernorm)|norm)\.weight)");
const std::regex kQkv(R"((model\.layers\.\d+\.self_attn\.)[qkv]_proj)");
const std::regex kGateUp(R"((model\.layers\.\d+\.mlp\.)(gate|up)_proj)");
const std::regex kExpertModule(R"((model\.layers\.\d+\.block_sparse_moe\.experts)\.\d+\.w[123])");
const std::regex kW13(R"((model\.layers\.\d+\.block_sparse_moe\.experts\.\d+\.)w[13])");

}  // namespace

std::string_view TensorRoleName(TensorRole role) {
  switch (role) {
    case TensorRole::kLinear: return "linear";
    case TensorRole::kEmbedding: return "embedding";
    case TensorRole::kOutputHead: return "output head";
    case TensorRole::kRouter: return "router";
    case TensorRole::kNorm: return "norm";
    case TensorRole::kOther: return "other";
  }
  return "other";
}

std::string Architecture::FusedModuleKey(const std::string& module) {
  std::smatch m;
  if (std::regex_match(module, m, kQkv)) return m[1].str() + "qkv_proj";
  if (std::regex_match(module, m, kGateUp)) return m[1].str() + "gate_up_proj";
  if (std::regex_match(module, m, kW13)) return m[1].str() + "w13";
  return module;
}

std::string Architecture::SchemeGroupKey(const std::string& module) {
  std::smatch m;
  if (std::regex_match(module, m, kExpertModule)) return m[1].str();
  return FusedModuleKey(module);
}

std::vector<std::string> Architecture::SupportedNames() {
  std::vector<std::string> names;
  for (const Architecture& arch : Registry()) names.push_back(arch.name());
  return names;
}

const Architecture& Architecture::ForConfig(const nlohmann::json& config, const std::string& source) {
  const std::string name = ArchitectureName(config, source);
  for (const Architecture& arch : Registry()) {
    if (arch.name() == name) return arch;
  }
  Fail("{}: architecture '{}' is not supported; octet supports {}", source, name,
       fmt::join(SupportedNames(), ", "));
}

TensorRole Architecture::Classify(std::string_view tensor_name) const {
  const std::string name(tensor_name);
  if (name == "model.embed_tokens.weight") return TensorRole::kEmbedding;
  if (name == "lm_head.weight") return TensorRole::kOutputHead;
  if (std::regex_match(name, kNorm)) return TensorRole::kNorm;
  if (std::regex_match(name, kAttentionLinear)) return TensorRole::kLinear;
  if (moe_) {
    if (std::regex_match(name, kExpertLinear)) return TensorRole::kLinear;
    if (std::regex_match(name, kRouter)) return TensorRole::kRouter;
  } else if (std::regex_match(name, kDenseMlpLinear)) {
    return TensorRole::kLinear;
  }
  return TensorRole::kOther;
}

std::vector<ExpectedTensor> Architecture::ExpectedTensors(const ModelShape& s) const {
  std::vector<ExpectedTensor> expected;
  const int64_t q_out = s.num_heads * s.head_dim;
  const int64_t kv_out = s.num_kv_heads * s.head_dim;
  expected.push_back({"model.embed_tokens.weight", {s.vocab_size, s.hidden_size}, TensorRole::kEmbedding});
  for (int64_t layer = 0; layer < s.num_layers; ++layer) {
    const std::string p = fmt::format("model.layers.{}.", layer);
    expected.push_back({p + "input_layernorm.weight", {s.hidden_size}, TensorRole::kNorm});
    expected.push_back({p + "post_attention_layernorm.weight", {s.hidden_size}, TensorRole::kNorm});
    expected.push_back({p + "self_attn.q_proj.weight", {q_out, s.hidden_size}, TensorRole::kLinear});
    expected.push_back({p + "self_attn.k_proj.weight", {kv_out, s.hidden_size}, TensorRole::kLinear});
    expected.push_back({p + "self_attn.v_proj.weight", {kv_out, s.hidden_size}, TensorRole::kLinear});
    expected.push_back({p + "self_attn.o_proj.weight", {s.hidden_size, q_out}, TensorRole::kLinear});
    if (moe_) {
      if (s.num_experts == 0) Fail("{}: config has no num_local_experts", name_);
      expected.push_back(
          {p + "block_sparse_moe.gate.weight", {s.num_experts, s.hidden_size}, TensorRole::kRouter});
      for (int64_t e = 0; e < s.num_experts; ++e) {
        const std::string x = fmt::format("{}block_sparse_moe.experts.{}.", p, e);
        expected.push_back({x + "w1.weight", {s.intermediate_size, s.hidden_size}, TensorRole::kLinear});
        expected.push_back({x + "w2.weight", {s.hidden_size, s.intermediate_size}, TensorRole::kLinear});
        expected.push_back({x + "w3.weight", {s.intermediate_size, s.hidden_size}, TensorRole::kLinear});
      }
    } else {
      expected.push_back({p + "mlp.gate_proj.weight", {s.intermediate_size, s.hidden_size}, TensorRole::kLinear});
      expected.push_back({p + "mlp.up_proj.weight", {s.intermediate_size, s.hidden_size}, TensorRole::kLinear});
      expected.push_back({p + "mlp.down_proj.weight", {s.hidden_size, s.intermediate_size}, TensorRole::kLinear});
    }
  }
  expected.push_back({"model.norm.weight", {s.hidden_size}, TensorRole::kNorm});
  if (!s.tie_word_embeddings) {
    expected.push_back({"lm_head.weight", {s.vocab_size, s.hidden_size}, TensorRole::kOutputHead});
  }
  return expected;
}

std::string Architecture::ModulePrefix(std::string_view tensor_name) {
  const size_t dot = tensor_name.rfind('.');
  return std::string(dot == std::string_view::npos ? tensor_name : tensor_name.substr(0, dot));
}

const std::vector<Architecture>& Architecture::Registry() {
  // Mistral's checkpoints use Llama's module names; sliding-window attention only matters to the runtime.
  static const std::vector<Architecture> registry = {
      Architecture("LlamaForCausalLM", false),
      Architecture("MistralForCausalLM", false),
      Architecture("MixtralForCausalLM", true),
  };
  return registry;
}

}  // namespace octet
