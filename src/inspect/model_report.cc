#include "inspect/model_report.h"

#include <algorithm>

#include <array>
#include <cstring>
#include <string_view>
#include <unordered_map>

#include "inspect/scale_stats.h"
#include "io/checkpoint.h"
#include "util/error.h"

namespace octet {
namespace {

namespace fs = std::filesystem;

constexpr std::array<std::string_view, 13> kMetadataSuffixes = {
    "weight_scale",      "weight_scale_inv", "input_scale",       "output_scale",      "activation_scale",
    "weight_global_scale", "input_global_scale", "weight_zero_point", "input_zero_point", "weight_g_idx",
    "weight_shape",      "k_scale",          "v_scale"};

// Siblings of a weight whose statistics are reported, in this order.
constexpr std::array<std::string_view, 6> kScaleRoles = {"weight_scale",     "weight_scale_inv",  "input_scale",
                                                         "activation_scale", "output_scale",     "weight_global_scale"};

std::string_view LastComponent(std::string_view name) {
  const size_t dot = name.rfind('.');
  return dot == std::string_view::npos ? name : name.substr(dot + 1);
}

// The quantization_config object (or the older "compression_config"), null when absent.
nlohmann::json QuantizationConfig(const nlohmann::json& config) {
  for (const char* key : {"quantization_config", "compression_config"}) {
    if (config.contains(key) && config[key].is_object()) return config[key];
  }
  return nullptr;
}

// Weight bit width for packed weights: config_groups.*.weights.num_bits, 4 (W4A16) when absent.
int64_t PackedWeightBits(const nlohmann::json& quant) {
  if (quant.is_object() && quant.contains("config_groups") && quant["config_groups"].is_object()) {
    for (const auto& [name, group] : quant["config_groups"].items()) {
      if (group.contains("weights") && group["weights"].is_object() &&
          group["weights"].value("num_bits", nlohmann::json()).is_number_integer()) {
        const int64_t bits = group["weights"]["num_bits"].get<int64_t>();
        if (bits > 0) return bits;
      }
    }
  }
  return 4;
}

// The [out, in] shape stored in a `weight_shape` tensor (I64 or I32), if it is one.
std::optional<Shape> ReadWeightShape(const TensorView* view) {
  if (view == nullptr || view->shape.size() != 1) return std::nullopt;
  Shape shape;
  for (uint64_t i = 0; i < view->num_elements(); ++i) {
    if (view->dtype == DType::kI64) {
      int64_t v;
      std::memcpy(&v, view->bytes.data() + 8 * i, sizeof(v));
      shape.push_back(v);
    } else if (view->dtype == DType::kI32) {
      int32_t v;
      std::memcpy(&v, view->bytes.data() + 4 * i, sizeof(v));
      shape.push_back(v);
    } else {
      return std::nullopt;
    }
  }
  for (int64_t d : shape) {
    if (d < 0) return std::nullopt;
  }
  return shape;
}

}  // namespace

bool IsQuantizationMetadata(const std::string& tensor_name) {
  const std::string_view last = LastComponent(tensor_name);
  for (std::string_view suffix : kMetadataSuffixes) {
    if (last == suffix) return true;
  }
  return false;
}

ModelReport InspectModel(const fs::path& path) {
  const Checkpoint checkpoint = Checkpoint::Open(path);
  ModelReport report;
  report.path = path.string();
  const nlohmann::json& config = checkpoint.config();
  if (config.contains("architectures") && config["architectures"].is_array() && !config["architectures"].empty() &&
      config["architectures"][0].is_string()) {
    report.architecture = config["architectures"][0].get<std::string>();
  }
  if (config.contains("model_type") && config["model_type"].is_string()) {
    report.model_type = config["model_type"].get<std::string>();
  }
  report.quantization_config = QuantizationConfig(config);
  const int64_t packed_bits = PackedWeightBits(report.quantization_config);

  report.files = checkpoint.WeightFileNames();
  for (const std::string& name : report.files) {
    std::error_code error;
    const uint64_t size = fs::file_size(checkpoint.dir() / name, error);
    if (!error) report.disk_bytes += size;
  }

  std::unordered_map<std::string, std::string> file_of;
  for (const SafetensorsFile& file : checkpoint.files()) {
    for (const TensorView& view : file.tensors()) file_of[view.name] = file.path().filename().string();
  }

  for (const TensorView& view : checkpoint.tensors()) {
    TensorReport tensor;
    tensor.name = view.name;
    tensor.dtype = view.dtype;
    tensor.shape = view.shape;
    tensor.bytes = view.bytes.size();
    tensor.file = file_of[view.name];

    const std::string_view last = LastComponent(view.name);
    const std::string prefix = view.name.substr(0, view.name.size() - last.size());  // keeps the trailing '.'
    Shape logical_shape = view.shape;
    if (last == "weight_packed") {
      if (auto shape = ReadWeightShape(checkpoint.Find(prefix + "weight_shape"))) {
        logical_shape = *shape;
        tensor.parameters = NumElements(*shape);
      } else {
        tensor.parameters = view.num_elements() * DTypeBits(view.dtype) / static_cast<uint64_t>(packed_bits);
        if (!logical_shape.empty()) {
          logical_shape.back() = logical_shape.back() * static_cast<int64_t>(DTypeBits(view.dtype)) / packed_bits;
        }
      }
    } else if (!IsQuantizationMetadata(view.name)) {
      tensor.parameters = view.num_elements();
    }

    if (last == "weight" || last == "weight_packed") {
      for (std::string_view role : kScaleRoles) {
        if (const TensorView* scale = checkpoint.Find(prefix + std::string(role))) {
          tensor.scales.push_back(DescribeScale(std::string(role), *scale, logical_shape));
        }
      }
    }

    report.parameter_count += tensor.parameters;
    report.tensor_bytes += tensor.bytes;
    DTypeTally& tally = report.dtypes[std::string(DTypeName(view.dtype))];
    tally.tensors += 1;
    tally.bytes += tensor.bytes;
    tally.parameters += tensor.parameters;
    report.tensors.push_back(std::move(tensor));
  }
  // By name, so a weight is listed beside its scales whatever order the writer stored them in.
  std::stable_sort(report.tensors.begin(), report.tensors.end(),
                   [](const auto& a, const auto& b) { return a.name < b.name; });
  return report;
}

}  // namespace octet
