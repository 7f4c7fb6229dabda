#include "runtime/reference_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <stdexcept>

namespace octet::testing {
namespace {

uint32_t LoadBits(const std::byte* p, int bytes) {
  uint32_t v = 0;
  std::memcpy(&v, p, bytes);  // little-endian host
  return v;
}

// A minifloat with `e` exponent bits, `m` mantissa bits and IEEE-style subnormals; `fn` = E4M3FN rules (no
// infinities, only S.1111.111 is NaN).
double DecodeMinifloat(uint32_t bits, int e, int m, bool fn) {
  const int bias = (1 << (e - 1)) - 1;
  const bool negative = (bits >> (e + m)) & 1;
  const uint32_t exponent = (bits >> m) & ((1u << e) - 1);
  const uint32_t mantissa = bits & ((1u << m) - 1);
  double value;
  if (fn && exponent == (1u << e) - 1 && mantissa == (1u << m) - 1) {
    value = NAN;
  } else if (!fn && exponent == (1u << e) - 1) {
    value = mantissa == 0 ? INFINITY : NAN;
  } else if (exponent == 0) {
    value = std::ldexp(static_cast<double>(mantissa), 1 - bias - m);
  } else {
    value = std::ldexp(static_cast<double>(mantissa | (1u << m)), static_cast<int>(exponent) - bias - m);
  }
  return negative ? -value : value;
}

}  // namespace

double RefDecode(DType dtype, const std::byte* p) {
  switch (dtype) {
    case DType::kF32: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    case DType::kBF16: {
      const uint32_t bits = LoadBits(p, 2) << 16;
      float f;
      std::memcpy(&f, &bits, 4);
      return f;
    }
    case DType::kF16: return DecodeMinifloat(LoadBits(p, 2), 5, 10, false);
    case DType::kF8E4M3: return DecodeMinifloat(LoadBits(p, 1), 4, 3, true);
    case DType::kF8E5M2: return DecodeMinifloat(LoadBits(p, 1), 5, 2, false);
    default: throw std::runtime_error("reference: unsupported dtype");
  }
}

double RefRoundE4M3(double x) {
  // Brute force over the 126 non-negative finite codes: nearest, ties to the even code.
  const double a = std::min(std::fabs(x), 448.0);
  double best = 0;
  int best_code = 0;
  for (int code = 0; code < 0x7F; ++code) {
    const double v = DecodeMinifloat(static_cast<uint32_t>(code), 4, 3, true);
    const double d = std::fabs(v - a), best_d = std::fabs(best - a);
    if (d < best_d || (d == best_d && (code & 1) == 0 && (best_code & 1) == 1)) {
      best = v;
      best_code = code;
    }
  }
  return x < 0 ? -best : best;
}

uint8_t RefEncodeFp8(double x, bool e4m3) {
  const int e = e4m3 ? 4 : 5, m = e4m3 ? 3 : 2;
  const int max_code = e4m3 ? 0x7E : 0x7B;  // largest finite magnitude codes: 448, 57344
  const double a = std::fabs(x);
  int best = 0;
  for (int code = 1; code <= max_code; ++code) {
    const double d = std::fabs(DecodeMinifloat(code, e, m, e4m3) - a);
    const double best_d = std::fabs(DecodeMinifloat(best, e, m, e4m3) - a);
    if (d < best_d || (d == best_d && (code & 1) == 0)) best = code;
  }
  return static_cast<uint8_t>(best | (x < 0 ? 0x80 : 0));
}

ReferenceModel::ReferenceModel(const Checkpoint& checkpoint, RefOptions options)
    : checkpoint_(checkpoint), options_(options) {
  const nlohmann::json& c = checkpoint.config();
  hidden_ = c["hidden_size"];
  inter_ = c["intermediate_size"];
  layers_ = c["num_hidden_layers"];
  heads_ = c["num_attention_heads"];
  kv_heads_ = c.value("num_key_value_heads", heads_);
  head_dim_ = c.contains("head_dim") ? c["head_dim"].get<int64_t>() : hidden_ / heads_;
  vocab_ = c["vocab_size"];
  eps_ = c["rms_norm_eps"];
  theta_ = c.value("rope_theta", 10000.0);
  tied_ = c.value("tie_word_embeddings", false);
  if (c.contains("num_local_experts")) {
    experts_ = c["num_local_experts"];
    top_k_ = c["num_experts_per_tok"];
  }
  vectors_["model.embed_tokens.weight"] = LoadVector("model.embed_tokens.weight");
  vectors_["model.norm.weight"] = LoadVector("model.norm.weight");
  for (int64_t l = 0; l < layers_; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    for (const char* n : {"input_layernorm.weight", "post_attention_layernorm.weight"}) {
      vectors_[p + n] = LoadVector(p + n);
    }
    for (const char* n : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj"}) {
      linears_[p + n] = LoadLinear(p + n);
    }
    if (experts_ > 0) {
      linears_[p + "block_sparse_moe.gate"] = LoadLinear(p + "block_sparse_moe.gate");
      for (int64_t e = 0; e < experts_; ++e) {
        for (const char* n : {"w1", "w2", "w3"}) {
          const std::string name = p + "block_sparse_moe.experts." + std::to_string(e) + "." + n;
          linears_[name] = LoadLinear(name);
        }
      }
    } else {
      for (const char* n : {"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}) linears_[p + n] = LoadLinear(p + n);
    }
  }
  if (!tied_) linears_["lm_head"] = LoadLinear("lm_head");
}

std::vector<double> ReferenceModel::LoadVector(const std::string& name) const {
  const TensorView& t = checkpoint_.Get(name);
  const size_t bytes = DTypeBits(t.dtype) / 8;
  std::vector<double> out(t.num_elements());
  for (size_t i = 0; i < out.size(); ++i) out[i] = RefDecode(t.dtype, t.bytes.data() + i * bytes);
  return out;
}

ReferenceModel::Matrix ReferenceModel::LoadLinear(const std::string& module) const {
  const TensorView& t = checkpoint_.Get(module + ".weight");
  Matrix m;
  m.rows = t.shape[0];
  m.cols = t.shape[1];
  m.w = LoadVector(module + ".weight");
  m.fp8 = t.dtype == DType::kF8E4M3 || t.dtype == DType::kF8E5M2;
  const TensorView* scale = checkpoint_.Find(module + ".weight_scale");
  const bool inv = scale == nullptr;
  if (inv) scale = checkpoint_.Find(module + ".weight_scale_inv");
  if (scale != nullptr) {
    const std::vector<double> s = LoadVector(scale->name);
    for (int64_t r = 0; r < m.rows; ++r) {
      for (int64_t c = 0; c < m.cols; ++c) {
        double factor;
        if (s.size() == 1) {
          factor = s[0];
        } else if (!inv && static_cast<int64_t>(s.size()) == m.rows && (scale->shape.size() == 1 || scale->shape[1] == 1)) {
          factor = s[r];
        } else {
          const int64_t grid_cols = scale->shape[1];
          factor = s[(r / options_.block_rows) * grid_cols + c / options_.block_cols];
        }
        m.w[r * m.cols + c] *= factor;
      }
    }
  }
  if (const TensorView* input_scale = checkpoint_.Find(module + ".input_scale")) {
    m.input_scale = LoadVector(input_scale->name)[0];
  }
  return m;
}

std::vector<double> ReferenceModel::Apply(const Matrix& m, std::vector<double> x) const {
  if (m.fp8 && options_.activations != RefActivations::kNone) {
    const auto quantize = [&](size_t begin, size_t end, double scale) {
      for (size_t i = begin; i < end; ++i) x[i] = RefRoundE4M3(x[i] / scale) * scale;
    };
    const auto dynamic_scale = [&](size_t begin, size_t end) {
      double amax = 0;
      for (size_t i = begin; i < end; ++i) amax = std::max(amax, std::fabs(x[i]));
      return std::max(amax / 448.0, 1.0 / (448.0 * 512.0));
    };
    if (options_.activations == RefActivations::kStatic) {
      quantize(0, x.size(), m.input_scale);
    } else if (options_.activations == RefActivations::kDynamicToken) {
      quantize(0, x.size(), dynamic_scale(0, x.size()));
    } else {
      for (size_t b = 0; b < x.size(); b += options_.group_size) {
        const size_t e = std::min(x.size(), b + options_.group_size);
        quantize(b, e, dynamic_scale(b, e));
      }
    }
  }
  std::vector<double> y(m.rows, 0.0);
  for (int64_t r = 0; r < m.rows; ++r) {
    double sum = 0;
    for (int64_t c = 0; c < m.cols; ++c) sum += m.w[r * m.cols + c] * x[c];
    y[r] = sum;
  }
  return y;
}

std::vector<std::vector<double>> ReferenceModel::Logits(const std::vector<int32_t>& tokens) const {
  const size_t n = tokens.size();
  const auto rms_norm = [&](const std::vector<double>& x, const std::vector<double>& w) {
    double ss = 0;
    for (double v : x) ss += v * v;
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + eps_);
    std::vector<double> out(x.size());
    for (size_t i = 0; i < x.size(); ++i) out[i] = w[i] * x[i] * inv;
    return out;
  };
  const auto rope = [&](std::vector<double>& v, int64_t num_heads, int64_t pos) {
    const int64_t half = head_dim_ / 2;
    for (int64_t h = 0; h < num_heads; ++h) {
      for (int64_t i = 0; i < half; ++i) {
        const double angle = static_cast<double>(pos) * std::pow(theta_, -2.0 * static_cast<double>(i) / head_dim_);
        const double a = v[h * head_dim_ + i], b = v[h * head_dim_ + i + half];
        v[h * head_dim_ + i] = a * std::cos(angle) - b * std::sin(angle);
        v[h * head_dim_ + i + half] = b * std::cos(angle) + a * std::sin(angle);
      }
    }
  };
  const auto silu = [](double g) { return g / (1.0 + std::exp(-g)); };
  const auto mlp = [&](const std::string& gate, const std::string& up, const std::string& down,
                       const std::vector<double>& h) {
    std::vector<double> g = Apply(linears_.at(gate), h), u = Apply(linears_.at(up), h);
    for (size_t i = 0; i < g.size(); ++i) g[i] = silu(g[i]) * u[i];
    return Apply(linears_.at(down), g);
  };

  const std::vector<double>& embed = vectors_.at("model.embed_tokens.weight");
  std::vector<std::vector<double>> x(n);
  for (size_t t = 0; t < n; ++t) {
    x[t].assign(embed.begin() + tokens[t] * hidden_, embed.begin() + (tokens[t] + 1) * hidden_);
  }
  for (int64_t l = 0; l < layers_; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    std::vector<std::vector<double>> q(n), k(n), v(n);
    for (size_t t = 0; t < n; ++t) {
      const std::vector<double> h = rms_norm(x[t], vectors_.at(p + "input_layernorm.weight"));
      q[t] = Apply(linears_.at(p + "self_attn.q_proj"), h);
      k[t] = Apply(linears_.at(p + "self_attn.k_proj"), h);
      v[t] = Apply(linears_.at(p + "self_attn.v_proj"), h);
      rope(q[t], heads_, static_cast<int64_t>(t));
      rope(k[t], kv_heads_, static_cast<int64_t>(t));
    }
    for (size_t t = 0; t < n; ++t) {
      std::vector<double> attn(heads_ * head_dim_, 0.0);
      for (int64_t h = 0; h < heads_; ++h) {
        const int64_t kvh = h / (heads_ / kv_heads_);
        std::vector<double> scores(t + 1);
        double max_score = -INFINITY;
        for (size_t j = 0; j <= t; ++j) {
          double dot = 0;
          for (int64_t i = 0; i < head_dim_; ++i) dot += q[t][h * head_dim_ + i] * k[j][kvh * head_dim_ + i];
          scores[j] = dot / std::sqrt(static_cast<double>(head_dim_));
          max_score = std::max(max_score, scores[j]);
        }
        double sum = 0;
        for (double& s : scores) sum += (s = std::exp(s - max_score));
        for (size_t j = 0; j <= t; ++j) {
          for (int64_t i = 0; i < head_dim_; ++i) {
            attn[h * head_dim_ + i] += scores[j] / sum * v[j][kvh * head_dim_ + i];
          }
        }
      }
      const std::vector<double> o = Apply(linears_.at(p + "self_attn.o_proj"), attn);
      for (int64_t i = 0; i < hidden_; ++i) x[t][i] += o[i];
      const std::vector<double> h = rms_norm(x[t], vectors_.at(p + "post_attention_layernorm.weight"));
      std::vector<double> out(hidden_, 0.0);
      if (experts_ == 0) {
        out = mlp(p + "mlp.gate_proj", p + "mlp.up_proj", p + "mlp.down_proj", h);
      } else {
        std::vector<double> logits = Apply(linears_.at(p + "block_sparse_moe.gate"), h);
        const double mx = *std::max_element(logits.begin(), logits.end());
        double sum = 0;
        for (double& z : logits) sum += (z = std::exp(z - mx));
        for (double& z : logits) z /= sum;
        std::vector<int64_t> order(experts_);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return logits[a] > logits[b]; });
        double selected = 0;
        for (int64_t i = 0; i < top_k_; ++i) selected += logits[order[i]];
        std::vector<int64_t> chosen(order.begin(), order.begin() + top_k_);
        std::sort(chosen.begin(), chosen.end());
        for (int64_t e : chosen) {
          const std::string ep = p + "block_sparse_moe.experts." + std::to_string(e) + ".";
          const std::vector<double> y = mlp(ep + "w1", ep + "w3", ep + "w2", h);
          for (int64_t i = 0; i < hidden_; ++i) out[i] += logits[e] / selected * y[i];
        }
      }
      for (int64_t i = 0; i < hidden_; ++i) x[t][i] += out[i];
    }
  }
  std::vector<std::vector<double>> logits(n);
  for (size_t t = 0; t < n; ++t) {
    const std::vector<double> h = rms_norm(x[t], vectors_.at("model.norm.weight"));
    if (tied_) {
      logits[t].assign(vocab_, 0.0);
      for (int64_t r = 0; r < vocab_; ++r) {
        for (int64_t c = 0; c < hidden_; ++c) logits[t][r] += embed[r * hidden_ + c] * h[c];
      }
    } else {
      logits[t] = Apply(linears_.at("lm_head"), h);
    }
  }
  return logits;
}

double RelativeError(const std::vector<float>& actual, const std::vector<std::vector<double>>& expected) {
  double max_diff = 0, max_ref = 0;
  size_t i = 0;
  for (const auto& row : expected) {
    for (double e : row) {
      max_diff = std::max(max_diff, std::fabs(static_cast<double>(actual.at(i++)) - e));
      max_ref = std::max(max_ref, std::fabs(e));
    }
  }
  if (i != actual.size()) throw std::runtime_error("RelativeError: size mismatch");
  return max_diff / max_ref;
}

}  // namespace octet::testing
