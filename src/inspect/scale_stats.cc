#include "inspect/scale_stats.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <vector>

#include "numeric/convert_rows.h"

namespace octet {
namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return b == 0 ? 0 : (a + b - 1) / b; }

// The scale's values as f32, or nothing when its dtype is not a float type octet decodes.
std::optional<std::vector<float>> DecodeScale(const TensorView& scale) {
  const size_t n = scale.num_elements();
  std::vector<float> values(n);
  switch (scale.dtype) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kF8E4M3:
    case DType::kF8E5M2:
      DecodeToF32(scale.dtype, scale.bytes.data(), n, values.data());
      return values;
    case DType::kF8E8M0:  // MX scale: 2^(code - 127), 0xFF is NaN
      for (size_t i = 0; i < n; ++i) {
        const auto code = static_cast<uint8_t>(scale.bytes[i]);
        values[i] = code == 0xFF ? std::numeric_limits<float>::quiet_NaN() : std::ldexp(1.0f, code - 127);
      }
      return values;
    case DType::kF64:
      for (size_t i = 0; i < n; ++i) {
        double v;
        std::memcpy(&v, scale.bytes.data() + 8 * i, sizeof(v));
        values[i] = static_cast<float>(v);
      }
      return values;
    default:
      return std::nullopt;
  }
}

}  // namespace

ScaleReport DescribeScale(const std::string& role, const TensorView& scale, const Shape& weight_shape) {
  ScaleReport report;
  report.role = role;
  report.name = scale.name;
  report.dtype = scale.dtype;
  report.shape = scale.shape;
  report.count = scale.num_elements();

  const bool weight_scale = role.starts_with("weight_");
  const int64_t out = weight_shape.size() >= 2 ? weight_shape[weight_shape.size() - 2] : 0;
  const int64_t in = weight_shape.empty() ? 0 : weight_shape.back();
  Shape squeezed;  // [out, 1] and [out] are both per channel
  for (int64_t d : scale.shape) {
    if (d != 1) squeezed.push_back(d);
  }
  if (report.count == 1) {
    report.kind = "tensor";
  } else if (!weight_scale) {
    report.kind = "vector";
  } else if (squeezed.size() == 1 && squeezed[0] == out && scale.shape.size() <= 2) {
    report.kind = "channel";
  } else if (scale.shape.size() == 2 && scale.shape[0] == out && scale.shape[1] > 1) {
    report.kind = "group";
    report.group_size = CeilDiv(in, scale.shape[1]);
  } else if (scale.shape.size() == 2 && scale.shape[0] < out) {
    report.kind = "block";
    report.block = {CeilDiv(out, scale.shape[0]), CeilDiv(in, scale.shape[1])};
  } else {
    report.kind = "other";
  }

  if (const auto values = DecodeScale(scale)) {
    double sum = 0;
    uint64_t finite = 0;
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (float v : *values) {
      if (!std::isfinite(v)) continue;
      lo = std::min<double>(lo, v);
      hi = std::max<double>(hi, v);
      sum += v;
      ++finite;
    }
    if (finite > 0) {
      report.has_stats = true;
      report.min = lo;
      report.max = hi;
      report.mean = sum / static_cast<double>(finite);
    }
  }
  return report;
}

}  // namespace octet
