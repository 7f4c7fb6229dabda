#include "runtime/quant_params.h"

#include <optional>

#include "util/error.h"

namespace octet {
namespace {

std::pair<int64_t, int64_t> ParseBlockShape(const nlohmann::json &value,
                                            const std::string &what,
                                            const std::string &source) {
  int64_t rows = 0, cols = 0;
  if (value.is_array() && value.size() == 2 && value[0].is_number_integer() &&
      value[1].is_number_integer()) {
    rows = value[0].get<int64_t>();
    cols = value[1].get<int64_t>();
  } else if (value.is_string()) { // compressed-tensors' legacy "128x128"
    const std::string text = value.get<std::string>();
    const size_t x = text.find('x');
    if (x != std::string::npos) {
      try {
        rows = std::stoll(text.substr(0, x));
        cols = std::stoll(text.substr(x + 1));
      } catch (const std::exception &) {
        rows = cols = 0;
      }
    }
  }
  if (rows <= 0 || cols <= 0)
    Fail("{}: {} must be two positive integers, got {}", source, what,
         value.dump());
  return {rows, cols};
}

// compressed-tensors input_activations (a QuantizationArgs or null) -> the
// runtime's scheme.
void ParseInputActivations(const nlohmann::json &args,
                           const std::string &source,
                           CheckpointQuantParams &params) {
  params.activations_declared = true;
  if (args.is_null()) {
    params.activations = ActivationQuant::kNone;
    return;
  }
  if (!args.is_object())
    Fail("{}: input_activations must be an object or null", source);
  const std::string type = args.value("type", std::string("float"));
  const int bits = args.value("num_bits", 8);
  if (type != "float" || bits != 8) {
    Fail("{}: input_activations {} {}-bit are not supported (only 8-bit float)",
         source, type, bits);
  }
  const nlohmann::json dynamic = args.value("dynamic", nlohmann::json(false));
  const bool is_dynamic =
      dynamic.is_string() || (dynamic.is_boolean() && dynamic.get<bool>());
  std::string strategy =
      args.contains("strategy") && args["strategy"].is_string()
          ? args["strategy"].get<std::string>()
          : std::string();
  const int64_t group_size =
      args.contains("group_size") && args["group_size"].is_number_integer()
          ? args["group_size"].get<int64_t>()
          : 0;
  if (strategy.empty())
    strategy = group_size > 0 ? "group" : "tensor";
  if (!is_dynamic) {
    if (strategy != "tensor") {
      Fail("{}: static input_activations with strategy \"{}\" are not "
           "supported (only \"tensor\")",
           source, strategy);
    }
    params.activations = ActivationQuant::kStatic;
  } else if (strategy == "token") {
    params.activations = ActivationQuant::kDynamicToken;
  } else if (strategy == "tensor") {
    params.activations = ActivationQuant::kDynamicTensor;
  } else if (strategy == "group" || strategy == "tensor_group") {
    if (group_size <= 0)
      Fail("{}: dynamic group input_activations need a positive group_size",
           source);
    params.activations = ActivationQuant::kDynamicGroup;
    params.activation_group_size = group_size;
  } else {
    Fail("{}: dynamic input_activations with strategy \"{}\" are not supported",
         source, strategy);
  }
}

// A config group's integer weights (QuantizationArgs with type "int";
// FORMATS.md b.1, b.5): only what the runtime executes, 4-bit packed with
// per-group or per-channel scales, is accepted; the rest fails naming the
// field. Source of the field semantics: vllm-project/compressed-tensors
// quantization/quant_args.py (strategy inferred from group_size when null;
// actorder aliases) and vLLM compressed_tensors_wNa16.py (W4A16 scheme).
void ParseIntWeights(const std::string &group_name,
                     const nlohmann::json &scheme,
                     const nlohmann::json &weights,
                     const std::string &global_format,
                     const std::string &source, CheckpointQuantParams &params) {
  const std::string where =
      source + ": config_groups." + group_name + ".weights";
  const int bits = weights.value("num_bits", 8);
  if (bits != 4)
    Fail("{}: {}-bit int weights are not supported (only 4-bit, format "
         "pack-quantized)",
         where, bits);
  const std::string format =
      scheme.contains("format") && scheme["format"].is_string()
          ? scheme["format"].get<std::string>()
          : global_format;
  if (!format.empty() && format != "pack-quantized") {
    Fail("{}: int4 weights in format \"{}\" are not supported (only "
         "pack-quantized)",
         where, format);
  }
  const int64_t group_size = weights.contains("group_size") &&
                                     weights["group_size"].is_number_integer()
                                 ? weights["group_size"].get<int64_t>()
                                 : 0;
  std::string strategy =
      weights.contains("strategy") && weights["strategy"].is_string()
          ? weights["strategy"].get<std::string>()
          : std::string();
  if (strategy.empty())
    strategy = group_size > 0     ? "group"
               : group_size == -1 ? "channel"
                                  : "tensor";
  if (strategy != "group" && strategy != "channel") {
    Fail("{}: int4 weights with strategy \"{}\" are not supported (group, "
         "channel)",
         where, strategy);
  }
  if (strategy == "group" && group_size <= 0)
    Fail("{}: strategy \"group\" needs a positive group_size", where);
  const nlohmann::json actorder = weights.value("actorder", nlohmann::json());
  const bool group_actorder =
      (actorder.is_boolean() && actorder.get<bool>()) ||
      (actorder.is_string() && (actorder == "group" || actorder == "dynamic"));
  if (!actorder.is_null() && !actorder.is_boolean() &&
      !(actorder.is_string() &&
        (actorder == "group" || actorder == "dynamic" || actorder == "weight" ||
         actorder == "static"))) {
    Fail("{}: unknown actorder {}", where, actorder.dump());
  }
  const bool symmetric = weights.value("symmetric", true);
  const int64_t declared_group = strategy == "group" ? group_size : 0;
  // Targets that are full module names (not a class such as "Linear", not a
  // "re:" pattern) apply to those modules only, so groups with different
  // schemes can coexist (compressed-tensors utils/match.py: a target equal to
  // the module's name matches it).
  const nlohmann::json targets =
      scheme.value("targets", nlohmann::json::array());
  bool by_name = targets.is_array() && !targets.empty();
  for (const nlohmann::json &target : targets) {
    if (!target.is_string() ||
        target.get<std::string>().find('.') == std::string::npos ||
        target.get<std::string>().rfind("re:", 0) == 0) {
      by_name = false;
    }
  }
  if (by_name) {
    for (const nlohmann::json &target : targets) {
      params.int_weights_by_module[target.get<std::string>()] = {
          symmetric, strategy == "channel", declared_group};
    }
    params.int_weights_group_actorder =
        params.int_weights_group_actorder || group_actorder;
  } else {
    if (params.int_weights &&
        (params.int_weights_symmetric != symmetric ||
         params.int_weights_per_channel != (strategy == "channel") ||
         params.weight_group_size != declared_group)) {
      Fail("{}: config groups declare different int4 weight schemes, which the "
           "runtime does not support",
           source);
    }
    params.int_weights = true;
    params.int_weights_symmetric = symmetric;
    params.int_weights_per_channel = strategy == "channel";
    params.int_weights_group_actorder =
        params.int_weights_group_actorder || group_actorder;
    params.weight_group_size = declared_group;
  }
  const nlohmann::json inputs =
      scheme.value("input_activations", nlohmann::json());
  if (!inputs.is_null()) {
    Fail("{}: int4 weights with quantized input activations are not supported "
         "(only W4A16: "
         "input_activations null)",
         source + ": config_groups." + group_name);
  }
}

void ParseCompressedTensors(const nlohmann::json &qc, const std::string &source,
                            CheckpointQuantParams &params) {
  const auto groups = qc.find("config_groups");
  if (groups == qc.end() || !groups->is_object() || groups->empty()) {
    Fail("{}: compressed-tensors quantization_config has no config_groups",
         source);
  }
  // One activation scheme per checkpoint: per-module target matching between
  // differing groups is not implemented.
  std::optional<nlohmann::json> activations;
  for (const auto &[name, scheme] : groups->items()) {
    const nlohmann::json args =
        scheme.value("input_activations", nlohmann::json());
    if (activations && *activations != args) {
      Fail("{}: config_groups declare different input_activations; mixed "
           "activation schemes are not supported",
           source);
    }
    activations = args;
    const nlohmann::json weights = scheme.value("weights", nlohmann::json());
    if (!weights.is_object())
      continue;
    if (weights.value("type", std::string("int")) == "int") {
      ParseIntWeights(name, scheme, weights, qc.value("format", std::string()),
                      source, params);
      continue;
    }
    const std::string strategy = weights.value("strategy", std::string());
    if (strategy == "block" && weights.contains("block_structure") &&
        !weights["block_structure"].is_null()) {
      std::tie(params.block_rows, params.block_cols) = ParseBlockShape(
          weights["block_structure"], "block_structure", source);
    }
    if (strategy == "group" && weights.contains("group_size") &&
        weights["group_size"].is_number_integer()) {
      params.weight_group_size = weights["group_size"].get<int64_t>();
    }
  }
  ParseInputActivations(*activations, source, params);
}

} // namespace

std::string_view ActivationQuantName(ActivationQuant quant) {
  switch (quant) {
  case ActivationQuant::kNone:
    return "weight-only";
  case ActivationQuant::kStatic:
    return "static per-tensor";
  case ActivationQuant::kDynamicTensor:
    return "dynamic per-tensor";
  case ActivationQuant::kDynamicToken:
    return "dynamic per-token";
  case ActivationQuant::kDynamicGroup:
    return "dynamic per-token-group";
  }
  return "?";
}

CheckpointQuantParams ParseCheckpointQuantParams(const nlohmann::json &config,
                                                 const std::string &source) {
  CheckpointQuantParams params;
  const auto it = config.find("quantization_config");
  if (it == config.end() || it->is_null())
    return params;
  const nlohmann::json &qc = *it;
  if (!qc.is_object())
    Fail("{}: quantization_config must be an object", source);
  const std::string method = qc.value("quant_method", std::string());
  if (method == "compressed-tensors") {
    ParseCompressedTensors(qc, source, params);
    return params;
  }
  if (const auto block = qc.find("weight_block_size");
      block != qc.end() && !block->is_null()) {
    std::tie(params.block_rows, params.block_cols) =
        ParseBlockShape(*block, "weight_block_size", source);
  }
  if (const auto scheme = qc.find("activation_scheme");
      scheme != qc.end() && !scheme->is_null()) {
    const std::string name =
        scheme->is_string() ? scheme->get<std::string>() : scheme->dump();
    params.activations_declared = true;
    if (name == "static") {
      params.activations = ActivationQuant::kStatic;
    } else if (name == "dynamic") {
      // vLLM: per token and per block_cols group with block weights
      // (per_token_group_quant_fp8); per token otherwise (vLLM's per-tensor
      // dynamic scale would make results depend on the batch; see linear.h).
      params.activations = params.block_cols > 0
                               ? ActivationQuant::kDynamicGroup
                               : ActivationQuant::kDynamicToken;
      params.activation_group_size = params.block_cols;
    } else if (name == "none" || name == "weight_only" ||
               name == "weight-only") {
      params.activations = ActivationQuant::kNone;
    } else {
      Fail("{}: quantization_config activation_scheme \"{}\" is not supported "
           "(static, dynamic)",
           source, name);
    }
  }
  return params;
}

} // namespace octet
