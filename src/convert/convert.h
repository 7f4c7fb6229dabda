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

#include "io/checkpoint.h"
#include "quant/scheme.h"

namespace octet {

// Static activation scales by module ("model.layers.0.self_attn.q_proj" -> input_scale), computed by running
// the original model over calibration data (the runtime provides this; convert only consumes it).
using InputScaleCalibrator =
    std::function<std::map<std::string, float>(const Checkpoint& original, const std::vector<std::string>& modules)>;

struct ConvertOptions {
  std::filesystem::path model;
  std::filesystem::path output;
  std::string scheme = "fp8";
  // --format: "gguf", "safetensors", or "" (a .gguf output path means GGUF); see convert/gguf_convert.h.
  std::string format;
  SchemeOverrides overrides;
  std::vector<std::string> ignore_globs;
  uint64_t max_shard_bytes = 5'000'000'000;
  size_t threads = 0;  // 0: all hardware threads
  bool quiet = false;
  bool overwrite = false;
  // Required when the scheme has static activations; its absence is reported to the user, never papered over.
  InputScaleCalibrator calibrator;
  std::string calibration_description;  // for the report, e.g. "mse over 16 sequences"
  FILE* log = stderr;                  // progress and summary
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
