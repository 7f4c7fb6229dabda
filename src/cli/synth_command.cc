#include "cli/commands.h"

namespace octet::cli {

// Placeholder until the command lands; keeps the CLI building while modules are written in parallel.
void AddSynthCommand(CLI::App& app) { (void)app; }

}  // namespace octet::cli
