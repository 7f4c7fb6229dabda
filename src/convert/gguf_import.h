// GGUF in: a llama-architecture GGUF (what llama.cpp's converter writes for Llama, Mistral and Mixtral) becomes a
// Hugging Face checkpoint that the normal converter then quantizes to any octet scheme (`octet convert
// MODEL.gguf --quantization fp8 -o OUT`), or re-exports to GGUF.
//
// The inverse of gguf_export.h: llama.cpp's names back to HF names (convert/gguf_llama_layout.h), ggml's ne
// reversed to PyTorch shapes, the Q/K rows put back in HF's rotate-half order (the inverse of LlamaModel.permute),
// Mixtral's merged blk.N.ffn_{gate,down,up}_exps split into experts.E.w{1,2,3}, and config.json rebuilt from
// the llama.* metadata. Tensors: F32 stays F32, F16 and BF16 are copied bit for bit, Q8_0 and Q4_0 are
// dequantized with ggml's dequantize_row_* to F32 (exact: every d * q is an F32 value). Any other ggml type
// (Q4_K, IQ*, ...) is refused naming the tensor.
//
// Design: the checkpoint is materialized, streamed band by band through octet's SafetensorsWriter, in a scratch
// directory beside the output (`OUT.octet-gguf-import.partial`, locked like any octet output), converted, and
// removed, also on error. It costs disk (the model at F32 for quantized GGUFs) but no memory, and keeps one
// converter. The GGUF's tokenizer.* metadata becomes tokenizer.json, tokenizer_config.json and
// special_tokens_map.json in the checkpoint (convert/gguf_tokenizer_files.h), so calibration text can be tokenized
// and OUT loads in transformers / vLLM; a tokenizer that cannot be expressed leaves only a warning. A GGUF -> GGUF
// conversion keeps the source's tokenizer.* keys as they are. A rope_freqs tensor (Llama 3.x rope scaling) becomes
// config.json's rope_scaling when its factors are those of Meta's parameter sets (factor 8 or 32, low 1, high 4,
// original context 8192), and is refused otherwise.
#ifndef OCTET_CONVERT_GGUF_IMPORT_H_
#define OCTET_CONVERT_GGUF_IMPORT_H_

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/gguf_value.h"

namespace octet {

// True when `path` is a regular file that starts with the GGUF magic.
bool IsGgufFile(const std::filesystem::path& path);

struct GgufImportResult {
  nlohmann::json config;  // the config.json written
  size_t tensors_written = 0;
  std::vector<GgufKeyValue> tokenizer_keys;  // the GGUF's tokenizer.* metadata, for a re-export to GGUF
  bool tokenizer_written = false;            // tokenizer.json & co. were written into the checkpoint
  std::string tokenizer_note;                // what was written, or why not
};

// Writes `gguf` as config.json + model.safetensors (+ the tokenizer files) into the existing, empty directory `dir`.
// Throws octet::Error naming the file and tensor (unsupported type, unknown tensor, missing metadata, shapes that
// disagree).
GgufImportResult ImportGgufCheckpoint(const std::filesystem::path& gguf, const std::filesystem::path& dir,
                                      size_t threads);

}  // namespace octet

#endif  // OCTET_CONVERT_GGUF_IMPORT_H_
