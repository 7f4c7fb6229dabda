// Matrix-vector and matrix-matrix products over weights in their storage type (F32, F16, BF16, FP8 E4M3/E5M2,
// packed INT4) with their dequantization scales, accumulating in F32 (INT4 MatVec: int16 inputs per group and
// int32 partial sums per block, then F32; see ops/int4_kernels-inl.h). The weights are never expanded in memory:
// each row is decoded in registers as it streams by, so FP8 reads half the bytes of BF16 and INT4 about a quarter
// (bytes/s against the machine's read bandwidth: BENCHMARKS.md).
//
// Kernels are compiled for every x86 target Highway 1.0.3 builds by default (AVX3 = AVX-512, AVX2, SSE4, SSSE3,
// scalar) and the best one is picked at run time. Threads split the output rows; each output element is computed
// by one thread in a fixed order, so results are identical at any thread count.
#ifndef OCTET_OPS_MATVEC_H_
#define OCTET_OPS_MATVEC_H_

#include <cstddef>
#include <cstdint>

#include "numeric/dtype.h"
#include "util/thread_pool.h"

namespace octet {

// How a weight matrix's stored values map back to real ones: w[r][c] = stored[r][c] * scale(r, c).
enum class ScaleKind : uint8_t {
  kNone,     // scale 1
  kTensor,   // scales[0]
  kChannel,  // scales[r] (one per output row)
  kBlock,    // scales[(r / block_rows) * ceil(cols / block_cols) + c / block_cols]
  kGroup,    // scales[r * ceil(cols / group_size) + c / group_size] (compressed-tensors "group"; the last group
             // of a row may be shorter)
};

// How the elements are laid out in memory. kNone: one `dtype` element each, row-major.
// kInt4: compressed-tensors "pack-quantized" W4A16 (FORMATS.md b.5; neuralmagic/compressed-tensors
// compressors/quantized_compressors/pack_quantized.py `pack_to_int32`): each row is ceil(cols / 8) little-endian
// 32-bit words; column 8k+j is nibble j (bits 4j..4j+3) of word k and holds u = q + 8 for the signed code q in
// [-8, 7]; pad nibbles are 0. The weight is w[r][c] = (q - zp) * scale(r, c), zp from `zero_points` (0 when
// null). `dtype` is ignored. Scale kinds kNone, kTensor, kChannel and kGroup.
enum class WeightPacking : uint8_t { kNone, kInt4 };

// A [rows, cols] row-major matrix (PyTorch Linear layout [out_features, in_features]) in its storage type.
struct WeightMatrix {
  DType dtype = DType::kF32;  // kF32, kF16, kBF16, kF8E4M3 or kF8E5M2
  int64_t rows = 0;
  int64_t cols = 0;
  const void* data = nullptr;
  ScaleKind scale_kind = ScaleKind::kNone;
  const float* scales = nullptr;
  int64_t block_rows = 128;
  int64_t block_cols = 128;
  int64_t group_size = 0;  // ScaleKind::kGroup
  WeightPacking packing = WeightPacking::kNone;
  // kInt4 asymmetric: one zero point in [-8, 7] per row and scale group, [rows, ceil(cols / group_size)] for
  // kGroup, [rows] for kChannel, [1] for kTensor/kNone; null = symmetric (all zero).
  const int8_t* zero_points = nullptr;
};

// y[r] = sum_c w[r][c] * x[c], for r in [0, rows).
void MatVec(const WeightMatrix& w, const float* x, float* y, ThreadPool& pool);

// y[t][r] = sum_c w[r][c] * x[t][c] for `tokens` rows of x (row stride cols) and y (row stride rows).
// Reads each weight row once for all tokens.
void MatMul(const WeightMatrix& w, const float* x, size_t tokens, float* y, ThreadPool& pool);

// Name of the SIMD target the dispatcher picked on this machine, e.g. "AVX3_ZEN4" or "AVX2" (for reports).
const char* BestTargetName();

}  // namespace octet

#endif  // OCTET_OPS_MATVEC_H_
