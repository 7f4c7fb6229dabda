// compressed-tensors `pack-quantized` INT4 layout (format "pack-quantized", what llm-compressor's W4A16 / W4A16_ASYM
// presets write and vLLM's CompressedTensorsWNA16 reads). Source: vllm-project/compressed-tensors
// src/compressed_tensors/compressors/pack_quantized/helpers.py (`pack_to_int32`, `unpack_from_int32`) and
// neuralmagic/compressed-tensors src/compressed_tensors/compressors/quantized_compressors/pack_quantized.py
// (`compression_param_info`, `compress_weight`).
//
// Per quantized Linear [out, in]:
//   weight_packed      I32 [out, ceil(in / 8)]         codes packed along dim 1 (the input dimension)
//   weight_scale       model dtype [out, n_groups]     (Int4Matrix::scales, rounded to Int4Params::scale_dtype)
//   weight_zero_point  I32 [ceil(out / 8), n_groups]   only when asymmetric: zero points packed along dim 0
//   weight_shape       [2] = [out, in]: I64 as compress_weight writes it (torch.tensor(weight.shape)), although
//                      compression_param_info declares int32; vLLM declares int64 and does not use it
//
// Packing, both directions: a signed value v in [-8, 7] is stored as the nibble u = v + 8 (`offset = 1 << (bits-1)`);
// along the packed dimension element 8k + j occupies bits 4j..4j+3 of word k (least significant nibble first); the
// last word is padded with zero nibbles (u = 0, i.e. the value -8: the padding is never read back). Words are the
// little-endian int32 bit pattern, so a word whose top nibble is >= 8 is negative as int32. Zero points are stored
// the same way as codes: the signed zero point shifted by +8 (compress_weight packs the int8 `zero_point` with
// `pack_to_int32(..., packed_dim=0)`). For INT4, 32 is a multiple of 4, so the current dense packing and the older
// per-word packing (pack_factor = 32 // bits) give identical words.
//
// Note: the neuralmagic-era `pack_to_int32(..., packed_dim=0)` padded the wrong axis (np.pad on dim 1) and so fails
// or misbehaves when out % 8 != 0; the current vllm-project implementation pads rows correctly, which is what octet
// writes and reads.
#ifndef OCTET_QUANT_INT4_PACK_H_
#define OCTET_QUANT_INT4_PACK_H_

#include <cstdint>
#include <vector>

#include "quant/int4_group.h"

namespace octet {

inline constexpr int kInt4PerWord = 8;       // 32 bits / 4
inline constexpr int kInt4NibbleOffset = 8;  // stored nibble = value + 8

// ceil(n / 8): words needed for n packed INT4 values.
inline int64_t Int4PackedWords(int64_t n) { return (n + kInt4PerWord - 1) / kInt4PerWord; }

// Packs `values` ([rows, cols], each in [-8, 7]) along dim 1 -> [rows, ceil(cols / 8)].
std::vector<int32_t> PackInt4AlongCols(const int8_t* values, int64_t rows, int64_t cols);
// Inverse of PackInt4AlongCols; `packed` holds rows * ceil(cols / 8) words. Padding nibbles are ignored.
std::vector<int8_t> UnpackInt4AlongCols(const int32_t* packed, int64_t rows, int64_t cols);

// Packs `values` ([rows, cols], each in [-8, 7]) along dim 0 -> [ceil(rows / 8), cols] (zero points).
std::vector<int32_t> PackInt4AlongRows(const int8_t* values, int64_t rows, int64_t cols);
// Inverse of PackInt4AlongRows; `packed` holds ceil(rows / 8) * cols words.
std::vector<int8_t> UnpackInt4AlongRows(const int32_t* packed, int64_t rows, int64_t cols);

// The tensors of one compressed-tensors pack-quantized Linear, scales still F32 (the writer encodes them in
// Int4Params::scale_dtype; they are already rounded to it, so the encoding is exact).
struct PackedInt4Weight {
  int64_t rows = 0;  // weight_shape[0] (out)
  int64_t cols = 0;  // weight_shape[1] (in)
  int64_t group_size = 0;
  std::vector<int32_t> weight_packed;      // [rows, ceil(cols / 8)]
  std::vector<float> weight_scale;         // [rows, n_groups]
  std::vector<int32_t> weight_zero_point;  // [ceil(rows / 8), n_groups]; empty when symmetric
};

// Throws octet::Error if `m` is not on the compressed-tensors grid (ggml Q4_0 goes to GGUF, not here).
PackedInt4Weight PackCompressedTensors(const Int4Matrix& m);

// Rebuilds the Int4Matrix (grid kCompressedTensors) from the packed tensors; it is symmetric when weight_zero_point
// is empty. Throws octet::Error naming what is inconsistent (a size that does not match the shape).
Int4Matrix UnpackCompressedTensors(const PackedInt4Weight& packed);

}  // namespace octet

#endif  // OCTET_QUANT_INT4_PACK_H_
