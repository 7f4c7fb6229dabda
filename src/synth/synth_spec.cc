#include "synth/synth_spec.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "util/error.h"

namespace octet {
namespace {

struct Preset {
  std::string_view name;
  SynthArch arch;
  int64_t hidden, intermediate, layers, heads, kv_heads, vocab, experts, experts_per_token;
};

// Llama sizes in BF16: tiny ~0.2 MB, small ~10.5 MB, 1b ~2.2 GB (1.1B parameters, Llama-3.2-1B-like with a
// Llama-2 vocabulary), 4gb ~4.44 GB and 8gb ~8.81 GB (Llama-3-8B layers: 436 MB each, plus 524 MB of
// embeddings and head). Mixtral presets use 8 experts of 2 and roughly match the same byte sizes.
constexpr Preset kPresets[] = {
    {"tiny", SynthArch::kLlama, 64, 128, 2, 4, 2, 256, 0, 0},
    {"small", SynthArch::kLlama, 256, 768, 4, 8, 4, 4096, 0, 0},
    {"1b", SynthArch::kLlama, 2048, 8192, 16, 32, 8, 32000, 0, 0},
    {"4gb", SynthArch::kLlama, 4096, 14336, 9, 32, 8, 32000, 0, 0},
    {"8gb", SynthArch::kLlama, 4096, 14336, 19, 32, 8, 32000, 0, 0},
    {"tiny", SynthArch::kMixtral, 64, 128, 2, 4, 2, 256, 4, 2},
    {"small", SynthArch::kMixtral, 256, 512, 2, 8, 4, 4096, 8, 2},
    {"1b", SynthArch::kMixtral, 1024, 3584, 10, 16, 8, 32000, 8, 2},
    {"4gb", SynthArch::kMixtral, 2048, 7168, 6, 32, 8, 32000, 8, 2},
    {"8gb", SynthArch::kMixtral, 2048, 7168, 12, 32, 8, 32000, 8, 2},
};

}  // namespace

SynthArch ParseSynthArch(std::string_view name) {
  if (name == "llama") return SynthArch::kLlama;
  if (name == "mixtral") return SynthArch::kMixtral;
  Fail("--arch: unknown architecture '{}' (expected llama or mixtral)", name);
}

std::string_view SynthArchName(SynthArch arch) { return arch == SynthArch::kLlama ? "llama" : "mixtral"; }

std::vector<std::string> SynthPresetNames() { return {"tiny", "small", "1b", "4gb", "8gb"}; }

SynthSpec SynthPreset(SynthArch arch, std::string_view preset) {
  for (const Preset& p : kPresets) {
    if (p.arch != arch || p.name != preset) continue;
    SynthSpec spec;
    spec.arch = arch;
    spec.hidden_size = p.hidden;
    spec.intermediate_size = p.intermediate;
    spec.num_layers = p.layers;
    spec.num_heads = p.heads;
    spec.num_kv_heads = p.kv_heads;
    spec.vocab_size = p.vocab;
    spec.num_experts = p.experts;
    spec.num_experts_per_token = p.experts_per_token;
    spec.max_position_embeddings = arch == SynthArch::kMixtral ? 32768 : 2048;
    return spec;
  }
  Fail("--preset: unknown preset '{}' (expected one of {})", preset, fmt::join(SynthPresetNames(), ", "));
}

void ValidateSynthSpec(const SynthSpec& spec) {
  auto positive = [](int64_t value, std::string_view option) {
    if (value <= 0) Fail("{}: must be positive, got {}", option, value);
  };
  positive(spec.hidden_size, "--hidden");
  positive(spec.intermediate_size, "--intermediate");
  positive(spec.num_layers, "--layers");
  positive(spec.num_heads, "--heads");
  positive(spec.num_kv_heads, "--kv-heads");
  positive(spec.vocab_size, "--vocab");
  if (spec.hidden_size % spec.num_heads != 0) {
    Fail("--heads: {} heads do not divide hidden size {}", spec.num_heads, spec.hidden_size);
  }
  if (spec.num_heads % spec.num_kv_heads != 0) {
    Fail("--kv-heads: {} KV heads do not divide {} attention heads", spec.num_kv_heads, spec.num_heads);
  }
  if (spec.arch == SynthArch::kMixtral) {
    positive(spec.num_experts, "--experts");
    positive(spec.num_experts_per_token, "--experts-per-token");
    if (spec.num_experts_per_token > spec.num_experts) {
      Fail("--experts-per-token: {} is more than the {} experts", spec.num_experts_per_token, spec.num_experts);
    }
  } else if (spec.num_experts != 0 || spec.num_experts_per_token != 0) {
    Fail("--experts: llama has no experts (use --arch mixtral)");
  }
  if (spec.dtype != DType::kF32 && spec.dtype != DType::kF16 && spec.dtype != DType::kBF16) {
    Fail("--dtype: synthetic checkpoints are F32, F16 or BF16, not {}", DTypeName(spec.dtype));
  }
}

std::vector<SynthTensor> SynthTensors(const SynthSpec& spec) {
  const int64_t hidden = spec.hidden_size;
  const int64_t ffn = spec.intermediate_size;
  const int64_t head_dim = hidden / spec.num_heads;
  const int64_t kv_dim = spec.num_kv_heads * head_dim;
  std::vector<SynthTensor> tensors;
  tensors.push_back({"model.embed_tokens.weight", {spec.vocab_size, hidden}, SynthInit::kEmbedding});
  for (int64_t layer = 0; layer < spec.num_layers; ++layer) {
    const std::string p = fmt::format("model.layers.{}.", layer);
    // transformers' module registration order: self_attn, then mlp / block_sparse_moe, then the two norms.
    tensors.push_back({p + "self_attn.q_proj.weight", {spec.num_heads * head_dim, hidden}, SynthInit::kLinear});
    tensors.push_back({p + "self_attn.k_proj.weight", {kv_dim, hidden}, SynthInit::kLinear});
    tensors.push_back({p + "self_attn.v_proj.weight", {kv_dim, hidden}, SynthInit::kLinear});
    tensors.push_back({p + "self_attn.o_proj.weight", {hidden, spec.num_heads * head_dim}, SynthInit::kLinear});
    if (spec.arch == SynthArch::kLlama) {
      tensors.push_back({p + "mlp.gate_proj.weight", {ffn, hidden}, SynthInit::kLinear});
      tensors.push_back({p + "mlp.up_proj.weight", {ffn, hidden}, SynthInit::kLinear});
      tensors.push_back({p + "mlp.down_proj.weight", {hidden, ffn}, SynthInit::kLinear});
    } else {
      tensors.push_back({p + "block_sparse_moe.gate.weight", {spec.num_experts, hidden}, SynthInit::kRouter});
      for (int64_t e = 0; e < spec.num_experts; ++e) {
        const std::string ep = fmt::format("{}block_sparse_moe.experts.{}.", p, e);
        tensors.push_back({ep + "w1.weight", {ffn, hidden}, SynthInit::kLinear});
        tensors.push_back({ep + "w2.weight", {hidden, ffn}, SynthInit::kLinear});
        tensors.push_back({ep + "w3.weight", {ffn, hidden}, SynthInit::kLinear});
      }
    }
    tensors.push_back({p + "input_layernorm.weight", {hidden}, SynthInit::kNorm});
    tensors.push_back({p + "post_attention_layernorm.weight", {hidden}, SynthInit::kNorm});
  }
  tensors.push_back({"model.norm.weight", {hidden}, SynthInit::kNorm});
  tensors.push_back({"lm_head.weight", {spec.vocab_size, hidden}, SynthInit::kLinear});
  return tensors;
}

nlohmann::json SynthConfigJson(const SynthSpec& spec) {
  const bool moe = spec.arch == SynthArch::kMixtral;
  std::string_view torch_dtype = "bfloat16";
  if (spec.dtype == DType::kF32) torch_dtype = "float32";
  if (spec.dtype == DType::kF16) torch_dtype = "float16";
  nlohmann::json config = {
      {"architectures", {moe ? "MixtralForCausalLM" : "LlamaForCausalLM"}},
      {"model_type", moe ? "mixtral" : "llama"},
      {"hidden_size", spec.hidden_size},
      {"intermediate_size", spec.intermediate_size},
      {"num_hidden_layers", spec.num_layers},
      {"num_attention_heads", spec.num_heads},
      {"num_key_value_heads", spec.num_kv_heads},
      {"head_dim", spec.hidden_size / spec.num_heads},
      {"hidden_act", "silu"},
      {"rms_norm_eps", 1e-5},
      {"rope_theta", moe ? 1e6 : 10000.0},
      {"rope_scaling", nullptr},
      {"vocab_size", spec.vocab_size},
      {"max_position_embeddings", spec.max_position_embeddings},
      {"initializer_range", 0.02},
      {"tie_word_embeddings", false},
      {"attention_bias", false},
      {"attention_dropout", 0.0},
      {"bos_token_id", 1},
      {"eos_token_id", 2},
      {"use_cache", true},
      {"torch_dtype", torch_dtype},
  };
  if (moe) {
    config["num_local_experts"] = spec.num_experts;
    config["num_experts_per_tok"] = spec.num_experts_per_token;
    config["output_router_logits"] = false;
    config["router_aux_loss_coef"] = 0.02;
    config["sliding_window"] = nullptr;
  } else {
    config["mlp_bias"] = false;
    config["pretraining_tp"] = 1;
  }
  return config;
}

}  // namespace octet
