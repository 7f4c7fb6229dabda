// `octet convert MODEL -o OUT.gguf --quantization Q4_0|Q8_0|F16|BF16|F32`: a Llama / Mistral / Mixtral Hugging Face
// checkpoint written as the GGUF v3 file llama.cpp's own tools would produce (convert_hf_to_gguf.py, then
// llama-quantize for Q4_0): general.architecture "llama", llama.cpp's tensor names and ggml dimension order, the
// Q/K row permutation, Mixtral's merged 3-D expert tensors, llama.cpp's metadata keys, and the tokenizer.
//
// Per-tensor types (what llama.cpp chooses; ggml-org/llama.cpp conversion/base.py prepare_tensors and
// src/llama-quant.cpp llama_tensor_get_type / tensor_type_fallback):
//   - 1-D tensors and *_norm.weight: F32 ("Most of the codebase that takes in 1D tensors or norms only handles
//     F32 tensors"); the Mixtral router ffn_gate_inp: F32 (convert_hf_to_gguf forces it; llama-quantize never
//     quantizes it);
//   - everything else in the chosen type, except:
//   - Q4_0 files: output.weight (and token_embd.weight when the embeddings are tied, llama-quantize's
//     has_tied_embeddings rule) are what llama-quantize gives a higher-precision type: Q6_K there. octet has no
//     Q6_K encoder and writes Q8_0 instead, the type llama-quantize itself uses for that tensor when Q6_K does not
//     fit its rows. Untied token_embd stays Q4_0 (llama-quantize leaves it at the file's type for Q4_0).
//   - a row length (ne[0]) that is not a multiple of 32 cannot be Q4_0/Q8_0: the tensor is written F16, which is
//     what convert_hf_to_gguf does (gguf.quants QuantError -> "falling back to F16") and what llama-quantize's
//     tensor_type_fallback ends at ("must use F16 due to unusual shape"). aidreams260K's ffn_down (172 inputs)
//     takes this path. Every such choice is listed in the summary and the report.
//
// Streaming, as the safetensors path: every tensor's GGUF offset is fixed up front (io/gguf_writer.h), then bands
// of output rows are read (through the permutation or from the expert that holds them), quantized row by row with
// ggml's reference quantizers and written in place; bands have a fixed size and write disjoint bytes, so the file
// is byte-identical at any --threads, and memory stays at a few bands per thread.
//
// Calibrated Q4_0 (`--method gptq|awq` with --calib-data / --calib-text; `--method rtn`, the default, is the above):
// the Q4_0 tensors of the decoder layers get codes and scales chosen by convert's layer-wise quantizer
// (convert/layerwise_quantizer.h, calib/layerwise_int4.h) on ggml's Q4_0 grid (quant/int4_group.h kGgmlQ4_0, F16 d,
// groups of 32), so a block still dequantizes as d * (nibble - 8) and llama.cpp runs it unchanged; only the choice
// of d and of the nibbles differs from llama-quantize's. The layers are written in order, each between BeginLayer
// and EndLayer, as convert.cc drives the quantizer; tensors outside the layers (token_embd, output, output_norm) and
// the F16 fallbacks stay as above, except that tensors the quantizer replaces (AWQ's folded norms, and a kept linear
// whose neighbour AWQ rescaled) are written with its values. A calibrated tensor is quantized whole (the quantizer
// needs all its rows), in Hugging Face row order, so the forward pass that feeds the next layer sees the runtime's
// layout; attn_q / attn_k rows are permuted afterwards, which is exact because a Q4_0 block never spans two rows.
// Deterministic at any --threads, as the quantizer is.
//
// The report: a .gguf is one file, so octet does not put a report inside it (llama.cpp would carry it around as
// metadata); it prints the summary and writes the JSON beside it as `OUT.gguf.octet-report.json`.
#ifndef OCTET_CONVERT_GGUF_EXPORT_H_
#define OCTET_CONVERT_GGUF_EXPORT_H_

#include <optional>
#include <string>
#include <string_view>

#include "convert/convert.h"
#include "io/gguf_value.h"
#include "numeric/ggml_blocks.h"
#include "quant/scheme.h"

namespace octet {

// llama.cpp's type names as --quantization schemes for GGUF output: "Q4_0", "Q8_0", "F16", "BF16", "F32" (any
// case); MLC's q0f32 / q0f16 / q0bf16 mean F32 / F16 / BF16. nullopt for anything else.
std::optional<GgmlType> ParseGgufFileType(std::string_view scheme);

// The type a tensor gets in a GGUF of `file_type` (rules above). `gguf_name` is llama.cpp's name, `ne0` its row
// length, `n_dims` its rank, `tied` whether the model has no separate output.weight. `reason` is set (non-empty)
// when the type differs from the file type for a reason worth reporting.
GgmlType ChooseGgufTensorType(std::string_view gguf_name, int n_dims, int64_t ne0, GgmlType file_type, bool tied,
                              std::string& reason);

// --method for GGUF output (options.overrides.method; empty means rtn), checked against the file type and the other
// options: gptq / awq need Q4_0 and options.layerwise_quantizer; calibration data without them, --group-size other
// than 32, --zero-point, --keep and --auto-mix are refused (Q4_0 is symmetric groups of 32; per-tensor types follow
// llama.cpp's rules). Throws octet::Error with one line naming the option.
QuantMethod ResolveGgufMethod(const ConvertOptions& options, GgmlType file_type);

// What a layer-wise quantizer is given for GGUF Q4_0: INT4, symmetric groups of 32 on ggml's grid, weight-only.
QuantScheme GgufQ4_0Scheme(QuantMethod method);

// Sidecar report path for a GGUF output.
std::filesystem::path GgufReportPath(const std::filesystem::path& gguf_path);

// Writes options.model as the GGUF options.output with linears in `file_type`. Throws octet::Error naming the
// tensor or file on any problem; the output is written as OUT.partial and renamed only when complete.
// `tokenizer_keys`, when given, replace the tokenizer.* metadata read from the model directory (a GGUF re-exported
// after import keeps its own tokenizer, which the imported checkpoint has no files for).
ConvertSummary ExportGguf(const ConvertOptions& options, GgmlType file_type,
                          const std::vector<GgufKeyValue>* tokenizer_keys = nullptr);

}  // namespace octet

#endif  // OCTET_CONVERT_GGUF_EXPORT_H_
