// `octet generate MODEL --prompt-ids "1 2 3"` (or --prompt TEXT): runs a checkpoint (F32/F16/BF16, FP8 or INT4) on the
// CPU and continues the prompt, greedily by default or by llama2.c-compatible sampling (runtime/sampler.h).
// Generation stops at the tokenizer's stop ids (EOS and any end-of-turn ids) unless --ignore-eos; the stop id is
// the last of the printed ids and decodes to no text.
#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands.h"
#include "runtime/generate.h"
#include "runtime/token_file.h"
#include "runtime/transformer.h"
#include "tokenizer/load_tokenizer.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace octet::cli {
namespace {

struct GenerateArgs {
  std::string model;
  std::string prompt_ids;
  std::string prompt;
  int64_t steps = 128;
  float temperature = 0.0f;
  float top_p = 0.9f;
  uint64_t seed = 42;
  bool print_ids = false;
  bool ignore_eos = false;
  size_t threads = 0;
};

void RunGenerate(const GenerateArgs& args) {
  if (args.prompt_ids.empty() == args.prompt.empty()) Fail("give the prompt as --prompt-ids or as --prompt (one)");
  const LoadedModel loaded = LoadModel(args.model);
  const Transformer& model = *loaded.transformer;
  const int64_t vocab = model.config().shape.vocab_size;
  // A text prompt needs the tokenizer; ids do not, but printing text and knowing the stop ids do.
  std::unique_ptr<const Tokenizer> tokenizer;
  if (!args.prompt.empty()) {
    tokenizer = LoadTokenizer(loaded.checkpoint->dir());
  } else if (!args.print_ids || !args.ignore_eos) {
    try {
      tokenizer = LoadTokenizer(loaded.checkpoint->dir());
    } catch (const Error&) {
      // No tokenizer beside the model: print ids, and stop only at -n or the context.
    }
  }
  const auto stops = [&](int32_t id) { return tokenizer && !args.ignore_eos && tokenizer->IsStop(id); };
  TokenSequence prompt;
  if (!args.prompt.empty()) {
    prompt = tokenizer->Encode(args.prompt, /*add_bos=*/true);
    for (const int32_t id : prompt) {
      if (id >= vocab) Fail("--prompt: token id {} is not below the model's vocabulary size {}", id, vocab);
    }
  } else {
    const std::vector<TokenSequence> parsed = ParseTokenText(args.prompt_ids, "--prompt-ids", vocab);
    if (parsed.size() != 1) Fail("--prompt-ids: expected one line of space-separated token ids");
    prompt = parsed[0];
  }

  GenerateOptions options;
  options.max_new_tokens = args.steps;
  options.temperature = args.temperature;
  options.top_p = args.top_p;
  options.seed = args.seed;
  ThreadPool pool(args.threads);

  if (args.print_ids || !tokenizer) {
    const auto keep_going = [&](int32_t id) { return !stops(id); };
    fmt::print("{}\n", fmt::join(Generate(model, prompt, options, pool, keep_going), " "));
    return;
  }
  // Text as it comes, prompt first; the ids go to stderr so stdout stays text.
  StreamDecoder stream(*tokenizer);
  for (const int32_t id : prompt) fmt::print("{}", stream.Push(id));
  std::fflush(stdout);
  const std::vector<int32_t> generated = Generate(model, prompt, options, pool, [&](int32_t id) {
    fmt::print("{}", stream.Push(id));  // whole UTF-8 characters only, as they complete
    std::fflush(stdout);
    return !stops(id);
  });
  fmt::print("{}\n", stream.Finish());
  std::fflush(stdout);  // the text before the ids when both go to one terminal or pipe
  fmt::print(stderr, "ids: {}\n", fmt::join(generated, " "));
}

}  // namespace

void AddGenerateCommand(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "generate", "Continue a prompt (text or token ids) with a checkpoint (F32/F16/BF16, FP8 or INT4) on the CPU");
  cmd->add_option("model", args->model, "Model directory (or .safetensors file with config.json beside it)")
      ->required();
  cmd->add_option("--prompt-ids", args->prompt_ids, "Prompt as space-separated token ids, e.g. \"1\" (BOS)");
  cmd->add_option("--prompt", args->prompt, "Prompt as text (needs the model's tokenizer; BOS is added)");
  cmd->add_option("-n,--steps", args->steps, "Tokens to generate (stops earlier at the context length)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--temperature", args->temperature, "Sampling temperature; 0 = greedy (deterministic)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", args->top_p, "Nucleus sampling mass in (0, 1); 0 or 1 samples the full distribution")
      ->capture_default_str()
      ->check(CLI::Range(0.0f, 1.0f));
  cmd->add_option("--seed", args->seed, "Seed of the sampler's xorshift generator (as llama2.c run.c -s)")
      ->capture_default_str();
  cmd->add_flag("--print-ids", args->print_ids, "Print only the generated token ids, space-separated, on one line");
  cmd->add_flag("--ignore-eos", args->ignore_eos,
                "Do not stop at the tokenizer's stop tokens (EOS, end of turn); run for -n tokens");
  cmd->add_option("--threads", args->threads, "Worker threads (0 = one per hardware thread)")->capture_default_str();
  cmd->callback([args]() { RunGenerate(*args); });
}

}  // namespace octet::cli
