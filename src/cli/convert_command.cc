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

void AddConvertCommand(CLI::App& app) {
  auto args = std::make_shared<ConvertArgs>();
  CLI::App* cmd = app.add_subcommand(
      "convert", "Quantize a Hugging Face checkpoint (streaming) into a directory vLLM, transformers or octet loads");
  cmd->add_option("model", args->options.model, "Model directory (config.json + safetensors) or .safetensors file")
      ->required();
  cmd->add_option("-o,--output", args->options.output, "Output directory (written as OUT.partial, then renamed)")
      ->required();
  cmd->add_option("-q,--quantization", args->options.scheme,
                  "Scheme: fp8, fp8-e5m2, e4m3_e4m3_f16, e5m2_e5m2_f16, q0f32, q0f16, q0bf16 (see README)")
      ->required();
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
  cmd->add_option("--format", args->options.format,
                  "Output format: gguf (one llama.cpp file; schemes Q4_0, Q8_0, F16, BF16, F32) or safetensors "
                  "(default: gguf when OUT ends in .gguf)");
  cmd->add_flag("--quiet", args->options.quiet, "No progress or summary");
  cmd->add_flag("--overwrite", args->options.overwrite, "Replace OUT if it exists");
  cmd->callback([args] {
    ConvertOptions options = args->options;
    options.max_shard_bytes = ParseByteSize(args->max_shard_size, "--max-shard-size");
    if (!args->calib_data.empty()) {
      options.calibrator = MakeCalibrator(args->calib_data, args->calib_method, options.threads,
                                          options.calibration_description);
    }
    Convert(options);
  });
}

}  // namespace octet::cli
