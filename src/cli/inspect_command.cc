// octet inspect PATH [--json]
#include <cstdio>
#include <memory>
#include <string>

#include <fmt/core.h>

#include "cli/commands.h"
#include "inspect/model_report.h"
#include "inspect/report_format.h"

namespace octet::cli {
namespace {

struct InspectArgs {
  std::string path;
  bool json = false;
};

}  // namespace

void AddInspectCommand(CLI::App& app) {
  auto args = std::make_shared<InspectArgs>();
  CLI::App* cmd = app.add_subcommand(
      "inspect", "Summarize a checkpoint: architecture, parameters, dtypes, quantization config, tensors and the "
                 "statistics of their scales (weights are not read)");
  cmd->add_option("path", args->path, "Model directory (single or sharded) or a .safetensors file")->required();
  cmd->add_flag("--json", args->json, "Print one JSON object instead of the table (keys: src/inspect/report_format.h)");
  cmd->callback([args] {
    const ModelReport report = InspectModel(args->path);
    if (args->json) {
      fmt::print("{}\n", ReportToJson(report).dump(2));
    } else {
      fmt::print("{}", FormatReportText(report));
    }
  });
}

}  // namespace octet::cli
