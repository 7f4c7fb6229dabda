// An independent, plain double-precision forward pass for tests: straightforward loops over a checkpoint read
// with its own decoding (F32/F16/BF16/FP8 bit patterns decoded here, not by src/numeric), following the
// Hugging Face modeling_llama.py / modeling_mixtral.py formulas directly. It shares nothing with src/runtime but
// Checkpoint (to find tensor bytes) and nlohmann::json (to read config.json).
//
// FP8 linears are dequantized as w = code * scale with the scale layout given by the scale tensor's shape and
// `block` (for 2-D grids), and activations are quantized as documented in src/runtime/activation_quant.h:
// static x -> q(x / s) * s; dynamic per token s = max(absmax / 448, 1/(448*512)); per token group likewise.
#ifndef OCTET_TESTS_RUNTIME_REFERENCE_MODEL_H_
#define OCTET_TESTS_RUNTIME_REFERENCE_MODEL_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "io/checkpoint.h"

namespace octet::testing {

// Plain scalar codecs, written independently of src/numeric.
double RefDecode(DType dtype, const std::byte* p);
// Nearest E4M3 value (ties to even mantissa), saturating at +-448.
double RefRoundE4M3(double x);
// The code of the nearest E4M3 (e4m3 = true) or E5M2 value, ties to even, saturating.
uint8_t RefEncodeFp8(double x, bool e4m3);

enum class RefActivations { kNone, kStatic, kDynamicToken, kDynamicGroup };

struct RefOptions {
  RefActivations activations = RefActivations::kNone;
  int64_t group_size = 0;     // kDynamicGroup
  int64_t block_rows = 128;   // for 2-D weight scale grids
  int64_t block_cols = 128;
};

class ReferenceModel {
 public:
  ReferenceModel(const Checkpoint& checkpoint, RefOptions options = {});
  // Teacher-forced logits of every position: [tokens][vocab].
  std::vector<std::vector<double>> Logits(const std::vector<int32_t>& tokens) const;

 private:
  struct Matrix {
    int64_t rows = 0, cols = 0;
    std::vector<double> w;
    bool fp8 = false;        // only FP8 linears quantize their input
    double input_scale = 0;  // static activations
  };
  Matrix LoadLinear(const std::string& module) const;
  std::vector<double> LoadVector(const std::string& name) const;
  // y = W act(x) for one token.
  std::vector<double> Apply(const Matrix& m, std::vector<double> x) const;

  const Checkpoint& checkpoint_;
  RefOptions options_;
  int64_t hidden_ = 0, inter_ = 0, layers_ = 0, heads_ = 0, kv_heads_ = 0, head_dim_ = 0, vocab_ = 0;
  int64_t experts_ = 0, top_k_ = 0;
  double eps_ = 0, theta_ = 0;
  bool tied_ = false;
  std::map<std::string, Matrix> linears_;
  std::map<std::string, std::vector<double>> vectors_;
};

// max |a - b| / max |b| over all entries.
double RelativeError(const std::vector<float>& actual, const std::vector<std::vector<double>>& expected);

}  // namespace octet::testing

#endif  // OCTET_TESTS_RUNTIME_REFERENCE_MODEL_H_
