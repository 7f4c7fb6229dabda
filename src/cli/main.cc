// octet: quantize LLM checkpoints to FP8 / INT4 and run them on a CPU. See README.md.
#include <csignal>
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "cli/commands.h"
#include "util/error.h"

int main(int argc, char** argv) {
  // A file-size limit (ulimit -f) must surface as a write error naming the file, not kill the process.
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"octet: quantize LLM checkpoints to FP8 and INT4, stream them, and run them on a CPU"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "octet 0.1.0");
  octet::cli::AddConvertCommand(app);
  octet::cli::AddInspectCommand(app);
  octet::cli::AddSynthCommand(app);
  octet::cli::AddGenerateCommand(app);
  octet::cli::AddEvalCommand(app);
  octet::cli::AddTokenizeCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const octet::Error& e) {
    fmt::print(stderr, "octet: error: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "octet: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
