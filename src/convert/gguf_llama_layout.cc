#include "convert/gguf_llama_layout.h"

#include <array>
#include <cmath>

#include <fmt/format.h>

#include "util/error.h"

namespace octet {
namespace {

struct NamePair {
  std::string_view hf;    // after "model.layers.N."
  std::string_view gguf;  // after "blk.N."
};

// tensor_mapping.py block_mappings_cfg for the llama-hf spellings; constants.py TENSOR_NAMES.
constexpr std::array<NamePair, 10> kLayerNames = {{
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
    {"block_sparse_moe.gate.weight", "ffn_gate_inp.weight"},
}};

constexpr std::array<NamePair, 3> kGlobalNames = {{
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
}};

// "PREFIX<digits>.REST" -> (digits, REST); nullopt when `name` does not have that form.
std::optional<std::pair<int64_t, std::string_view>> SplitLayer(std::string_view name, std::string_view prefix) {
  if (name.substr(0, prefix.size()) != prefix) return std::nullopt;
  size_t i = prefix.size();
  int64_t layer = 0;
  const size_t digits_begin = i;
  while (i < name.size() && name[i] >= '0' && name[i] <= '9' && i - digits_begin < 9) {
    layer = layer * 10 + (name[i] - '0');
    ++i;
  }
  if (i == digits_begin || i >= name.size() || name[i] != '.') return std::nullopt;
  if (name[digits_begin] == '0' && i - digits_begin > 1) return std::nullopt;  // no leading zeros
  return std::make_pair(layer, name.substr(i + 1));
}

constexpr std::array<std::string_view, 3> kExpertKinds = {"ffn_gate_exps", "ffn_down_exps", "ffn_up_exps"};

}  // namespace

std::optional<std::string> GgufNameForHf(std::string_view hf_name) {
  for (const NamePair& pair : kGlobalNames) {
    if (hf_name == pair.hf) return std::string(pair.gguf);
  }
  if (const auto split = SplitLayer(hf_name, "model.layers.")) {
    for (const NamePair& pair : kLayerNames) {
      if (split->second == pair.hf) return fmt::format("blk.{}.{}", split->first, pair.gguf);
    }
  }
  return std::nullopt;
}

std::optional<std::string> HfNameForGguf(std::string_view gguf_name) {
  for (const NamePair& pair : kGlobalNames) {
    if (gguf_name == pair.gguf) return std::string(pair.hf);
  }
  if (const auto split = SplitLayer(gguf_name, "blk.")) {
    for (const NamePair& pair : kLayerNames) {
      if (split->second == pair.gguf) return fmt::format("model.layers.{}.{}", split->first, pair.hf);
    }
  }
  return std::nullopt;
}

std::string GgufExpertName(int64_t layer, int w) {
  if (w < 1 || w > 3) Fail("internal: Mixtral expert weight w{} does not exist", w);
  return fmt::format("blk.{}.{}.weight", layer, kExpertKinds[static_cast<size_t>(w - 1)]);
}

std::optional<std::pair<int64_t, int>> ParseGgufExpertName(std::string_view gguf_name) {
  const auto split = SplitLayer(gguf_name, "blk.");
  if (!split) return std::nullopt;
  for (size_t k = 0; k < kExpertKinds.size(); ++k) {
    if (split->second == fmt::format("{}.weight", kExpertKinds[k])) {
      return std::make_pair(split->first, static_cast<int>(k + 1));
    }
  }
  return std::nullopt;
}

int64_t HfRowForGgufRow(int64_t gguf_row, int64_t rows, int64_t heads) {
  const int64_t head_dim = rows / heads;
  const int64_t half = head_dim / 2;
  const int64_t head = gguf_row / head_dim;
  const int64_t within = gguf_row % head_dim;  // = 2i + s
  return head * head_dim + (within % 2) * half + within / 2;
}

int64_t GgufRowForHfRow(int64_t hf_row, int64_t rows, int64_t heads) {
  const int64_t head_dim = rows / heads;
  const int64_t half = head_dim / 2;
  const int64_t head = hf_row / head_dim;
  const int64_t within = hf_row % head_dim;  // = s*half + i
  return head * head_dim + 2 * (within % half) + within / half;
}

std::vector<float> Llama3RopeFactors(const Llama3RopeScaling& s, int64_t head_dim) {
  const float base = static_cast<float>(s.theta);
  const double low_freq_wavelen = s.original_max_position_embeddings / s.low_freq_factor;
  const double high_freq_wavelen = s.original_max_position_embeddings / s.high_freq_factor;
  std::vector<float> factors;
  for (int64_t i = 0; i < head_dim; i += 2) {
    const float freq = 1.0f / std::pow(base, static_cast<float>(i) / static_cast<float>(head_dim));
    const float wavelen = static_cast<float>(2 * M_PI) / freq;
    if (wavelen < high_freq_wavelen) {
      factors.push_back(1.0f);
    } else if (wavelen > low_freq_wavelen) {
      factors.push_back(static_cast<float>(s.factor));
    } else {
      const float smooth = static_cast<float>((s.original_max_position_embeddings / wavelen - s.low_freq_factor) /
                                              (s.high_freq_factor - s.low_freq_factor));
      factors.push_back(1.0f / ((1.0f - smooth) / static_cast<float>(s.factor) + smooth));
    }
  }
  return factors;
}

uint32_t LlamaFileTypeFor(GgmlType type) {
  switch (type) {
    case GgmlType::kF32: return 0;
    case GgmlType::kF16: return 1;
    case GgmlType::kQ4_0: return 2;
    case GgmlType::kQ8_0: return 7;
    case GgmlType::kBF16: return 32;
    default: break;
  }
  Fail("no llama.cpp file type for ggml type {}", GgmlTypeName(type));
}

}  // namespace octet
