#include "quant/gptq.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>

#include "ops/matvec.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace octet {
namespace {

// Rows of W processed together: U (cols x cols) is streamed once per tile instead of once per row. Fixed, so the
// work split never depends on the thread count (and each row's arithmetic does not depend on the tile anyway).
constexpr int64_t kTileRows = 16;
// Work items for the parallel parts of the Cholesky factorization and the triangular inverse.
constexpr int64_t kRowsPerItem = 32;
// Columns factored (and inverted) together: each streamed row of L then serves this many dot products.
constexpr int64_t kPanel = 16;
// Hessian accumulation: tokens per F32 MatMul (then added into double sums) and rows of H per output band.
constexpr int64_t kHessianChunk = 1024;
constexpr int64_t kHessianBand = 256;

// Runs body(begin, end) over [0, n) in fixed chunks, on `pool` when it helps.
template <typename Body>
void ForChunks(int64_t n, int64_t chunk, ThreadPool* pool, const Body& body) {
  if (n <= 0) return;
  const int64_t items = (n + chunk - 1) / chunk;
  auto run = [&](size_t item) {
    const int64_t begin = static_cast<int64_t>(item) * chunk;
    body(begin, std::min(n, begin + chunk));
  };
  if (pool == nullptr || pool->num_threads() == 1 || items == 1) {
    for (int64_t i = 0; i < items; ++i) run(static_cast<size_t>(i));
  } else {
    pool->ParallelFor(static_cast<size_t>(items), run);
  }
}

// Four independent partial sums (element k goes to sum k % 4): not one serial dependency chain, and a fixed
// order, so the result never depends on the caller's threading.
double Dot(const double* a, const double* b, int64_t n) {
  double partial[4] = {0.0, 0.0, 0.0, 0.0};
  int64_t k = 0;
  for (; k + 4 <= n; k += 4) {
    for (int l = 0; l < 4; ++l) partial[l] += a[k + l] * b[k + l];
  }
  for (; k < n; ++k) partial[k % 4] += a[k] * b[k];
  return (partial[0] + partial[1]) + (partial[2] + partial[3]);
}

// In-place lower Cholesky factor of the symmetric positive definite `a` ([n, n] row-major; only the lower triangle
// is read; the strict upper triangle is left as is). Returns false on a non-positive or non-finite pivot.
//
// Every element is the textbook (Cholesky-Crout) formula, one dot product in a fixed order:
//   L[j][j] = sqrt(a[j][j] - L[j][0:j] . L[j][0:j]),   L[i][j] = (a[i][j] - L[i][0:j] . L[j][0:j]) / L[j][j]
// computed a panel of kPanel columns at a time, so that each row below the panel is read once per panel (for
// kPanel dot products against the panel's rows, which stay in cache) instead of once per column; for n in the
// thousands the unblocked loop is bound by memory bandwidth. The rows below a panel's diagonal block are
// independent and are spread over the pool. The order of the arithmetic never depends on the thread count.
bool CholeskyLowerInPlace(std::vector<double>& a, int64_t n, ThreadPool* pool) {
  for (int64_t j0 = 0; j0 < n; j0 += kPanel) {
    const int64_t j1 = std::min(n, j0 + kPanel);
    // The diagonal block, row by row: row i's entries need the pivots of the columns before them.
    for (int64_t i = j0; i < j1; ++i) {
      double* row_i = a.data() + i * n;
      for (int64_t j = j0; j < i; ++j) {
        const double* row_j = a.data() + j * n;
        row_i[j] = (row_i[j] - Dot(row_i, row_j, j)) / row_j[j];
      }
      const double pivot = row_i[i] - Dot(row_i, row_i, i);
      if (!(pivot > 0.0) || !std::isfinite(pivot)) return false;
      row_i[i] = std::sqrt(pivot);
    }
    // The rows below it: independent of each other.
    const int64_t below = n - j1;
    ThreadPool* panel_pool = below * j1 >= (1 << 14) ? pool : nullptr;
    ForChunks(below, kRowsPerItem, panel_pool, [&](int64_t begin, int64_t end) {
      for (int64_t i = j1 + begin; i < j1 + end; ++i) {
        double* row_i = a.data() + i * n;
        for (int64_t j = j0; j < j1; ++j) {
          const double* row_j = a.data() + j * n;
          row_i[j] = (row_i[j] - Dot(row_i, row_j, j)) / row_j[j];
        }
      }
    });
  }
  return true;
}

}  // namespace

bool InverseHessianCholesky(const std::vector<double>& h, int64_t n, double damp, std::vector<double>& u,
                            ThreadPool* pool) {
  // torch.linalg.cholesky(H) -> cholesky_inverse -> cholesky(upper=True) in the references computes the upper
  // factor U of (H + damp I)^-1. The same U in one factorization: with P the reversal permutation,
  // P A P = L L^T gives A^-1 = (P L^-1 P)^T (P L^-1 P), and P L^-1 P is upper triangular with a positive diagonal,
  // so it is the (unique) upper Cholesky factor of A^-1.
  const size_t size = static_cast<size_t>(n * n);
  if (h.size() != size) return false;
  std::vector<double> a(size);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j <= i; ++j) {
      a[static_cast<size_t>(i * n + j)] = h[static_cast<size_t>((n - 1 - i) * n + (n - 1 - j))];
    }
    a[static_cast<size_t>(i * n + i)] += damp;
  }
  if (!CholeskyLowerInPlace(a, n, pool)) return false;
  // M = L^-1 (lower) by forward substitution, column j solving L m = e_j:
  //   m[j] = 1 / L[j][j],   m[i] = -(L[i][j:i] . m[j:i]) / L[i][i] for i > j.
  // Column j is stored as row j of `m_t`. kPanel columns at a time, so each row of L is read once per panel;
  // panels are independent and spread over the pool.
  std::vector<double> m_t(size, 0.0);
  std::atomic<bool> finite{true};
  ForChunks(n, kPanel, pool, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) m_t[static_cast<size_t>(j * n + j)] = 1.0 / a[static_cast<size_t>(j * n + j)];
    for (int64_t i = j0 + 1; i < n; ++i) {
      const double* row_i = a.data() + i * n;
      for (int64_t j = j0; j < std::min(j1, i); ++j) {
        double* m = m_t.data() + j * n;
        m[i] = -Dot(row_i + j, m + j, i - j) / row_i[i];
      }
    }
    for (int64_t j = j0; j < j1; ++j) {
      for (int64_t i = j; i < n; ++i) {
        if (!std::isfinite(m_t[static_cast<size_t>(j * n + i)])) finite = false;
      }
    }
  });
  if (!finite) return false;
  a = std::vector<double>();  // release the factor before U takes its place
  // U[p][q] = M[n-1-p][n-1-q] = m_t[n-1-q][n-1-p]: an anti-transpose, an involution on the upper triangle (where
  // both m_t's data and U live), done in place by swapping pairs; the lower triangles are zero in both.
  for (int64_t p = 0; p < n; ++p) {
    for (int64_t q = p; q < n; ++q) {
      const size_t here = static_cast<size_t>(p * n + q);
      const size_t there = static_cast<size_t>((n - 1 - q) * n + (n - 1 - p));
      if (here < there) std::swap(m_t[here], m_t[there]);
    }
  }
  u = std::move(m_t);
  return true;
}

HessianAccumulator::HessianAccumulator(int64_t cols) : cols_(cols) {
  if (cols <= 0) Fail("Hessian: the input dimension must be positive, got {}", cols);
  sum_.assign(static_cast<size_t>(cols * cols), 0.0);
}

void HessianAccumulator::Add(const float* x, int64_t tokens, ThreadPool* pool) {
  if (tokens <= 0) return;
  for (int64_t i = 0; i < tokens * cols_; ++i) {
    if (!std::isfinite(x[i])) {
      Fail("Hessian: calibration input row {} column {} is {}", i / cols_, i % cols_, x[i]);
    }
  }
  const int64_t n = cols_;
  ThreadPool inline_pool(1);
  ThreadPool& threads = pool != nullptr ? *pool : inline_pool;
  // X^T X through ops/matvec.h's SIMD MatMul (F32 products, F32 sums over at most kHessianChunk tokens, a fixed
  // order at any thread count), added chunk by chunk into the double sums. With xt = X^T ([n, tokens]) as both the
  // "weight" and the "input": MatMul(rows r0..r1 of xt, rows a >= r0 of xt) = sum_t x[t][r] x[t][a]. Only the
  // upper triangle (a >= r) is kept; bands of kHessianBand rows bound the output buffer.
  std::vector<float> xt;
  std::vector<float> y;
  for (int64_t t0 = 0; t0 < tokens; t0 += kHessianChunk) {
    const int64_t chunk = std::min(kHessianChunk, tokens - t0);
    xt.assign(static_cast<size_t>(n * chunk), 0.0f);
    for (int64_t t = 0; t < chunk; ++t) {
      for (int64_t i = 0; i < n; ++i) xt[static_cast<size_t>(i * chunk + t)] = x[(t0 + t) * n + i];
    }
    for (int64_t r0 = 0; r0 < n; r0 += kHessianBand) {
      const int64_t band = std::min(kHessianBand, n - r0);
      WeightMatrix rows_of_xt;
      rows_of_xt.dtype = DType::kF32;
      rows_of_xt.rows = band;
      rows_of_xt.cols = chunk;
      rows_of_xt.data = xt.data() + r0 * chunk;
      const int64_t partners = n - r0;  // a = r0 .. n-1
      y.resize(static_cast<size_t>(partners * band));
      MatMul(rows_of_xt, xt.data() + r0 * chunk, static_cast<size_t>(partners), y.data(), threads);
      for (int64_t r = r0; r < r0 + band; ++r) {
        double* row = sum_.data() + r * n;
        for (int64_t a = r; a < n; ++a) row[a] += y[static_cast<size_t>((a - r0) * band + (r - r0))];
      }
    }
  }
  samples_ += tokens;
}

Hessian HessianAccumulator::Finish() const {
  if (samples_ == 0) Fail("Hessian: no calibration rows were added");
  Hessian out;
  out.cols = cols_;
  out.samples = samples_;
  out.h.assign(sum_.size(), 0.0);
  const double factor = 2.0 / static_cast<double>(samples_);
  for (int64_t i = 0; i < cols_; ++i) {
    for (int64_t j = i; j < cols_; ++j) {
      const double v = factor * sum_[static_cast<size_t>(i * cols_ + j)];
      out.h[static_cast<size_t>(i * cols_ + j)] = v;
      out.h[static_cast<size_t>(j * cols_ + i)] = v;
    }
  }
  return out;
}

namespace {

void CheckOptions(const GptqOptions& options, const std::string& name) {
  if (options.block_size <= 0) Fail("GPTQ '{}': block size must be positive, got {}", name, options.block_size);
  if (!(options.damp >= 0.0) || !std::isfinite(options.damp)) {
    Fail("GPTQ '{}': damping must be a finite non-negative fraction, got {}", name, options.damp);
  }
  if (options.act_order && !options.static_groups) {
    Fail(
        "GPTQ '{}': act_order needs static groups (dynamic groups under act_order need g_idx, which octet does "
        "not write)",
        name);
  }
}

std::string LayerName(const GptqOptions& options) {
  return options.name.empty() ? std::string("(unnamed layer)") : options.name;
}

}  // namespace

GptqInverseHessian PrepareGptq(const Hessian& hessian, const GptqOptions& options, ThreadPool* pool) {
  const std::string name = LayerName(options);
  CheckOptions(options, name);
  const int64_t n = hessian.cols;
  if (n <= 0 || hessian.h.size() != static_cast<size_t>(n * n)) {
    Fail("GPTQ '{}': the Hessian holds {} values, not {} x {}", name, hessian.h.size(), n, n);
  }
  for (double v : hessian.h) {
    if (!std::isfinite(v)) Fail("GPTQ '{}': the Hessian holds a non-finite value", name);
  }
  // Memory: besides the caller's H, at most three more n x n double matrices live at once (the permuted H, and
  // the factorization's work matrix and result), and only U afterwards.
  GptqInverseHessian out;
  out.cols = n;
  out.samples = hessian.samples;
  out.act_order = options.act_order;

  // 1. Dead inputs: H_ii = 1 (gptq.py); QuantizeGptq zeroes their weights. A dead input's row and column of H are
  // all zero (x_i was always 0), so only the diagonal changes.
  std::vector<double> diagonal(static_cast<size_t>(n));
  out.dead.assign(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < n; ++i) {
    diagonal[static_cast<size_t>(i)] = hessian.at(i, i);
    if (diagonal[static_cast<size_t>(i)] == 0.0) {
      ++out.dead_columns;
      out.dead[static_cast<size_t>(i)] = 1;
      diagonal[static_cast<size_t>(i)] = 1.0;
    }
  }

  // 3. Processing order: descending diag(H), stable (ties keep column order; torch.argsort is not stable, but
  // exact ties are rare and either order is a valid GPTQ).
  out.order.resize(static_cast<size_t>(n));
  std::iota(out.order.begin(), out.order.end(), int64_t{0});
  if (options.act_order) {
    std::stable_sort(out.order.begin(), out.order.end(), [&](int64_t a, int64_t b) {
      return diagonal[static_cast<size_t>(a)] > diagonal[static_cast<size_t>(b)];
    });
  }
  const std::vector<int64_t>& perm = out.order;
  std::vector<double> hp(static_cast<size_t>(n * n));
  for (int64_t a = 0; a < n; ++a) {
    for (int64_t b = 0; b < n; ++b) {
      hp[static_cast<size_t>(a * n + b)] =
          a == b ? diagonal[static_cast<size_t>(perm[a])] : hessian.at(perm[a], perm[b]);
    }
  }

  // 4. Damping and the inverse Hessian's upper Cholesky factor, retrying with more damping.
  double mean_diagonal = 0.0;
  for (int64_t i = 0; i < n; ++i) mean_diagonal += hp[static_cast<size_t>(i * n + i)];
  mean_diagonal /= static_cast<double>(n);
  double damp_fraction = options.damp;
  bool factored = false;
  for (int attempt = 0; attempt <= options.max_damp_retries; ++attempt) {
    if (InverseHessianCholesky(hp, n, damp_fraction * mean_diagonal, out.u, pool)) {
      factored = true;
      break;
    }
    if (attempt == options.max_damp_retries) break;
    damp_fraction = damp_fraction > 0.0 ? damp_fraction * 10.0 : 0.01;
  }
  if (!factored) {
    Fail(
        "GPTQ '{}': the Hessian of its {} calibration rows is not positive definite even with damping {} x "
        "mean(diag(H)); use more calibration data or a larger damping",
        name, hessian.samples, damp_fraction);
  }
  out.damp_used = damp_fraction;
  return out;
}

Int4Matrix QuantizeGptq(const float* w, int64_t rows, int64_t cols, const Hessian& hessian, const Int4Params& params,
                        const GptqOptions& options, ThreadPool* pool, GptqStats* stats) {
  const std::string name = LayerName(options);
  if (hessian.cols != cols) {
    Fail("GPTQ '{}': the Hessian is for {} inputs but the weight has {}", name, hessian.cols, cols);
  }
  return QuantizeGptq(w, rows, cols, PrepareGptq(hessian, options, pool), params, options, pool, stats);
}

Int4Matrix QuantizeGptq(const float* w, int64_t rows, int64_t cols, const GptqInverseHessian& prepared,
                        const Int4Params& params, const GptqOptions& options, ThreadPool* pool, GptqStats* stats) {
  const std::string name = LayerName(options);
  CheckOptions(options, name);
  if (rows <= 0 || cols <= 0) Fail("GPTQ '{}': empty weight [{}, {}]", name, rows, cols);
  if (prepared.cols != cols || prepared.u.size() != static_cast<size_t>(cols * cols)) {
    Fail("GPTQ '{}': the inverse Hessian is for {} inputs but the weight has {}", name, prepared.cols, cols);
  }
  if (prepared.act_order && !options.static_groups) {
    Fail("GPTQ '{}': the inverse Hessian was prepared with act_order, which needs static groups", name);
  }
  const int64_t n = cols;
  const std::vector<int64_t>& perm = prepared.order;
  const std::vector<double>& u = prepared.u;

  // 1 (continued). Dead inputs' weights are 0 (gptq.py: before the static groups are computed).
  std::vector<float> masked(w, w + rows * cols);
  for (int64_t i = 0; i < n; ++i) {
    if (prepared.dead[static_cast<size_t>(i)] != 0) {
      for (int64_t r = 0; r < rows; ++r) masked[static_cast<size_t>(r * n + i)] = 0.0f;
    }
  }

  // 2. Group parameters: static (from the masked weight, original column order) or chosen as each group starts.
  Int4Matrix m = ChooseInt4QParams(masked.data(), rows, cols, params, pool);
  const int64_t group_size = m.group_size;
  const int64_t groups = m.num_groups();

  // 5. Column by column with lazy block updates, a tile of rows at a time.
  const int64_t block_size = options.block_size;
  const int64_t tiles = (rows + kTileRows - 1) / kTileRows;
  std::vector<double> tile_loss(static_cast<size_t>(tiles), 0.0);
  const bool dynamic_groups = !options.static_groups;
  // U[i1:i2, i2:] of every block, transposed to [n - i2, count] F32 rows for MatMul; shared by all tiles
  // (n^2 / 2 floats in all, a quarter of U's bytes).
  std::vector<std::vector<float>> packed_u;
  for (int64_t i1 = 0; i1 < n; i1 += block_size) {
    const int64_t i2 = std::min(n, i1 + block_size);
    std::vector<float> block(static_cast<size_t>((n - i2) * (i2 - i1)));
    for (int64_t k = i2; k < n; ++k) {
      for (int64_t i = i1; i < i2; ++i) {
        block[static_cast<size_t>((k - i2) * (i2 - i1) + (i - i1))] =
            static_cast<float>(u[static_cast<size_t>(i * n + k)]);
      }
    }
    packed_u.push_back(std::move(block));
  }
  auto run_tile = [&](size_t tile) {
    ThreadPool inline_pool(1);  // MatMul runs inside a pool item: never on the pool itself
    std::vector<float> block_errors(static_cast<size_t>(kTileRows * block_size));
    std::vector<float> update(static_cast<size_t>(kTileRows * n));
    const int64_t r0 = static_cast<int64_t>(tile) * kTileRows;
    const int64_t tr = std::min(rows, r0 + kTileRows) - r0;
    // wt[k * tr + r]: row r0 + r, processing position k (column perm[k]).
    std::vector<double> wt(static_cast<size_t>(n * tr));
    for (int64_t k = 0; k < n; ++k) {
      for (int64_t r = 0; r < tr; ++r) {
        wt[static_cast<size_t>(k * tr + r)] = masked[static_cast<size_t>((r0 + r) * n + perm[k])];
      }
    }
    std::vector<double> errors(static_cast<size_t>(block_size * tr));
    std::vector<float> group_values(static_cast<size_t>(group_size));
    double loss = 0.0;
    for (int64_t i1 = 0; i1 < n; i1 += block_size) {
      const int64_t i2 = std::min(n, i1 + block_size);
      for (int64_t i = i1; i < i2; ++i) {
        const int64_t col = perm[i];
        const int64_t group = col / group_size;
        if (dynamic_groups && col % group_size == 0) {
          // gptq.py without static_groups: the group's parameters from its current (error-compensated) values.
          // Without act_order, processing position == column.
          const int64_t len = std::min(n, col + group_size) - col;
          for (int64_t r = 0; r < tr; ++r) {
            for (int64_t c = 0; c < len; ++c) {
              group_values[static_cast<size_t>(c)] = static_cast<float>(wt[static_cast<size_t>((col + c) * tr + r)]);
            }
            const Int4GroupQParams q = ChooseInt4GroupQParams(group_values.data(), len, params);
            const size_t index = static_cast<size_t>((r0 + r) * groups + group);
            m.scales[index] = q.scale;
            if (!m.zeros.empty()) m.zeros[index] = q.zero;
            if (!m.inverse_scales.empty()) m.inverse_scales[index] = q.inverse_scale;
          }
        }
        const double d = u[static_cast<size_t>(i * n + i)];
        double* wi = wt.data() + i * tr;
        double* ei = errors.data() + (i - i1) * tr;
        for (int64_t r = 0; r < tr; ++r) {
          const Int4GroupQParams q = m.QParams(r0 + r, group);
          const int8_t code = QuantizeInt4Value(static_cast<float>(wi[r]), q, params.grid);
          m.codes[static_cast<size_t>((r0 + r) * n + col)] = code;
          const double diff = wi[r] - static_cast<double>(DequantizeInt4Value(code, q));
          loss += diff * diff / (d * d) / 2.0;
          ei[r] = diff / d;
        }
        for (int64_t k = i + 1; k < i2; ++k) {
          const double uik = u[static_cast<size_t>(i * n + k)];
          double* wk = wt.data() + k * tr;
          for (int64_t r = 0; r < tr; ++r) wk[r] -= ei[r] * uik;
        }
      }
      // Lazy update of the trailing columns with this block's errors: W[:, i2:] -= E U[i1:i2, i2:], a rank-`count`
      // product through ops/matvec.h's SIMD MatMul in F32 (as the references run it), on this thread.
      const int64_t count = i2 - i1;
      const int64_t trailing = n - i2;
      if (trailing > 0) {
        for (int64_t r = 0; r < tr; ++r) {
          for (int64_t i = 0; i < count; ++i) {
            block_errors[static_cast<size_t>(r * count + i)] =
                static_cast<float>(errors[static_cast<size_t>(i * tr + r)]);
          }
        }
        WeightMatrix trailing_u;
        trailing_u.dtype = DType::kF32;
        trailing_u.rows = trailing;
        trailing_u.cols = count;
        trailing_u.data = packed_u[static_cast<size_t>(i1 / block_size)].data();
        MatMul(trailing_u, block_errors.data(), static_cast<size_t>(tr), update.data(), inline_pool);
        for (int64_t r = 0; r < tr; ++r) {
          const float* ur = update.data() + r * trailing;
          for (int64_t k = 0; k < trailing; ++k) wt[static_cast<size_t>((i2 + k) * tr + r)] -= ur[k];
        }
      }
    }
    tile_loss[tile] = loss;
  };
  if (pool == nullptr || pool->num_threads() == 1 || tiles == 1) {
    for (int64_t t = 0; t < tiles; ++t) run_tile(static_cast<size_t>(t));
  } else {
    pool->ParallelFor(static_cast<size_t>(tiles), run_tile);
  }

  if (stats != nullptr) {
    stats->damp_used = prepared.damp_used;
    stats->dead_columns = prepared.dead_columns;
    stats->loss = 0.0;
    for (double l : tile_loss) stats->loss += l;
  }
  return m;
}

}  // namespace octet
