#include "convert/conversion_plan.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "util/error.h"

namespace octet {
namespace {

const std::regex kExpert(R"((model\.layers\.\d+\.block_sparse_moe\.experts\.)\d+\.(w[123]))");

std::string FusedModuleKey(const std::string& module) { return Architecture::FusedModuleKey(module); }

// The group whose static input scales vLLM collapses into one: the fused siblings (they read the same input), and
// for Mixtral all experts of a layer (Fp8MoEMethod keeps one w13 and one w2 input scale per layer).
std::string InputScaleKey(const std::string& module) {
  std::smatch m;
  if (std::regex_match(module, m, kExpert)) return m[1].str() + "*." + (m[2].str() == "w2" ? "w2" : "w13");
  return FusedModuleKey(module);
}

bool MatchesAny(const std::vector<std::string>& globs, const std::string& module, const std::string& tensor) {
  for (const std::string& glob : globs) {
    if (fnmatch(glob.c_str(), module.c_str(), 0) == 0 || fnmatch(glob.c_str(), tensor.c_str(), 0) == 0) {
      return true;
    }
  }
  return false;
}

bool IsReadableFloat(DType dtype) {
  return dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16;
}

bool IsFp8(DType dtype) { return dtype == DType::kF8E4M3 || dtype == DType::kF8E5M2; }

// The scale tensors of the FP8 linears of an FP8 input checkpoint (FORMATS.md a.2, b.4): they are read with their
// weight and not written again.
std::set<std::string> Fp8Companions(const Checkpoint& checkpoint, const Architecture& architecture) {
  std::set<std::string> companions;
  for (const TensorView& view : checkpoint.tensors()) {
    if (!IsFp8(view.dtype) || architecture.Classify(view.name) != TensorRole::kLinear) continue;
    const std::string module = Architecture::ModulePrefix(view.name);
    for (const char* suffix : {".weight_scale", ".weight_scale_inv", ".input_scale", ".activation_scale"}) {
      companions.insert(module + suffix);
    }
  }
  return companions;
}

// "layers.2" before "layers.10": runs of digits compare as numbers.
bool NaturalLess(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit(static_cast<unsigned char>(a[i])) && std::isdigit(static_cast<unsigned char>(b[j]))) {
      size_t i_end = i, j_end = j;
      while (i_end < a.size() && std::isdigit(static_cast<unsigned char>(a[i_end]))) ++i_end;
      while (j_end < b.size() && std::isdigit(static_cast<unsigned char>(b[j_end]))) ++j_end;
      const std::string_view x = std::string_view(a).substr(i, i_end - i);
      const std::string_view y = std::string_view(b).substr(j, j_end - j);
      const std::string_view x_trim = x.substr(std::min(x.find_first_not_of('0'), x.size()));
      const std::string_view y_trim = y.substr(std::min(y.find_first_not_of('0'), y.size()));
      if (x_trim.size() != y_trim.size()) return x_trim.size() < y_trim.size();
      if (x_trim != y_trim) return x_trim < y_trim;
      i = i_end;
      j = j_end;
      continue;
    }
    if (a[i] != b[j]) return a[i] < b[j];
    ++i;
    ++j;
  }
  return a.size() - i < b.size() - j;
}

// Puts the output tensors in natural name order, each weight followed by its scales, so the output does not depend
// on how the input happened to be sharded or ordered.
void OrderOutput(ConversionPlan& plan) {
  std::vector<size_t> order(plan.tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    return NaturalLess(plan.tensors[x].source->name, plan.tensors[y].source->name);
  });
  std::vector<TensorSpec> specs;
  specs.reserve(plan.specs.size());
  const auto move_spec = [&](size_t& index) {
    specs.push_back(std::move(plan.specs[index]));
    index = specs.size() - 1;
  };
  for (size_t t : order) {
    PlannedTensor& planned = plan.tensors[t];
    move_spec(planned.out_index);
    if (planned.scale_index) move_spec(*planned.scale_index);
    if (planned.input_scale_index) move_spec(*planned.input_scale_index);
    if (planned.shape_index) move_spec(*planned.shape_index);
    if (planned.zero_point_index) move_spec(*planned.zero_point_index);
  }
  plan.specs = std::move(specs);
}

OutputFormat ChooseFormat(const QuantScheme& scheme) {
  if (!scheme.quantize_linears) return OutputFormat::kPlain;
  if (scheme.weight_type == WeightType::kInt4) return OutputFormat::kPackQuantized;
  if (scheme.weight_format == Fp8Format::kE5M2) return OutputFormat::kOctetFp8;
  if (scheme.activations == ActivationScheme::kNone || scheme.weight_scale == WeightScale::kChannel) {
    return OutputFormat::kCompressedTensors;
  }
  return OutputFormat::kVllmFp8;
}

void ValidateAgainstArchitecture(const Checkpoint& checkpoint, const Architecture& architecture,
                                 const ModelShape& shape) {
  // Count before listing: a config claiming 10^12 layers must be refused at once, not after building the list.
  const int64_t per_layer = architecture.is_moe() ? 7 + 3 * shape.num_experts : 9;
  int64_t implied = 0;
  if (__builtin_mul_overflow(shape.num_layers, per_layer, &implied) ||
      implied > static_cast<int64_t>(checkpoint.tensors().size())) {
    Fail("{}: num_hidden_layers {} implies more tensors than the checkpoint's {}",
         (checkpoint.dir() / "config.json").string(), shape.num_layers, checkpoint.tensors().size());
  }
  for (const ExpectedTensor& expected : architecture.ExpectedTensors(shape)) {
    const TensorView* view = checkpoint.Find(expected.name);
    if (view == nullptr) {
      Fail("{}: tensor '{}' is missing (a {} with {} layers needs it, shape {})", checkpoint.dir().string(),
           expected.name, architecture.name(), shape.num_layers, ShapeToString(expected.shape));
    }
    if (view->shape != expected.shape) {
      Fail("{}: tensor '{}' has shape {} but config.json implies {}", view->file, expected.name,
           ShapeToString(view->shape), ShapeToString(expected.shape));
    }
  }
}

// compressed-tensors pack-quantized (FORMATS.md b.2, b.5; compressed-tensors compressors/pack_quantized): codes
// packed 8 per int32 along the input dimension, scales [out, ceil(in / group)] in the model's float dtype (the
// last group of a row is shorter when group does not divide in), zero points packed 8 per int32 along the output
// dimension, and the original shape.
void PlanInt4(const TensorView& view, const QuantScheme& scheme, PlannedTensor& planned,
              std::vector<TensorSpec>& specs) {
  if (view.shape.size() != 2) {
    Fail("{}: tensor '{}' has shape {}; INT4 quantizes 2-D linear weights", view.file, view.name,
         ShapeToString(view.shape));
  }
  const int64_t rows = view.shape[0];
  const int64_t cols = view.shape[1];
  const int64_t groups = (cols + planned.group_size - 1) / planned.group_size;
  const std::string& m = planned.module;
  const DType scale_dtype = scheme.kept_dtype.value_or(view.dtype);
  planned.out_index = specs.size();
  specs.push_back({m + ".weight_packed", DType::kI32, {rows, (cols + 7) / 8}});
  planned.scale_index = specs.size();
  specs.push_back({m + ".weight_scale", scale_dtype, {rows, groups}});
  planned.shape_index = specs.size();
  specs.push_back({m + ".weight_shape", DType::kI64, {2}});
  if (!scheme.symmetric) {
    planned.zero_point_index = specs.size();
    specs.push_back({m + ".weight_zero_point", DType::kI32, {(rows + 7) / 8, groups}});
  }
}


// The --keep format of every linear a rule matches (and the scheme quantizes), checked against the scheme and
// against vLLM's fusing: a rule must give all members of a fused group the same format.
std::map<std::string, LinearFormat> ResolvePrecisionRules(const Checkpoint& checkpoint,
                                                          const Architecture& architecture, const QuantScheme& scheme,
                                                          const std::vector<PrecisionRule>& rules,
                                                          const std::set<std::string>& ignored_modules) {
  std::map<std::string, LinearFormat> formats;
  if (rules.empty()) return formats;
  if (!scheme.quantize_linears) Fail("--quantization {} does not quantize, so --keep does not apply", scheme.name);
  std::map<std::string, std::pair<std::string, std::string>> group_format;  // key -> (first module, format name)
  for (const TensorView& view : checkpoint.tensors()) {
    if (architecture.Classify(view.name) != TensorRole::kLinear) continue;
    const std::string module = Architecture::ModulePrefix(view.name);
    if (ignored_modules.count(module)) continue;
    const std::optional<LinearFormat> format = MatchPrecisionRule(rules, module, view.name);
    const std::string name = format ? format->Name() : "the scheme's";
    const auto [it, inserted] =
        group_format.emplace(Architecture::SchemeGroupKey(module), std::make_pair(module, name));
    if (!inserted && it->second.second != name) {
      Fail("--keep gives '{}' {} but '{}' {}; vLLM runs them as one fused module, so they need the same format",
           it->second.first, it->second.second, module, name);
    }
    if (!format) continue;
    if (format->precision == LinearPrecision::kInt4 && scheme.weight_type != WeightType::kInt4) {
      Fail("--keep {}={}: INT4 needs an INT4 scheme (int4, q4f16_1, ...); --quantization {} writes FP8",
           module, format->Name(), scheme.name);
    }
    formats[module] = *format;
  }
  return formats;
}

// "model.layers.12.mlp.up_proj.weight" -> 12; -1 for tensors outside the decoder layers.
int64_t LayerOf(const std::string& name) {
  static const std::regex kLayer(R"(^model\.layers\.(\d{1,9})\.)");
  std::smatch m;
  if (!std::regex_search(name, m, kLayer)) return -1;
  return std::stoll(m[1].str());
}

}  // namespace

std::string_view OutputFormatName(OutputFormat format) {
  switch (format) {
    case OutputFormat::kPlain: return "plain";
    case OutputFormat::kVllmFp8: return "fp8";
    case OutputFormat::kCompressedTensors: return "compressed-tensors";
    case OutputFormat::kOctetFp8: return "octet";
    case OutputFormat::kPackQuantized: return "compressed-tensors pack-quantized";
  }
  return "plain";
}

ConversionPlan PlanConversion(const Checkpoint& checkpoint, const Architecture& architecture,
                              const ModelShape& shape, const QuantScheme& scheme, const PlanOptions& options) {
  ValidateAgainstArchitecture(checkpoint, architecture, shape);

  ConversionPlan plan;
  plan.scheme = scheme;
  plan.format = ChooseFormat(scheme);
  const bool shared_tensor_scale = scheme.weight_scale == WeightScale::kTensor;

  // Which fused groups are partly ignored: vLLM refuses a fused module with some shards quantized and some not.
  std::map<std::string, std::pair<int, int>> fused_ignored;  // key -> (ignored, total)
  std::set<std::string> ignored_modules;
  for (const TensorView& view : checkpoint.tensors()) {
    if (architecture.Classify(view.name) != TensorRole::kLinear) continue;
    const std::string module = Architecture::ModulePrefix(view.name);
    auto& [ignored, total] = fused_ignored[FusedModuleKey(module)];
    ++total;
    if (MatchesAny(options.ignore_globs, module, view.name)) {
      ++ignored;
      ignored_modules.insert(module);
    }
  }
  for (const auto& [key, counts] : fused_ignored) {
    if (counts.first != 0 && counts.first != counts.second) {
      Fail("--ignore matches some but not all of the modules vLLM fuses into '{}'; ignore all of them or none",
           key);
    }
  }
  const std::map<std::string, LinearFormat> rule_formats =
      ResolvePrecisionRules(checkpoint, architecture, scheme, options.keep_rules, ignored_modules);

  std::map<std::string, size_t> unit_of_key;
  std::map<std::string, size_t> input_group_of_key;
  const std::set<std::string> companions = Fp8Companions(checkpoint, architecture);
  for (const TensorView& view : checkpoint.tensors()) {
    if (companions.count(view.name)) continue;
    PlannedTensor planned;
    planned.source = &view;
    planned.role = architecture.Classify(view.name);
    planned.layer = LayerOf(view.name);
    const bool is_linear = planned.role == TensorRole::kLinear;
    if (is_linear) planned.module = Architecture::ModulePrefix(view.name);
    planned.dequantize_source = is_linear && IsFp8(view.dtype);
    const auto rule = is_linear ? rule_formats.find(planned.module) : rule_formats.end();
    const bool keep_by_rule = rule != rule_formats.end() && rule->second.precision == LinearPrecision::kKeep;
    const bool quantize =
        scheme.quantize_linears && is_linear && !ignored_modules.count(planned.module) && !keep_by_rule;
    if (rule != rule_formats.end()) plan.module_formats[planned.module] = rule->second;

    if (quantize) {
      if (!IsReadableFloat(view.dtype) && !planned.dequantize_source) {
        Fail("{}: tensor '{}' is {}; octet quantizes F32, F16, BF16 and scaled FP8 weights", view.file, view.name,
             DTypeName(view.dtype));
      }
      planned.action = TensorAction::kQuantize;
      const bool fp8_by_rule = rule != rule_formats.end() && rule->second.precision == LinearPrecision::kFp8;
      if (scheme.weight_type == WeightType::kInt4 && fp8_by_rule) {
        // FP8 inside an INT4 checkpoint: E4M3 with channel scales, weight-only (compressed-tensors
        // float-quantized, a second config group).
        planned.layout = {WeightScale::kChannel, view.rows(), view.cols(), scheme.block_size};
        planned.out_index = plan.specs.size();
        plan.specs.push_back({view.name, DType::kF8E4M3, view.shape});
        planned.scale_index = plan.specs.size();
        plan.specs.push_back({planned.module + ".weight_scale", DType::kF32, {view.rows(), 1}});
        plan.tensors.push_back(std::move(planned));
        plan.units.push_back({plan.tensors.size() - 1});
        plan.tensors.back().unit = plan.units.size() - 1;
        continue;
      }
      if (scheme.weight_type == WeightType::kInt4) {
        planned.group_size = rule != rule_formats.end() && rule->second.group_size != 0 ? rule->second.group_size
                                                                                        : scheme.group_size;
        PlanInt4(view, scheme, planned, plan.specs);
        plan.tensors.push_back(std::move(planned));
        plan.units.push_back({plan.tensors.size() - 1});
        plan.tensors.back().unit = plan.units.size() - 1;
        continue;
      }
      planned.layout = {scheme.weight_scale, view.rows(), view.cols(), scheme.block_size};
      planned.out_index = plan.specs.size();
      plan.specs.push_back({view.name, Fp8DType(scheme.weight_format), view.shape});
      const std::string& m = planned.module;
      switch (scheme.weight_scale) {
        case WeightScale::kNone:
          break;
        case WeightScale::kTensor:
          planned.scale_index = plan.specs.size();
          // vLLM / AutoFP8 per-tensor scales are 0-d; compressed-tensors' are [1] (FORMATS.md a.2, b.2).
          plan.specs.push_back({m + ".weight_scale", DType::kF32,
                                plan.format == OutputFormat::kCompressedTensors ? Shape{1} : Shape{}});
          break;
        case WeightScale::kChannel:
          planned.scale_index = plan.specs.size();
          plan.specs.push_back({m + ".weight_scale", DType::kF32, {view.rows(), 1}});
          break;
        case WeightScale::kBlock: {
          planned.scale_index = plan.specs.size();
          // vLLM and DeepSeek-V3 name the block grid weight_scale_inv although it multiplies (vLLM fp8.py);
          // compressed-tensors calls it weight_scale.
          const std::string suffix =
              plan.format == OutputFormat::kCompressedTensors ? ".weight_scale" : ".weight_scale_inv";
          plan.specs.push_back({m + suffix, DType::kF32,
                                {planned.layout.block_grid_rows(), planned.layout.block_grid_cols()}});
          break;
        }
      }
      if (scheme.activations == ActivationScheme::kStatic) {
        planned.input_scale_index = plan.specs.size();
        plan.specs.push_back({m + ".input_scale", DType::kF32,
                              plan.format == OutputFormat::kCompressedTensors ? Shape{1} : Shape{}});
        const std::string key = InputScaleKey(m);
        auto [it, inserted] = input_group_of_key.emplace(key, plan.input_scale_groups.size());
        if (inserted) plan.input_scale_groups.emplace_back();
        plan.input_scale_groups[it->second].push_back(m);
      }
    } else {
      const bool cast = scheme.kept_dtype.has_value() && IsReadableFloat(view.dtype) &&
                        *scheme.kept_dtype != view.dtype;
      planned.action = cast || planned.dequantize_source ? TensorAction::kCast : TensorAction::kCopy;
      planned.out_index = plan.specs.size();
      // An FP8 linear left unquantized is written dequantized, in BF16 unless the scheme names a dtype; a --keep
      // rule's dtype wins.
      DType out_dtype = planned.dequantize_source ? scheme.kept_dtype.value_or(DType::kBF16)
                        : cast                    ? *scheme.kept_dtype
                                                  : view.dtype;
      if (keep_by_rule) {
        out_dtype = rule->second.dtype;
        if (out_dtype != view.dtype) planned.action = TensorAction::kCast;
      }
      plan.specs.push_back({view.name, out_dtype, view.shape});
      if (scheme.quantize_linears &&
          (is_linear || planned.role == TensorRole::kOutputHead || planned.role == TensorRole::kRouter)) {
        ignored_modules.insert(Architecture::ModulePrefix(view.name));
      }
    }

    const std::string unit_key = planned.action == TensorAction::kQuantize && shared_tensor_scale
                                     ? "fused:" + FusedModuleKey(planned.module)
                                     : "tensor:" + view.name;
    auto [it, inserted] = unit_of_key.emplace(unit_key, plan.units.size());
    if (inserted) plan.units.emplace_back();
    planned.unit = it->second;
    plan.units[planned.unit].push_back(plan.tensors.size());
    plan.tensors.push_back(std::move(planned));
  }
  if (scheme.quantize_linears && shape.tie_word_embeddings && !checkpoint.Find("lm_head.weight")) {
    // Tied models have no lm_head tensor, but the engine still builds an lm_head module; say it stays unquantized.
    ignored_modules.insert("lm_head");
  }
  plan.ignored_modules.assign(ignored_modules.begin(), ignored_modules.end());
  std::sort(plan.ignored_modules.begin(), plan.ignored_modules.end(), NaturalLess);
  OrderOutput(plan);
  return plan;
}

}  // namespace octet
