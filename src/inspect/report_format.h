// The two renderings of a ModelReport that `octet inspect` prints.
//
// JSON (`--json`), one object:
//   path, architecture (string|null), model_type (string|null), parameter_count, tensor_count,
//   tensor_bytes (data bytes), disk_bytes (weight files incl. headers and index), files [names],
//   dtypes {DTYPE: {tensors, bytes, parameters}},
//   quantization: null | {quant_method, activation_scheme, weight_block_size, ignored_count, format,
//                         quantization_status, kv_cache_scheme, config_groups {NAME: {targets, weights,
//                         input_activations}}} (absent fields null; args reduced to num_bits, type, strategy,
//                         group_size, block_structure, symmetric, dynamic),
//   quantization_config: config.json's object verbatim, or null,
//   tensors [{name, dtype, shape, bytes, parameters, file,
//             scales [{role, name, dtype, shape, kind, count, min, max, mean, group_size?, block?}]}]
//   (min/max/mean are null when the scale's dtype cannot be decoded).
// Text: a summary block, then an aligned table with one row per tensor and one indented row per scale.
#ifndef OCTET_INSPECT_REPORT_FORMAT_H_
#define OCTET_INSPECT_REPORT_FORMAT_H_

#include <string>

#include <nlohmann/json.hpp>

#include "inspect/model_report.h"

namespace octet {

nlohmann::json ReportToJson(const ModelReport& report);
std::string FormatReportText(const ModelReport& report);
// The `quantization` summary above for a quantization_config object (null in, null out).
nlohmann::json SummarizeQuantizationConfig(const nlohmann::json& quant);

}  // namespace octet

#endif  // OCTET_INSPECT_REPORT_FORMAT_H_
