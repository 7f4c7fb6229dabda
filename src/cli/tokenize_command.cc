// `octet tokenize MODEL (--text TEXT | --file F) [--no-bos] [--decode]`: text -> token ids (one line of
// space-separated ids per input line) or, with --decode, ids -> text. MODEL is a model directory or a tokenizer
// file (tokenizer/load_tokenizer.h).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "tokenizer/load_tokenizer.h"
#include "util/error.h"

namespace octet::cli {
namespace {

struct TokenizeArgs {
  std::string model;
  std::string text;
  std::string file;
  bool no_bos = false;
  bool decode = false;
  bool info = false;
};

std::string ReadInput(const TokenizeArgs& args) {
  if (args.file.empty()) return args.text;
  std::stringstream buffer;
  if (args.file == "-") {
    buffer << std::cin.rdbuf();
  } else {
    std::ifstream in(args.file, std::ios::binary);
    if (!in) Fail("{}: cannot open", args.file);
    buffer << in.rdbuf();
  }
  return buffer.str();
}

// Lines of `input`; a final newline does not start another line.
std::vector<std::string_view> Lines(std::string_view input) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < input.size()) {
    const size_t end = input.find('\n', start);
    if (end == std::string_view::npos) {
      lines.push_back(input.substr(start));
      break;
    }
    lines.push_back(input.substr(start, end - start));
    start = end + 1;
  }
  if (lines.empty()) lines.emplace_back();  // --text "": one empty line
  return lines;
}

std::vector<int32_t> ParseIds(std::string_view line, size_t line_number, const Tokenizer& tokenizer) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  while (pos < line.size()) {
    if (line[pos] == ' ' || line[pos] == '\t' || line[pos] == '\r' || line[pos] == ',') {
      ++pos;
      continue;
    }
    int64_t value = 0;
    const size_t start = pos;
    while (pos < line.size() && line[pos] >= '0' && line[pos] <= '9' && value <= INT32_MAX) {
      value = value * 10 + (line[pos++] - '0');
    }
    if (pos == start ||
        (pos < line.size() && line[pos] != ' ' && line[pos] != '\t' && line[pos] != '\r' && line[pos] != ',')) {
      Fail("line {}: expected token ids (non-negative integers) at \"{}\"", line_number,
           line.substr(start, std::min<size_t>(20, line.size() - start)));
    }
    if (value >= tokenizer.vocab_size()) {
      Fail("line {}: id {} is outside the vocabulary (size {})", line_number, value, tokenizer.vocab_size());
    }
    ids.push_back(static_cast<int32_t>(value));
  }
  return ids;
}

void RunTokenize(const TokenizeArgs& args) {
  const std::unique_ptr<const Tokenizer> tokenizer = LoadTokenizer(args.model);
  if (args.info) {
    fmt::print(stderr, "{}; bos {} eos {} stop [{}]\n", tokenizer->description(), tokenizer->bos_id(),
               tokenizer->eos_id(), fmt::join(tokenizer->special_ids().stop, " "));
  }
  const std::string input = ReadInput(args);
  const std::vector<std::string_view> lines = Lines(input);
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (args.decode) {
      out += tokenizer->Decode(ParseIds(lines[i], i + 1, *tokenizer));
    } else {
      out += fmt::format("{}", fmt::join(tokenizer->Encode(lines[i], !args.no_bos), " "));
    }
    out += '\n';
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
}

}  // namespace

void AddTokenizeCommand(CLI::App& app) {
  auto args = std::make_shared<TokenizeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "tokenize", "Encode text to token ids (one line of ids per input line) or, with --decode, ids to text");
  cmd->add_option("model", args->model,
                  "Model directory (tokenizer.json, tokenizer.model or tokenizer.bin / tok*.bin) or a tokenizer file")
      ->required();
  auto* text = cmd->add_option("--text", args->text, "Input text (with --decode: ids); may hold several lines");
  auto* file = cmd->add_option("--file", args->file, "Read the input from this file ('-': standard input)");
  text->excludes(file);
  file->excludes(text);
  cmd->add_flag("--no-bos", args->no_bos, "Do not add BOS (or whatever the tokenizer adds around a sequence)");
  cmd->add_flag("--decode", args->decode, "Input lines are space-separated ids; print their text");
  cmd->add_flag("--info", args->info, "Print the tokenizer kind, vocabulary size and special ids to stderr");
  cmd->callback([args, text, file] {
    if (text->count() == 0 && file->count() == 0) Fail("tokenize: give --text or --file");
    RunTokenize(*args);
  });
}

}  // namespace octet::cli
