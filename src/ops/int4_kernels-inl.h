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
// Per 2N weights: one widening load, and + shift, two subtracts, two int->float conversions and two FMAs.

// Shared, target-independent description of an INT4 matrix; defined once.
#ifndef OCTET_OPS_INT4_KERNELS_SHARED_
#define OCTET_OPS_INT4_KERNELS_SHARED_
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

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
        data(static_cast<const uint8_t*>(w.data)) {}

  // The kernels' chunk order needs every group to start at a whole byte.
  bool ChunkOrderApplies() const { return group % 2 == 0 || groups == 1; }

  float Scale(size_t r, size_t g) const {
    switch (w.scale_kind) {
      case ScaleKind::kTensor:
        return w.scales[0];
      case ScaleKind::kChannel:
        return w.scales[r];
      case ScaleKind::kGroup:
        return w.scales[r * groups + g];
      default:
        return 1.0f;
    }
  }

  // The stored-value offset to subtract from a nibble u: 8 + zero point, so u - Offset = q - zp.
  int32_t Offset(size_t r, size_t g) const {
    if (w.zero_points == nullptr) return 8;
    switch (w.scale_kind) {
      case ScaleKind::kChannel:
        return 8 + w.zero_points[r];
      case ScaleKind::kGroup:
        return 8 + w.zero_points[r * groups + g];
      default:
        return 8 + w.zero_points[0];
    }
  }

  // Nibble of column c in row r (0..15).
  int32_t Nibble(size_t r, size_t c) const { return (data[r * row_bytes + c / 2] >> (4 * (c & 1))) & 0xF; }

  const WeightMatrix& w;
  size_t rows, cols;
  size_t group;      // columns per scale group (all columns for one scale per row)
  size_t groups;     // scale groups per row
  size_t row_bytes;  // bytes per packed row: whole 32-bit words
  const uint8_t* data;
};

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

// x (cols floats, column order) -> out (chunks.length floats, chunk order, zeros past each group's end).
inline void PermuteToChunkOrder(const Int4Matrix& m, const Int4Chunks& chunks, const float* HWY_RESTRICT x,
                                float* HWY_RESTRICT out) {
  const size_t n = chunks.lanes;
  for (size_t g = 0; g < m.groups; ++g) {
    const size_t group_end = std::min(m.cols, (g + 1) * m.group);
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

// Lanes(df) bytes of row data at byte `offset` of the matrix, widened to 32-bit lanes. Near the end of the
// matrix (which may be the end of a memory mapping) the bytes are copied to a zeroed buffer first.
template <class DU>
HWY_INLINE hn::Vec<DU> LoadPackedBytes(DU du32, const Int4Matrix& m, size_t offset) {
  const hn::Rebind<uint8_t, DU> du8;
  const size_t n = hn::Lanes(du32);
  const size_t total = m.rows * m.row_bytes;
  if (HWY_LIKELY(offset + n <= total)) return hn::PromoteTo(du32, hn::LoadU(du8, m.data + offset));
  uint8_t buf[HWY_MAX_BYTES / sizeof(float)] = {};
  std::memcpy(buf, m.data + offset, total - offset);
  return hn::PromoteTo(du32, hn::LoadU(du8, buf));
}

// blk += (lo nibbles - offset) * x_lo + (hi nibbles - offset) * x_hi for one chunk of one row.
template <class DF>
HWY_INLINE void AccumulateChunk(DF df, hn::Vec<hn::RebindToUnsigned<DF>> bytes, hn::Vec<hn::RebindToSigned<DF>> offset,
                                hn::Vec<DF> x_lo, hn::Vec<DF> x_hi, hn::Vec<DF>& blk) {
  const hn::RebindToSigned<DF> di32;
  const hn::RebindToUnsigned<DF> du32;
  const auto lo = hn::BitCast(di32, hn::And(bytes, hn::Set(du32, 0xFu)));
  const auto hi = hn::BitCast(di32, hn::ShiftRight<4>(bytes));
  blk = hn::MulAdd(hn::ConvertTo(df, hn::Sub(lo, offset)), x_lo, blk);
  blk = hn::MulAdd(hn::ConvertTo(df, hn::Sub(hi, offset)), x_hi, blk);
}

// out[0..3] = dot(row r + i, x) for 4 rows, x in chunk order. Per group, each row's chunks accumulate lane-wise
// into a block sum that is then multiplied by the row's group scale and added to the row's accumulator: one
// scale FMA per group instead of one multiply per weight. Named variables as in decode_kernels-inl.h (GCC spills
// arrays of vectors).
HWY_INLINE void DotInt4Rows4(const Int4Matrix& m, const Int4Chunks& chunks, size_t r,
                             const float* HWY_RESTRICT x, float* HWY_RESTRICT out) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di32;
  const hn::RebindToUnsigned<decltype(df)> du32;
  const size_t n = chunks.lanes;
  auto a0 = hn::Zero(df), a1 = a0, a2 = a0, a3 = a0;
  for (size_t g = 0; g < m.groups; ++g) {
    const auto o0 = hn::Set(di32, m.Offset(r, g)), o1 = hn::Set(di32, m.Offset(r + 1, g));
    const auto o2 = hn::Set(di32, m.Offset(r + 2, g)), o3 = hn::Set(di32, m.Offset(r + 3, g));
    auto b0 = hn::Zero(df), b1 = b0, b2 = b0, b3 = b0;
    const size_t group_begin = g * m.group;
    const size_t group_end = std::min(m.cols, group_begin + m.group);
    const float* HWY_RESTRICT xg = x + g * chunks.per_group * chunks.width;
    for (size_t k = 0, c = group_begin; c < group_end; ++k, c += chunks.width) {
      const auto x_lo = hn::Load(df, xg + k * chunks.width);
      const auto x_hi = hn::Load(df, xg + k * chunks.width + n);
      const size_t offset = r * m.row_bytes + c / 2;
      AccumulateChunk(df, LoadPackedBytes(du32, m, offset), o0, x_lo, x_hi, b0);
      AccumulateChunk(df, LoadPackedBytes(du32, m, offset + m.row_bytes), o1, x_lo, x_hi, b1);
      AccumulateChunk(df, LoadPackedBytes(du32, m, offset + 2 * m.row_bytes), o2, x_lo, x_hi, b2);
      AccumulateChunk(df, LoadPackedBytes(du32, m, offset + 3 * m.row_bytes), o3, x_lo, x_hi, b3);
    }
    a0 = hn::MulAdd(b0, hn::Set(df, m.Scale(r, g)), a0);
    a1 = hn::MulAdd(b1, hn::Set(df, m.Scale(r + 1, g)), a1);
    a2 = hn::MulAdd(b2, hn::Set(df, m.Scale(r + 2, g)), a2);
    a3 = hn::MulAdd(b3, hn::Set(df, m.Scale(r + 3, g)), a3);
  }
  out[0] = hn::GetLane(hn::SumOfLanes(df, a0));
  out[1] = hn::GetLane(hn::SumOfLanes(df, a1));
  out[2] = hn::GetLane(hn::SumOfLanes(df, a2));
  out[3] = hn::GetLane(hn::SumOfLanes(df, a3));
}

// dot(row r, x) for a single row (rows left over from groups of 4), x in chunk order.
HWY_INLINE float DotInt4Row(const Int4Matrix& m, const Int4Chunks& chunks, size_t r, const float* HWY_RESTRICT x) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di32;
  const hn::RebindToUnsigned<decltype(df)> du32;
  auto acc = hn::Zero(df);
  for (size_t g = 0; g < m.groups; ++g) {
    const auto offset = hn::Set(di32, m.Offset(r, g));
    auto blk = hn::Zero(df);
    const size_t group_begin = g * m.group;
    const size_t group_end = std::min(m.cols, group_begin + m.group);
    const float* HWY_RESTRICT xg = x + g * chunks.per_group * chunks.width;
    for (size_t k = 0, c = group_begin; c < group_end; ++k, c += chunks.width) {
      AccumulateChunk(df, LoadPackedBytes(du32, m, r * m.row_bytes + c / 2), offset,
                      hn::Load(df, xg + k * chunks.width), hn::Load(df, xg + k * chunks.width + chunks.lanes), blk);
    }
    acc = hn::MulAdd(blk, hn::Set(df, m.Scale(r, g)), acc);
  }
  return hn::GetLane(hn::SumOfLanes(df, acc));
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
