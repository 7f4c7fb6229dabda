// How a checkpoint's quantized linears run: the activation scheme and scale layouts that config.json
// `quantization_config` declares, in the dialects octet reads (FORMATS.md a and b):
//   vLLM / HF fp8:        quant_method containing "fp8", activation_scheme static|dynamic, weight_block_size;
//   compressed-tensors:   config_groups.*.weights (strategy, block_structure, group_size; type "int" 4-bit
//                         pack-quantized W4A16: symmetric, strategy group|channel, actorder) and
//                         config_groups.*.input_activations (null = weight-only; dynamic token/group/tensor;
//                         static tensor);
//   anything else (octet's own methods): activation_scheme when present, otherwise inferred from the tensors.
// The per-linear tensors (weight dtype, weight_scale / weight_scale_inv shape, input_scale) then decide the rest
// (see runtime/linear_loader.h), so a checkpoint without quantization_config still runs.
#ifndef OCTET_RUNTIME_QUANT_PARAMS_H_
#define OCTET_RUNTIME_QUANT_PARAMS_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace octet {

// What happens to the input x of an FP8 linear before the product (vLLM semantics; see runtime/linear.h).
enum class ActivationQuant {
  kNone,           // weight-only: x as is
  kStatic,         // x -> decode(encode_sat(x / input_scale)) * input_scale, input_scale from the checkpoint
  kDynamicTensor,  // one scale max|x|/fmax over all tokens of the call (compressed-tensors dynamic "tensor")
  kDynamicToken,   // one scale max|x_t|/fmax per token
  kDynamicGroup,   // one scale per token and per group of `group_size` input channels
};

std::string_view ActivationQuantName(ActivationQuant quant);

struct CheckpointQuantParams {
  // Unset: decided per linear from its tensors (input_scale present -> static, else weight-only).
  bool activations_declared = false;
  ActivationQuant activations = ActivationQuant::kNone;
  int64_t activation_group_size = 0;  // kDynamicGroup; 0 = the weight's block_cols
  // Block scale grid edges from weight_block_size / block_structure; 0 = infer from the scale tensor's shape.
  int64_t block_rows = 0;
  int64_t block_cols = 0;
  // compressed-tensors "group" weight strategy: scales [out, ceil(in / group)].
  int64_t weight_group_size = 0;
  // compressed-tensors integer weights (config_groups.*.weights.type "int"; only 4-bit "pack-quantized" runs):
  // linears then hold `weight_packed` (runtime/linear.h).
  bool int_weights = false;
  bool int_weights_symmetric = true;     // false: weight_zero_point tensors
  bool int_weights_per_channel = false;  // strategy "channel" (else "group" of weight_group_size)
  bool int_weights_group_actorder = false;  // actorder "group": weight_g_idx tensors may reorder columns
  // Config groups that target modules by full name (octet's mixed precision: one group per INT4 group size):
  // module -> {symmetric, per_channel, group_size}, overriding the three fields above for that module.
  struct IntWeightScheme {
    bool symmetric = true;
    bool per_channel = false;
    int64_t group_size = 0;
  };
  std::map<std::string, IntWeightScheme> int_weights_by_module;
};

// Parses config["quantization_config"] (absent or null = no declarations). `source` prefixes errors.
CheckpointQuantParams ParseCheckpointQuantParams(const nlohmann::json& config, const std::string& source);

}  // namespace octet

#endif  // OCTET_RUNTIME_QUANT_PARAMS_H_
