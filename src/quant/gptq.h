// GPTQ (Frantar et al., "GPTQ: Accurate Post-Training Quantization for Generative Pre-trained Transformers",
// arXiv:2210.17323) for one Linear, onto the INT4 group grid of quant/int4_group.h. References followed:
// IST-DASLab/gptq gptq.py (`GPTQ.add_batch`, `GPTQ.fasterquant` with static_groups) and vllm-project/llm-compressor
// src/llmcompressor/modifiers/quantization/gptq/gptq_quantize.py (`accumulate_hessian`, `quantize_weight`,
// actorder "weight").
//
// The layer's output error on calibration inputs X is ||X W^T - X Q^T||^2 = sum_rows (w - q) H (w - q)^T / 2 with
// H = 2/n X^T X. GPTQ quantizes one input column at a time and spreads each column's rounding error over the
// columns not yet quantized, weighted by the inverse Hessian:
//   1. dead inputs (H_ii == 0: the input was always 0 on the calibration data) get H_ii = 1 and their weights set
//      to 0 (they cannot affect the calibration output) — before the groups' scales are chosen, as gptq.py does;
//   2. static groups (the default): every (row, group) scale/zero is chosen up front from the (dead-masked) weight
//      in ORIGINAL column order (gptq.py static_groups; compressed-tensors actorder "weight"), so the result needs
//      no g_idx and packs as a plain pack-quantized weight. (llm-compressor chooses them before masking dead
//      inputs; octet follows gptq.py, so a dead input's weight cannot widen its group's scale.) Without act_order,
//      GptqOptions::static_groups = false chooses each group's parameters when GPTQ reaches its first column, from
//      the error-compensated values, as gptq.py does by default;
//   3. act_order: columns are processed in descending diag(H) (a stable sort, ties in column order), each
//      quantized with its own group's fixed parameters;
//   4. damp = options.damp * mean(diag(H)) is added to the diagonal; U = upper Cholesky factor of H^-1;
//   5. for each column j (processing order): q_j = quant(w_j), err = (w_j - q_j) / U_jj,
//      w_k -= err * U_jk for the later columns k, in lazy blocks of block_size columns (the trailing columns are
//      updated once per block with the block's errors), exactly the reference's loop structure.
// Every row of W is independent given U, so rows are spread over the thread pool; each row's arithmetic is fixed,
// so results are identical at any thread count. Precision: the factorization, the error-compensated weights and
// each column's step are double; the Hessian's chunk products and the lazy trailing updates go through
// ops/matvec.h's SIMD MatMul in F32 (the references run everything in F32).
//
// Cholesky failure (H not positive definite after damping, e.g. too few calibration tokens for a wide layer):
// octet retries with 10x the damping up to options.max_damp_retries times (GPTQModel's approach:
// damp_auto_increment), then throws octet::Error naming options.name. llm-compressor instead silently falls
// back to round-to-nearest; octet prefers a visible error the converter can turn into a fallback it reports.
//
// Memory: the Hessian is cols x cols doubles (a 14336-wide down_proj: 1.6 GB). PrepareGptq holds up to three more
// such matrices while it factors; the result (U) is one, plus U's blocks as F32 (half of one) while quantizing.
// The converter should build one layer's Hessians at a time.
//
// Cost on one core (bench/int4_bench.cc, 2-core machine under load, CPU time): n = 4096: Hessian of 512 tokens
// 0.3 s, factorization 7 s, quantizing 4096 rows 4 s; both O(n^3)-ish parts scale with the cube of the width.
#ifndef OCTET_QUANT_GPTQ_H_
#define OCTET_QUANT_GPTQ_H_

#include <cstdint>
#include <string>
#include <vector>

#include "quant/int4_group.h"

namespace octet {

class ThreadPool;

// H = 2/n sum_t x_t x_t^T over n calibration rows (tokens), [cols, cols] row-major, symmetric.
struct Hessian {
  int64_t cols = 0;
  int64_t samples = 0;
  std::vector<double> h;

  double at(int64_t i, int64_t j) const { return h[static_cast<size_t>(i * cols + j)]; }
};

// Accumulates sum x x^T incrementally: each chunk of up to 1024 rows is multiplied in F32 with ops/matvec.h's SIMD
// MatMul and added into double sums (the references keep H in F32 throughout). The 2/n normalization is applied
// once in Finish (the references
// rescale a running F32 H on every batch: H *= n/(n+m); H += 2/(n+m) x x^T — the same matrix, with less rounding
// here). llm-compressor counts n in sequences, not tokens; GPTQ's result does not depend on the scale of H (damping
// is relative to mean(diag(H)), and scaling H by c scales U by 1/sqrt(c), which cancels in err * U_jk), so octet
// counts tokens.
// Deterministic: the sums depend only on the rows added and how they were split into Add calls, never on the
// thread count.
class HessianAccumulator {
 public:
  explicit HessianAccumulator(int64_t cols);

  // Adds `tokens` rows of cols() values each (row-major). Throws octet::Error on a non-finite value.
  void Add(const float* x, int64_t tokens, ThreadPool* pool = nullptr);

  int64_t cols() const { return cols_; }
  int64_t samples() const { return samples_; }

  // H = 2/samples * sum x x^T. Throws octet::Error if nothing was added.
  Hessian Finish() const;

 private:
  int64_t cols_;
  int64_t samples_ = 0;
  std::vector<double> sum_;  // upper triangle used (i <= j), [cols, cols]
};

struct GptqOptions {
  double damp = 0.01;        // fraction of mean(diag(H)) added to the diagonal (percdamp / dampening_frac)
  int64_t block_size = 128;  // lazy-batch width
  bool act_order = true;     // process columns in descending diag(H); needs static_groups (no g_idx)
  // Group scales/zeros chosen up front from the weight (gptq.py static_groups, llm-compressor's behaviour). false
  // (only without act_order): chosen when GPTQ reaches the group's first column, from the error-compensated values
  // (gptq.py's default), which usually fits a little better.
  bool static_groups = true;
  int max_damp_retries = 3;  // each retry multiplies the damping by 10
  std::string name;          // the layer (e.g. "model.layers.1.mlp.down_proj"), for error messages
};

struct GptqStats {
  double damp_used = 0;      // the damping fraction that succeeded
  int64_t dead_columns = 0;  // inputs with H_ii == 0
  // The reference's "error": sum over rows and columns of (w - q)^2 / U_jj^2 / 2, w the error-compensated value.
  double loss = 0;
};

// What GPTQ needs from the Hessian alone (steps 1, 3 and 4 above): the linears that read the same input (q/k/v;
// gate/up; a Mixtral layer's w1/w3 of one expert) share it, so the O(cols^3) factorization runs once for them.
struct GptqInverseHessian {
  int64_t cols = 0;
  int64_t samples = 0;
  bool act_order = false;
  std::vector<int64_t> order;  // processing order: column indices
  std::vector<uint8_t> dead;   // per column: 1 when H_ii == 0
  int64_t dead_columns = 0;
  double damp_used = 0;   // the damping fraction that succeeded
  std::vector<double> u;  // [cols, cols] upper factor of (H + damp I)^-1, in processing order
};

// Uses options.damp, max_damp_retries, act_order and name. Throws octet::Error naming options.name if H is not
// square, holds a non-finite value or cannot be factored even with the retries' damping.
GptqInverseHessian PrepareGptq(const Hessian& hessian, const GptqOptions& options = {}, ThreadPool* pool = nullptr);

// Quantizes w ([rows, cols], row-major F32) with GPTQ. Returns codes in the original column order with the static
// groups' scales/zeros. Uses options.block_size and static_groups (and name). Throws octet::Error (naming
// options.name) if the sizes differ.
Int4Matrix QuantizeGptq(const float* w, int64_t rows, int64_t cols, const GptqInverseHessian& prepared,
                        const Int4Params& params, const GptqOptions& options = {}, ThreadPool* pool = nullptr,
                        GptqStats* stats = nullptr);

// PrepareGptq + QuantizeGptq, for a linear whose Hessian nobody else shares.
Int4Matrix QuantizeGptq(const float* w, int64_t rows, int64_t cols, const Hessian& hessian, const Int4Params& params,
                        const GptqOptions& options = {}, ThreadPool* pool = nullptr, GptqStats* stats = nullptr);

// The upper-triangular U with U^T U = (H + damp*I)^-1, [n, n] row-major (zeros below the diagonal). Exposed for
// tests. Returns false if H + damp*I is not positive definite (or the inverse is not finite).
bool InverseHessianCholesky(const std::vector<double>& h, int64_t n, double damp, std::vector<double>& u,
                            ThreadPool* pool = nullptr);

}  // namespace octet

#endif  // OCTET_QUANT_GPTQ_H_
