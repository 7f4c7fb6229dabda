// How llama.cpp lays out a Llama / Mistral / Mixtral model in GGUF (general.architecture "llama"), shared by
// GGUF export and import: tensor names, the Q/K row permutation, and llama.cpp's file-type ids.
//
// Sources (ggml-org/llama.cpp): gguf-py/gguf/constants.py (MODEL_TENSOR names for MODEL_ARCH.LLAMA, LlamaFileType),
// gguf-py/gguf/tensor_mapping.py (HF name -> MODEL_TENSOR), conversion/llama.py = convert_hf_to_gguf.py
// LlamaModel (permute, modify_tensors with the Mixtral experts merge); FORMATS.md section d.4, d.5.
#ifndef OCTET_CONVERT_GGUF_LLAMA_LAYOUT_H_
#define OCTET_CONVERT_GGUF_LLAMA_LAYOUT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "numeric/ggml_blocks.h"

namespace octet {

// HF name -> GGUF name for every non-expert tensor of a Llama/Mixtral checkpoint:
//   model.embed_tokens.weight -> token_embd.weight            model.norm.weight -> output_norm.weight
//   lm_head.weight -> output.weight
//   model.layers.N.{input_layernorm, self_attn.{q,k,v,o}_proj, post_attention_layernorm, mlp.{gate,up,down}_proj,
//                   block_sparse_moe.gate}.weight
//     -> blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down,
//               ffn_gate_inp}.weight
// nullopt for anything else (Mixtral experts are merged, see GgufExpertName).
std::optional<std::string> GgufNameForHf(std::string_view hf_name);
// The inverse (blk.N.ffn_*_exps are not single HF tensors: nullopt).
std::optional<std::string> HfNameForGguf(std::string_view gguf_name);

// Mixtral's merged expert tensors: w1 -> blk.N.ffn_gate_exps, w2 -> ffn_down_exps, w3 -> ffn_up_exps. Each is the
// torch.stack(dim=0) of the layer's experts.E.wK.weight, i.e. PyTorch shape [n_expert, out, in], ggml ne
// {in, out, n_expert}.
std::string GgufExpertName(int64_t layer, int w);  // w in {1, 2, 3}
// Parses "blk.N.ffn_{gate,down,up}_exps.weight" back to (N, w); nullopt for other names.
std::optional<std::pair<int64_t, int>> ParseGgufExpertName(std::string_view gguf_name);

// convert_hf_to_gguf's LlamaModel.permute, as a row map. HF stores each head's q/k rows in rotate-half order
// (rotary pairs (i, i + hd/2)); llama.cpp's "llama" graph rotates adjacent pairs (2i, 2i+1). permute views the
// [heads*hd, in] matrix as [heads, 2, hd/2, in] and swaps axes 1 and 2, so GGUF row h*hd + 2i + s holds HF row
// h*hd + s*hd/2 + i. For attn_k `heads` is the KV head count. `rows` = heads * hd; hd must be even.
int64_t HfRowForGgufRow(int64_t gguf_row, int64_t rows, int64_t heads);
// The inverse: the GGUF row that holds HF row `hf_row`.
int64_t GgufRowForHfRow(int64_t hf_row, int64_t rows, int64_t heads);

// Llama 3.1's rope scaling (rope_type "llama3"): llama.cpp's converter stores per-frequency factors as the F32
// tensor rope_freqs.weight {head_dim/2} (conversion/llama.py LlamaModel.generate_extra_tensors); computed here in F32
// as torch does there, the Python's arithmetic line by line.
struct Llama3RopeScaling {
  double theta = 500000.0;
  double factor = 8.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  double original_max_position_embeddings = 8192.0;
};
std::vector<float> Llama3RopeFactors(const Llama3RopeScaling& scaling, int64_t head_dim);

// llama_ftype (include/llama.h; gguf-py LlamaFileType) for a file whose linears are mostly `type`:
// F32 -> 0 (ALL_F32), F16 -> 1, Q4_0 -> 2, Q8_0 -> 7, BF16 -> 32.
uint32_t LlamaFileTypeFor(GgmlType type);

// GGML_QUANT_VERSION (ggml.h), written as general.quantization_version.
inline constexpr uint32_t kGgmlQuantVersion = 2;

}  // namespace octet

#endif  // OCTET_CONVERT_GGUF_LLAMA_LAYOUT_H_
