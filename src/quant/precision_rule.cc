#include "quant/precision_rule.h"

#include <fnmatch.h>

#include <fmt/format.h>

#include "util/error.h"

namespace octet {

std::string LinearFormat::Name() const {
  switch (precision) {
    case LinearPrecision::kInt4: return group_size == 0 ? "int4" : fmt::format("int4-g{}", group_size);
    case LinearPrecision::kFp8: return "fp8";
    case LinearPrecision::kKeep:
      return dtype == DType::kF32 ? "f32" : dtype == DType::kF16 ? "f16" : "bf16";
  }
  return "int4";
}

std::optional<LinearFormat> ParseLinearFormat(std::string_view name) {
  if (name == "int4") return LinearFormat{LinearPrecision::kInt4, 0};
  if (name == "int4-g32") return LinearFormat{LinearPrecision::kInt4, 32};
  if (name == "int4-g64") return LinearFormat{LinearPrecision::kInt4, 64};
  if (name == "int4-g128") return LinearFormat{LinearPrecision::kInt4, 128};
  if (name == "fp8") return LinearFormat{LinearPrecision::kFp8, 0};
  if (name == "bf16") return LinearFormat{LinearPrecision::kKeep, 0, DType::kBF16};
  if (name == "f16") return LinearFormat{LinearPrecision::kKeep, 0, DType::kF16};
  if (name == "f32") return LinearFormat{LinearPrecision::kKeep, 0, DType::kF32};
  return std::nullopt;
}

PrecisionRule ParsePrecisionRule(std::string_view text) {
  const size_t eq = text.rfind('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == text.size()) {
    Fail("--keep '{}': expected GLOB=FORMAT, e.g. 'lm_head=bf16' or '*.layers.0.*=fp8'", text);
  }
  const auto format = ParseLinearFormat(text.substr(eq + 1));
  if (!format) {
    Fail("--keep '{}': unknown format '{}'; use int4, int4-g32, int4-g64, int4-g128, fp8, bf16, f16 or f32", text,
         text.substr(eq + 1));
  }
  return {std::string(text.substr(0, eq)), *format};
}

std::optional<LinearFormat> MatchPrecisionRule(const std::vector<PrecisionRule>& rules, const std::string& module,
                                               const std::string& tensor) {
  for (const PrecisionRule& rule : rules) {
    if (fnmatch(rule.glob.c_str(), module.c_str(), 0) == 0 || fnmatch(rule.glob.c_str(), tensor.c_str(), 0) == 0) {
      return rule.format;
    }
  }
  return std::nullopt;
}

}  // namespace octet
