#include "quant/awq.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/matvec.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace octet {
namespace {

constexpr int64_t kRowsPerItem = 8;

template <typename Body>
void ForRows(int64_t rows, ThreadPool* pool, const Body& body) {
  const int64_t items = (rows + kRowsPerItem - 1) / kRowsPerItem;
  auto run = [&](size_t item) {
    const int64_t begin = static_cast<int64_t>(item) * kRowsPerItem;
    const int64_t end = std::min(rows, begin + kRowsPerItem);
    for (int64_t r = begin; r < end; ++r) body(r);
  };
  if (pool == nullptr || pool->num_threads() == 1 || items <= 1) {
    for (int64_t i = 0; i < items; ++i) run(static_cast<size_t>(i));
  } else {
    pool->ParallelFor(static_cast<size_t>(items), run);
  }
}

// `count` row indices of [0, tokens), evenly spread (all of them when tokens <= count).
std::vector<int64_t> EvenlySpacedRows(int64_t tokens, int64_t count) {
  std::vector<int64_t> picked;
  if (count <= 0 || tokens <= count) {
    for (int64_t t = 0; t < tokens; ++t) picked.push_back(t);
    return picked;
  }
  for (int64_t i = 0; i < count; ++i) picked.push_back(i * tokens / count);
  return picked;
}

std::vector<float> GatherRows(const float* x, int64_t cols, const std::vector<int64_t>& picked) {
  std::vector<float> out(picked.size() * static_cast<size_t>(cols));
  for (size_t i = 0; i < picked.size(); ++i) {
    std::copy(x + picked[i] * cols, x + (picked[i] + 1) * cols, out.begin() + static_cast<int64_t>(i) * cols);
  }
  return out;
}

// AutoAWQ _search_best_scale step 1 (duo scaling only): mean over all rows of the linears of |w| / group max.
std::vector<float> WeightChannelMean(const std::vector<AwqLinear>& linears, int64_t cols, int64_t group_size) {
  std::vector<double> sum(static_cast<size_t>(cols), 0.0);
  int64_t total_rows = 0;
  for (const AwqLinear& linear : linears) {
    for (int64_t r = 0; r < linear.rows; ++r) {
      const float* row = linear.weight + r * cols;
      for (int64_t begin = 0; begin < cols; begin += group_size) {
        const int64_t end = std::min(cols, begin + group_size);
        float group_max = 0.0f;
        for (int64_t c = begin; c < end; ++c) group_max = std::max(group_max, std::fabs(row[c]));
        for (int64_t c = begin; c < end; ++c) sum[static_cast<size_t>(c)] += std::fabs(row[c]) / (group_max + 1e-6f);
      }
    }
    total_rows += linear.rows;
  }
  std::vector<float> mean(static_cast<size_t>(cols));
  for (int64_t c = 0; c < cols; ++c) mean[static_cast<size_t>(c)] = static_cast<float>(sum[c] / total_rows);
  return mean;
}

}  // namespace

void ScaleWeightColumns(float* w, int64_t rows, int64_t cols, const std::vector<float>& s) {
  if (static_cast<int64_t>(s.size()) != cols) Fail("AWQ: {} scales for {} input columns", s.size(), cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) w[r * cols + c] *= s[static_cast<size_t>(c)];
  }
}

void DivideInputColumns(float* x, int64_t tokens, int64_t cols, const std::vector<float>& s) {
  if (static_cast<int64_t>(s.size()) != cols) Fail("AWQ: {} scales for {} input columns", s.size(), cols);
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t c = 0; c < cols; ++c) x[t * cols + c] /= s[static_cast<size_t>(c)];
  }
}

double LinearOutputSquaredError(const float* x, int64_t tokens, const float* w, const float* w_hat, int64_t rows,
                                int64_t cols, ThreadPool* pool) {
  // sum_t sum_r (x_t . (w_r - w_hat_r))^2, with the difference taken first so the figure is not the small
  // difference of two large outputs. The products run through ops/matvec.h's SIMD MatMul (F32 accumulation, fixed
  // order, thread-count independent); the squares are summed in double in token-then-row order.
  std::vector<float> diff(static_cast<size_t>(rows * cols));
  for (size_t i = 0; i < diff.size(); ++i) diff[i] = w[i] - w_hat[i];
  WeightMatrix matrix;
  matrix.dtype = DType::kF32;
  matrix.rows = rows;
  matrix.cols = cols;
  matrix.data = diff.data();
  ThreadPool inline_pool(1);
  ThreadPool& threads = pool != nullptr ? *pool : inline_pool;
  // Bounded memory for the outputs: a chunk of tokens at a time.
  constexpr int64_t kTokensPerChunk = 256;
  std::vector<float> y(static_cast<size_t>(std::min(tokens, kTokensPerChunk) * rows));
  double total = 0.0;
  for (int64_t t0 = 0; t0 < tokens; t0 += kTokensPerChunk) {
    const int64_t n = std::min(kTokensPerChunk, tokens - t0);
    MatMul(matrix, x + t0 * cols, static_cast<size_t>(n), y.data(), threads);
    for (int64_t i = 0; i < n * rows; ++i)
      total += static_cast<double>(y[static_cast<size_t>(i)]) * y[static_cast<size_t>(i)];
  }
  return total;
}

AwqScaleResult SearchAwqScale(const std::vector<AwqLinear>& linears, int64_t cols, const float* x, int64_t tokens,
                              const Int4Params& params, const AwqOptions& options, ThreadPool* pool) {
  if (linears.empty()) Fail("AWQ: no linears to scale");
  if (cols <= 0 || tokens <= 0) Fail("AWQ: empty calibration input [{}, {}]", tokens, cols);
  if (options.grid <= 0) Fail("AWQ: the ratio grid must have at least one point, got {}", options.grid);
  int64_t total_rows = 0;
  for (const AwqLinear& linear : linears) {
    if (linear.weight == nullptr || linear.rows <= 0) Fail("AWQ: a linear of the group is empty");
    total_rows += linear.rows;
  }

  // Per-channel mean |x| over every calibration row (AutoAWQ x_mean, accumulated in double here).
  std::vector<double> abs_sum(static_cast<size_t>(cols), 0.0);
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t c = 0; c < cols; ++c) abs_sum[static_cast<size_t>(c)] += std::fabs(x[t * cols + c]);
  }
  std::vector<float> x_mean(static_cast<size_t>(cols));
  for (int64_t c = 0; c < cols; ++c) x_mean[c] = static_cast<float>(abs_sum[c] / static_cast<double>(tokens));
  std::vector<float> w_mean;
  if (options.duo_scaling) w_mean = WeightChannelMean(linears, cols, params.EffectiveGroupSize(cols));

  // The loss is measured on a bounded, evenly spread sample of rows.
  const std::vector<float> sample = GatherRows(x, cols, EvenlySpacedRows(tokens, options.max_tokens));
  const int64_t sample_tokens = static_cast<int64_t>(sample.size()) / cols;

  AwqScaleResult result;
  result.losses.assign(static_cast<size_t>(options.grid), 0.0);
  double best_loss = std::numeric_limits<double>::infinity();
  std::vector<float> scales(static_cast<size_t>(cols));
  std::vector<float> scaled;
  for (int step = 0; step < options.grid; ++step) {
    const float ratio = static_cast<float>(step) / static_cast<float>(options.grid);
    for (int64_t c = 0; c < cols; ++c) {
      float s = 0.0f;
      if (options.duo_scaling) {
        s = std::pow(x_mean[c], ratio) / (std::pow(w_mean[c], 1.0f - ratio) + 1e-4f);
      } else {
        s = std::pow(x_mean[c], ratio);
      }
      scales[static_cast<size_t>(c)] = std::max(s, 1e-4f);
    }
    const auto [min_it, max_it] = std::minmax_element(scales.begin(), scales.end());
    const float normalizer = std::sqrt(*max_it * *min_it);
    for (float& s : scales) {
      s /= normalizer;
      if (!std::isfinite(s)) s = 1.0f;  // AutoAWQ: scales[isinf] = 1, scales[isnan] = 1
    }
    double squared_error = 0.0;
    for (const AwqLinear& linear : linears) {
      // W_hat = Q(W diag(s)) diag(s)^-1, so that X W_hat^T = (X / s) Q(W s)^T.
      scaled.assign(linear.weight, linear.weight + linear.rows * cols);
      ScaleWeightColumns(scaled.data(), linear.rows, cols, scales);
      std::vector<float> w_hat = QuantizeRtn(scaled.data(), linear.rows, cols, params, pool).Dequantize();
      for (int64_t r = 0; r < linear.rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) w_hat[static_cast<size_t>(r * cols + c)] /= scales[static_cast<size_t>(c)];
      }
      squared_error +=
          LinearOutputSquaredError(sample.data(), sample_tokens, linear.weight, w_hat.data(), linear.rows, cols, pool);
    }
    const double loss = squared_error / (static_cast<double>(sample_tokens) * static_cast<double>(total_rows));
    result.losses[static_cast<size_t>(step)] = loss;
    if (loss < best_loss) {  // the first of equal losses wins, as AutoAWQ's `loss < best_error`
      best_loss = loss;
      result.best_ratio = ratio;
      result.scales = scales;
    }
  }
  if (result.scales.empty()) Fail("AWQ: every ratio gave a non-finite loss (non-finite weights or inputs?)");
  result.best_loss = best_loss;
  return result;
}

std::vector<float> SearchAwqClip(const float* w, int64_t rows, int64_t cols, const float* x, int64_t tokens,
                                 const Int4Params& params, const AwqClipOptions& options, ThreadPool* pool) {
  if (rows <= 0 || cols <= 0 || tokens <= 0) Fail("AWQ clip: empty weight or input");
  // _compute_best_clip: input_feat[:, ::step] with step = max(1, n // n_sample_token).
  const int64_t step = std::max<int64_t>(1, tokens / std::max<int64_t>(1, options.max_tokens));
  std::vector<int64_t> picked;
  for (int64_t t = 0; t < tokens; t += step) picked.push_back(t);
  const std::vector<float> sample = GatherRows(x, cols, picked);
  const int64_t n = static_cast<int64_t>(picked.size());
  const int64_t group_size = params.EffectiveGroupSize(cols);
  const int64_t groups = Int4NumGroups(cols, group_size);
  const int shrink_steps = static_cast<int>(options.max_shrink * options.grid);
  std::vector<float> best_clip(static_cast<size_t>(rows * groups), 0.0f);

  ForRows(rows, pool, [&](int64_t r) {
    std::vector<float> clipped(static_cast<size_t>(group_size));
    std::vector<double> original_out(static_cast<size_t>(n));
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t begin = g * group_size;
      const int64_t len = std::min(cols, begin + group_size) - begin;
      const float* wg = w + r * cols + begin;
      float max_abs = 0.0f;
      for (int64_t c = 0; c < len; ++c) max_abs = std::max(max_abs, std::fabs(wg[c]));
      for (int64_t t = 0; t < n; ++t) {
        const float* xt = sample.data() + t * cols + begin;
        double dot = 0.0;
        for (int64_t c = 0; c < len; ++c) dot += static_cast<double>(xt[c]) * wg[c];
        original_out[static_cast<size_t>(t)] = dot;
      }
      double min_error = std::numeric_limits<double>::infinity();
      float best = max_abs;
      for (int i = 0; i < std::max(1, shrink_steps); ++i) {
        const float max_val = max_abs * (1.0f - static_cast<float>(i) / static_cast<float>(options.grid));
        for (int64_t c = 0; c < len; ++c) clipped[static_cast<size_t>(c)] = std::clamp(wg[c], -max_val, max_val);
        const Int4GroupQParams q = ChooseInt4GroupQParams(clipped.data(), len, params);
        for (int64_t c = 0; c < len; ++c) {
          float& v = clipped[static_cast<size_t>(c)];
          v = DequantizeInt4Value(QuantizeInt4Value(v, q, params.grid), q);
        }
        double error = 0.0;
        for (int64_t t = 0; t < n; ++t) {
          const float* xt = sample.data() + t * cols + begin;
          double dot = 0.0;
          for (int64_t c = 0; c < len; ++c) dot += static_cast<double>(xt[c]) * clipped[static_cast<size_t>(c)];
          const double e = dot - original_out[static_cast<size_t>(t)];
          error += e * e;
        }
        error /= static_cast<double>(n);
        if (error < min_error) {
          min_error = error;
          best = max_val;
        }
      }
      best_clip[static_cast<size_t>(r * groups + g)] = best;
    }
  });
  return best_clip;
}

void ApplyAwqClip(float* w, int64_t rows, int64_t cols, int64_t group_size, const std::vector<float>& clip) {
  const int64_t groups = Int4NumGroups(cols, group_size);
  if (static_cast<int64_t>(clip.size()) != rows * groups) {
    Fail("AWQ clip: {} clip values for a [{}, {}] weight with {} groups per row", clip.size(), rows, cols, groups);
  }
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const float limit = clip[static_cast<size_t>(r * groups + c / group_size)];
      w[r * cols + c] = std::clamp(w[r * cols + c], -limit, limit);
    }
  }
}

}  // namespace octet
