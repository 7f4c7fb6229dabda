// One linear layer as the runtime executes it: the weight in its storage type (F32/F16/BF16, or FP8 E4M3/E5M2
// with per-tensor, per-channel or block/group dequantization scales) plus what happens to its input first
// (runtime/activation_quant.h). Weight bytes stay in the checkpoint's memory map; only the scales are copied
// (decoded to F32, since compressed-tensors stores them in the model's BF16/F16).
//
// Which tensors make up an FP8 linear `<p>` (FORMATS.md a.2, b.2, b.4):
//   <p>.weight            [out, in] F8_E4M3 / F8_E5M2
//   <p>.weight_scale      []/[1]/[1,1] per-tensor, [out]/[out,1] per-channel, [out, G] per-row groups of
//                         in/G channels (compressed-tensors "group"), or a block grid (compressed-tensors "block")
//   <p>.weight_scale_inv  block grid [ceil(out/bn), ceil(in/bk)] (vLLM / DeepSeek; despite the name a multiplier);
//                         a 1-element one is per-tensor (HF FineGrainedFP8 without blocks)
//   neither               scale 1 (MLC-style direct E5M2 cast)
//   <p>.input_scale       static activation scale ([] or [1]); HF FineGrainedFP8 names it activation_scale
//
// An INT4 linear (compressed-tensors "pack-quantized" W4A16, FORMATS.md b.5) instead holds
//   <p>.weight_packed     [out, ceil(in / 8)] I32, eight 4-bit codes per word (ops/matvec.h WeightPacking::kInt4)
//   <p>.weight_scale      [out, ceil(in / group_size)] (strategy group) or [out, 1] / [out] (channel), F32/F16/BF16
//   <p>.weight_zero_point [ceil(out / 8), groups] I32, asymmetric only: codes zp + 8 packed along dim 0, unpacked
//                         here to int8
//   <p>.weight_shape      [2] I64 (or I32) = [out, in]; checked when present
//   <p>.weight_g_idx      [in] I32, actorder "group" only: accepted only when it is the identity order c / group
// and its input is never quantized (W4A16).
#ifndef OCTET_RUNTIME_LINEAR_H_
#define OCTET_RUNTIME_LINEAR_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "ops/matvec.h"
#include "runtime/quant_params.h"
#include "util/thread_pool.h"

namespace octet {

class Linear {
 public:
  Linear() = default;

  // Loads `module`.weight ([out, in]) and its scale tensors; throws naming the tensor and file when one is
  // missing, misshapen or of an unsupported type.
  static Linear Load(const Checkpoint& checkpoint, const std::string& module, int64_t out, int64_t in,
                     const CheckpointQuantParams& params);

  // A linear over an F32/F16/BF16 tensor that is not named `<p>.weight` (tied embeddings as the output head).
  static Linear FromTensor(const TensorView& weight, const std::string& module);

  const std::string& module() const { return module_; }
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  DType dtype() const { return dtype_; }
  ScaleKind scale_kind() const { return scale_kind_; }
  WeightPacking packing() const { return packing_; }
  int64_t group_size() const { return group_size_; }             // ScaleKind::kGroup
  const std::vector<int8_t>& zero_points() const { return zero_points_; }  // INT4 asymmetric, else empty
  const std::vector<float>& scales() const { return scales_; }
  int64_t block_rows() const { return block_rows_; }
  int64_t block_cols() const { return block_cols_; }
  ActivationQuant activations() const { return activations_; }
  float input_scale() const { return input_scale_; }
  int64_t activation_group_size() const { return activation_group_; }
  // Whether this layer's input is quantized to FP8 before the product.
  bool quantizes_input() const { return activations_ != ActivationQuant::kNone; }

  // The weight as ops/matvec.h takes it (pointing at this object's scales: valid while it lives unchanged).
  WeightMatrix matrix() const;

  // y[t] = W q(x[t]) for `tokens` rows of x ([tokens, cols]) into y ([tokens, rows]); x is not modified.
  void Apply(const float* x, size_t tokens, float* y, ThreadPool& pool) const;

 private:
  // Loads `module`.weight_packed and its siblings (see above); called by Load.
  static Linear LoadPackedInt4(const Checkpoint& checkpoint, const std::string& module, int64_t out, int64_t in,
                               const CheckpointQuantParams& params);

  std::string module_;
  DType dtype_ = DType::kF32;
  int64_t rows_ = 0;
  int64_t cols_ = 0;
  const void* data_ = nullptr;
  ScaleKind scale_kind_ = ScaleKind::kNone;
  std::vector<float> scales_;
  int64_t block_rows_ = 128;
  int64_t block_cols_ = 128;
  int64_t group_size_ = 0;
  WeightPacking packing_ = WeightPacking::kNone;
  std::vector<int8_t> zero_points_;
  ActivationQuant activations_ = ActivationQuant::kNone;
  float input_scale_ = 1.0f;
  int64_t activation_group_ = 0;
};

}  // namespace octet

#endif  // OCTET_RUNTIME_LINEAR_H_
