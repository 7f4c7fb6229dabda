// Group-quantized INT4 weights: the in-memory representation every INT4 path shares (round-to-nearest, GPTQ, AWQ),
// before it is packed for a container (quant/int4_pack.h for compressed-tensors `pack-quantized`; a GGUF writer
// can take the same codes and scales for Q4_0).
//
// A [rows, cols] weight (rows = output features, cols = input features, as Hugging Face stores a Linear) is cut
// along each row into groups of `group_size` consecutive input columns; column c belongs to group c / group_size.
// Every (row, group) has its own scale and, when asymmetric, its own zero point. Codes are signed, q in [-8, 7], and
// dequantize as
//     w ~= (q - zero) * scale          (zero = 0 when symmetric)
// which is compressed-tensors' `_dequantize` (vllm-project/compressed-tensors:
// src/compressed_tensors/quantization/lifecycle/forward.py) and, for the ggml grid, `dequantize_row_q4_0`
// (x = d * (nibble - 8), nibble = q + 8).
//
// Shorter last group. n_groups = ceil(cols / group_size); when group_size does not divide cols the last group holds
// the remaining cols % group_size columns and gets its scale from those alone. compressed-tensors sizes its scale
// tensor the same way (`strategy_cdiv`, ceil, with only a warning: quantization/utils/helpers.py), BUT its own
// fake-quantize refuses such a weight ("tensor column shape must be divisble by the given group_size", raised in
// `_process_quantization` when cols >= group_size and cols % group_size != 0), and vLLM's INT4 kernels expect whole
// groups. So a checkpoint with a short last group is octet's own to read; a converter that targets vLLM must pick a
// group size that divides the input dimension (or "channel") for such a layer. aidreams260K's MLP (172 inputs) is
// the real case: g32 gives 5 groups of 32 and one of 12.
//
// How scales are chosen (Int4Grid):
//   kCompressedTensors: compressed-tensors `calculate_qparams` (quantization/utils/helpers.py). min/max of the group
//     are first extended to include 0.
//       symmetric:  scale = max(|min|, |max|) / 7.5          (bit range 15, halved), zero = 0
//       asymmetric: scale = (max - min) / 15,  zero = round(clamp(-8 - min / scale, -8, 7))
//     then the scale is rounded to its storage dtype (Int4Params::scale_dtype; compressed-tensors stores scales in
//     the model's dtype) and a zero scale is replaced by that dtype's epsilon (`_get_dtype_eps`: F32 2^-23, BF16
//     2^-7, F16 2^-10), so no scale is 0, NaN or Inf. Codes are computed from the stored (rounded) scale, so
//     dequantizing the checkpoint gives exactly what octet measured:
//       q = clamp(round_half_even(x / scale + zero), -8, 7)
//     (`_quantize` + `round_to_quantized_type_args`: torch.round rounds half to even; clamping before or after
//     rounding is the same because the bounds are integers).
//     One deliberate difference: current compressed-tensors computes the zero point before replacing a zero scale,
//     so an all-zero group gets zero = 0/0 = NaN cast to int8. octet computes it with the replaced scale (the order
//     of older compressed-tensors releases): an all-zero group gets scale = eps, zero = -8, codes -8, which
//     dequantizes to exactly 0.
//   kGgmlQ4_0: ggml `quantize_row_q4_0_ref` (ggml-org/ggml: src/ggml-quants.c), symmetric only. The element of
//     largest magnitude keeps its sign (the first one on ties): d = that_value / -8, id = d ? 1/d : 0, and
//       nibble = min(15, (int8_t)(x * id + 8.5f)),  q = nibble - 8
//     (truncation of a non-negative number: round half up), so the extreme element maps to exactly -8. Codes come
//     from the unrounded d and the stored scale is d rounded to scale_dtype afterwards (ggml stores fp16(d)), so
//     with scale_dtype kF16 and group_size 32 the codes and scales are bit-for-bit what llama-quantize writes
//     without an imatrix. An all-zero group keeps d = 0 as ggml does (finite; dequantizes to 0). GGUF's Q4_0 block is
//     32 wide and needs cols % 32 == 0; that check belongs to the GGUF writer.
//
// NaN/Inf inputs: not handled here. The converter rejects non-finite weights (naming the tensor and element, as it
// does for FP8) before calling any INT4 quantizer; given one anyway, the codes are unspecified (never UB, never a
// crash: NaN comparisons and casts are guarded).
//
// Determinism: every (row, group) is computed from its own values only, so results are identical at any thread
// count. Threading (here and in gptq.h / awq.h): `pool` may be null (everything runs on the calling thread); it must
// not be a pool whose ParallelFor is already running the caller (ThreadPool is not reentrant).
#ifndef OCTET_QUANT_INT4_GROUP_H_
#define OCTET_QUANT_INT4_GROUP_H_

#include <cstdint>
#include <string>
#include <vector>

namespace octet {

class ThreadPool;

inline constexpr int kInt4Min = -8;
inline constexpr int kInt4Max = 7;
// Int4Params::group_size value meaning one group spans the whole row (compressed-tensors strategy "channel").
inline constexpr int kInt4ChannelGroup = 0;

// How group scales (and zero points) are chosen; see the file comment.
enum class Int4Grid {
  kCompressedTensors,  // absmax/7.5 symmetric, (max-min)/15 + zero point asymmetric, round half to even
  kGgmlQ4_0,           // signed max / -8, round half up (symmetric only)
};

// The dtype scales are stored in. compressed-tensors writes weight_scale in the model's dtype (BF16 for a BF16
// model); GGUF Q4_0 stores d as F16.
enum class Int4ScaleDtype { kF32, kBF16, kF16 };

struct Int4Params {
  int group_size = 128;  // 32, 64, 128, or kInt4ChannelGroup (one group per row)
  bool symmetric = true;
  Int4Grid grid = Int4Grid::kCompressedTensors;
  Int4ScaleDtype scale_dtype = Int4ScaleDtype::kF32;
  // kCompressedTensors only: 0 chooses scales from the group's min/max (compressed-tensors' minmax observer, the
  // round-to-nearest baseline); N > 0 searches ranges shrunk by 1 - i/N (i < N/5) for the one with the least
  // |x - q(x)|^2.4 error, as llm-compressor's MSE observer does (grid 100). GPTQ uses it for its static groups.
  int mse_grid = 0;

  // The group width used for a row of `cols` values: group_size, or cols for kInt4ChannelGroup.
  int64_t EffectiveGroupSize(int64_t cols) const;
  // "g128 symmetric compressed-tensors F32" etc., for messages.
  std::string ToString() const;
};

// Throws octet::Error when the combination is not supported (group size not in {0, 32, 64, 128}; an asymmetric
// ggml grid). This is the policy check for user-facing options: the quantizers below accept any positive group size
// (the tests use small ones) and refuse only what they cannot compute (a negative group size, asymmetric ggml).
void ValidateInt4Params(const Int4Params& params);

// ceil(cols / group_size).
int64_t Int4NumGroups(int64_t cols, int64_t group_size);

// The quantization parameters of one (row, group).
struct Int4GroupQParams {
  float scale = 1.0f;  // the stored scale (already rounded to the scale dtype)
  int8_t zero = 0;     // zero point in [-8, 7]; 0 when symmetric
  // kGgmlQ4_0 only: 1/d with the unrounded d, which ggml multiplies by (0 for an all-zero group).
  float inverse_scale = 0.0f;
};

// Chooses the parameters of a group of `n` values (n >= 1) under `params`.
Int4GroupQParams ChooseInt4GroupQParams(const float* x, int64_t n, const Int4Params& params);

// The code of one value under fixed group parameters: the grid's rounding (see the file comment).
int8_t QuantizeInt4Value(float x, const Int4GroupQParams& qparams, Int4Grid grid);

inline float DequantizeInt4Value(int8_t q, const Int4GroupQParams& qparams) {
  return static_cast<float>(q - qparams.zero) * qparams.scale;
}

// A quantized [rows, cols] weight in original column order (no g_idx).
struct Int4Matrix {
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t group_size = 0;  // effective width (cols for a channel grid), >= 1
  bool symmetric = true;
  Int4Grid grid = Int4Grid::kCompressedTensors;
  std::vector<int8_t> codes;  // [rows, cols], q in [-8, 7]
  std::vector<float> scales;  // [rows, num_groups()]
  std::vector<int8_t> zeros;  // [rows, num_groups()], empty when symmetric
  // kGgmlQ4_0 only, [rows, num_groups()]: 1/d of the unrounded d (see Int4GroupQParams); empty otherwise.
  std::vector<float> inverse_scales;

  int64_t num_groups() const { return Int4NumGroups(cols, group_size); }
  int64_t GroupOf(int64_t col) const { return col / group_size; }
  Int4GroupQParams QParams(int64_t row, int64_t group) const;

  // w ~= (q - zero) * scale for one row (cols values) or the whole matrix ([rows, cols]).
  void DequantizeRow(int64_t row, float* out) const;
  std::vector<float> Dequantize() const;
};

// Parameters only: an Int4Matrix with scales (and zeros) chosen from `w` and codes all zero. GPTQ uses this for its
// static groups; `QuantizeWithQParams` fills the codes.
Int4Matrix ChooseInt4QParams(const float* w, int64_t rows, int64_t cols, const Int4Params& params,
                             ThreadPool* pool = nullptr);

// Fills m.codes from `w` ([m.rows, m.cols]) with m's fixed scales and zeros (round to nearest on m's grid).
void QuantizeWithQParams(const float* w, Int4Matrix& m, ThreadPool* pool = nullptr);

// Round-to-nearest: ChooseInt4QParams then QuantizeWithQParams (for kGgmlQ4_0, codes from the unrounded d, as
// ggml). Rows may be spread over `pool`; the result does not depend on it.
Int4Matrix QuantizeRtn(const float* w, int64_t rows, int64_t cols, const Int4Params& params,
                       ThreadPool* pool = nullptr);

}  // namespace octet

#endif  // OCTET_QUANT_INT4_GROUP_H_
