// FP8 weight quantization of a [rows, cols] matrix, a band of rows at a time, so the converter can stream a
// tensor through in bounded pieces. Scales are dequantization multipliers (w ~= code * scale), as vLLM's
// weight_scale / weight_scale_inv and compressed-tensors' weight_scale are (see FORMATS.md, "Scale polarity").
//
// Every scale is finite and positive: it is absmax / max_finite, floored at kMinFp8Scale, so an all-zero tensor
// (a dead expert) gets a finite scale and zero codes instead of the 0/0 NaNs and 1e-23 scales that vLLM,
// transformers and flashinfer users keep reporting. Values are clamped (saturated) before the cast, never NaN.
#ifndef OCTET_QUANT_FP8_QUANTIZER_H_
#define OCTET_QUANT_FP8_QUANTIZER_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "numeric/fp8.h"
#include "quant/quant_error.h"
#include "quant/scheme.h"

namespace octet {

// 1 / (448 * 512): the floor TensorRT-LLM and MLC-LLM use (mlc_llm quantization/per_tensor_quantization.py).
// FP8 is floating point, so a floor above the ideal scale only pushes the tiniest values toward subnormals.
inline constexpr float kMinFp8Scale = 1.0f / (448.0f * 512.0f);

// The scale for a group whose largest magnitude is `abs_max`.
float Fp8ScaleFor(float abs_max, Fp8Format format);

// Where the scales of a [rows, cols] matrix live and how many there are.
struct Fp8ScaleLayout {
  WeightScale kind = WeightScale::kTensor;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t block = 128;

  int64_t block_grid_rows() const { return (rows + block - 1) / block; }
  int64_t block_grid_cols() const { return (cols + block - 1) / block; }
  // Number of scales: 1, rows, or the block grid's size (0 for kNone).
  int64_t num_scales() const;
  // Rows per band so that bands never split a block row (multiples of `block` for kBlock).
  int64_t AlignBandRows(int64_t desired) const;
};

// Quantizes rows [row_begin, row_begin + band_rows) given as F32 `band` (band_rows * cols values).
//   kNone:    codes = saturating cast, no scale.
//   kTensor:  uses `tensor_scale` (computed beforehand from the whole tensor's absmax).
//   kChannel: computes and writes scales[row] for the band's rows.
//   kBlock:   computes and writes the band's block rows of scales (row_begin must be block-aligned).
// Writes band_rows * cols codes to `codes` and adds the reconstruction error to `error`; `scratch` holds
// band_rows * cols floats for the reconstruction.
void QuantizeFp8Band(const Fp8ScaleLayout& layout, Fp8Format format, int64_t row_begin, int64_t band_rows,
                     const float* band, float tensor_scale, uint8_t* codes, float* scales, float* scratch,
                     QuantError& error);

// Reconstructs w ~= code * scale for the same band (used for error measurement and by tests).
void DequantizeFp8Band(const Fp8ScaleLayout& layout, Fp8Format format, int64_t row_begin, int64_t band_rows,
                       const uint8_t* codes, const float* scales, float tensor_scale, float* out);

}  // namespace octet

#endif  // OCTET_QUANT_FP8_QUANTIZER_H_
