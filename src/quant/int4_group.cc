#include "quant/int4_group.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "numeric/half.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace octet {
namespace {

// Rows per thread-pool item: fixed, so the split never depends on the thread count (each row is independent
// anyway).
constexpr int64_t kRowsPerTask = 16;

// compressed-tensors `_get_dtype_eps`: torch.finfo(dtype).eps of the scale dtype.
float ScaleEpsilon(Int4ScaleDtype dtype) {
  switch (dtype) {
    case Int4ScaleDtype::kF32:
      return std::numeric_limits<float>::epsilon();  // 2^-23
    case Int4ScaleDtype::kBF16:
      return 0.0078125f;  // 2^-7
    case Int4ScaleDtype::kF16:
      return 0.0009765625f;  // 2^-10
  }
  return std::numeric_limits<float>::epsilon();
}

float LargestFinite(Int4ScaleDtype dtype) {
  switch (dtype) {
    case Int4ScaleDtype::kF32:
      return std::numeric_limits<float>::max();
    case Int4ScaleDtype::kBF16:
      return DecodeBF16(0x7F7F);
    case Int4ScaleDtype::kF16:
      return 65504.0f;
  }
  return std::numeric_limits<float>::max();
}

// The scale as the checkpoint will hold it: a dtype cast (round to nearest even), saturated at the dtype's largest
// finite value so a scale never becomes Inf (only reachable with F16 scales for |w| > 65504 * 7.5).
float RoundScale(float scale, Int4ScaleDtype dtype) {
  float rounded = scale;
  switch (dtype) {
    case Int4ScaleDtype::kF32:
      break;
    case Int4ScaleDtype::kBF16:
      rounded = DecodeBF16(EncodeBF16(scale));
      break;
    case Int4ScaleDtype::kF16:
      rounded = DecodeF16(EncodeF16(scale));
      break;
  }
  const float largest = LargestFinite(dtype);
  return rounded > largest ? largest : rounded;
}

// NaN-safe clamp of a code (or zero point) to [-8, 7]: NaN goes to -8 instead of reaching an undefined cast.
float ClampToInt4Range(float v) {
  if (v > static_cast<float>(kInt4Max)) return static_cast<float>(kInt4Max);
  if (v >= static_cast<float>(kInt4Min)) return v;
  return static_cast<float>(kInt4Min);
}

// torch.round: round half to even. std::nearbyint does that in the default rounding mode (FE_TONEAREST), which
// octet never changes.
int8_t RoundHalfEvenToInt4(float v) { return static_cast<int8_t>(std::nearbyint(ClampToInt4Range(v))); }

// compressed-tensors calculate_qparams for a group whose (0-extended) range is [min_value, max_value].
Int4GroupQParams CompressedTensorsQParamsForRange(float min_value, float max_value, const Int4Params& params) {
  Int4GroupQParams q;
  const float epsilon = ScaleEpsilon(params.scale_dtype);
  if (params.symmetric) {
    const float abs_max = std::max(-min_value, max_value);
    // max_val_pos / (bit_range / 2), bit_range = 7 - (-8) = 15.
    q.scale = RoundScale(abs_max / 7.5f, params.scale_dtype);
    if (!(q.scale > 0.0f)) q.scale = epsilon;
    q.zero = 0;
  } else {
    q.scale = RoundScale((max_value - min_value) / 15.0f, params.scale_dtype);
    if (!(q.scale > 0.0f)) q.scale = epsilon;
    // zero_points = bit_min - min / scale, clamped to [bit_min, bit_max], rounded (torch.round) to int8.
    q.zero = RoundHalfEvenToInt4(static_cast<float>(kInt4Min) - min_value / q.scale);
  }
  q.inverse_scale = 0.0f;
  return q;
}

Int4GroupQParams CompressedTensorsQParams(const float* x, int64_t n, const Int4Params& params) {
  // calculate_qparams: min/max extended to include 0.
  float min_value = 0.0f;
  float max_value = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    min_value = std::min(min_value, x[i]);
    max_value = std::max(max_value, x[i]);
  }
  Int4GroupQParams best = CompressedTensorsQParamsForRange(min_value, max_value, params);
  if (params.mse_grid <= 0) return best;
  // llm-compressor's MSE observer (observers/mse.py): shrink the range by 1 - i/grid for i < maxshrink * grid
  // (maxshrink 0.2) and keep the range whose quantization error sum |x - q(x)|^2.4 is smallest (the first on ties).
  const auto error_of = [&](const Int4GroupQParams& q) {
    double error = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float d = x[i] - DequantizeInt4Value(QuantizeInt4Value(x[i], q, Int4Grid::kCompressedTensors), q);
      error += std::pow(std::fabs(static_cast<double>(d)), 2.4);
    }
    return error;
  };
  double best_error = error_of(best);
  const int steps = static_cast<int>(0.2 * params.mse_grid);
  for (int i = 1; i < steps; ++i) {
    const float shrink = 1.0f - static_cast<float>(i) / static_cast<float>(params.mse_grid);
    const Int4GroupQParams q = CompressedTensorsQParamsForRange(min_value * shrink, max_value * shrink, params);
    const double error = error_of(q);
    if (error < best_error) {
      best_error = error;
      best = q;
    }
  }
  return best;
}

Int4GroupQParams GgmlQ4_0QParams(const float* x, int64_t n, const Int4Params& params) {
  // quantize_row_q4_0_ref: the first element of largest magnitude, sign kept.
  float abs_max = 0.0f;
  float signed_max = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    if (abs_max < std::fabs(x[i])) {
      abs_max = std::fabs(x[i]);
      signed_max = x[i];
    }
  }
  const float d = signed_max / -8.0f;
  Int4GroupQParams q;
  q.inverse_scale = d != 0.0f ? 1.0f / d : 0.0f;
  q.scale = RoundScale(d, params.scale_dtype);
  q.zero = 0;
  return q;
}

template <typename Body>
void ForRowTasks(int64_t rows, ThreadPool* pool, const Body& body) {
  const int64_t tasks = (rows + kRowsPerTask - 1) / kRowsPerTask;
  auto run = [&](size_t task) {
    const int64_t begin = static_cast<int64_t>(task) * kRowsPerTask;
    const int64_t end = std::min(rows, begin + kRowsPerTask);
    for (int64_t r = begin; r < end; ++r) body(r);
  };
  if (pool == nullptr || pool->num_threads() == 1 || tasks <= 1) {
    for (int64_t t = 0; t < tasks; ++t) run(static_cast<size_t>(t));
  } else {
    pool->ParallelFor(static_cast<size_t>(tasks), run);
  }
}

void CheckShape(int64_t rows, int64_t cols, const char* what) {
  if (rows < 0 || cols < 0) Fail("{}: negative shape [{}, {}]", what, rows, cols);
}

}  // namespace

int64_t Int4Params::EffectiveGroupSize(int64_t cols) const {
  if (group_size == kInt4ChannelGroup) return std::max<int64_t>(cols, 1);
  return group_size;
}

std::string Int4Params::ToString() const {
  const std::string group = group_size == kInt4ChannelGroup ? "channel" : fmt::format("g{}", group_size);
  const char* grid_name = grid == Int4Grid::kGgmlQ4_0 ? "ggml-q4_0" : "compressed-tensors";
  const char* dtype = scale_dtype == Int4ScaleDtype::kF32    ? "F32"
                      : scale_dtype == Int4ScaleDtype::kBF16 ? "BF16"
                                                             : "F16";
  return fmt::format("{} {} {} scales {}", group, symmetric ? "symmetric" : "asymmetric", grid_name, dtype);
}

void ValidateInt4Params(const Int4Params& params) {
  const int g = params.group_size;
  if (g != kInt4ChannelGroup && g != 32 && g != 64 && g != 128) {
    Fail("INT4 group size {} is not supported (use 32, 64, 128 or channel)", g);
  }
  if (params.grid == Int4Grid::kGgmlQ4_0 && !params.symmetric) {
    Fail("the ggml Q4_0 grid is symmetric only (asymmetric ggml quantization is Q4_1, a different format)");
  }
}

int64_t Int4NumGroups(int64_t cols, int64_t group_size) {
  if (group_size <= 0) Fail("INT4 group size must be positive, got {}", group_size);
  return (cols + group_size - 1) / group_size;
}

Int4GroupQParams ChooseInt4GroupQParams(const float* x, int64_t n, const Int4Params& params) {
  if (params.grid == Int4Grid::kGgmlQ4_0) {
    if (!params.symmetric) Fail("the ggml Q4_0 grid is symmetric only");
    return GgmlQ4_0QParams(x, n, params);
  }
  return CompressedTensorsQParams(x, n, params);
}

int8_t QuantizeInt4Value(float x, const Int4GroupQParams& qparams, Int4Grid grid) {
  if (grid == Int4Grid::kGgmlQ4_0) {
    // min(15, (int8_t)(x * id + 8.5f)); also saturates at 0 for values beyond the group's own range (GPTQ's
    // error-compensated weights can be), where ggml's cast would wrap.
    const float t = x * qparams.inverse_scale + 8.5f;
    int nibble = 0;
    if (t >= 15.0f) {
      nibble = 15;
    } else if (t >= 0.0f) {
      nibble = static_cast<int>(t);  // truncation toward zero of a non-negative value
    }
    return static_cast<int8_t>(nibble - 8);
  }
  // _quantize: x / scale + zero_point, clamped to [q_min, q_max], torch.round.
  return RoundHalfEvenToInt4(x / qparams.scale + static_cast<float>(qparams.zero));
}

Int4GroupQParams Int4Matrix::QParams(int64_t row, int64_t group) const {
  const size_t index = static_cast<size_t>(row * num_groups() + group);
  Int4GroupQParams q;
  q.scale = scales[index];
  q.zero = zeros.empty() ? int8_t{0} : zeros[index];
  q.inverse_scale = inverse_scales.empty() ? 0.0f : inverse_scales[index];
  return q;
}

void Int4Matrix::DequantizeRow(int64_t row, float* out) const {
  const int64_t groups = num_groups();
  for (int64_t g = 0; g < groups; ++g) {
    const Int4GroupQParams q = QParams(row, g);
    const int64_t begin = g * group_size;
    const int64_t end = std::min(cols, begin + group_size);
    for (int64_t c = begin; c < end; ++c) out[c] = DequantizeInt4Value(codes[static_cast<size_t>(row * cols + c)], q);
  }
}

std::vector<float> Int4Matrix::Dequantize() const {
  std::vector<float> out(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) DequantizeRow(r, out.data() + r * cols);
  return out;
}

Int4Matrix ChooseInt4QParams(const float* w, int64_t rows, int64_t cols, const Int4Params& params, ThreadPool* pool) {
  CheckShape(rows, cols, "INT4 quantization");
  if (params.group_size < 0) Fail("INT4 group size must be positive, got {}", params.group_size);
  if (params.grid == Int4Grid::kGgmlQ4_0 && !params.symmetric) Fail("the ggml Q4_0 grid is symmetric only");
  Int4Matrix m;
  m.rows = rows;
  m.cols = cols;
  m.group_size = params.EffectiveGroupSize(cols);
  m.symmetric = params.symmetric;
  m.grid = params.grid;
  const int64_t groups = m.num_groups();
  m.codes.assign(static_cast<size_t>(rows * cols), 0);
  m.scales.assign(static_cast<size_t>(rows * groups), 0.0f);
  if (!params.symmetric) m.zeros.assign(static_cast<size_t>(rows * groups), 0);
  if (params.grid == Int4Grid::kGgmlQ4_0) m.inverse_scales.assign(static_cast<size_t>(rows * groups), 0.0f);
  ForRowTasks(rows, pool, [&](int64_t r) {
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t begin = g * m.group_size;
      const int64_t n = std::min(cols, begin + m.group_size) - begin;
      const Int4GroupQParams q = ChooseInt4GroupQParams(w + r * cols + begin, n, params);
      const size_t index = static_cast<size_t>(r * groups + g);
      m.scales[index] = q.scale;
      if (!m.zeros.empty()) m.zeros[index] = q.zero;
      if (!m.inverse_scales.empty()) m.inverse_scales[index] = q.inverse_scale;
    }
  });
  return m;
}

void QuantizeWithQParams(const float* w, Int4Matrix& m, ThreadPool* pool) {
  const int64_t groups = m.num_groups();
  ForRowTasks(m.rows, pool, [&](int64_t r) {
    for (int64_t g = 0; g < groups; ++g) {
      const Int4GroupQParams q = m.QParams(r, g);
      const int64_t begin = g * m.group_size;
      const int64_t end = std::min(m.cols, begin + m.group_size);
      for (int64_t c = begin; c < end; ++c) {
        const size_t index = static_cast<size_t>(r * m.cols + c);
        m.codes[index] = QuantizeInt4Value(w[index], q, m.grid);
      }
    }
  });
}

Int4Matrix QuantizeRtn(const float* w, int64_t rows, int64_t cols, const Int4Params& params, ThreadPool* pool) {
  Int4Matrix m = ChooseInt4QParams(w, rows, cols, params, pool);
  QuantizeWithQParams(w, m, pool);
  return m;
}

}  // namespace octet
