// What `octet inspect` reports about a checkpoint (a model directory, a sharded directory or a single .safetensors
// file), gathered from headers, config.json and the scale tensors only: weights are never decoded, so a 70B model
// is inspected in the time it takes to read ~700 headers and a few MB of scales.
//
// Parameter count: the logical elements of every tensor that is a model parameter. Quantization metadata is not a
// parameter: tensors named `*.weight_scale`, `*.weight_scale_inv`, `*.input_scale`, `*.output_scale`,
// `*.activation_scale`, `*.weight_global_scale`, `*.input_global_scale`, `*.weight_zero_point`,
// `*.input_zero_point`, `*.weight_g_idx`, `*.weight_shape`, `*.k_scale`, `*.v_scale` count 0. A packed weight
// (`*.weight_packed`, compressed-tensors pack-quantized) counts as the [out, in] matrix it encodes: the product
// of its sibling `weight_shape` when present, else its storage bits divided by the weight bit width from
// quantization_config (4 when absent). So an FP8 or INT4 checkpoint reports the same count as its BF16 source.
#ifndef OCTET_INSPECT_MODEL_REPORT_H_
#define OCTET_INSPECT_MODEL_REPORT_H_

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/tensor_view.h"

namespace octet {

// Statistics of one scale tensor that belongs to a weight.
struct ScaleReport {
  std::string role;  // the suffix: "weight_scale", "weight_scale_inv", "input_scale", "activation_scale", ...
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  // "tensor" (one value), "channel" (one per output row), "group" (per row and group of `group_size` inputs),
  // "block" (`block` = [rows, cols] per value), "vector" (several values, not tied to the weight's rows), "other".
  std::string kind;
  int64_t group_size = 0;
  std::vector<int64_t> block;
  uint64_t count = 0;
  bool has_stats = false;  // false when the dtype cannot be decoded (then min/max/mean are absent)
  double min = 0, max = 0, mean = 0;  // over the finite values
};

struct TensorReport {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  uint64_t bytes = 0;
  uint64_t parameters = 0;  // see the rules above
  std::string file;         // file name of the shard holding it
  std::vector<ScaleReport> scales;  // only for weights (`*.weight`, `*.weight_packed`) with scale siblings
};

struct DTypeTally {
  uint64_t tensors = 0;
  uint64_t bytes = 0;
  uint64_t parameters = 0;
};

struct ModelReport {
  std::string path;
  std::optional<std::string> architecture;  // config.json "architectures"[0]
  std::optional<std::string> model_type;
  uint64_t parameter_count = 0;
  uint64_t tensor_bytes = 0;  // data bytes of all tensors
  uint64_t disk_bytes = 0;    // sizes of the weight files (shards and index), headers included
  std::vector<std::string> files;
  std::map<std::string, DTypeTally> dtypes;  // by safetensors dtype name
  nlohmann::json quantization_config;        // verbatim, null when absent
  std::vector<TensorReport> tensors;         // in checkpoint order (shard by shard, data order)
};

// Opens and inspects `path`; throws octet::Error naming the file on any problem.
ModelReport InspectModel(const std::filesystem::path& path);

// True for the tensor-name suffixes listed above as quantization metadata.
bool IsQuantizationMetadata(const std::string& tensor_name);

}  // namespace octet

#endif  // OCTET_INSPECT_MODEL_REPORT_H_
