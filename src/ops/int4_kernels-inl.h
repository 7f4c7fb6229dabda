// Per-target building blocks of the packed-INT4 weight kernels (WeightPacking::kInt4, see ops/matvec.h):
// nibbles are dequantized in registers as the packed rows stream by. Included once per target by
// ops/matvec.cc (after hwy/foreach_target.h); not a public header.
//
// Packed layout (compressed-tensors pack-quantized; neuralmagic/compressed-tensors
// src/compressed_tensors/compressors/quantized_compressors/pack_quantized.py `pack_to_int32`, which ORs value i
// of each run of 8 into bits 4i of an int32; vLLM compressed_tensors_wNa16.py loads the same `weight_packed`
// [out, in / 8] int32 with packed_dim 1): with little-endian words, byte b of a row holds column 2b in its low
// nibble and column 2b + 1 in its high nibble, each as u = q + 8.
//
// The kernels take the input in "chunk order" instead of column order so that decoding needs no shuffles: a
// chunk is 2·N consecutive columns of one scale group (N = Lanes(df)), read as N bytes that widen to N 32-bit
// lanes; lane i of the low-nibble vector is column 2i, of the high-nibble vector column 2i + 1. The input is
// permuted once per call to match (x_lo[i] = x[c + 2i], x_hi[i] = x[c + 2i + 1]), zero where a chunk runs past
// its group, so the product of every weight outside the group is exactly 0. Each group of G columns takes
// ceil(G / 2N) chunks, so groups start at whole chunks and one scale multiplies the group's partial sums.
//
// MatVec (one token, decode) takes integer dot products instead (issue 4: "integer dot products where they
// pay"): the input is quantized once per call to int16 per scale group (QuantizeInt4Input), the nibbles widen to
// int16 lanes, and ReorderWidenMulAccumulate (vpmaddwd) sums u·xq into int32 lanes per group (DotInt4Rows4Int):
// about 7 vector operations per 2·N16 weights instead of 14 for the F32 kernel, which made the kernel fast
// enough to stream the weights at ~75-80% of the read bandwidth (BENCHMARKS.md). Numerics: this deviates from
// vLLM's W4A16 kernels, which multiply BF16/F16 activations (relative precision 2^-9 / 2^-12): each input carries
// an error of at most 2^-15 of the largest |x| in its group (a power-of-two step, so inputs that are small
// multiples of it, such as small integers, stay exact), and the group sums are then exact in int32. Inputs that
// do not quantize (Inf, NaN, or a group's largest |x| below 2^-100) and odd group sizes take the F32 kernels;
// MatMul (prefill) keeps F32 inputs. Results stay deterministic and identical at any thread count.

// Shared, target-independent description of an INT4 matrix; defined once.
#ifndef OCTET_OPS_INT4_KERNELS_SHARED_
#define OCTET_OPS_INT4_KERNELS_SHARED_
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "hwy/base.h"
#include "ops/matvec.h"

namespace octet {

// Group geometry, scale and zero point lookups of an INT4 WeightMatrix (validated by the caller).
struct Int4Matrix {
  explicit Int4Matrix(const WeightMatrix& w)
      : w(w),
        rows(static_cast<size_t>(w.rows)),
        cols(static_cast<size_t>(w.cols)),
        group(w.scale_kind == ScaleKind::kGroup ? static_cast<size_t>(w.group_size) : cols),
        groups((cols + group - 1) / group),
        row_bytes(4 * ((cols + 7) / 8)),
        data(static_cast<const uint8_t*>(w.data)),
        scale_step(w.scale_kind == ScaleKind::kGroup ? 1 : 0),
        zero_step(w.scale_kind == ScaleKind::kGroup ? 1 : 0) {}

  // The kernels' chunk order needs every group to start at a whole byte.
  bool ChunkOrderApplies() const { return group % 2 == 0 || groups == 1; }

  // Row r's scales, one per group `scale_step` apart (0: the same scale for all groups).
  const float* ScaleRow(size_t r) const {
    switch (w.scale_kind) {
      case ScaleKind::kTensor:
        return w.scales;
      case ScaleKind::kChannel:
        return w.scales + r;
      case ScaleKind::kGroup:
        return w.scales + r * groups;
      default:
        return &kUnitScale;
    }
  }
  // Row r's zero points, one per group `zero_step` apart; null when symmetric.
  const int8_t* ZeroRow(size_t r) const {
    if (w.zero_points == nullptr) return nullptr;
    switch (w.scale_kind) {
      case ScaleKind::kChannel:
        return w.zero_points + r;
      case ScaleKind::kGroup:
        return w.zero_points + r * groups;
      default:
        return w.zero_points;
    }
  }
  float Scale(size_t r, size_t g) const { return ScaleRow(r)[g * scale_step]; }
  // The stored-value offset to subtract from a nibble u: 8 + zero point, so u - Offset = q - zp.
  int32_t Offset(size_t r, size_t g) const {
    const int8_t* zero = ZeroRow(r);
    return 8 + (zero ? zero[g * zero_step] : 0);
  }

  // Nibble of column c in row r (0..15).
  int32_t Nibble(size_t r, size_t c) const { return (data[r * row_bytes + c / 2] >> (4 * (c & 1))) & 0xF; }

  const WeightMatrix& w;
  size_t rows, cols;
  size_t group;      // columns per scale group (all columns for one scale per row)
  size_t groups;     // scale groups per row
  size_t row_bytes;  // bytes per packed row: whole 32-bit words
  const uint8_t* data;
  size_t scale_step;
  size_t zero_step;
  static constexpr float kUnitScale = 1.0f;
};

// ---- Integer path (MatVecInt4's main path; see the per-target DotInt4Rows4Int below).
//
// The input is quantized once per call to int16, one power-of-two step per block, where a block is a scale group
// or, for groups longer than kInt4IntBlockMax columns (channel/tensor scales), a kInt4IntBlockMax-column piece of
// one. Each int32 lane then accumulates products u·xq of a nibble u in 0..15 and an input |xq| <= 32767 over at
// most one block's columns, so |lane| <= 15·32767·4096 = 2,013,204,480 < 2^31 - 1: no overflow on any target,
// whatever the lane count (a lane never sums more than its block's columns). Longer blocks could overflow.
constexpr size_t kInt4IntBlockMax = 4096;
constexpr int32_t kInt4IntMax = 32767;  // largest |xq|
static_assert(15 * int64_t{kInt4IntMax} * int64_t{kInt4IntBlockMax} <= int64_t{INT32_MAX}, "int32 overflow");

// Where each block's quantized input lives. Groups of up to kInt4IntBlockMax columns are one block each; longer
// ones are cut into blocks_per_group equal blocks of a whole number of chunks (14336 columns: 4 of 3584). Every
// block spans chunks_per_block chunks of `width` columns, block (g, k) starting at column g·group + k·block, and
// its quantized input (at xq + (g·blocks_per_group + k)·chunks_per_block·width, in chunk order: within each
// chunk starting at column c, xq[i] = column c + 2i, xq[width / 2 + i] = column c + 2i + 1) is zero past the
// block's, group's or row's end. The kernels therefore read whole chunks, sometimes past a short group into the
// next group or row (whose products are 0), at most read_bytes from a row's start.
struct Int4IntLayout {
  Int4IntLayout(const Int4Matrix& m, size_t width)
      : width(width),
        blocks_per_group((m.group + kInt4IntBlockMax - 1) / kInt4IntBlockMax),
        // Several blocks: ceil(group / blocks) <= kInt4IntBlockMax, rounded up to a multiple of width (a power of
        // two dividing kInt4IntBlockMax), stays <= kInt4IntBlockMax and even.
        block(blocks_per_group == 1 ? m.group
                                    : ((m.group + blocks_per_group - 1) / blocks_per_group + width - 1) / width *
                                          width),
        blocks(m.groups * blocks_per_group),
        chunks_per_block((block + width - 1) / width),
        length(blocks * chunks_per_block * width),
        read_bytes(((m.groups - 1) * m.group + (blocks_per_group - 1) * block) / 2 + chunks_per_block * width / 2) {}
  size_t width;  // columns per chunk: 2 · int16 lanes
  size_t blocks_per_group;
  size_t block;  // columns per block
  size_t blocks;
  size_t chunks_per_block;
  size_t length;      // int16 values of the quantized input
  size_t read_bytes;  // bytes the kernels read from a row's start
};

// v rounded to the nearest integer, ties to even, for |v| <= 2^22 (as std::nearbyint in the default rounding
// mode, but inline: adding 1.5 · 2^23 leaves no fraction bits, and subtracting it again is exact).
inline int32_t RoundToInt(float v) {
  constexpr float kShift = 0x1.8p23f;
  return static_cast<int32_t>((v + kShift) - kShift);
}

// Quantizes x (cols floats) block by block: step sx_b = 2^e, the smallest power of two with
// round(max|x_b| / sx_b) <= 32767, and xq = round-to-nearest-even(x / sx_b) (x / sx_b is exact: a power of two).
// The error per input is at most sx_b / 2 <= 2^-15 · max|x_b|; a power-of-two step (instead of max / 32767, whose
// bound is 2^-16) keeps inputs that are small multiples of sx_b (integers, dyadic values) exact and the products
// float(sum) · sx_b exact. Writes xq in chunk order (within each chunk of `width` columns starting at column c:
// xq[i] = column c + 2i, xq[width / 2 + i] = column c + 2i + 1), block_scales[b] = sx_b and group_sums[g] =
// sum over the group of xq · sx_b (the quantized input's sums, exact in double, rounded once), for the offset
// correction (OffsetCorrection; the caller zero-pads group_sums to whole vectors). Returns false, leaving the
// work to the float kernels, when an input is not finite or a block's largest magnitude is below 2^-100 (its
// step would leave the normal range) without being 0.
inline bool QuantizeInt4Input(const Int4Matrix& m, const Int4IntLayout& layout, const float* HWY_RESTRICT x,
                              int16_t* HWY_RESTRICT xq, float* HWY_RESTRICT block_scales,
                              float* HWY_RESTRICT group_sums) {
  const size_t half = layout.width / 2;
  for (size_t g = 0; g < m.groups; ++g) {
    const size_t group_end = std::min(m.cols, (g + 1) * m.group);
    double group_sum = 0;
    for (size_t k = 0; k < layout.blocks_per_group; ++k) {
      const size_t b = g * layout.blocks_per_group + k;
      const size_t begin = g * m.group + k * layout.block;
      const size_t end = std::max(begin, std::min(group_end, begin + layout.block));  // begin: nothing left
      // Four partial maxima (one would be a chain of dependent max operations); NaN fails the <= test.
      float max4[4] = {0, 0, 0, 0};
      bool finite = true;
      size_t c = begin;
      for (; c + 4 <= end; c += 4) {
        for (size_t i = 0; i < 4; ++i) {
          const float magnitude = std::fabs(x[c + i]);
          finite &= magnitude <= std::numeric_limits<float>::max();
          max4[i] = magnitude > max4[i] ? magnitude : max4[i];
        }
      }
      for (; c < end; ++c) {
        const float magnitude = std::fabs(x[c]);
        finite &= magnitude <= std::numeric_limits<float>::max();
        max4[0] = magnitude > max4[0] ? magnitude : max4[0];
      }
      if (!finite) return false;  // Inf or NaN
      const float max = std::max(std::max(max4[0], max4[1]), std::max(max4[2], max4[3]));
      if (max != 0 && max < 0x1p-100f) return false;
      // max in [2^(E - 127), 2^(E - 126)) for its biased exponent E (normal: >= 2^-100), so max · 2^(141 - E) <
      // 2^15; both powers of two below are normal floats for E in [27, 254].
      const uint32_t biased = max == 0 ? 127 : (std::bit_cast<uint32_t>(max) >> 23);
      float inverse = std::bit_cast<float>((268 - biased) << 23);  // 2^(141 - E)
      float step = std::bit_cast<float>((biased - 14) << 23);      // 2^(E - 141)
      if (RoundToInt(max * inverse) > kInt4IntMax) {
        inverse *= 0.5f;
        step *= 2.0f;
      }
      block_scales[b] = max == 0 ? 0.0f : step;
      int32_t sum = 0;
      int16_t* HWY_RESTRICT out = xq + b * layout.chunks_per_block * layout.width;
      for (size_t j = 0; j < layout.chunks_per_block; ++j, out += layout.width) {
        const size_t c = begin + j * layout.width;
        const size_t pairs = c < end ? std::min(half, (end - c) / 2) : 0;
        size_t i = 0;
        for (; i < pairs; ++i) {
          const int32_t lo = RoundToInt(x[c + 2 * i] * inverse), hi = RoundToInt(x[c + 2 * i + 1] * inverse);
          out[i] = static_cast<int16_t>(lo);
          out[half + i] = static_cast<int16_t>(hi);
          sum += lo + hi;
        }
        if (i < half && c + 2 * i < end) {  // a block of odd length ends in the low half of a pair
          const int32_t lo = RoundToInt(x[c + 2 * i] * inverse);
          out[i] = static_cast<int16_t>(lo);
          out[half + i] = 0;
          sum += lo;
          ++i;
        }
        for (; i < half; ++i) out[i] = out[half + i] = 0;
      }
      group_sum += static_cast<double>(sum) * block_scales[b];
    }
    group_sums[g] = static_cast<float>(group_sum);
  }
  return true;
}

}  // namespace octet
#endif  // OCTET_OPS_INT4_KERNELS_SHARED_

// Per-target include guard (the Highway idiom).
#if defined(OCTET_OPS_INT4_KERNELS_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef OCTET_OPS_INT4_KERNELS_INL_H_
#undef OCTET_OPS_INT4_KERNELS_INL_H_
#else
#define OCTET_OPS_INT4_KERNELS_INL_H_
#endif

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace octet {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Chunk geometry on this target.
struct Int4Chunks {
  explicit Int4Chunks(const Int4Matrix& m)
      : lanes(hn::Lanes(hn::ScalableTag<float>())),
        width(2 * lanes),
        per_group((m.group + width - 1) / width),
        length(m.groups * per_group * width) {}
  size_t lanes;
  size_t width;      // columns per chunk
  size_t per_group;  // chunks per scale group
  size_t length;     // floats of an input (or decoded row) in chunk order
};

// x (cols floats, column order) -> out (chunks.length floats, chunk order, zeros past each group's end), and,
// when `sums` is not null, sums[g] = the sum of group g's inputs (in column order) for g < groups; the caller
// zero-pads sums to whole vectors (OffsetCorrection).
inline void PermuteToChunkOrder(const Int4Matrix& m, const Int4Chunks& chunks, const float* HWY_RESTRICT x,
                                float* HWY_RESTRICT out, float* HWY_RESTRICT sums = nullptr) {
  const size_t n = chunks.lanes;
  for (size_t g = 0; g < m.groups; ++g) {
    const size_t group_end = std::min(m.cols, (g + 1) * m.group);
    if (sums != nullptr) {
      float sum = 0;
      for (size_t c = g * m.group; c < group_end; ++c) sum += x[c];
      sums[g] = sum;
    }
    for (size_t k = 0; k < chunks.per_group; ++k) {
      const size_t c = g * m.group + k * chunks.width;
      float* HWY_RESTRICT o = out + (g * chunks.per_group + k) * chunks.width;
      for (size_t i = 0; i < n; ++i) {
        o[i] = c + 2 * i < group_end ? x[c + 2 * i] : 0.0f;
        o[n + i] = c + 2 * i + 1 < group_end ? x[c + 2 * i + 1] : 0.0f;
      }
    }
  }
}

// Lanes(du) bytes of row data at byte `offset` of the matrix, widened to du's lanes (u32 or u16). Near the end of the
// matrix (which may be the end of a memory mapping) the bytes are copied to a zeroed buffer first; kChecked =
// false skips that test where the caller knows the read stays inside.
template <bool kChecked = true, class DU>
HWY_INLINE hn::Vec<DU> LoadPackedBytes(DU du, const Int4Matrix& m, size_t offset) {
  const hn::Rebind<uint8_t, DU> du8;
  const size_t n = hn::Lanes(du);
  const size_t total = m.rows * m.row_bytes;
  if (!kChecked || HWY_LIKELY(offset + n <= total)) return hn::PromoteTo(du, hn::LoadU(du8, m.data + offset));
  uint8_t buf[HWY_MAX_BYTES] = {};
  if (offset < total) std::memcpy(buf, m.data + offset, total - offset);  // offset may lie past the end
  return hn::PromoteTo(du, hn::LoadU(du8, buf));
}

// blk += lo nibbles * x_lo + hi nibbles * x_hi for one chunk of one row (the nibbles as stored, 0..15: the
// offsets 8 + zp are taken off once per row, see DotInt4Rows4).
template <class DF>
HWY_INLINE void AccumulateChunk(DF df, hn::Vec<hn::RebindToUnsigned<DF>> bytes, hn::Vec<DF> x_lo,
                                hn::Vec<DF> x_hi, hn::Vec<DF>& blk) {
  const hn::RebindToSigned<DF> di32;
  const hn::RebindToUnsigned<DF> du32;
  const auto lo = hn::BitCast(di32, hn::And(bytes, hn::Set(du32, 0xFu)));
  const auto hi = hn::BitCast(di32, hn::ShiftRight<4>(bytes));
  blk = hn::MulAdd(hn::ConvertTo(df, lo), x_lo, blk);
  blk = hn::MulAdd(hn::ConvertTo(df, hi), x_hi, blk);
}

// The stored nibble u = q + 8: the kernels multiply u and take off kInt4Offset + zp per group afterwards.
constexpr int32_t kInt4Offset = 8;

// sum over groups g of (8 + zp[r][g]) * scale[r][g] * x_sums[g]: the offsets' share of row r's dot product
// (see DotInt4Rows4). A short dot product over the groups, vectorized for group scales (x_sums is padded with
// zeros to whole vectors); a row's last partial vector of scales and zero points goes through a buffer, so no
// value of another row enters the sum.
HWY_INLINE float OffsetCorrection(const Int4Matrix& m, size_t r, const float* HWY_RESTRICT x_sums) {
  const float* scales = m.ScaleRow(r);
  const int8_t* zeros = m.ZeroRow(r);
  if (m.scale_step == 0) {
    return static_cast<float>(kInt4Offset + (zeros ? zeros[0] : 0)) * scales[0] * x_sums[0];
  }
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di32;
  const hn::Rebind<int8_t, decltype(df)> di8;
  const size_t n = hn::Lanes(df);
  const auto bias = hn::Set(di32, kInt4Offset);
  auto acc = hn::Zero(df);
  for (size_t g = 0; g < m.groups; g += n) {
    const size_t valid = std::min(n, m.groups - g);
    auto offsets = hn::Set(df, static_cast<float>(kInt4Offset));
    hn::Vec<decltype(df)> s;
    if (valid == n) {
      s = hn::LoadU(df, scales + g);
      if (zeros) {
        offsets = hn::ConvertTo(df, hn::Add(hn::PromoteTo(di32, hn::LoadU(di8, zeros + g)), bias));
      }
    } else {
      HWY_ALIGN float s_buf[HWY_MAX_BYTES / sizeof(float)] = {};
      int8_t z_buf[HWY_MAX_BYTES / sizeof(float)] = {};
      std::memcpy(s_buf, scales + g, valid * sizeof(float));
      s = hn::Load(df, s_buf);
      if (zeros) {
        std::memcpy(z_buf, zeros + g, valid);
        offsets = hn::ConvertTo(df, hn::Add(hn::PromoteTo(di32, hn::LoadU(di8, z_buf)), bias));
      }
    }
    acc = hn::MulAdd(hn::Mul(offsets, s), hn::LoadU(df, x_sums + g), acc);
  }
  return hn::GetLane(hn::SumOfLanes(df, acc));
}

// out[i] = dot(row r + i·stride, x) for 4 rows i = 0..3 (stride 1: adjacent rows; MatVecInt4 passes the
// length of its row streams), x in chunk order, x_sums[g] the sum of x over group g. Per group and
// row the chunks accumulate u·x lane-wise (u = stored nibble) into a block sum, which is multiplied by the
// group's scale s and added to the row's accumulator; the offsets o = 8 + zp go in as sum_g o·s·x_sums[g]
// subtracted at the end (OffsetCorrection): sum (u - o)·s·x = s·sum u·x - o·s·sum x. That leaves 7 vector
// operations per chunk of 2N weights (widen, and, shift, 2 conversions, 2 FMAs) and one FMA per group, instead
// of subtracting the offset from every nibble. It costs a little accuracy, still F32-level: the u·x terms reach
// 15|x| where (q - zp)·x average ~4|x|, and the two sums partly cancel. Named variables as in decode_kernels-inl.h (GCC spills arrays of vectors).
template <bool kChecked>
HWY_INLINE void DotInt4Rows4Impl(const Int4Matrix& m, const Int4Chunks& chunks, size_t r, size_t stride,
                                 const float* HWY_RESTRICT x, const float* HWY_RESTRICT x_sums,
                                 float* HWY_RESTRICT out) {
  const hn::ScalableTag<float> df;
  const hn::RebindToUnsigned<decltype(df)> du32;
  const size_t n = chunks.lanes;
  const size_t r1 = r + stride, r2 = r + 2 * stride, r3 = r + 3 * stride;
  const float *s0 = m.ScaleRow(r), *s1 = m.ScaleRow(r1), *s2 = m.ScaleRow(r2), *s3 = m.ScaleRow(r3);
  const size_t step = stride * m.row_bytes;
  auto a0 = hn::Zero(df), a1 = a0, a2 = a0, a3 = a0;
  for (size_t g = 0; g < m.groups; ++g) {
    auto b0 = hn::Zero(df), b1 = b0, b2 = b0, b3 = b0;
    const size_t group_begin = g * m.group;
    const size_t group_end = std::min(m.cols, group_begin + m.group);
    const float* HWY_RESTRICT xg = x + g * chunks.per_group * chunks.width;
    for (size_t c = group_begin; c < group_end; c += chunks.width, xg += chunks.width) {
      const auto x_lo = hn::Load(df, xg);
      const auto x_hi = hn::Load(df, xg + n);
      const size_t offset = r * m.row_bytes + c / 2;
      AccumulateChunk(df, LoadPackedBytes<kChecked>(du32, m, offset), x_lo, x_hi, b0);
      AccumulateChunk(df, LoadPackedBytes<kChecked>(du32, m, offset + step), x_lo, x_hi, b1);
      AccumulateChunk(df, LoadPackedBytes<kChecked>(du32, m, offset + 2 * step), x_lo, x_hi, b2);
      AccumulateChunk(df, LoadPackedBytes<kChecked>(du32, m, offset + 3 * step), x_lo, x_hi, b3);
    }
    const size_t gs = g * m.scale_step;
    a0 = hn::MulAdd(b0, hn::Set(df, s0[gs]), a0);
    a1 = hn::MulAdd(b1, hn::Set(df, s1[gs]), a1);
    a2 = hn::MulAdd(b2, hn::Set(df, s2[gs]), a2);
    a3 = hn::MulAdd(b3, hn::Set(df, s3[gs]), a3);
  }
  out[0] = hn::GetLane(hn::SumOfLanes(df, a0)) - OffsetCorrection(m, r, x_sums);
  out[1] = hn::GetLane(hn::SumOfLanes(df, a1)) - OffsetCorrection(m, r1, x_sums);
  out[2] = hn::GetLane(hn::SumOfLanes(df, a2)) - OffsetCorrection(m, r2, x_sums);
  out[3] = hn::GetLane(hn::SumOfLanes(df, a3)) - OffsetCorrection(m, r3, x_sums);
}

// Reads of rows r, ..., r + 3·stride stay inside the matrix when another row follows the last of them (a chunk
// reads at most Lanes bytes past its row's last byte), so all but the last rows skip the per-load bounds test.
HWY_INLINE void DotInt4Rows4(const Int4Matrix& m, const Int4Chunks& chunks, size_t r, size_t stride,
                             const float* HWY_RESTRICT x, const float* HWY_RESTRICT x_sums,
                             float* HWY_RESTRICT out) {
  if ((r + 3 * stride + 1) * m.row_bytes + chunks.lanes <= m.rows * m.row_bytes) {
    DotInt4Rows4Impl<false>(m, chunks, r, stride, x, x_sums, out);
  } else {
    DotInt4Rows4Impl<true>(m, chunks, r, stride, x, x_sums, out);
  }
}

// dot(row r, x) for a single row (rows left over from groups of 4), as DotInt4Rows4.
HWY_INLINE float DotInt4Row(const Int4Matrix& m, const Int4Chunks& chunks, size_t r, const float* HWY_RESTRICT x,
                            const float* HWY_RESTRICT x_sums) {
  const hn::ScalableTag<float> df;
  const hn::RebindToUnsigned<decltype(df)> du32;
  const float* scales = m.ScaleRow(r);
  auto acc = hn::Zero(df);
  for (size_t g = 0; g < m.groups; ++g) {
    auto blk = hn::Zero(df);
    const size_t group_begin = g * m.group;
    const size_t group_end = std::min(m.cols, group_begin + m.group);
    const float* HWY_RESTRICT xg = x + g * chunks.per_group * chunks.width;
    for (size_t c = group_begin; c < group_end; c += chunks.width, xg += chunks.width) {
      AccumulateChunk(df, LoadPackedBytes(du32, m, r * m.row_bytes + c / 2), hn::Load(df, xg),
                      hn::Load(df, xg + chunks.lanes), blk);
    }
    acc = hn::MulAdd(blk, hn::Set(df, scales[g * m.scale_step]), acc);
  }
  return hn::GetLane(hn::SumOfLanes(df, acc)) - OffsetCorrection(m, r, x_sums);
}

// ---- Integer kernels. D32 is an int32 tag: full width, or half width where a full chunk would be wider than a
// block (groups of 32 on AVX-512). A chunk is 2·N16 columns (N16 = Lanes of int16): N16 packed bytes widen
// (PromoteTo u8 -> u16) to N16 lanes; And 0xF gives the low nibbles (columns c + 2i), ShiftRight 4 the high ones
// (c + 2i + 1), matching the quantized input's chunk order. ReorderWidenMulAccumulate (hwy/ops/x86_*-inl.h:
// vpmaddwd, lane j of sum0 += a[2j]·b[2j] + a[2j+1]·b[2j+1], sum1 untouched; emu128/scalar: even products into
// sum0, odd ones into sum1) leaves int32 lane j holding the columns of int16 lanes 2j and 2j + 1 only, and sum0 +
// sum1 is the same sum on every target. Every lane sums columns of one block, since a block's chunks are its
// own: integer sums are exact, so the lane order inside a block does not matter.

// The int16 tag paired with int32 tag D32 by ReorderWidenMulAccumulate: twice the lanes, except on HWY_SCALAR
// (one lane of each).
#if HWY_TARGET == HWY_SCALAR
template <class D32>
using Int16Tag = hn::Rebind<int16_t, D32>;
#else
template <class D32>
using Int16Tag = hn::Repartition<int16_t, D32>;
#endif

// sum0/sum1 += nibbles · xq for one chunk of one row (nibbles as stored, 0..15).
template <class D32>
HWY_INLINE void AccumulateChunkInt(D32 d32, hn::Vec<hn::RebindToUnsigned<Int16Tag<D32>>> bytes,
                                   hn::Vec<Int16Tag<D32>> x_lo,
                                   hn::Vec<Int16Tag<D32>> x_hi, hn::Vec<D32>& sum0,
                                   hn::Vec<D32>& sum1) {
  const Int16Tag<D32> d16;
  const hn::RebindToUnsigned<decltype(d16)> du16;
  const auto lo = hn::BitCast(d16, hn::And(bytes, hn::Set(du16, 0xFu)));
  const auto hi = hn::BitCast(d16, hn::ShiftRight<4>(bytes));
  sum0 = hn::ReorderWidenMulAccumulate(d32, lo, x_lo, sum0, sum1);
  sum0 = hn::ReorderWidenMulAccumulate(d32, hi, x_hi, sum0, sum1);
}

// acc += float(sum0 + sum1) · sx · s: one block's share of a row (sx the block's input step, s the row's scale).
template <class D32, class DF = hn::Rebind<float, D32>>
HWY_INLINE void AddBlock(D32, hn::Vec<D32> sum0, hn::Vec<D32> sum1, hn::Vec<DF> sx, hn::Vec<DF> s,
                         hn::Vec<DF>& acc) {
  acc = hn::MulAdd(hn::Mul(hn::ConvertTo(DF(), hn::Add(sum0, sum1)), sx), s, acc);
}

// out[i] = dot(row r + i·stride, x) for i = 0..3, from the quantized input (QuantizeInt4Input): per block the
// rows' integer sums of u·xq, then sum_b s·sx_b·(sum u·xq) - sum_g (8 + zp)·s·(group sum of xq·sx). About 7
// vector operations per chunk of 2·N16 weights (widen, and, shift, 2 multiply-adds, 2 adds; the x loads are
// shared by the 4 rows) plus a conversion and 2 float operations per block, against 14 per 2·N16 weights for the
// float kernel (DotInt4Rows4Impl).
template <bool kChecked, bool kOneChunk, class D32>
HWY_INLINE void DotInt4Rows4IntImpl(D32 d32, const Int4Matrix& m, const Int4IntLayout& layout, size_t r,
                                    size_t stride, const int16_t* HWY_RESTRICT xq,
                                    const float* HWY_RESTRICT block_scales, const float* HWY_RESTRICT x_sums,
                                    float* HWY_RESTRICT out) {
  const Int16Tag<D32> d16;
  const hn::RebindToUnsigned<decltype(d16)> du16;
  const hn::Rebind<float, D32> df;
  const size_t n16 = hn::Lanes(d16);  // bytes per chunk
  const size_t r1 = r + stride, r2 = r + 2 * stride, r3 = r + 3 * stride;
  const float *s0 = m.ScaleRow(r), *s1 = m.ScaleRow(r1), *s2 = m.ScaleRow(r2), *s3 = m.ScaleRow(r3);
  const size_t step = stride * m.row_bytes;
  // kOneChunk: groups of one chunk (groups of 32 on AVX-512 and AVX2, of 16 on SSE4), so the block loops vanish.
  const size_t blocks_per_group = kOneChunk ? 1 : layout.blocks_per_group;
  const size_t chunks_per_block = kOneChunk ? 1 : layout.chunks_per_block;
  const int16_t* HWY_RESTRICT xb = xq;
  const float* HWY_RESTRICT sx = block_scales;
  auto a0 = hn::Zero(df), a1 = a0, a2 = a0, a3 = a0;
  for (size_t g = 0; g < m.groups; ++g) {
    const size_t gs = g * m.scale_step;
    const auto sc0 = hn::Set(df, s0[gs]), sc1 = hn::Set(df, s1[gs]), sc2 = hn::Set(df, s2[gs]),
               sc3 = hn::Set(df, s3[gs]);
    size_t offset = r * m.row_bytes + g * m.group / 2;
    for (size_t k = 0; k < blocks_per_group; ++k, offset += layout.block / 2) {
      auto i0 = hn::Zero(d32), i1 = i0, i2 = i0, i3 = i0;
      auto j0 = hn::Zero(d32), j1 = j0, j2 = j0, j3 = j0;
      size_t o = offset;
      for (size_t c = 0; c < chunks_per_block; ++c, o += n16, xb += layout.width) {
        const auto x_lo = hn::Load(d16, xb);
        const auto x_hi = hn::Load(d16, xb + n16);
        AccumulateChunkInt(d32, LoadPackedBytes<kChecked>(du16, m, o), x_lo, x_hi, i0, j0);
        AccumulateChunkInt(d32, LoadPackedBytes<kChecked>(du16, m, o + step), x_lo, x_hi, i1, j1);
        AccumulateChunkInt(d32, LoadPackedBytes<kChecked>(du16, m, o + 2 * step), x_lo, x_hi, i2, j2);
        AccumulateChunkInt(d32, LoadPackedBytes<kChecked>(du16, m, o + 3 * step), x_lo, x_hi, i3, j3);
      }
      const auto sxv = hn::Set(df, *sx++);
      AddBlock(d32, i0, j0, sxv, sc0, a0);
      AddBlock(d32, i1, j1, sxv, sc1, a1);
      AddBlock(d32, i2, j2, sxv, sc2, a2);
      AddBlock(d32, i3, j3, sxv, sc3, a3);
    }
  }
  out[0] = hn::GetLane(hn::SumOfLanes(df, a0)) - OffsetCorrection(m, r, x_sums);
  out[1] = hn::GetLane(hn::SumOfLanes(df, a1)) - OffsetCorrection(m, r1, x_sums);
  out[2] = hn::GetLane(hn::SumOfLanes(df, a2)) - OffsetCorrection(m, r2, x_sums);
  out[3] = hn::GetLane(hn::SumOfLanes(df, a3)) - OffsetCorrection(m, r3, x_sums);
}

// As DotInt4Rows4: the bounds-checked loads only where a read could pass the matrix's end.
template <class D32>
HWY_INLINE void DotInt4Rows4Int(D32 d32, const Int4Matrix& m, const Int4IntLayout& layout, size_t r, size_t stride,
                                const int16_t* HWY_RESTRICT xq, const float* HWY_RESTRICT block_scales,
                                const float* HWY_RESTRICT x_sums, float* HWY_RESTRICT out) {
  if ((r + 3 * stride) * m.row_bytes + layout.read_bytes > m.rows * m.row_bytes) {
    DotInt4Rows4IntImpl<true, false>(d32, m, layout, r, stride, xq, block_scales, x_sums, out);
  } else if (layout.blocks_per_group == 1 && layout.chunks_per_block == 1) {
    DotInt4Rows4IntImpl<false, true>(d32, m, layout, r, stride, xq, block_scales, x_sums, out);
  } else {
    DotInt4Rows4IntImpl<false, false>(d32, m, layout, r, stride, xq, block_scales, x_sums, out);
  }
}

// dot(row r, x) for a single row, as DotInt4Rows4Int.
template <class D32>
HWY_INLINE float DotInt4RowInt(D32 d32, const Int4Matrix& m, const Int4IntLayout& layout, size_t r,
                               const int16_t* HWY_RESTRICT xq, const float* HWY_RESTRICT block_scales,
                               const float* HWY_RESTRICT x_sums) {
  const Int16Tag<D32> d16;
  const hn::RebindToUnsigned<decltype(d16)> du16;
  const hn::Rebind<float, D32> df;
  const size_t n16 = hn::Lanes(d16);
  const float* scales = m.ScaleRow(r);
  const int16_t* HWY_RESTRICT xb = xq;
  const float* HWY_RESTRICT sx = block_scales;
  auto acc = hn::Zero(df);
  for (size_t g = 0; g < m.groups; ++g) {
    const auto sc = hn::Set(df, scales[g * m.scale_step]);
    size_t offset = r * m.row_bytes + g * m.group / 2;
    for (size_t k = 0; k < layout.blocks_per_group; ++k, offset += layout.block / 2) {
      auto sum0 = hn::Zero(d32), sum1 = sum0;
      for (size_t c = 0; c < layout.chunks_per_block; ++c, xb += layout.width) {
        AccumulateChunkInt(d32, LoadPackedBytes(du16, m, offset + c * n16), hn::Load(d16, xb),
                           hn::Load(d16, xb + n16), sum0, sum1);
      }
      AddBlock(d32, sum0, sum1, hn::Set(df, *sx++), sc, acc);
    }
  }
  return hn::GetLane(hn::SumOfLanes(df, acc)) - OffsetCorrection(m, r, x_sums);
}

// Row r dequantized to F32 ((q - zp) * scale) in chunk order into `out` (aligned, chunks.length floats); columns
// past a group's end decode to whatever their nibbles hold (finite), matched by zeros in the permuted input.
HWY_INLINE void DecodeInt4RowChunked(const Int4Matrix& m, const Int4Chunks& chunks, size_t r,
                                     float* HWY_RESTRICT out) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di32;
  const hn::RebindToUnsigned<decltype(df)> du32;
  const size_t n = chunks.lanes;
  for (size_t g = 0; g < m.groups; ++g) {
    const auto offset = hn::Set(di32, m.Offset(r, g));
    const auto scale = hn::Set(df, m.Scale(r, g));
    const size_t group_begin = g * m.group;
    const size_t group_end = std::min(m.cols, group_begin + m.group);
    float* HWY_RESTRICT og = out + g * chunks.per_group * chunks.width;
    size_t k = 0;
    for (size_t c = group_begin; c < group_end; ++k, c += chunks.width) {
      const auto bytes = LoadPackedBytes(du32, m, r * m.row_bytes + c / 2);
      const auto lo = hn::BitCast(di32, hn::And(bytes, hn::Set(du32, 0xFu)));
      const auto hi = hn::BitCast(di32, hn::ShiftRight<4>(bytes));
      hn::Store(hn::Mul(hn::ConvertTo(df, hn::Sub(lo, offset)), scale), df, og + k * chunks.width);
      hn::Store(hn::Mul(hn::ConvertTo(df, hn::Sub(hi, offset)), scale), df, og + k * chunks.width + n);
    }
    // Chunks wholly past a short last group: their inputs are zero too, but keep the products free of garbage.
    for (; k < chunks.per_group; ++k) {
      hn::Store(hn::Zero(df), df, og + k * chunks.width);
      hn::Store(hn::Zero(df), df, og + k * chunks.width + n);
    }
  }
}

// NOLINTNEXTLINE(google-readability-namespace-comments)
}  // namespace HWY_NAMESPACE
}  // namespace octet
HWY_AFTER_NAMESPACE();

#endif  // OCTET_OPS_INT4_KERNELS_INL_H_
