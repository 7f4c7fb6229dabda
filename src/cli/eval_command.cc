// `octet eval MODEL (--data TOKENS | --text FILE [--ctx N] [--stride N]) [--reference MODEL]`: teacher-forced
// perplexity, and against a reference model KL divergence, top-1 agreement and the relative perplexity change
// (runtime/eval.h). --text cuts the tokenized file into windows as llama.cpp's llama-perplexity does
// (runtime/text_windows.h).
#include <algorithm>
#include <string>

#include <fmt/format.h>

#include "cli/commands.h"
#include "runtime/eval.h"
#include "runtime/text_windows.h"
#include "runtime/token_file.h"
#include "runtime/transformer.h"
#include "tokenizer/load_tokenizer.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace octet::cli {
namespace {

// --text's default context: the model's max_position_embeddings, but at most this (llama.cpp's perplexity
// numbers are commonly quoted at -c 512, and a CPU run over a 128K context would take hours).
constexpr int64_t kDefaultTextContext = 512;

struct EvalArgs {
  std::string model;
  std::string data;
  std::string text;
  int64_t ctx = 0;     // 0: default
  int64_t stride = 0;  // 0: llama.cpp chunks
  std::string reference;
  bool json = false;
  bool per_layer = false;
  size_t threads = 0;
};

// The windows of --text, and a line describing them.
std::vector<ScoredSequence> TextWindows(const EvalArgs& args, const LoadedModel& model, const LoadedModel& reference,
                                        std::string& description) {
  int64_t context = model.transformer->config().max_position_embeddings;
  if (reference.transformer) context = std::min(context, reference.transformer->config().max_position_embeddings);
  const int64_t ctx = args.ctx > 0 ? args.ctx : std::min(context, kDefaultTextContext);
  if (ctx > context) {
    Fail("--ctx {} is more than the model's context (max_position_embeddings {}{})", ctx, context,
         reference.transformer ? ", the smaller of the model's and the reference's" : "");
  }
  const std::unique_ptr<const Tokenizer> tokenizer = LoadTokenizer(model.checkpoint->dir());
  const TokenizedText text = TokenizeTextFile(args.text, *tokenizer);
  const int64_t vocab = model.transformer->config().shape.vocab_size;
  for (const int32_t id : text.tokens) {
    if (id >= vocab) Fail("{}: token id {} is not below the model's vocabulary size {}", args.text, id, vocab);
  }
  std::vector<ScoredSequence> windows =
      args.stride > 0 ? SlidingWindows(text.tokens, static_cast<size_t>(ctx), static_cast<size_t>(args.stride),
                                       args.text)
                      : PerplexityChunks(text.tokens, text.bos, static_cast<size_t>(ctx), args.text);
  description = fmt::format("{} ({} tokens; {} windows of {} tokens{})", args.text, text.tokens.size(),
                            windows.size(), ctx, args.stride > 0 ? fmt::format(", stride {}", args.stride)
                                                                 : ", second half of each scored");
  return windows;
}

void RunEval(const EvalArgs& args) {
  if (args.data.empty() == args.text.empty()) Fail("eval: give the data as --data (token ids) or --text (one)");
  if (args.text.empty() && (args.ctx != 0 || args.stride != 0)) Fail("--ctx and --stride apply to --text only");
  const LoadedModel model = LoadModel(args.model);
  LoadedModel reference;
  if (!args.reference.empty()) reference = LoadModel(args.reference);
  std::vector<ScoredSequence> sequences;
  std::string data_description;
  if (!args.text.empty()) {
    sequences = TextWindows(args, model, reference, data_description);
  } else {
    sequences = ScoreAllPositions(ReadTokenFile(args.data, model.transformer->config().shape.vocab_size));
    data_description = fmt::format("{} ({} sequences)", args.data, sequences.size());
  }
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
    fmt::print("data            {}\n", data_description);
    fmt::print("{}", EvalMetricsText(metrics, per_layer));
  }
}

}  // namespace

void AddEvalCommand(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand(
      "eval",
      "Perplexity of a checkpoint on token sequences or a text file; with --reference also KL divergence and top-1 "
      "agreement");
  cmd->add_option("model", args->model, "Model directory to evaluate")->required();
  cmd->add_option("--data", args->data, "Token file: one sequence of space-separated ids per line (all scored)");
  cmd->add_option("--text", args->text,
                  "Plain-text file, tokenized whole with the model's tokenizer and evaluated in windows as "
                  "llama.cpp's llama-perplexity does (see README)");
  cmd->add_option("--ctx", args->ctx,
                  "--text: window length in tokens (default: max_position_embeddings, at most 512)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--stride", args->stride,
                  "--text: sliding windows of --ctx tokens advancing by this many, each scoring only the tokens "
                  "the previous one did not (default: llama.cpp's non-overlapping chunks)")
      ->check(CLI::PositiveNumber);
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
