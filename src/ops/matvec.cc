// Run-time dispatched kernels behind ops/matvec.h. This file is compiled once per SIMD target by
// hwy/foreach_target.h; everything between HWY_BEFORE_NAMESPACE and HWY_AFTER_NAMESPACE exists once per target,
// the dispatch wrappers at the bottom exist once.
//
// Layout of the work, identical on every target:
//  - Output rows are split into items of a fixed row count (kMatVecRowsPerItem / kMatMulRowsPerItem), never
//    derived from the thread count, and each row's sum is computed in one fixed order inside its item. That is
//    what makes results bit-identical at any thread count.
//  - Weights are decoded to F32 in registers (decode_kernels-inl.h). Row/tensor scales (and the power of two
//    the FP8 decode owes) multiply the finished row sum: one multiply per row instead of one per element.
//  - Block scales vary along a row, so for each row block the input is pre-multiplied by the per-column scale
//    (x·s, a cols-long vector, costs cols multiplies per row block — negligible against block_rows·cols FMAs),
//    after which the inner loop is the same plain dot product as for the other scale kinds.
//  - Packed INT4 (compressed-tensors pack-quantized) has its own kernels (int4_kernels-inl.h): the input is
//    permuted once per call into the order in which nibbles widen to lanes, group scales multiply per-group
//    partial sums, and the nibble offsets (8 + zero point) come off once per row through per-group input sums.
//    MatVec quantizes the input to int16 per group and takes integer dot products (error <= 2^-15 of each
//    group's largest input; see int4_kernels-inl.h); MatMul keeps F32 inputs.
#include "ops/matvec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "util/error.h"

#ifndef OCTET_OPS_MATVEC_CC_SHARED_
#define OCTET_OPS_MATVEC_CC_SHARED_
namespace octet {
namespace matvec_internal {

// Rows per parallel item. MatVec: big enough that the pool's per-item lock is noise (64 rows × 4096 cols of FP8
// is 256 KiB of weights) and that each of an item's row streams (below) runs through several KiB, small enough
// that 14336 rows give hundreds of items to balance over threads.
constexpr size_t kMatVecRowsPerItem = 64;
// MatVec reads an item's rows as this many concurrent streams (DotRows8).
constexpr size_t kRowStreams = 8;
// MatMul items decode their rows once and reuse them for every token, so a few rows already carry a lot of work.
constexpr size_t kMatMulRowsPerItem = 16;

inline size_t DivCeil(size_t a, size_t b) { return (a + b - 1) / b; }

// Validates `w` and throws octet::Error describing the first problem.
inline void CheckWeights(const WeightMatrix& w, const float* x, const float* y) {
  if (w.packing == WeightPacking::kInt4) {
    if (w.scale_kind == ScaleKind::kBlock) Fail("matvec: packed INT4 weights take no block scales");
  } else {
    switch (w.dtype) {
      case DType::kF32:
      case DType::kF16:
      case DType::kBF16:
      case DType::kF8E4M3:
      case DType::kF8E5M2:
        break;
      default:
        Fail("matvec: weights of dtype {} are not supported (F32, F16, BF16, F8_E4M3, F8_E5M2 are)",
             DTypeName(w.dtype));
    }
  }
  if (w.rows < 0 || w.cols < 0) Fail("matvec: negative shape [{}, {}]", w.rows, w.cols);
  if (w.rows == 0 || w.cols == 0) return;
  if (w.data == nullptr || x == nullptr || y == nullptr) Fail("matvec: null weights, input or output");
  if (w.scale_kind != ScaleKind::kNone && w.scales == nullptr) Fail("matvec: scale kind needs scales, got null");
  if (w.scale_kind == ScaleKind::kBlock && (w.block_rows <= 0 || w.block_cols <= 0)) {
    Fail("matvec: block scale with block size [{}, {}]", w.block_rows, w.block_cols);
  }
  if (w.scale_kind == ScaleKind::kGroup && w.group_size <= 0) {
    Fail("matvec: group scale with group size {}", w.group_size);
  }
}

// Float weights with group scales are block scales one row high; INT4 kernels take groups as they are.
inline WeightMatrix Canonical(const WeightMatrix& w) {
  WeightMatrix out = w;
  if (w.packing == WeightPacking::kNone && w.scale_kind == ScaleKind::kGroup) {
    out.scale_kind = ScaleKind::kBlock;
    out.block_rows = 1;
    out.block_cols = w.group_size;
  }
  return out;
}

// Multiplies the finished sum of row r by this: its row or tensor scale times `fold`, the power of two the kernel
// owes the sum (block scales are folded into the input instead).
inline float RowScale(const WeightMatrix& w, size_t r, float fold) {
  switch (w.scale_kind) {
    case ScaleKind::kTensor:
      return w.scales[0] * fold;
    case ScaleKind::kChannel:
      return w.scales[r] * fold;
    default:
      return fold;
  }
}

// Row blocks of a block-scaled matrix; other kinds are one block of all rows.
inline size_t RowsPerScaleBlock(const WeightMatrix& w) {
  return w.scale_kind == ScaleKind::kBlock ? static_cast<size_t>(w.block_rows) : static_cast<size_t>(w.rows);
}

// out[c] = in[c] * factor * (scale of column c in row block `row_block`), for c < cols; in == nullptr reads as
// ones. `factor` is a power of two, so it adds no rounding.
inline void ScaleByColumnBlocks(const WeightMatrix& w, size_t row_block, const float* in, float factor,
                                float* out) {
  const size_t cols = static_cast<size_t>(w.cols);
  const size_t block_cols = static_cast<size_t>(w.block_cols);
  const float* scales = w.scales + row_block * DivCeil(cols, block_cols);
  for (size_t c0 = 0, b = 0; c0 < cols; c0 += block_cols, ++b) {
    const size_t c1 = std::min(cols, c0 + block_cols);
    const float s = scales[b] * factor;
    for (size_t c = c0; c < c1; ++c) out[c] = in ? in[c] * s : s;
  }
}

}  // namespace matvec_internal
}  // namespace octet
#endif  // OCTET_OPS_MATVEC_CC_SHARED_

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ops/matvec.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/aligned_allocator.h"
#include "hwy/highway.h"
#include "ops/decode_kernels-inl.h"
#include "ops/int4_kernels-inl.h"

HWY_BEFORE_NAMESPACE();
namespace octet {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using namespace matvec_internal;  // NOLINT(build/namespaces): file-local helpers

template <class K>
void MatVecTyped(const WeightMatrix& w, const float* x, float* y, ThreadPool& pool) {
  using Storage = typename K::Storage;
  const size_t rows = static_cast<size_t>(w.rows);
  const size_t cols = static_cast<size_t>(w.cols);
  const Storage* data = static_cast<const Storage*>(w.data);
  const bool block = w.scale_kind == ScaleKind::kBlock;
  const size_t block_rows = RowsPerScaleBlock(w);
  // Decode leaves FP8 weights 2^-kExpShift too small (as low as 2^-129 for E4M3 subnormals). Half of that goes
  // onto x (x · 2^60 for E4M3), so products stay in the normal F32 range; the other half onto the row sums.
  // Both factors are powers of two: the rounding is exactly that of an unscaled F32 computation.
  constexpr int kXShift = K::kExpShift / 2;
  const float x_factor = std::ldexp(1.0f, kXShift);
  const float fold = std::ldexp(1.0f, K::kExpShift - kXShift);
  std::vector<float> x_shifted;
  if (kXShift != 0 && !block) {
    x_shifted.resize(cols);
    for (size_t c = 0; c < cols; ++c) x_shifted[c] = x[c] * x_factor;
  }
  const float* x_unblocked = x_shifted.empty() ? x : x_shifted.data();
  pool.ParallelFor(DivCeil(rows, kMatVecRowsPerItem), [&](size_t item) {
    const size_t r_end = std::min(rows, (item + 1) * kMatVecRowsPerItem);
    std::vector<float> scaled_x(block ? cols : 0);
    size_t r = item * kMatVecRowsPerItem;
    while (r < r_end) {
      // A segment of rows sharing one row block (all rows unless block-scaled).
      const size_t row_block = r / block_rows;
      const size_t seg_end = std::min(r_end, (row_block + 1) * block_rows);
      const float* xs = x_unblocked;
      if (block) {
        ScaleByColumnBlocks(w, row_block, x, x_factor, scaled_x.data());
        xs = scaled_x.data();
      }
      // Eight concurrent streams, stream k walking rows r + k·n, ..., r + k·n + n − 1 in turn, rather than eight
      // adjacent rows at a time: each stream then runs through n·cols contiguous weights, which the hardware
      // prefetcher follows, where adjacent rows of 2 KiB (FP8 with 2048 columns) put two streams in every 4 KiB
      // page and end each stream at the row's end. Same sums in the same order, only the visiting order changes.
      // Measured (BENCHMARKS.md): decode of the 1.1B model 1.7x faster with FP8 weights, 1.2x with BF16.
      float sums[8];
      if (const size_t n = (seg_end - r) / kRowStreams; n > 0) {
        for (size_t j = 0; j < n; ++j) {
          DotRows8<K>(data + (r + j) * cols, n * cols, xs, cols, sums);
          for (size_t i = 0; i < 8; ++i) y[r + j + i * n] = sums[i] * RowScale(w, r + j + i * n, fold);
        }
        r += kRowStreams * n;
      }
      for (; r + 4 <= seg_end; r += 4) {
        DotRows4<K>(data + r * cols, cols, xs, cols, sums);
        for (size_t i = 0; i < 4; ++i) y[r + i] = sums[i] * RowScale(w, r + i, fold);
      }
      for (; r < seg_end; ++r) y[r] = DotRow<K>(data + r * cols, xs, cols) * RowScale(w, r, fold);
    }
  });
}

// ---- Packed INT4 (ops/int4_kernels-inl.h). With group edges on whole bytes (every real group size), input and
// rows use chunk order; otherwise rows are dequantized in plain column order by scalar code and multiplied as F32.

// Row r dequantized to F32 in column order, zero-padded to `stride`: the fallback for odd group sizes.
void DecodeInt4RowPlain(const Int4Matrix& m, size_t r, size_t stride, float* out) {
  for (size_t c = 0; c < m.cols; ++c) {
    const size_t g = c / m.group;
    out[c] = static_cast<float>(m.Nibble(r, c) - m.Offset(r, g)) * m.Scale(r, g);
  }
  std::fill(out + m.cols, out + stride, 0.0f);
}

void MatMulInt4(const WeightMatrix& w, const float* x, size_t tokens, float* y, ThreadPool& pool) {
  const Int4Matrix m(w);
  const Int4Chunks chunks(m);
  const bool chunked = m.ChunkOrderApplies();
  const size_t lanes = chunks.lanes;
  const size_t stride = chunked ? chunks.length : DivCeil(m.cols, lanes) * lanes;
  hwy::AlignedFreeUniquePtr<float[]> x_ordered = hwy::AllocateAligned<float>(tokens * stride);
  for (size_t t = 0; t < tokens; ++t) {
    float* row = x_ordered.get() + t * stride;
    if (chunked) {
      PermuteToChunkOrder(m, chunks, x + t * m.cols, row);
    } else {
      std::memcpy(row, x + t * m.cols, m.cols * sizeof(float));
      std::fill(row + m.cols, row + stride, 0.0f);
    }
  }
  pool.ParallelFor(DivCeil(m.rows, kMatMulRowsPerItem), [&](size_t item) {
    const size_t r_begin = item * kMatMulRowsPerItem;
    const size_t r_end = std::min(m.rows, r_begin + kMatMulRowsPerItem);
    hwy::AlignedFreeUniquePtr<float[]> decoded = hwy::AllocateAligned<float>(kMatMulRowsPerItem * stride);
    float row_scales[kMatMulRowsPerItem];
    for (size_t r = r_begin; r < r_end; ++r) {
      float* out = decoded.get() + (r - r_begin) * stride;
      if (chunked) {
        DecodeInt4RowChunked(m, chunks, r, out);
      } else {
        DecodeInt4RowPlain(m, r, stride, out);
      }
      row_scales[r - r_begin] = 1.0f;  // scales are in the decoded rows
    }
    MatMulDecoded(decoded.get(), r_end - r_begin, row_scales, x_ordered.get(), tokens, stride, y + r_begin, m.rows);
  });
}

// INT4 MatVec reads an item's rows as this many concurrent streams, one kernel call (4 rows) per step. Measured
// on the 14336×4096 g128 benchmark (Zen 4, one thread; BENCHMARKS.md): adjacent rows ~8.9 GB/s, 4 streams
// ~12-13.8, 8 streams (two calls per step, as MatVecTyped's 8 rows per call) ~11.7-12.4, 16 streams ~10.7.
constexpr size_t kInt4RowStreams = 4;

// Runs an item's rows [r, r_end) as kInt4RowStreams concurrent streams of n rows each, as MatVecTyped does:
// stream k walks rows r + k·n, ..., r + k·n + n − 1, so each runs through n·row_bytes contiguous bytes (INT4 rows
// of 2048 columns are only 1 KiB: adjacent rows would put four streams in every 4 KiB page). dot4(first, stride,
// out) computes rows first + i·stride (i < 4); dot1(r) one row. Each row is computed the same way whatever the
// order, so results do not depend on it.
template <class Dot4, class Dot1>
void ForInt4ItemRows(size_t r, size_t r_end, float* y, const Dot4& dot4, const Dot1& dot1) {
  static_assert(kInt4RowStreams % 4 == 0, "whole kernel calls per step");
  float out[4];
  if (const size_t n = (r_end - r) / kInt4RowStreams; n > 0) {
    for (size_t j = 0; j < n; ++j) {
      for (size_t quarter = 0; quarter < kInt4RowStreams; quarter += 4) {
        const size_t first = r + j + quarter * n;
        dot4(first, n, out);
        for (size_t i = 0; i < 4; ++i) y[first + i * n] = out[i];
      }
    }
    r += kInt4RowStreams * n;
  }
  for (; r < r_end; ++r) y[r] = dot1(r);  // fewer than 4 rows left
}

// The integer path (int4_kernels-inl.h, DotInt4Rows4Int) with int32 lanes of tag D32; false where the input does
// not quantize (QuantizeInt4Input), leaving the call to the float kernels.
template <class D32>
bool MatVecInt4Integer(D32 d32, const Int4Matrix& m, const float* x, float* y, ThreadPool& pool) {
  const Int4IntLayout layout(m, 2 * hn::Lanes(Int16Tag<D32>()));
  const size_t lanes = hn::Lanes(hn::ScalableTag<float>());  // OffsetCorrection reads whole vectors of sums
  hwy::AlignedFreeUniquePtr<int16_t[]> xq = hwy::AllocateAligned<int16_t>(layout.length);
  std::vector<float> block_scales(layout.blocks);
  std::vector<float> x_sums(DivCeil(m.groups, lanes) * lanes, 0.0f);
  if (!QuantizeInt4Input(m, layout, x, xq.get(), block_scales.data(), x_sums.data())) return false;
  const int16_t* q = xq.get();
  const float* bs = block_scales.data();
  const float* sums = x_sums.data();
  pool.ParallelFor(DivCeil(m.rows, kMatVecRowsPerItem), [&](size_t item) {
    ForInt4ItemRows(
        item * kMatVecRowsPerItem, std::min(m.rows, (item + 1) * kMatVecRowsPerItem), y,
        [&](size_t r, size_t stride, float* out) { DotInt4Rows4Int(d32, m, layout, r, stride, q, bs, sums, out); },
        [&](size_t r) { return DotInt4RowInt(d32, m, layout, r, q, bs, sums); });
  });
  return true;
}

// The float kernels: inputs that do not quantize to int16 (not finite, or tiny and nonzero).
void MatVecInt4Float(const Int4Matrix& m, const float* x, float* y, ThreadPool& pool) {
  const Int4Chunks chunks(m);
  hwy::AlignedFreeUniquePtr<float[]> x_chunked = hwy::AllocateAligned<float>(chunks.length);
  std::vector<float> x_sums(DivCeil(m.groups, chunks.lanes) * chunks.lanes, 0.0f);
  PermuteToChunkOrder(m, chunks, x, x_chunked.get(), x_sums.data());
  const float* xc = x_chunked.get();
  const float* sums = x_sums.data();
  pool.ParallelFor(DivCeil(m.rows, kMatVecRowsPerItem), [&](size_t item) {
    ForInt4ItemRows(
        item * kMatVecRowsPerItem, std::min(m.rows, (item + 1) * kMatVecRowsPerItem), y,
        [&](size_t r, size_t stride, float* out) { DotInt4Rows4(m, chunks, r, stride, xc, sums, out); },
        [&](size_t r) { return DotInt4Row(m, chunks, r, xc, sums); });
  });
}

void MatVecInt4(const WeightMatrix& w, const float* x, float* y, ThreadPool& pool) {
  const Int4Matrix m(w);
  if (!m.ChunkOrderApplies()) return MatMulInt4(w, x, 1, y, pool);
  // Full-width int32 lanes, or half width where groups are not whole full chunks (4 columns per int32 lane):
  // groups of 32 on AVX-512. Blocks are whole chunks, so the full width would waste up to half its work there.
  const hn::ScalableTag<int32_t> d32;
  constexpr size_t kMaxLanes = HWY_LANES(int32_t);
  if (kMaxLanes >= 2 && m.groups > 1 && m.group % (4 * hn::Lanes(d32)) != 0) {
    if (MatVecInt4Integer(hn::CappedTag<int32_t, (kMaxLanes + 1) / 2>(), m, x, y, pool)) return;
    return MatVecInt4Float(m, x, y, pool);
  }
  if (MatVecInt4Integer(d32, m, x, y, pool)) return;
  MatVecInt4Float(m, x, y, pool);
}

void MatVecImpl(const WeightMatrix& w, const float* x, float* y, ThreadPool& pool) {
  if (w.packing == WeightPacking::kInt4) return MatVecInt4(w, x, y, pool);
  switch (w.dtype) {
    case DType::kF32:
      return MatVecTyped<F32Kind>(w, x, y, pool);
    case DType::kF16:
      return MatVecTyped<F16Kind>(w, x, y, pool);
    case DType::kBF16:
      return MatVecTyped<BF16Kind>(w, x, y, pool);
    case DType::kF8E4M3:
      return MatVecTyped<E4M3Kind>(w, x, y, pool);
    case DType::kF8E5M2:
      return MatVecTyped<E5M2Kind>(w, x, y, pool);
    default:
      Fail("matvec: unsupported dtype {}", DTypeName(w.dtype));
  }
}

template <class K>
void MatMulTyped(const WeightMatrix& w, const float* x, size_t tokens, float* y, ThreadPool& pool) {
  using Storage = typename K::Storage;
  const hn::ScalableTag<float> df;
  const size_t lanes = hn::Lanes(df);
  const size_t rows = static_cast<size_t>(w.rows);
  const size_t cols = static_cast<size_t>(w.cols);
  // Padding rows to whole vectors (zeros, which add nothing) keeps the micro-kernel free of tail code.
  const size_t stride = DivCeil(cols, lanes) * lanes;
  const Storage* data = static_cast<const Storage*>(w.data);
  const bool block = w.scale_kind == ScaleKind::kBlock;
  const size_t block_rows = RowsPerScaleBlock(w);

  // Inputs copied once per call into aligned, padded rows: tokens × stride floats.
  hwy::AlignedFreeUniquePtr<float[]> x_padded = hwy::AllocateAligned<float>(tokens * stride);
  for (size_t t = 0; t < tokens; ++t) {
    std::memcpy(x_padded.get() + t * stride, x + t * cols, cols * sizeof(float));
    std::fill(x_padded.get() + t * stride + cols, x_padded.get() + (t + 1) * stride, 0.0f);
  }

  pool.ParallelFor(DivCeil(rows, kMatMulRowsPerItem), [&](size_t item) {
    const size_t r_begin = item * kMatMulRowsPerItem;
    const size_t r_end = std::min(rows, r_begin + kMatMulRowsPerItem);
    // This item's rows decoded to F32 (times their column scales when block-scaled), decoded once for all tokens.
    hwy::AlignedFreeUniquePtr<float[]> decoded = hwy::AllocateAligned<float>(kMatMulRowsPerItem * stride);
    std::vector<float> col_scales(block ? cols : 0);
    size_t scaled_block = ~size_t{0};  // row block whose scales col_scales holds
    float row_scales[kMatMulRowsPerItem];
    for (size_t r = r_begin; r < r_end; ++r) {
      if (block && r / block_rows != scaled_block) {
        scaled_block = r / block_rows;
        ScaleByColumnBlocks(w, scaled_block, nullptr, 1.0f, col_scales.data());
      }
      DecodeRow<K>(data + r * cols, cols, block ? col_scales.data() : nullptr,
                   decoded.get() + (r - r_begin) * stride);
      row_scales[r - r_begin] = RowScale(w, r, 1.0f);  // DecodeRow already undid 2^-kExpShift
    }
    MatMulDecoded(decoded.get(), r_end - r_begin, row_scales, x_padded.get(), tokens, stride, y + r_begin, rows);
  });
}

void MatMulImpl(const WeightMatrix& w, const float* x, size_t tokens, float* y, ThreadPool& pool) {
  if (w.packing == WeightPacking::kInt4) return MatMulInt4(w, x, tokens, y, pool);
  switch (w.dtype) {
    case DType::kF32:
      return MatMulTyped<F32Kind>(w, x, tokens, y, pool);
    case DType::kF16:
      return MatMulTyped<F16Kind>(w, x, tokens, y, pool);
    case DType::kBF16:
      return MatMulTyped<BF16Kind>(w, x, tokens, y, pool);
    case DType::kF8E4M3:
      return MatMulTyped<E4M3Kind>(w, x, tokens, y, pool);
    case DType::kF8E5M2:
      return MatMulTyped<E5M2Kind>(w, x, tokens, y, pool);
    default:
      Fail("matvec: unsupported dtype {}", DTypeName(w.dtype));
  }
}

const char* TargetNameImpl() { return hwy::TargetName(HWY_TARGET); }

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace octet
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace octet {

HWY_EXPORT(MatVecImpl);
HWY_EXPORT(MatMulImpl);
HWY_EXPORT(TargetNameImpl);

void MatVec(const WeightMatrix& w, const float* x, float* y, ThreadPool& pool) {
  matvec_internal::CheckWeights(w, x, y);
  if (w.rows == 0) return;
  if (w.cols == 0) {
    std::fill(y, y + w.rows, 0.0f);
    return;
  }
  HWY_DYNAMIC_DISPATCH(MatVecImpl)(matvec_internal::Canonical(w), x, y, pool);
}

void MatMul(const WeightMatrix& w, const float* x, size_t tokens, float* y, ThreadPool& pool) {
  if (tokens == 0) return;
  matvec_internal::CheckWeights(w, x, y);
  if (w.rows == 0) return;
  if (w.cols == 0) {
    std::fill(y, y + tokens * w.rows, 0.0f);
    return;
  }
  HWY_DYNAMIC_DISPATCH(MatMulImpl)(matvec_internal::Canonical(w), x, tokens, y, pool);
}

const char* BestTargetName() { return HWY_DYNAMIC_DISPATCH(TargetNameImpl)(); }

}  // namespace octet
#endif  // HWY_ONCE
