// `octet convert`: reads a checkpoint, quantizes it tensor by tensor, and writes a directory an engine loads.
//
// The data path is one pass: read a band of rows -> quantize -> write it at its final offset. Bands have a fixed
// size independent of the thread count, every band's result goes to its own place, and per-tensor figures are
// merged in band order, so the output is byte-identical at any --threads. Memory stays at a few bands per
// thread: input pages are released after each band (io/mapped_file.h) and output goes straight to disk.
// The output is assembled in `OUT.partial` and renamed to OUT only when complete (io/output_directory.h).
#ifndef OCTET_CONVERT_CONVERT_H_
#define OCTET_CONVERT_CONVERT_H_

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "convert/layerwise_quantizer.h"
#include "io/checkpoint.h"
#include "util/thread_pool.h"
#include "quant/precision_rule.h"
#include "quant/scheme.h"

namespace octet {

// Static activation scales by module ("model.layers.0.self_attn.q_proj" -> input_scale), computed by running
// the original model over calibration data (the runtime provides this; convert only consumes it).
using InputScaleCalibrator =
    std::function<std::map<std::string, float>(const Checkpoint& original, const std::vector<std::string>& modules)>;

// What --auto-mix decided: the per-module formats as rules, a table for the log, and figures for the report.
struct MixedPrecisionChoice {
  std::vector<PrecisionRule> rules;
  std::string table;
  nlohmann::ordered_json report;
};
// Chooses formats for `modules` (the INT4 linears no --keep rule fixes) within `bits` per weight on average.
using MixedPrecisionPlanner = std::function<MixedPrecisionChoice(
    const Checkpoint& original, const QuantScheme& scheme, const std::vector<std::string>& modules, double bits,
    ThreadPool& pool)>;

struct ConvertOptions {
  std::filesystem::path model;
  std::filesystem::path output;
  std::string scheme = "fp8";
  // --format: "gguf", "safetensors", or "" (a .gguf output path means GGUF); see convert/gguf_convert.h.
  std::string format;
  SchemeOverrides overrides;
  std::vector<std::string> ignore_globs;
  std::vector<std::string> keep_rules;  // --keep GLOB=FORMAT (quant/precision_rule.h)
  double auto_mix_bits = 0;             // --auto-mix: average bits per weight; 0 = off
  MixedPrecisionPlanner mixed_precision_planner;  // required by --auto-mix (calibration data)
  uint64_t max_shard_bytes = 5'000'000'000;
  size_t threads = 0;  // 0: all hardware threads
  bool quiet = false;
  bool overwrite = false;
  // Required when the scheme has static activations; its absence is reported to the user, never papered over.
  InputScaleCalibrator calibrator;
  std::string calibration_description;  // for the report, e.g. "mse over 16 sequences"
  // Required by INT4 --method gptq|awq (calibration data through the original model, layer by layer).
  LayerwiseQuantizerFactory layerwise_quantizer;
  FILE* log = stderr;                  // progress and summary
  // Entries copied as they are into the report (e.g. the GGUF file a checkpoint was imported from).
  nlohmann::ordered_json report_notes = nlohmann::ordered_json::object();
};

struct ConvertedTensorReport {
  std::string name;
  std::string action;  // "quantized", "cast", "copied"
  std::string dtype_in;
  std::string dtype_out;
  double relative_rms_error = 0;
  double sqnr_db = 0;
  double max_abs_error = 0;
};

struct ConvertSummary {
  size_t tensors_quantized = 0;
  size_t tensors_kept = 0;
  uint64_t bytes_in = 0;   // tensor data read
  uint64_t bytes_out = 0;  // tensor data written
  std::vector<ConvertedTensorReport> tensors;  // in input order
  std::vector<std::string> copied_files;
  std::vector<std::string> skipped_files;  // other weight files in the model directory, not copied
  double seconds = 0;
  nlohmann::ordered_json report;  // what OUT/octet-report.json holds
};

ConvertSummary Convert(const ConvertOptions& options);

}  // namespace octet

#endif  // OCTET_CONVERT_CONVERT_H_
