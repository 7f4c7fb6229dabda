// Each `octet` sub-command registers its options and handler with CLI11 here; main.cc only wires them up, so a
// command lives in one file.
#ifndef OCTET_CLI_COMMANDS_H_
#define OCTET_CLI_COMMANDS_H_

#include <CLI/CLI.hpp>

namespace octet::cli {

void AddConvertCommand(CLI::App& app);
void AddInspectCommand(CLI::App& app);
void AddSynthCommand(CLI::App& app);
void AddGenerateCommand(CLI::App& app);
void AddEvalCommand(CLI::App& app);
void AddTokenizeCommand(CLI::App& app);

}  // namespace octet::cli

#endif  // OCTET_CLI_COMMANDS_H_
