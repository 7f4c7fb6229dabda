// Per-layer mixed precision: `--keep GLOB=FORMAT` rules and the formats a linear can be given.
//
// A rule names modules or tensors by glob (fnmatch, as --ignore) and the format their linears get instead of the
// scheme's own; the first rule that matches wins (llama-quantize's --tensor-type does the same). Formats:
//   int4, int4-g32, int4-g64, int4-g128   INT4 groups (plain `int4`: the scheme's group size); INT4 schemes only
//   fp8                                    E4M3 weights with per-output-channel scales, weight-only (W8A16)
//   bf16, f16, f32                         not quantized; cast to that dtype
// Linears that vLLM fuses (q/k/v, gate/up, an expert's w1/w3) must get the same format, and so must all experts
// of a Mixtral layer (vLLM's fused MoE runs them with one scheme); the planner refuses rules that split them.
#ifndef OCTET_QUANT_PRECISION_RULE_H_
#define OCTET_QUANT_PRECISION_RULE_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "numeric/dtype.h"

namespace octet {

enum class LinearPrecision { kInt4, kFp8, kKeep };

struct LinearFormat {
  LinearPrecision precision = LinearPrecision::kInt4;
  int group_size = 0;            // kInt4: 32, 64, 128, or 0 for the scheme's
  DType dtype = DType::kBF16;    // kKeep: the dtype written

  // "int4-g32", "fp8", "bf16".
  std::string Name() const;
  bool operator==(const LinearFormat&) const = default;
};

// Parses a format name (see the file comment); nullopt when unknown.
std::optional<LinearFormat> ParseLinearFormat(std::string_view name);

struct PrecisionRule {
  std::string glob;
  LinearFormat format;
};

// Parses "GLOB=FORMAT"; throws octet::Error naming the rule when malformed or the format is unknown.
PrecisionRule ParsePrecisionRule(std::string_view text);

// The format of the first rule whose glob matches `module` or `tensor`, if any.
std::optional<LinearFormat> MatchPrecisionRule(const std::vector<PrecisionRule>& rules, const std::string& module,
                                               const std::string& tensor);

}  // namespace octet

#endif  // OCTET_QUANT_PRECISION_RULE_H_
