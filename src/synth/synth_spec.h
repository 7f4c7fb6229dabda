// What `octet synth` generates: the shape of a Llama or Mixtral model (from a named preset, optionally overridden
// field by field), the Hugging Face config.json describing it, and the list of tensors with HF names and shapes.
// Synthetic checkpoints let the converter and the benchmarks run on realistic sizes (up to 8 GB) without
// downloading a model; the tensor names and config are exactly what transformers' LlamaForCausalLM /
// MixtralForCausalLM would save, so every reader treats them as real checkpoints.
#ifndef OCTET_SYNTH_SYNTH_SPEC_H_
#define OCTET_SYNTH_SYNTH_SPEC_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/tensor_view.h"
#include "numeric/dtype.h"

namespace octet {

enum class SynthArch { kLlama, kMixtral };

// Parses "llama" / "mixtral"; throws naming the option otherwise.
SynthArch ParseSynthArch(std::string_view name);
std::string_view SynthArchName(SynthArch arch);

struct SynthSpec {
  SynthArch arch = SynthArch::kLlama;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;  // per expert for Mixtral
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t vocab_size = 0;
  int64_t num_experts = 0;  // Mixtral only; 0 for Llama
  int64_t num_experts_per_token = 0;
  int64_t max_position_embeddings = 2048;
  DType dtype = DType::kBF16;  // F32, F16 or BF16
  uint64_t seed = 0;
};

// Preset names, for help text: tiny (< 1 MB, for tests), small (~10-30 MB), 1b (~1B parameters), 4gb and 8gb (a
// BF16 checkpoint of at least 4 / 8 GB, for throughput benchmarks). Sizes are for BF16; F32 doubles them.
std::vector<std::string> SynthPresetNames();
// The preset's shape for `arch` (dtype BF16, seed 0); throws listing the presets for an unknown name.
SynthSpec SynthPreset(SynthArch arch, std::string_view preset);
// Throws naming the offending field when the shape is impossible (heads not dividing hidden, ...).
void ValidateSynthSpec(const SynthSpec& spec);

// How a tensor's values are distributed; see weight_generator.h.
enum class SynthInit {
  kLinear,     // normal, std 1/sqrt(in_features), with outlier input channels and rare spikes
  kEmbedding,  // normal, std 0.02
  kNorm,       // 1 + small normal noise
  kRouter,     // normal, std 1/sqrt(hidden), no outliers (MoE router)
};

struct SynthTensor {
  std::string name;
  Shape shape;
  SynthInit init = SynthInit::kLinear;
};

// Every tensor of the model in transformers' state-dict order (embeddings, layer by layer, final norm, lm_head).
std::vector<SynthTensor> SynthTensors(const SynthSpec& spec);
// The config.json transformers writes for this model (architectures, model_type, sizes, torch_dtype, ids, ...).
nlohmann::json SynthConfigJson(const SynthSpec& spec);

}  // namespace octet

#endif  // OCTET_SYNTH_SYNTH_SPEC_H_
