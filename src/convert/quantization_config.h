// The `quantization_config` entry of the output config.json, in the dialect of the engine that loads the
// output (OutputFormat). Field names and values follow:
//   vLLM fp8:           vllm/model_executor/layers/quantization/fp8.py `Fp8Config.from_config` (quant_method,
//                       activation_scheme, ignored_layers, weight_block_size) — FORMATS.md a.1;
//   compressed-tensors: compressed_tensors/quantization/quant_config.py, quant_scheme.py, quant_args.py —
//                       FORMATS.md b.1 (format "float-quantized", status "compressed", one config group
//                       targeting "Linear", `ignore` listing the kept modules).
#ifndef OCTET_CONVERT_QUANTIZATION_CONFIG_H_
#define OCTET_CONVERT_QUANTIZATION_CONFIG_H_

#include <nlohmann/json.hpp>

#include "convert/conversion_plan.h"

namespace octet {

// nullopt-like null json for OutputFormat::kPlain.
nlohmann::ordered_json BuildQuantizationConfig(const ConversionPlan& plan);

// The input config.json with `quantization_config` set (or removed for plain output) and `torch_dtype` updated
// when the scheme casts kept tensors.
nlohmann::ordered_json BuildOutputConfig(const nlohmann::ordered_json& input_config, const ConversionPlan& plan);

}  // namespace octet

#endif  // OCTET_CONVERT_QUANTIZATION_CONFIG_H_
