// octet synth --arch llama|mixtral [--preset NAME] [shape overrides] [--dtype D] [--seed S] -o DIR
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands.h"
#include "synth/synth_checkpoint.h"
#include "util/byte_size.h"
#include "util/error.h"

namespace octet::cli {
namespace {

struct SynthArgs {
  std::string arch = "llama";
  std::string preset = "tiny";
  std::optional<int64_t> hidden, intermediate, layers, heads, kv_heads, vocab, experts, experts_per_token;
  std::string dtype = "bf16";
  uint64_t seed = 0;
  std::string max_shard_size = "5GB";
  size_t threads = 0;
  std::string output;
  bool overwrite = false;
  bool quiet = false;
};

DType ParseSynthDType(const std::string& name) {
  if (name == "f32" || name == "float32") return DType::kF32;
  if (name == "f16" || name == "float16") return DType::kF16;
  if (name == "bf16" || name == "bfloat16") return DType::kBF16;
  Fail("--dtype: unknown dtype '{}' (expected f32, f16 or bf16)", name);
}

void RunSynth(const SynthArgs& args) {
  SynthSpec spec = SynthPreset(ParseSynthArch(args.arch), args.preset);
  auto apply = [](const std::optional<int64_t>& value, int64_t& field) {
    if (value) field = *value;
  };
  apply(args.hidden, spec.hidden_size);
  apply(args.intermediate, spec.intermediate_size);
  apply(args.layers, spec.num_layers);
  apply(args.heads, spec.num_heads);
  apply(args.kv_heads, spec.num_kv_heads);
  apply(args.vocab, spec.vocab_size);
  apply(args.experts, spec.num_experts);
  apply(args.experts_per_token, spec.num_experts_per_token);
  spec.dtype = ParseSynthDType(args.dtype);
  spec.seed = args.seed;
  SynthOptions options;
  options.max_shard_bytes = ParseByteSize(args.max_shard_size, "--max-shard-size");
  options.threads = args.threads;
  options.overwrite = args.overwrite;
  const SynthSummary summary = WriteSynthCheckpoint(spec, args.output, options);
  if (args.quiet) return;
  fmt::print("wrote {} ({} {}, {} layers, hidden {}): {} tensors, {} parameters, {} ({} bytes) in {} in {:.2f} s "
             "({}/s)\n",
             args.output, SynthArchName(spec.arch), args.preset, spec.num_layers, spec.hidden_size,
             summary.num_tensors, summary.num_parameters, FormatByteSize(summary.tensor_bytes), summary.tensor_bytes,
             fmt::join(summary.files, ", "), summary.seconds,
             FormatByteSize(static_cast<uint64_t>(static_cast<double>(summary.tensor_bytes) /
                                                  std::max(summary.seconds, 1e-9))));
}

}  // namespace

void AddSynthCommand(CLI::App& app) {
  auto args = std::make_shared<SynthArgs>();
  CLI::App* cmd = app.add_subcommand(
      "synth", "Generate a synthetic Llama or Mixtral checkpoint (HF config + safetensors) with realistic weight "
               "statistics, deterministic from the seed");
  cmd->add_option("--arch", args->arch, "llama | mixtral")->capture_default_str();
  cmd->add_option("--preset", args->preset,
                  "tiny (<1 MB) | small (~10 MB) | 1b (~1.1B params) | 4gb | 8gb (BF16 sizes; f32 doubles them)")
      ->capture_default_str();
  cmd->add_option("--hidden", args->hidden, "Override hidden_size");
  cmd->add_option("--intermediate", args->intermediate, "Override intermediate_size (per expert for mixtral)");
  cmd->add_option("--layers", args->layers, "Override num_hidden_layers");
  cmd->add_option("--heads", args->heads, "Override num_attention_heads");
  cmd->add_option("--kv-heads", args->kv_heads, "Override num_key_value_heads");
  cmd->add_option("--vocab", args->vocab, "Override vocab_size");
  cmd->add_option("--experts", args->experts, "Override num_local_experts (mixtral)");
  cmd->add_option("--experts-per-token", args->experts_per_token, "Override num_experts_per_tok (mixtral)");
  cmd->add_option("--dtype", args->dtype, "f32 | f16 | bf16")->capture_default_str();
  cmd->add_option("--seed", args->seed, "Seed; the same seed gives byte-identical files")->capture_default_str();
  cmd->add_option("--max-shard-size", args->max_shard_size, "Largest shard, e.g. 5GB, 500MB, 1GiB or bytes")
      ->capture_default_str();
  cmd->add_option("--threads", args->threads, "Worker threads (default 0: all cores; output does not depend on it)");
  cmd->add_option("-o,--output", args->output, "Output directory (written as DIR.partial, then renamed)")
      ->required();
  cmd->add_flag("--overwrite", args->overwrite, "Replace DIR if it exists");
  cmd->add_flag("--quiet", args->quiet, "Print nothing on success");
  cmd->callback([args] { RunSynth(*args); });
}

}  // namespace octet::cli
