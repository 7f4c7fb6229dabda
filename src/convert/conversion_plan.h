// The conversion decided before a single byte is read: for every input tensor, what is written (quantized,
// cast, or copied), under which names, dtypes and shapes, in which order, and which tensors share a per-tensor
// scale. Because the whole output layout is known up front, the writer can place every piece at its final
// offset as soon as it is computed (see io/safetensors_writer.h), and nothing is held back in memory.
#ifndef OCTET_CONVERT_CONVERSION_PLAN_H_
#define OCTET_CONVERT_CONVERSION_PLAN_H_

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "io/safetensors_writer.h"
#include "models/architecture.h"
#include "quant/fp8_quantizer.h"
#include "quant/precision_rule.h"
#include "quant/scheme.h"

namespace octet {

// Which serving stack's conventions the output follows (see README "Schemes").
enum class OutputFormat {
  kPlain,              // q0*: a plain Hugging Face checkpoint, no quantization_config
  kVllmFp8,            // quant_method "fp8": per-tensor or 128x128 block scales, static or dynamic activations
  kCompressedTensors,  // quant_method "compressed-tensors", format "float-quantized": channel scales, weight-only
  kOctetFp8,           // quant_method "octet": E5M2 weights, which no serving engine loads
  kPackQuantized,      // quant_method "compressed-tensors", format "pack-quantized": INT4 W4A16 (FORMATS.md b.5)
};

enum class TensorAction {
  kQuantize,  // FP8 weight (+ scale tensors), or INT4 weight_packed (+ weight_scale, weight_shape, zero points)
  kCast,      // float tensor written in another float dtype
  kCopy,      // bytes copied unchanged
};

struct PlannedTensor {
  const TensorView* source = nullptr;
  TensorRole role = TensorRole::kOther;
  TensorAction action = TensorAction::kCopy;
  std::string module;            // "model.layers.0.mlp.up_proj" for linears
  size_t out_index = 0;          // writer spec of the main output tensor
  std::optional<size_t> scale_index;        // weight_scale / weight_scale_inv
  std::optional<size_t> input_scale_index;  // static activations
  std::optional<size_t> shape_index;        // INT4: weight_shape
  std::optional<size_t> zero_point_index;   // INT4 with zero points: weight_zero_point
  int group_size = 0;            // INT4: input channels per scale
  int64_t layer = -1;            // decoder layer the tensor belongs to ("model.layers.N."), -1 for none
  // An FP8 linear of an FP8 input checkpoint: decoded with its weight_scale / weight_scale_inv (whose tensors,
  // like its input_scale, are consumed rather than written), then quantized or cast like any float weight.
  bool dequantize_source = false;
  Fp8ScaleLayout layout;         // kQuantize only
  size_t unit = 0;               // index into ConversionPlan::units
};

struct ConversionPlan {
  QuantScheme scheme;
  OutputFormat format = OutputFormat::kPlain;
  std::vector<PlannedTensor> tensors;
  std::vector<TensorSpec> specs;
  // Groups of tensor indices processed together. With per-tensor scales, the members of a group share one scale:
  // a layer's q/k/v and gate/up, a Mixtral expert's w1/w3. vLLM fuses those into one matrix with one scale, and
  // requantizes them to the largest if they differ; sharing it here makes that a no-op, so the checkpoint runs in
  // vLLM exactly as octet measured it.
  std::vector<std::vector<size_t>> units;
  // Linear modules left unquantized (lm_head, routers, --ignore matches), for `ignored_layers` / `ignore`.
  std::vector<std::string> ignored_modules;
  // The format of every linear that is not the scheme's plain default, by module (mixed precision, --keep).
  std::map<std::string, LinearFormat> module_formats;
  // Modules whose static input scales are shared (what vLLM collapses to one value): groups of module names.
  std::vector<std::vector<std::string>> input_scale_groups;
};

struct PlanOptions {
  std::vector<std::string> ignore_globs;  // --ignore, matched against module and tensor names (fnmatch)
  std::vector<PrecisionRule> keep_rules;  // --keep (and --auto-mix's choices), first match wins
};

// Validates the checkpoint against the architecture (every expected tensor present with its shape; linear
// weights in a float dtype) and decides the plan. Throws naming the tensor and file on any problem.
ConversionPlan PlanConversion(const Checkpoint& checkpoint, const Architecture& architecture,
                              const ModelShape& shape, const QuantScheme& scheme, const PlanOptions& options);

std::string_view OutputFormatName(OutputFormat format);

}  // namespace octet

#endif  // OCTET_CONVERT_CONVERSION_PLAN_H_
