#include "convert/gguf_convert.h"

#include <cctype>

#include <fmt/format.h>

#include "convert/gguf_export.h"
#include "convert/gguf_import.h"
#include "io/output_directory.h"
#include "util/error.h"

namespace octet {
namespace {

namespace fs = std::filesystem;

bool IsMlcDtypeScheme(const std::string& scheme) {
  return scheme.size() >= 2 && std::tolower(static_cast<unsigned char>(scheme[0])) == 'q' && scheme[1] == '0';
}

}  // namespace

bool WantsGgufOutput(const ConvertOptions& options) {
  if (!options.format.empty()) return options.format == "gguf";
  return options.output.extension() == ".gguf";
}

std::optional<ConvertSummary> ConvertGgufIfRequested(const ConvertOptions& options) {
  if (!options.format.empty() && options.format != "gguf" && options.format != "safetensors") {
    Fail("--format {}: expected gguf (one llama.cpp file) or safetensors (a Hugging Face directory)", options.format);
  }
  const std::optional<GgmlType> ggml_type = ParseGgufFileType(options.scheme);
  const bool gguf_out = WantsGgufOutput(options);
  // Impossible combinations are refused before any work.
  if (gguf_out) {
    if (!ggml_type) {
      Fail("--quantization {} cannot be written to GGUF (ggml has no FP8 type); GGUF output takes Q4_0, Q8_0, F16, "
           "BF16 or F32, or write a directory instead of {}",
           options.scheme, options.output.string());
    }
    if (!options.overrides.weight_scale.empty() || !options.overrides.activations.empty() ||
        !options.ignore_globs.empty()) {
      Fail("--weight-scale, --activations and --ignore do not apply to GGUF output "
           "(--quantization {} follows llama.cpp's per-tensor type rules)",
           options.scheme);
    }
    ResolveGgufMethod(options, *ggml_type);
  } else if (ggml_type && !IsMlcDtypeScheme(options.scheme)) {
    Fail("--quantization {} is a llama.cpp (GGUF) type; write a .gguf file (-o OUT.gguf, or --format gguf), or "
         "pick an octet scheme for a directory output",
         options.scheme);
  }

  if (IsGgufFile(options.model)) {
    if (fs::exists(options.output) && !options.overwrite) {
      Fail("{} already exists; pass --overwrite to replace it", options.output.string());
    }
    // Import into a locked scratch directory beside the output; never committed, so it is removed on return and on
    // error alike.
    const fs::path scratch_name = fs::path(options.output.string() + ".octet-gguf-import");
    if (options.output.has_parent_path()) fs::create_directories(options.output.parent_path());
    OutputDirectory scratch = OutputDirectory::Begin(scratch_name, /*overwrite=*/true);
    const GgufImportResult imported = ImportGgufCheckpoint(options.model, scratch.path(), options.threads);
    if (!options.quiet) {
      fmt::print(options.log, "octet convert: imported {} ({} tensors, {}) through {}\n", options.model.string(),
                 imported.tensors_written, imported.config["architectures"][0].get<std::string>(),
                 scratch.path().string());
    }
    if (!gguf_out) {
      // A missing tokenizer is a warning, not an error: the weights are still worth writing.
      if (!imported.tokenizer_written) {
        fmt::print(options.log, "octet convert: warning: {}\n", imported.tokenizer_note);
      } else if (!options.quiet) {
        fmt::print(options.log, "octet convert: tokenizer {}\n", imported.tokenizer_note);
      }
    }
    ConvertOptions next = options;
    next.model = scratch.path();
    next.report_notes["source_gguf"] = options.model.string();
    if (gguf_out) {
      // GGUF -> GGUF keeps the source's tokenizer keys as they are (not a round trip through tokenizer.json).
      return ExportGguf(next, *ggml_type, &imported.tokenizer_keys);
    }
    next.report_notes["tokenizer_note"] = imported.tokenizer_note;
    return WithContext(fmt::format("converting the checkpoint imported from {}", options.model.string()),
                       [&] { return Convert(next); });
  }
  if (gguf_out) return ExportGguf(options, *ggml_type);
  return std::nullopt;
}

}  // namespace octet
