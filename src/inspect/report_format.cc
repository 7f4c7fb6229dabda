#include "inspect/report_format.h"

#include <algorithm>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "util/byte_size.h"

namespace octet {
namespace {

nlohmann::json Field(const nlohmann::json& object, const char* key) {
  return object.is_object() && object.contains(key) ? object[key] : nlohmann::json();
}

nlohmann::json SummarizeArgs(const nlohmann::json& args) {
  if (!args.is_object()) return nullptr;
  nlohmann::json out = nlohmann::json::object();
  for (const char* key : {"num_bits", "type", "strategy", "group_size", "block_structure", "symmetric", "dynamic"}) {
    if (args.contains(key)) out[key] = args[key];
  }
  return out;
}

// "float8 channel" / "int4 group 128 asym" / "float8 token dynamic"
std::string DescribeArgs(const nlohmann::json& args) {
  if (!args.is_object()) return "none";
  std::string text = fmt::format("{}{}", args.value("type", std::string("?")),
                                 args.contains("num_bits") ? args["num_bits"].dump() : "?");
  if (args.contains("strategy") && args["strategy"].is_string()) text += fmt::format(" {}", args["strategy"].get<std::string>());
  if (args.contains("group_size") && !args["group_size"].is_null()) text += fmt::format(" {}", args["group_size"].dump());
  if (args.contains("block_structure") && !args["block_structure"].is_null()) {
    text += fmt::format(" {}", args["block_structure"].dump());
  }
  if (args.contains("symmetric") && args["symmetric"] == false) text += " asym";
  if (args.contains("dynamic") && args["dynamic"] != false && !args["dynamic"].is_null()) text += " dynamic";
  return text;
}

std::string ShapeText(const Shape& shape) { return ShapeToString(shape); }

// 230976 -> "230,976"
std::string Thousands(uint64_t value) {
  const std::string digits = std::to_string(value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string ScaleText(const ScaleReport& scale) {
  std::string kind = scale.kind;
  if (scale.kind == "group") kind += fmt::format(" {}", scale.group_size);
  if (scale.kind == "block") kind += fmt::format(" {}x{}", scale.block[0], scale.block[1]);
  if (!scale.has_stats) return fmt::format("{} n={} (values not decoded)", kind, scale.count);
  return fmt::format("{} n={} min={:.6g} max={:.6g} mean={:.6g}", kind, scale.count, scale.min, scale.max,
                     scale.mean);
}

}  // namespace

nlohmann::json SummarizeQuantizationConfig(const nlohmann::json& quant) {
  if (!quant.is_object()) return nullptr;
  nlohmann::json summary = {
      {"quant_method", Field(quant, "quant_method")},
      {"activation_scheme", Field(quant, "activation_scheme")},
      {"weight_block_size", Field(quant, "weight_block_size")},
      {"format", Field(quant, "format")},
      {"quantization_status", Field(quant, "quantization_status")},
      {"kv_cache_scheme", Field(quant, "kv_cache_scheme")},
  };
  // vLLM fp8: ignored_layers; transformers: modules_to_not_convert; compressed-tensors: ignore.
  nlohmann::json ignored_count = nullptr;
  for (const char* key : {"ignored_layers", "modules_to_not_convert", "ignore"}) {
    if (quant.contains(key) && quant[key].is_array()) {
      ignored_count = quant[key].size();
      break;
    }
  }
  summary["ignored_count"] = ignored_count;
  nlohmann::json groups = nullptr;
  if (quant.contains("config_groups") && quant["config_groups"].is_object()) {
    groups = nlohmann::json::object();
    for (const auto& [name, group] : quant["config_groups"].items()) {
      groups[name] = {{"targets", Field(group, "targets")},
                      {"weights", SummarizeArgs(Field(group, "weights"))},
                      {"input_activations", SummarizeArgs(Field(group, "input_activations"))}};
    }
  }
  summary["config_groups"] = groups;
  return summary;
}

nlohmann::json ReportToJson(const ModelReport& report) {
  nlohmann::json json = {
      {"path", report.path},
      {"architecture", report.architecture ? nlohmann::json(*report.architecture) : nlohmann::json()},
      {"model_type", report.model_type ? nlohmann::json(*report.model_type) : nlohmann::json()},
      {"parameter_count", report.parameter_count},
      {"tensor_count", report.tensors.size()},
      {"tensor_bytes", report.tensor_bytes},
      {"disk_bytes", report.disk_bytes},
      {"files", report.files},
  };
  nlohmann::json dtypes = nlohmann::json::object();
  for (const auto& [name, tally] : report.dtypes) {
    dtypes[name] = {{"tensors", tally.tensors}, {"bytes", tally.bytes}, {"parameters", tally.parameters}};
  }
  json["dtypes"] = dtypes;
  json["quantization"] = SummarizeQuantizationConfig(report.quantization_config);
  json["quantization_config"] = report.quantization_config;
  nlohmann::json tensors = nlohmann::json::array();
  for (const TensorReport& tensor : report.tensors) {
    nlohmann::json scales = nlohmann::json::array();
    for (const ScaleReport& scale : tensor.scales) {
      nlohmann::json s = {{"role", scale.role},
                          {"name", scale.name},
                          {"dtype", DTypeName(scale.dtype)},
                          {"shape", scale.shape},
                          {"kind", scale.kind},
                          {"count", scale.count},
                          {"min", scale.has_stats ? nlohmann::json(scale.min) : nlohmann::json()},
                          {"max", scale.has_stats ? nlohmann::json(scale.max) : nlohmann::json()},
                          {"mean", scale.has_stats ? nlohmann::json(scale.mean) : nlohmann::json()}};
      if (scale.kind == "group") s["group_size"] = scale.group_size;
      if (scale.kind == "block") s["block"] = scale.block;
      scales.push_back(std::move(s));
    }
    tensors.push_back({{"name", tensor.name},
                       {"dtype", DTypeName(tensor.dtype)},
                       {"shape", tensor.shape},
                       {"bytes", tensor.bytes},
                       {"parameters", tensor.parameters},
                       {"file", tensor.file},
                       {"scales", std::move(scales)}});
  }
  json["tensors"] = std::move(tensors);
  return json;
}

std::string FormatReportText(const ModelReport& report) {
  std::string out;
  auto line = [&](std::string_view key, const std::string& value) { out += fmt::format("{:<14}{}\n", key, value); };
  line("path", report.path);
  std::string arch = report.architecture.value_or("unknown (no config.json architectures)");
  if (report.model_type) arch += fmt::format(" (model_type {})", *report.model_type);
  line("architecture", arch);
  line("parameters", fmt::format("{} ({:.3g}M)", Thousands(report.parameter_count),
                                 static_cast<double>(report.parameter_count) / 1e6));
  line("tensors", std::to_string(report.tensors.size()));
  line("size on disk", fmt::format("{} ({} bytes in {} file{})", FormatByteSize(report.disk_bytes),
                                   Thousands(report.disk_bytes), report.files.size(),
                                   report.files.size() == 1 ? "" : "s"));
  std::vector<std::string> dtype_parts;
  for (const auto& [name, tally] : report.dtypes) {
    dtype_parts.push_back(fmt::format("{} x{} ({})", name, tally.tensors, FormatByteSize(tally.bytes)));
  }
  line("dtypes", fmt::format("{}", fmt::join(dtype_parts, ", ")));

  const nlohmann::json quant = SummarizeQuantizationConfig(report.quantization_config);
  if (quant.is_null()) {
    line("quantization", "none");
  } else {
    std::vector<std::string> parts;
    parts.push_back(quant["quant_method"].is_string() ? quant["quant_method"].get<std::string>() : "?");
    for (const char* key : {"format", "activation_scheme", "quantization_status"}) {
      if (quant[key].is_string()) parts.push_back(fmt::format("{} {}", key, quant[key].get<std::string>()));
    }
    if (!quant["weight_block_size"].is_null()) parts.push_back(fmt::format("weight_block_size {}", quant["weight_block_size"].dump()));
    if (!quant["ignored_count"].is_null()) parts.push_back(fmt::format("{} ignored", quant["ignored_count"].dump()));
    line("quantization", fmt::format("{}", fmt::join(parts, ", ")));
    if (quant["config_groups"].is_object()) {
      for (const auto& [name, group] : quant["config_groups"].items()) {
        line("", fmt::format("{}: targets {}, weights {}, input {}", name, group["targets"].dump(),
                             DescribeArgs(group["weights"]), DescribeArgs(group["input_activations"])));
      }
    }
  }
  out += "\n";

  // Table: widths from the longest entry of each column.
  struct Row {
    std::string name, dtype, shape, params, scale;
  };
  std::vector<Row> rows;
  for (const TensorReport& tensor : report.tensors) {
    // "-": quantization metadata (scales, zero points) is not a parameter at all, unlike a 0-element tensor.
    rows.push_back({tensor.name, std::string(DTypeName(tensor.dtype)), ShapeText(tensor.shape),
                    IsQuantizationMetadata(tensor.name) ? "-" : Thousands(tensor.parameters), ""});
    for (const ScaleReport& scale : tensor.scales) {
      rows.push_back({fmt::format("  {}", scale.role), std::string(DTypeName(scale.dtype)), ShapeText(scale.shape), "",
                      ScaleText(scale)});
    }
  }
  const Row header = {"NAME", "DTYPE", "SHAPE", "PARAMS", "SCALE"};
  size_t w_name = header.name.size(), w_dtype = header.dtype.size(), w_shape = header.shape.size(),
         w_params = header.params.size();
  for (const Row& row : rows) {
    w_name = std::max(w_name, row.name.size());
    w_dtype = std::max(w_dtype, row.dtype.size());
    w_shape = std::max(w_shape, row.shape.size());
    w_params = std::max(w_params, row.params.size());
  }
  auto print_row = [&](const Row& row) {
    std::string text = fmt::format("{:<{}}  {:<{}}  {:<{}}  {:>{}}  {}", row.name, w_name, row.dtype, w_dtype,
                                   row.shape, w_shape, row.params, w_params, row.scale);
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + "\n";
  };
  print_row(header);
  for (const Row& row : rows) print_row(row);
  return out;
}

}  // namespace octet
