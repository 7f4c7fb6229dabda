// `octet eval MODEL --data TOKENS [--reference MODEL]`: teacher-forced perplexity, and against a reference
// model KL divergence, top-1 agreement and the relative perplexity change (runtime/eval.h).
#include <string>

#include <fmt/format.h>

#include "cli/commands.h"
#include "runtime/eval.h"
#include "runtime/token_file.h"
#include "runtime/transformer.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace octet::cli {
namespace {

struct EvalArgs {
  std::string model;
  std::string data;
  std::string reference;
  bool json = false;
  bool per_layer = false;
  size_t threads = 0;
};

void RunEval(const EvalArgs& args) {
  const LoadedModel model = LoadModel(args.model);
  LoadedModel reference;
  if (!args.reference.empty()) reference = LoadModel(args.reference);
  const std::vector<TokenSequence> sequences = ReadTokenFile(args.data, model.transformer->config().shape.vocab_size);
  ThreadPool pool(args.threads);
  const EvalMetrics metrics = Evaluate(*model.transformer, reference.transformer.get(), sequences, pool);
  std::vector<EvalMetrics> per_layer;
  if (args.per_layer) {
    if (!reference.transformer) Fail("--per-layer needs --reference (the model whose layers are swapped in)");
    per_layer = EvaluatePerLayer(*model.transformer, *reference.transformer, sequences, pool);
  }
  if (args.json) {
    fmt::print("{}\n", EvalMetricsJson(metrics, per_layer));
  } else {
    fmt::print("model           {}\n", args.model);
    if (!args.reference.empty()) fmt::print("reference       {}\n", args.reference);
    fmt::print("data            {} ({} sequences)\n", args.data, sequences.size());
    fmt::print("{}", EvalMetricsText(metrics, per_layer));
  }
}

}  // namespace

void AddEvalCommand(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "Perplexity of a checkpoint on token sequences; with --reference also KL divergence and top-1 agreement");
  cmd->add_option("model", args->model, "Model directory to evaluate")->required();
  cmd->add_option("--data", args->data, "Token file: one sequence of space-separated ids per line")->required();
  cmd->add_option("--reference", args->reference, "Reference model (e.g. the unquantized original)");
  cmd->add_flag("--json", args->json,
                "Print one JSON object: ppl, ref_ppl, delta_ppl_pct, kld_mean, kld_median, kld_p99, "
                "top1_agreement, positions (the ref/kld/top1 keys are null without --reference)");
  cmd->add_flag("--per-layer", args->per_layer,
                "With --reference: also evaluate the reference with one layer at a time taken from the model, to "
                "see which layers cause the error (adds \"per_layer\" to --json output)");
  cmd->add_option("--threads", args->threads, "Worker threads (0 = one per hardware thread)")->capture_default_str();
  cmd->callback([args]() { RunEval(*args); });
}

}  // namespace octet::cli
