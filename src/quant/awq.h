// AWQ (Lin et al., "AWQ: Activation-aware Weight Quantization for LLM Compression and Acceleration",
// arXiv:2306.00978): per-input-channel scales that protect the weights of high-activation channels from rounding.
// References followed: casper-hansen/AutoAWQ awq/quantize/quantizer.py (`_search_best_scale`,
// `_compute_best_scale`, `_compute_best_clip`) and mit-han-lab/llm-awq awq/quantize/auto_scale.py /
// auto_clip.py.
//
// Scale search (SearchAwqScale). Given the linears that read one input x (q/k/v; gate/up; o_proj alone; down_proj
// alone) and calibration rows X [n, cols]:
//   mean_abs[c] = mean_t |X[t, c]|
//   for ratio in {0, 1/grid, ..., (grid-1)/grid}:           (AutoAWQ: n_grid = 20)
//     s = max(mean_abs^ratio, 1e-4)                          (duo_scaling: mean_abs^ratio / (w_mean^(1-ratio) + 1e-4))
//     s = s / sqrt(max(s) * min(s))                          (non-finite entries -> 1, as AutoAWQ)
//     loss(ratio) = sum over the linears of ||X W^T - (X / s) Q(W diag(s))^T||^2 / (n * total output rows)
//   best = the first ratio with the smallest loss.
// Q is RTN with the caller's Int4Params (the grid that will be stored), not AutoAWQ's own pseudo-quantizer. At
// ratio 0 (without duo scaling) s = 1 and loss(0) is plain RTN's error, so the chosen scales never do worse than
// RTN on the calibration sample. AutoAWQ measures the loss at the output of the enclosing module (the whole
// attention block for q/k/v); octet measures it at the linears' outputs, which needs no attention code here.
//
// THE CONTRACT FOR THE CALLER (the converter). AWQ changes the weights; the model must compute the same function
// before quantization:
//   1. every linear in the group gets its input columns scaled: W'[:, c] = W[:, c] * s[c]; W' is what is then
//      quantized (RTN, or GPTQ with a Hessian of X / s — i.e. H'_ij = H_ij / (s_i s_j));
//   2. the producer of x is divided by s, so that it emits x / s:
//        q/k/v       <- input_layernorm.weight[c] /= s[c]
//        gate/up     <- post_attention_layernorm.weight[c] /= s[c]
//        down_proj   <- up_proj.weight[c, :] /= s[c]           (row c of up_proj produces input c of down_proj;
//                                                               composes with up_proj's own column scaling)
//        o_proj      <- v_proj.weight[c, :] /= s[c]             (only when v_proj's rows map 1:1 onto o_proj's
//                                                               inputs, i.e. num_key_value_heads ==
//                                                               num_attention_heads; AutoAWQ skips o_proj under GQA)
//      For Mixtral experts, gate/up scales are shared by all experts of a layer only if they share one s; AutoAWQ
//      scales all experts' w1/w3 with one s from the layer's post_attention_layernorm.
//   3. the scaled producer weights are stored in the checkpoint (they stay in the model dtype; rounding g/s to BF16
//      is the only change to the function, and is what AutoAWQ's output has too).
// The search uses the original x (the producer not yet rescaled). Clipping (SearchAwqClip) comes after scaling and
// works on W' and X / s.
#ifndef OCTET_QUANT_AWQ_H_
#define OCTET_QUANT_AWQ_H_

#include <cstdint>
#include <vector>

#include "quant/int4_group.h"

namespace octet {

class ThreadPool;

// One linear of the group: weight [rows, cols] row-major F32 (all linears of a group share cols).
struct AwqLinear {
  const float* weight = nullptr;
  int64_t rows = 0;
};

struct AwqOptions {
  int grid = 20;              // ratios 0, 1/grid, ..., (grid-1)/grid
  bool duo_scaling = false;   // AutoAWQ's default is true (also uses the weights' per-channel mean magnitude)
  int64_t max_tokens = 4096;  // at most this many rows of X are used (evenly strided), bounding the cost
};

struct AwqScaleResult {
  std::vector<float> scales;  // s, cols values, finite and > 0
  double best_ratio = 0;
  double best_loss = 0;
  std::vector<double> losses;  // loss per ratio, grid values (losses[0] is RTN's when !duo_scaling)
};

// Searches the scale for the linears reading x ([tokens, cols] row-major). Throws octet::Error on empty input or
// mismatched shapes.
AwqScaleResult SearchAwqScale(const std::vector<AwqLinear>& linears, int64_t cols, const float* x, int64_t tokens,
                              const Int4Params& params, const AwqOptions& options = {}, ThreadPool* pool = nullptr);

// w[r, c] *= s[c] for a [rows, cols] weight (step 1 of the contract), and x[t, c] /= s[c] for inputs.
void ScaleWeightColumns(float* w, int64_t rows, int64_t cols, const std::vector<float>& s);
void DivideInputColumns(float* x, int64_t tokens, int64_t cols, const std::vector<float>& s);

// OPTIONAL step (AutoAWQ auto_clip). For every (row, group) of w ([rows, cols], already scaled), tries clipping the
// group to +-max|w| * (1 - i/grid) for i = 0 .. max_shrink*grid - 1, quantizes the clipped group with RTN and keeps
// the clip whose group output error on x (mean over tokens of (sum_c x_c (w_c - q_c))^2) is smallest; ties keep the
// smaller shrink. Returns the clip value per (row, group), [rows, n_groups]. AutoAWQ skips q_proj/k_proj (their
// outputs meet in q k^T, where per-output error says little); the caller decides.
struct AwqClipOptions {
  int grid = 20;
  double max_shrink = 0.5;
  int64_t max_tokens = 512;  // AutoAWQ n_sample_token: rows of x used, evenly strided
};
std::vector<float> SearchAwqClip(const float* w, int64_t rows, int64_t cols, const float* x, int64_t tokens,
                                 const Int4Params& params, const AwqClipOptions& options = {},
                                 ThreadPool* pool = nullptr);
// Clamps w[r, c] to [-clip[r, g], clip[r, g]] (AutoAWQ apply_clip).
void ApplyAwqClip(float* w, int64_t rows, int64_t cols, int64_t group_size, const std::vector<float>& clip);

// ||X W^T - X What^T||^2 summed over all tokens and output rows, the error measure AWQ minimizes and the tests
// compare methods with: X (W - What)^T through ops/matvec.h's MatMul (F32), squares summed in double. Identical at
// any thread count. x: [tokens, cols]; w, w_hat: [rows, cols].
double LinearOutputSquaredError(const float* x, int64_t tokens, const float* w, const float* w_hat, int64_t rows,
                                int64_t cols, ThreadPool* pool = nullptr);

}  // namespace octet

#endif  // OCTET_QUANT_AWQ_H_
