// octet convert MODEL --quantization SCHEME -o OUT
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "convert/convert.h"
#include "quant/scheme.h"
#include "util/byte_size.h"

namespace octet::cli {
namespace {

struct ConvertArgs {
  ConvertOptions options;
  std::string max_shard_size = "5GB";
  std::string calib_data;
  std::string calib_method = "max";
};

}  // namespace

InputScaleCalibrator MakeCalibrator(const std::string& calib_data, const std::string& calib_method,
                                    size_t threads, std::string& description);
LayerwiseQuantizerFactory MakeLayerwiseQuantizer(const std::string& calib_data);
MixedPrecisionPlanner MakeMixedPrecisionPlanner(const std::string& calib_data);

void AddConvertCommand(CLI::App& app) {
  auto args = std::make_shared<ConvertArgs>();
  CLI::App* cmd = app.add_subcommand(
      "convert", "Quantize a Hugging Face checkpoint (streaming) into a directory vLLM, transformers or octet loads");
  cmd->add_option("model", args->options.model, "Model directory (config.json + safetensors) or .safetensors file")
      ->required();
  cmd->add_option("-o,--output", args->options.output, "Output directory (written as OUT.partial, then renamed)")
      ->required();
  cmd->add_option("-q,--quantization", args->options.scheme,
                  "Scheme: fp8, fp8-e5m2, e4m3_e4m3_f16, e5m2_e5m2_f16, int4, q4f16_1, q4bf16_1, q4f32_1, q0f32, "
                  "q0f16, q0bf16 (see README)")
      ->required();
  cmd->add_option("--method", args->options.overrides.method,
                  "INT4 rounding: rtn (default) | gptq | awq (gptq and awq need --calib-data)");
  cmd->add_option("--group-size", args->options.overrides.group_size, "INT4 group size: 32 (default) | 64 | 128");
  cmd->add_flag("--zero-point", args->options.overrides.zero_point, "INT4: asymmetric groups with zero points");
  cmd->add_option("--keep", args->options.keep_rules,
                  "Per-layer format GLOB=FORMAT (repeatable, first match wins): int4[-g32|-g64|-g128], fp8, bf16, "
                  "f16, f32; e.g. 'lm_head=bf16' '*.layers.0.*=fp8'");
  cmd->add_option("--auto-mix", args->options.auto_mix_bits,
                  "INT4 schemes: choose each layer's format (INT4 g128/g64/g32, FP8, BF16) from its measured "
                  "sensitivity to fit this many bits per weight on average (needs --calib-data)");
  cmd->add_option("--weight-scale", args->options.overrides.weight_scale,
                  "FP8 weight scales: tensor | channel | block (128x128)");
  cmd->add_option("--activations", args->options.overrides.activations,
                  "FP8 activations: dynamic (per token) | static (calibrated) | none (weight-only)");
  cmd->add_option("--ignore", args->options.ignore_globs,
                  "Keep matching modules/tensors unquantized (glob, repeatable), e.g. '*.layers.0.*'");
  cmd->add_option("--max-shard-size", args->max_shard_size, "Largest output shard, e.g. 5GB, 500MB, 2GiB");
  cmd->add_option("--threads", args->options.threads, "Worker threads (default: all cores)");
  cmd->add_option("--calib-data", args->calib_data,
                  "Calibration token ids (one sequence per line) for static activation scales");
  cmd->add_option("--calib-method", args->calib_method, "Calibration: max | percentile:P | mse");
  cmd->add_flag("--quiet", args->options.quiet, "No progress or summary");
  cmd->add_flag("--overwrite", args->options.overwrite, "Replace OUT if it exists");
  cmd->callback([args] {
    ConvertOptions options = args->options;
    options.max_shard_bytes = ParseByteSize(args->max_shard_size, "--max-shard-size");
    if (!args->calib_data.empty()) {
      options.calibrator = MakeCalibrator(args->calib_data, args->calib_method, options.threads,
                                          options.calibration_description);
      options.layerwise_quantizer = MakeLayerwiseQuantizer(args->calib_data);
      options.mixed_precision_planner = MakeMixedPrecisionPlanner(args->calib_data);
    }
    Convert(options);
  });
}

}  // namespace octet::cli
