#include "quant/fp8_quantizer.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "numeric/convert_rows.h"
#include "util/error.h"

namespace octet {

float Fp8ScaleFor(float abs_max, Fp8Format format) {
  return std::max(abs_max / Fp8MaxFinite(format), kMinFp8Scale);
}

int64_t Fp8ScaleLayout::num_scales() const {
  switch (kind) {
    case WeightScale::kNone: return 0;
    case WeightScale::kTensor: return 1;
    case WeightScale::kChannel: return rows;
    case WeightScale::kBlock: return block_grid_rows() * block_grid_cols();
  }
  return 0;
}

int64_t Fp8ScaleLayout::AlignBandRows(int64_t desired) const {
  desired = std::max<int64_t>(desired, 1);
  if (kind != WeightScale::kBlock) return desired;
  return std::max<int64_t>(block, desired / block * block);
}

void QuantizeFp8Band(const Fp8ScaleLayout& layout, Fp8Format format, int64_t row_begin, int64_t band_rows,
                     const float* band, float tensor_scale, uint8_t* codes, float* scales, float* scratch,
                     QuantError& error) {
  const int64_t cols = layout.cols;
  const size_t n = static_cast<size_t>(band_rows * cols);
  switch (layout.kind) {
    case WeightScale::kNone:
      EncodeFromF32(Fp8DType(format), band, n, codes);
      break;
    case WeightScale::kTensor:
      QuantizeFp8(format, band, n, tensor_scale, codes);
      break;
    case WeightScale::kChannel:
      for (int64_t r = 0; r < band_rows; ++r) {
        const float* row = band + r * cols;
        const float scale = Fp8ScaleFor(ScanRange(row, static_cast<size_t>(cols)).abs_max, format);
        scales[row_begin + r] = scale;
        QuantizeFp8(format, row, static_cast<size_t>(cols), scale, codes + r * cols);
      }
      break;
    case WeightScale::kBlock: {
      if (row_begin % layout.block != 0) Fail("internal: block band starts at row {}", row_begin);
      const int64_t grid_cols = layout.block_grid_cols();
      for (int64_t br = 0; br < band_rows; br += layout.block) {
        const int64_t rows_here = std::min(layout.block, band_rows - br);
        for (int64_t bc = 0; bc < grid_cols; ++bc) {
          const int64_t c0 = bc * layout.block;
          const int64_t cols_here = std::min(layout.block, cols - c0);
          float abs_max = 0;
          for (int64_t r = 0; r < rows_here; ++r) {
            abs_max = std::max(abs_max, ScanRange(band + (br + r) * cols + c0, cols_here).abs_max);
          }
          const float scale = Fp8ScaleFor(abs_max, format);
          scales[((row_begin + br) / layout.block) * grid_cols + bc] = scale;
          for (int64_t r = 0; r < rows_here; ++r) {
            const int64_t offset = (br + r) * cols + c0;
            QuantizeFp8(format, band + offset, static_cast<size_t>(cols_here), scale, codes + offset);
          }
        }
      }
      break;
    }
  }
  // Error of the band as an engine reconstructs it: code * scale.
  DecodeToF32(Fp8DType(format), codes, n, scratch);
  switch (layout.kind) {
    case WeightScale::kNone:
      error.AddScaled(band, scratch, 1.0f, n);
      break;
    case WeightScale::kTensor:
      error.AddScaled(band, scratch, tensor_scale, n);
      break;
    case WeightScale::kChannel:
      for (int64_t r = 0; r < band_rows; ++r) {
        error.AddScaled(band + r * cols, scratch + r * cols, scales[row_begin + r], static_cast<size_t>(cols));
      }
      break;
    case WeightScale::kBlock: {
      const int64_t grid_cols = layout.block_grid_cols();
      for (int64_t r = 0; r < band_rows; ++r) {
        const float* scale_row = scales + ((row_begin + r) / layout.block) * grid_cols;
        for (int64_t c0 = 0; c0 < cols; c0 += layout.block) {
          const int64_t offset = r * cols + c0;
          error.AddScaled(band + offset, scratch + offset, scale_row[c0 / layout.block],
                          static_cast<size_t>(std::min(layout.block, cols - c0)));
        }
      }
      break;
    }
  }
}

void DequantizeFp8Band(const Fp8ScaleLayout& layout, Fp8Format format, int64_t row_begin, int64_t band_rows,
                       const uint8_t* codes, const float* scales, float tensor_scale, float* out) {
  const int64_t cols = layout.cols;
  DecodeToF32(Fp8DType(format), codes, static_cast<size_t>(band_rows * cols), out);
  switch (layout.kind) {
    case WeightScale::kNone:
      return;
    case WeightScale::kTensor:
      for (int64_t i = 0; i < band_rows * cols; ++i) out[i] *= tensor_scale;
      return;
    case WeightScale::kChannel:
      for (int64_t r = 0; r < band_rows; ++r) {
        const float scale = scales[row_begin + r];
        for (int64_t c = 0; c < cols; ++c) out[r * cols + c] *= scale;
      }
      return;
    case WeightScale::kBlock: {
      const int64_t grid_cols = layout.block_grid_cols();
      for (int64_t r = 0; r < band_rows; ++r) {
        const float* scale_row = scales + ((row_begin + r) / layout.block) * grid_cols;
        for (int64_t c = 0; c < cols; ++c) out[r * cols + c] *= scale_row[c / layout.block];
      }
      return;
    }
  }
}

}  // namespace octet
