// octet convert MODEL --quantization SCHEME -o OUT
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "calib/calib_data.h"
#include "cli/commands.h"
#include "convert/convert.h"
#include "quant/scheme.h"
#include "util/byte_size.h"
#include "util/error.h"

namespace octet::cli {
namespace {

struct ConvertArgs {
  ConvertOptions options;
  std::string max_shard_size = "5GB";
  std::string calib_data;
  std::string calib_text;
  size_t calib_samples = 0;
  size_t calib_seq_len = 0;
  std::string calib_method = "max";
};

}  // namespace

InputScaleCalibrator MakeCalibrator(const CalibDataSpec& data, const std::string& calib_method, size_t threads,
                                    std::string& description);
LayerwiseQuantizerFactory MakeLayerwiseQuantizer(const CalibDataSpec& data);
MixedPrecisionPlanner MakeMixedPrecisionPlanner(const CalibDataSpec& data);

void AddConvertCommand(CLI::App& app) {
  auto args = std::make_shared<ConvertArgs>();
  CLI::App* cmd = app.add_subcommand(
      "convert", "Quantize a Hugging Face checkpoint (streaming) into a directory vLLM, transformers or octet loads");
  cmd->add_option("model", args->options.model, "Model directory (config.json + safetensors) or .safetensors file")
      ->required();
  cmd->add_option("-o,--output", args->options.output, "Output directory, or OUT.gguf for llama.cpp (written as OUT.partial, then renamed)")
      ->required();
  cmd->add_option("-q,--quantization", args->options.scheme,
                  "Scheme: fp8, fp8-e5m2, e4m3_e4m3_f16, e5m2_e5m2_f16, int4, q4f16_1, q4bf16_1, q4f32_1, q0f32, "
                  "q0f16, q0bf16 (see README)")
      ->required();
  cmd->add_option("--method", args->options.overrides.method,
                  "INT4 and GGUF Q4_0 rounding: rtn (default) | gptq | awq (gptq and awq need calibration data)");
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
  auto* calib_data = cmd->add_option("--calib-data", args->calib_data,
                                     "Calibration token ids (one sequence per line) for static activation scales, "
                                     "--method gptq|awq and --auto-mix");
  auto* calib_text = cmd->add_option("--calib-text", args->calib_text,
                                     "Calibration text (plain UTF-8), tokenized with the model's tokenizer and cut "
                                     "into samples of --calib-seq-len tokens as llama-imatrix does");
  calib_data->excludes(calib_text);
  calib_text->excludes(calib_data);
  cmd->add_option("--calib-samples", args->calib_samples,
                  "Use this many calibration sequences (default: all lines / all samples the text holds)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--calib-seq-len", args->calib_seq_len,
                  "Tokens per calibration sequence: text samples are BOS + L-1 tokens (default: "
                  "max_position_embeddings, at most 512); token-id lines are cut to L (default: whole)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--calib-method", args->calib_method, "Calibration: max | percentile:P | mse");
  cmd->add_option("--format", args->options.format,
                  "Output format: gguf (one llama.cpp file; schemes Q4_0, Q8_0, F16, BF16, F32) or safetensors "
                  "(default: gguf when OUT ends in .gguf)");
  cmd->add_flag("--quiet", args->options.quiet, "No progress or summary");
  cmd->add_flag("--overwrite", args->options.overwrite, "Replace OUT if it exists");
  cmd->callback([args] {
    ConvertOptions options = args->options;
    options.max_shard_bytes = ParseByteSize(args->max_shard_size, "--max-shard-size");
    if (!args->calib_data.empty() || !args->calib_text.empty()) {
      CalibDataSpec data;
      data.is_text = !args->calib_text.empty();
      data.path = data.is_text ? args->calib_text : args->calib_data;
      data.samples = args->calib_samples;
      data.seq_len = args->calib_seq_len;
      options.calibrator = MakeCalibrator(data, args->calib_method, options.threads, options.calibration_description);
      options.layerwise_quantizer = MakeLayerwiseQuantizer(data);
      options.mixed_precision_planner = MakeMixedPrecisionPlanner(data);
    } else if (args->calib_samples > 0 || args->calib_seq_len > 0) {
      Fail("--calib-samples and --calib-seq-len need --calib-data or --calib-text");
    }
    Convert(options);
  });
}

}  // namespace octet::cli
