#include "runtime/activation_quant.h"

#include <algorithm>
#include <cmath>

#include <vector>

#include "numeric/convert_rows.h"
#include "ops/vector_ops.h"

namespace octet {
namespace {

float AbsMax(const float* x, size_t n) {
  float m = 0.0f;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}

}  // namespace

float DynamicScale(float abs_max) { return std::max(abs_max / kE4M3Max, kMinDynamicScale); }

void FakeQuantizeE4M3(float scale, float* x, size_t n) {
  std::vector<uint8_t> codes(n);
  QuantizeFp8(Fp8Format::kE4M3, x, n, scale, codes.data());  // saturating encode of x / scale
  DecodeToF32(DType::kF8E4M3, codes.data(), n, x);
  ScaleInPlace(x, scale, n);
}

void QuantizeActivations(ActivationQuant quant, float input_scale, int64_t group_size, float* x, size_t tokens,
                         size_t dim) {
  switch (quant) {
    case ActivationQuant::kNone:
      return;
    case ActivationQuant::kStatic:
      FakeQuantizeE4M3(input_scale, x, tokens * dim);
      return;
    case ActivationQuant::kDynamicTensor:
      FakeQuantizeE4M3(DynamicScale(AbsMax(x, tokens * dim)), x, tokens * dim);
      return;
    case ActivationQuant::kDynamicToken:
      for (size_t t = 0; t < tokens; ++t) {
        float* row = x + t * dim;
        FakeQuantizeE4M3(DynamicScale(AbsMax(row, dim)), row, dim);
      }
      return;
    case ActivationQuant::kDynamicGroup: {
      const size_t group = group_size > 0 ? static_cast<size_t>(group_size) : dim;
      for (size_t t = 0; t < tokens; ++t) {
        for (size_t begin = 0; begin < dim; begin += group) {
          float* part = x + t * dim + begin;
          const size_t n = std::min(group, dim - begin);
          FakeQuantizeE4M3(DynamicScale(AbsMax(part, n)), part, n);
        }
      }
      return;
    }
  }
}

}  // namespace octet
