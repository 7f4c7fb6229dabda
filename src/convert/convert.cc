#include "convert/convert.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <mutex>
#include <set>

#include <fmt/format.h>

#include "convert/conversion_plan.h"
#include "convert/gguf_convert.h"
#include "convert/progress.h"
#include "convert/quantization_config.h"
#include "convert/weight_checks.h"
#include "io/output_directory.h"
#include "io/safetensors_writer.h"
#include "models/architecture.h"
#include "models/model_config.h"
#include "numeric/convert_rows.h"
#include "quant/fp8_quantizer.h"
#include "quant/int4_group.h"
#include "quant/int4_pack.h"
#include "runtime/linear.h"
#include "runtime/quant_params.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

// Source bytes per band: big enough that per-band overhead vanishes, small enough that a few bands per thread
// are all the memory a conversion needs.
constexpr uint64_t kBandSourceBytes = 4u << 20;

// Files in a model directory that hold the weights in another container; they are not copied (a Mistral repo
// ships consolidated.safetensors beside the shards, Llama-3 repos original/consolidated.00.pth, older ones
// pytorch_model-*.bin). Other .bin files are kept: llama2.c tokenizers are tokenizer.bin / tok512.bin.
bool IsOtherWeightFile(const fs::path& path) {
  static const std::set<std::string> kWeightExtensions = {".safetensors", ".pt", ".pth", ".gguf", ".msgpack",
                                                          ".h5", ".ckpt", ".npz"};
  const std::string name = path.filename().string();
  if (kWeightExtensions.count(path.extension().string())) return true;
  return path.extension() == ".bin" && (name.rfind("pytorch_model", 0) == 0 || name.rfind("consolidated", 0) == 0);
}

// One band of rows of one tensor: the unit of parallel work.
struct Band {
  size_t tensor;  // index into plan.tensors
  int64_t row_begin;
  int64_t rows;
};

// Rows of a tensor viewed as a matrix: the first dimension, the rest flattened (a 0-d or 1-D tensor is one row).
int64_t MatrixRows(const TensorView& view) { return view.shape.size() >= 2 ? view.shape[0] : 1; }

uint64_t RowBytes(const TensorView& view) {
  const int64_t rows = MatrixRows(view);
  return rows == 0 ? 0 : view.bytes.size() / static_cast<uint64_t>(rows);
}

// Reusable scratch buffers, so bands do not each allocate (and fault in) fresh megabytes.
class ScratchPool {
 public:
  struct Buffers {
    std::vector<float> values;
    std::vector<float> reconstructed;
    std::vector<uint8_t> out;
  };
  std::unique_ptr<Buffers> Acquire() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (free_.empty()) return std::make_unique<Buffers>();
    auto buffers = std::move(free_.back());
    free_.pop_back();
    return buffers;
  }
  void Release(std::unique_ptr<Buffers> buffers) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(std::move(buffers));
  }

 private:
  std::mutex mutex_;
  std::vector<std::unique_ptr<Buffers>> free_;
};

// The dequantization multiplier of element (r, c) of a scaled FP8 weight (ops/matvec.h ScaleKind).
float ScaleAt(const WeightMatrix& w, int64_t r, int64_t c) {
  switch (w.scale_kind) {
    case ScaleKind::kNone: return 1.0f;
    case ScaleKind::kTensor: return w.scales[0];
    case ScaleKind::kChannel: return w.scales[r];
    case ScaleKind::kBlock:
      return w.scales[(r / w.block_rows) * ((w.cols + w.block_cols - 1) / w.block_cols) + c / w.block_cols];
    case ScaleKind::kGroup:
      return w.scales[r * ((w.cols + w.group_size - 1) / w.group_size) + c / w.group_size];
  }
  return 1.0f;
}

// Decodes a band of a float tensor to F32 (an FP8 weight with its scales when `scaled` is given) and (unless
// already done in an earlier pass) refuses NaN/Inf. Returns the band's abs max (0 when not scanned).
float DecodeBand(const TensorView& view, const Band& band, std::vector<float>& values, bool scan_values = true,
                 const WeightMatrix* scaled = nullptr) {
  const uint64_t cols = view.num_elements() / static_cast<uint64_t>(std::max<int64_t>(MatrixRows(view), 1));
  const size_t n = static_cast<size_t>(band.rows * cols);
  values.resize(n);
  const size_t elem_bytes = DTypeBits(view.dtype) / 8;
  const std::byte* src = view.bytes.data() + static_cast<uint64_t>(band.row_begin) * cols * elem_bytes;
  DecodeToF32(view.dtype, src, n, values.data());
  if (scaled != nullptr && scaled->scale_kind != ScaleKind::kNone) {
    for (int64_t r = 0; r < band.rows; ++r) {
      float* row = values.data() + static_cast<uint64_t>(r) * cols;
      for (uint64_t c = 0; c < cols; ++c) row[c] *= ScaleAt(*scaled, band.row_begin + r, static_cast<int64_t>(c));
    }
  }
  if (!scan_values) return 0.0f;
  const RangeScan scan = ScanRange(values.data(), n);
  if (scan.first_non_finite < n) {
    FailNonFiniteWeight(view, static_cast<uint64_t>(band.row_begin) * cols + scan.first_non_finite,
                  values[scan.first_non_finite]);
  }
  return scan.abs_max;
}

std::span<const std::byte> BandBytes(const TensorView& view, const Band& band) {
  const uint64_t row_bytes = RowBytes(view);
  return view.bytes.subspan(static_cast<uint64_t>(band.row_begin) * row_bytes,
                            static_cast<uint64_t>(band.rows) * row_bytes);
}

void ReleaseBand(const Checkpoint& checkpoint, const TensorView& view, const Band& band) {
  TensorView part = view;
  part.bytes = BandBytes(view, band);
  checkpoint.Release(part);
}

std::span<const std::byte> AsBytes(const void* data, size_t size) {
  return {static_cast<const std::byte*>(data), size};
}

Json NumberOrNull(double value) { return std::isfinite(value) ? Json(value) : Json(nullptr); }

// Static input scales for every quantized module, from the calibrator, shared across the groups vLLM merges.
std::map<std::string, float> ResolveInputScales(const ConversionPlan& plan, const Checkpoint& checkpoint,
                                                const ConvertOptions& options) {
  std::map<std::string, float> scales;
  if (plan.input_scale_groups.empty()) return scales;
  if (!options.calibrator) {
    Fail("--quantization {} uses static activation scales, which need calibration: pass --calib-data TOKENS "
         "(token ids, one sequence per line) or --calib-text FILE (plain text), or --activations dynamic to let "
         "the engine compute per-token scales at run time",
         plan.scheme.name);
  }
  std::vector<std::string> modules;
  for (const auto& group : plan.input_scale_groups) modules.insert(modules.end(), group.begin(), group.end());
  const std::map<std::string, float> measured = options.calibrator(checkpoint, modules);
  for (const auto& group : plan.input_scale_groups) {
    float shared = 0;
    for (const std::string& module : group) {
      const auto it = measured.find(module);
      if (it == measured.end()) continue;  // e.g. an expert no calibration token was routed to
      if (!std::isfinite(it->second) || it->second < 0) {
        Fail("calibration produced an invalid input scale {} for '{}'", it->second, module);
      }
      shared = std::max(shared, it->second);
    }
    if (shared == 0 && group.size() > 0 && !measured.count(group.front())) {
      Fail("calibration produced no statistics for '{}' (no calibration token reached it)", group.front());
    }
    shared = std::max(shared, kMinFp8Scale);
    for (const std::string& module : group) scales[module] = shared;
  }
  return scales;
}

void CopyOtherFiles(const fs::path& model_dir, const fs::path& out_dir, const std::set<std::string>& weight_files,
                    ConvertSummary& summary) {
  std::vector<fs::path> entries;
  for (const auto& entry : fs::recursive_directory_iterator(model_dir)) {
    if (entry.is_regular_file()) entries.push_back(entry.path());
  }
  std::sort(entries.begin(), entries.end());
  for (const fs::path& path : entries) {
    const fs::path relative = fs::relative(path, model_dir);
    const std::string name = relative.generic_string();
    if (name == "config.json" || weight_files.count(name) || name == "octet-report.json") continue;
    if (IsOtherWeightFile(path)) {
      summary.skipped_files.push_back(name);
      continue;
    }
    fs::create_directories((out_dir / relative).parent_path());
    std::error_code error;
    fs::copy_file(path, out_dir / relative, fs::copy_options::overwrite_existing, error);
    if (error) Fail("{}: cannot copy to {}: {}", path.string(), (out_dir / relative).string(), error.message());
    summary.copied_files.push_back(name);
  }
}

void WriteTextFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.flush();
  if (!out) Fail("{}: write failed", path.string());
}

class Converter {
 public:
  Converter(const Checkpoint& checkpoint, const ConversionPlan& plan,
            const std::map<std::string, float>& input_scales, LayerwiseQuantizer* layerwise,
            SafetensorsWriter& writer, ThreadPool& pool, Progress& progress)
      : checkpoint_(checkpoint),
        plan_(plan),
        input_scales_(input_scales),
        layerwise_(layerwise),
        writer_(writer),
        pool_(pool),
        progress_(progress),
        errors_(plan.tensors.size()),
        tensor_scale_(plan.tensors.size(), 1.0f),
        scales_(plan.tensors.size()),
        zeros_(plan.tensors.size()) {
    const std::string config_path = (checkpoint.dir() / "config.json").string();
    const CheckpointQuantParams params = ParseCheckpointQuantParams(checkpoint.config(), config_path);
    for (size_t t = 0; t < plan.tensors.size(); ++t) {
      const PlannedTensor& planned = plan.tensors[t];
      if (!planned.dequantize_source) continue;
      source_linears_.emplace(t, Linear::Load(checkpoint, planned.module, planned.source->rows(),
                                              planned.source->cols(), params));
    }
  }

  void Run() {
    // Units in plan order; with a layer-wise quantizer, tensors outside the decoder layers first, then layer by
    // layer, each layer bracketed by BeginLayer / EndLayer.
    std::vector<size_t> order(plan_.units.size());
    for (size_t u = 0; u < order.size(); ++u) order[u] = u;
    if (layerwise_ != nullptr) {
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return UnitLayer(a) < UnitLayer(b); });
    }
    // While a unit is computed, the next one is read ahead in the background: the disk and the cores work at
    // the same time instead of taking turns inside page faults.
    int64_t open_layer = -1;
    for (size_t i = 0; i < order.size(); ++i) {
      if (i == 0) PrefetchUnit(plan_.units[order[0]]);
      if (i + 1 < order.size()) PrefetchUnit(plan_.units[order[i + 1]]);
      const int64_t layer = UnitLayer(order[i]);
      if (layerwise_ != nullptr && layer != open_layer) {
        if (open_layer >= 0) layerwise_->EndLayer(open_layer);
        if (layer >= 0) layerwise_->BeginLayer(layer);
        open_layer = layer;
      }
      RunUnit(plan_.units[order[i]]);
    }
    if (layerwise_ != nullptr && open_layer >= 0) layerwise_->EndLayer(open_layer);
  }

  const std::vector<QuantError>& errors() const { return errors_; }
  const std::vector<float>& tensor_scales() const { return tensor_scale_; }

 private:
  int64_t UnitLayer(size_t unit) const { return plan_.tensors[plan_.units[unit].front()].layer; }

  static bool IsInt4(const PlannedTensor& planned) { return planned.shape_index.has_value(); }

  // Decodes a band of tensor `t`, dequantizing an FP8 source weight with its scales.
  float Decode(const Band& band, std::vector<float>& values, bool scan_values = true) const {
    if (const auto r = replaced_.find(band.tensor); r != replaced_.end()) {
      const uint64_t cols = plan_.tensors[band.tensor].source->num_elements() /
                            static_cast<uint64_t>(std::max<int64_t>(MatrixRows(*plan_.tensors[band.tensor].source), 1));
      values.assign(r->second.begin() + static_cast<int64_t>(band.row_begin * cols),
                    r->second.begin() + static_cast<int64_t>((band.row_begin + band.rows) * cols));
      return ScanRange(values.data(), values.size()).abs_max;
    }
    const auto it = source_linears_.find(band.tensor);
    if (it == source_linears_.end()) {
      return DecodeBand(*plan_.tensors[band.tensor].source, band, values, scan_values);
    }
    const WeightMatrix matrix = it->second.matrix();
    return DecodeBand(*plan_.tensors[band.tensor].source, band, values, scan_values, &matrix);
  }

  Int4Params Int4ParamsFor(const PlannedTensor& planned) const {
    Int4Params params;
    params.group_size = planned.group_size;
    params.symmetric = plan_.scheme.symmetric;
    params.grid = Int4Grid::kCompressedTensors;
    switch (plan_.specs[*planned.scale_index].dtype) {
      case DType::kBF16: params.scale_dtype = Int4ScaleDtype::kBF16; break;
      case DType::kF16: params.scale_dtype = Int4ScaleDtype::kF16; break;
      default: params.scale_dtype = Int4ScaleDtype::kF32; break;
    }
    return params;
  }

  // Writes rows [row_begin, row_begin + m.rows) of an INT4 tensor: packed codes at their place, scales and zero
  // points into the tensor's buffers (written by FinishTensor), and the reconstruction error.
  void WriteInt4Rows(size_t t, int64_t row_begin, const Int4Matrix& m, const float* original, QuantError& error) {
    const PlannedTensor& planned = plan_.tensors[t];
    const std::vector<int32_t> packed = PackInt4AlongCols(m.codes.data(), m.rows, m.cols);
    const uint64_t row_bytes = static_cast<uint64_t>((m.cols + 7) / 8) * sizeof(int32_t);
    writer_.Write(planned.out_index, static_cast<uint64_t>(row_begin) * row_bytes,
                  AsBytes(packed.data(), packed.size() * sizeof(int32_t)));
    const size_t groups = static_cast<size_t>(m.num_groups());
    std::copy(m.scales.begin(), m.scales.end(), scales_[t].begin() + static_cast<size_t>(row_begin) * groups);
    if (!m.symmetric) {
      std::copy(m.zeros.begin(), m.zeros.end(), zeros_[t].begin() + static_cast<size_t>(row_begin) * groups);
    }
    const std::vector<float> reconstructed = m.Dequantize();
    error.AddScaled(original, reconstructed.data(), 1.0f, reconstructed.size());
  }

  // GPTQ / AWQ: the whole matrix at once, inside its layer.
  void QuantizeInt4Calibrated(size_t t) {
    const PlannedTensor& planned = plan_.tensors[t];
    const TensorView& view = *planned.source;
    const Band whole{t, 0, MatrixRows(view)};
    std::vector<float> values;
    Decode(whole, values);
    Int4Matrix m = layerwise_->Quantize(planned.module, values, view.rows(), view.cols(), Int4ParamsFor(planned));
    if (m.rows != view.rows() || m.cols != view.cols()) {
      Fail("internal: the layer-wise quantizer returned a {}x{} matrix for '{}'", m.rows, m.cols, view.name);
    }
    WriteInt4Rows(t, 0, m, values.data(), errors_[t]);
    ReleaseBand(checkpoint_, view, whole);
    progress_.Advance(0, view.bytes.size());
  }

  // AWQ's folded norm weights, written in the tensor's output dtype instead of its own values.
  bool WriteReplacement(size_t t) {
    const PlannedTensor& planned = plan_.tensors[t];
    const std::vector<float> values = layerwise_->Replacement(planned.source->name);
    if (values.empty()) return false;
    if (values.size() != planned.source->num_elements()) {
      Fail("internal: replacement for '{}' has {} values, not {}", planned.source->name, values.size(),
           planned.source->num_elements());
    }
    const DType out_dtype = plan_.specs[planned.out_index].dtype;
    if (!IsFloatingPointWeightType(out_dtype)) Fail("internal: cannot replace non-float tensor '{}'", planned.source->name);
    std::vector<uint8_t> out(values.size() * DTypeBits(out_dtype) / 8);
    EncodeFromF32(out_dtype, values.data(), values.size(), out.data());
    writer_.Write(planned.out_index, 0, AsBytes(out.data(), out.size()));
    progress_.Advance(0, planned.source->bytes.size());
    return true;
  }

  void PrefetchUnit(const std::vector<size_t>& unit) const {
    for (size_t t : unit) checkpoint_.Prefetch(*plan_.tensors[t].source);
  }

  std::vector<Band> BandsOf(const std::vector<size_t>& unit) const {
    std::vector<Band> bands;
    for (size_t t : unit) {
      const PlannedTensor& planned = plan_.tensors[t];
      const TensorView& view = *planned.source;
      const int64_t rows = MatrixRows(view);
      if (rows == 0 || view.bytes.empty()) {
        bands.push_back({t, 0, rows});
        continue;
      }
      int64_t band_rows = static_cast<int64_t>(std::max<uint64_t>(1, kBandSourceBytes / std::max<uint64_t>(RowBytes(view), 1)));
      if (planned.action == TensorAction::kQuantize && !IsInt4(planned)) {
        band_rows = planned.layout.AlignBandRows(band_rows);
      }
      for (int64_t r = 0; r < rows; r += band_rows) bands.push_back({t, r, std::min(band_rows, rows - r)});
    }
    return bands;
  }

  void RunUnit(const std::vector<size_t>& unit) {
    const PlannedTensor& first = plan_.tensors[unit.front()];
    for (size_t t : unit) {
      const PlannedTensor& planned = plan_.tensors[t];
      if (planned.action == TensorAction::kQuantize && IsInt4(planned)) {
        const size_t groups = static_cast<size_t>(Int4NumGroups(planned.source->cols(), planned.group_size));
        scales_[t].assign(static_cast<size_t>(planned.source->rows()) * groups, 0.0f);
        if (!plan_.scheme.symmetric) zeros_[t].assign(scales_[t].size(), 0);
      }
    }
    if (layerwise_ != nullptr && unit.size() == 1) {
      const size_t t = unit.front();
      const bool int4 = first.action == TensorAction::kQuantize && IsInt4(first);
      if (int4) QuantizeInt4Calibrated(t);
      if (int4 || (first.action != TensorAction::kQuantize && WriteReplacement(t))) {
        FinishTensor(t);
        progress_.Advance(1, 0);
        return;
      }
    }
    if (layerwise_ != nullptr && first.action == TensorAction::kQuantize && !IsInt4(first)) {
      // An FP8 linear (a --keep rule) whose neighbour AWQ rescaled is quantized from the compensated weight.
      for (size_t t : unit) {
        std::vector<float> values = layerwise_->Replacement(plan_.tensors[t].source->name);
        if (!values.empty()) replaced_[t] = std::move(values);
      }
    }
    const std::vector<Band> bands = BandsOf(unit);
    const bool needs_abs_max =
        first.action == TensorAction::kQuantize && !IsInt4(first) && first.layout.kind == WeightScale::kTensor;
    if (needs_abs_max) {
      // Pass 1: the shared scale needs the group's abs max before any code is written.
      std::vector<float> band_abs_max(bands.size(), 0.0f);
      pool_.ParallelFor(bands.size(), [&](size_t i) {
        auto scratch = scratch_.Acquire();
        const TensorView& view = *plan_.tensors[bands[i].tensor].source;
        band_abs_max[i] = Decode(bands[i], scratch->values);
        ReleaseBand(checkpoint_, view, bands[i]);
        scratch_.Release(std::move(scratch));
      });
      const float abs_max = *std::max_element(band_abs_max.begin(), band_abs_max.end());
      const float scale = Fp8ScaleFor(abs_max, plan_.scheme.weight_format);
      for (size_t t : unit) tensor_scale_[t] = scale;
    }
    for (size_t t : unit) {
      const PlannedTensor& planned = plan_.tensors[t];
      if (planned.action == TensorAction::kQuantize && !IsInt4(planned)) {
        scales_[t].assign(static_cast<size_t>(std::max<int64_t>(planned.layout.num_scales(), 0)), 0.0f);
      }
    }
    // Pass 2: every band decoded, converted and written at its final place.
    std::vector<QuantError> band_errors(bands.size());
    pool_.ParallelFor(bands.size(), [&](size_t i) { ProcessBand(bands[i], band_errors[i]); });
    for (size_t i = 0; i < bands.size(); ++i) errors_[bands[i].tensor].Merge(band_errors[i]);
    for (size_t t : unit) FinishTensor(t);
    for (size_t t : unit) replaced_.erase(t);
    progress_.Advance(unit.size(), 0);
  }

  void ProcessBand(const Band& band, QuantError& error) {
    const PlannedTensor& planned = plan_.tensors[band.tensor];
    const TensorView& view = *planned.source;
    const std::span<const std::byte> source = BandBytes(view, band);
    const uint64_t out_offset_elements =
        static_cast<uint64_t>(band.row_begin) * (view.num_elements() / std::max<int64_t>(MatrixRows(view), 1));
    auto scratch = scratch_.Acquire();
    switch (planned.action) {
      case TensorAction::kCopy:
        if (IsFloatingPointWeightType(view.dtype) && !source.empty()) Decode(band, scratch->values);
        writer_.Write(planned.out_index, static_cast<uint64_t>(band.row_begin) * RowBytes(view), source);
        break;
      case TensorAction::kCast: {
        Decode(band, scratch->values);
        const DType out_dtype = plan_.specs[planned.out_index].dtype;
        const size_t out_elem_bytes = DTypeBits(out_dtype) / 8;
        scratch->out.resize(scratch->values.size() * out_elem_bytes);
        EncodeFromF32(out_dtype, scratch->values.data(), scratch->values.size(), scratch->out.data());
        writer_.Write(planned.out_index, out_offset_elements * out_elem_bytes,
                      AsBytes(scratch->out.data(), scratch->out.size()));
        break;
      }
      case TensorAction::kQuantize: {
        if (IsInt4(planned)) {
          Decode(band, scratch->values);
          const Int4Matrix m =
              QuantizeRtn(scratch->values.data(), band.rows, view.cols(), Int4ParamsFor(planned));
          WriteInt4Rows(band.tensor, band.row_begin, m, scratch->values.data(), error);
          break;
        }
        // With a per-tensor scale, the first pass has already scanned every value.
        Decode(band, scratch->values, planned.layout.kind != WeightScale::kTensor);
        const size_t n = scratch->values.size();
        scratch->out.resize(n);
        scratch->reconstructed.resize(n);
        QuantizeFp8Band(planned.layout, plan_.scheme.weight_format, band.row_begin, band.rows,
                        scratch->values.data(), tensor_scale_[band.tensor], scratch->out.data(),
                        scales_[band.tensor].data(), scratch->reconstructed.data(), error);
        writer_.Write(planned.out_index, out_offset_elements, AsBytes(scratch->out.data(), n));
        break;
      }
    }
    ReleaseBand(checkpoint_, view, band);
    scratch_.Release(std::move(scratch));
    progress_.Advance(0, source.size());
  }

  void FinishTensor(size_t t) {
    const PlannedTensor& planned = plan_.tensors[t];
    if (planned.action != TensorAction::kQuantize) return;
    if (IsInt4(planned)) {
      FinishInt4Tensor(t);
      return;
    }
    if (planned.scale_index) {
      const std::vector<float>& values =
          planned.layout.kind == WeightScale::kTensor ? std::vector<float>{tensor_scale_[t]} : scales_[t];
      writer_.Write(*planned.scale_index, 0, AsBytes(values.data(), values.size() * sizeof(float)));
    }
    if (planned.input_scale_index) {
      const float input_scale = input_scales_.at(planned.module);
      writer_.Write(*planned.input_scale_index, 0, AsBytes(&input_scale, sizeof(float)));
    }
  }

  void FinishInt4Tensor(size_t t) {
    const PlannedTensor& planned = plan_.tensors[t];
    const TensorSpec& scale_spec = plan_.specs[*planned.scale_index];
    std::vector<uint8_t> scales(scales_[t].size() * DTypeBits(scale_spec.dtype) / 8);
    // The quantizer already rounded every scale to this dtype, so the cast is exact.
    EncodeFromF32(scale_spec.dtype, scales_[t].data(), scales_[t].size(), scales.data());
    writer_.Write(*planned.scale_index, 0, AsBytes(scales.data(), scales.size()));
    const int64_t shape[2] = {planned.source->rows(), planned.source->cols()};
    writer_.Write(*planned.shape_index, 0, AsBytes(shape, sizeof(shape)));
    if (planned.zero_point_index) {
      const int64_t groups = Int4NumGroups(planned.source->cols(), planned.group_size);
      const std::vector<int32_t> packed = PackInt4AlongRows(zeros_[t].data(), planned.source->rows(), groups);
      writer_.Write(*planned.zero_point_index, 0, AsBytes(packed.data(), packed.size() * sizeof(int32_t)));
    }
    std::vector<float>().swap(scales_[t]);
    std::vector<int8_t>().swap(zeros_[t]);
  }

  const Checkpoint& checkpoint_;
  const ConversionPlan& plan_;
  const std::map<std::string, float>& input_scales_;
  LayerwiseQuantizer* layerwise_;
  SafetensorsWriter& writer_;
  ThreadPool& pool_;
  Progress& progress_;
  ScratchPool scratch_;
  std::vector<QuantError> errors_;
  std::vector<float> tensor_scale_;
  std::vector<std::vector<float>> scales_;
  std::vector<std::vector<int8_t>> zeros_;  // INT4 with zero points, [rows, groups]
  std::map<size_t, Linear> source_linears_;  // FP8 source weights with their scales, by tensor
  std::map<size_t, std::vector<float>> replaced_;  // the layer-wise quantizer's values for the current FP8 unit
};

Json ReadOrderedConfig(const Checkpoint& checkpoint) {
  const fs::path path = checkpoint.dir() / "config.json";
  if (!fs::exists(path)) Fail("{}: no config.json, so the architecture is unknown", checkpoint.dir().string());
  std::ifstream in(path);
  try {
    return Json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    Fail("{}: malformed JSON: {}", path.string(), e.what());
  }
}

std::string ActionName(TensorAction action) {
  switch (action) {
    case TensorAction::kQuantize: return "quantized";
    case TensorAction::kCast: return "cast";
    case TensorAction::kCopy: return "copied";
  }
  return "copied";
}

Json BuildReport(const ConvertOptions& options, const ConversionPlan& plan, const ConvertSummary& summary,
                 const std::vector<float>& tensor_scales, const std::map<std::string, float>& input_scales,
                 const std::vector<std::string>& files, const std::string& calibration) {
  const QuantScheme& s = plan.scheme;
  Json report;
  report["octet_version"] = "0.1.0";
  report["scheme"] = {{"name", s.name},
                      {"output_format", OutputFormatName(plan.format)},
                      {"weights", !s.quantize_linears                ? std::string("none")
                                  : s.weight_type == WeightType::kInt4 ? std::string("int4")
                                                                       : std::string(DTypeName(Fp8DType(s.weight_format)))},
                      {"weight_scale", WeightScaleName(s.weight_scale)},
                      {"activations", ActivationSchemeName(s.activations)},
                      {"kept_dtype", s.kept_dtype ? Json(DTypeName(*s.kept_dtype)) : Json("unchanged")},
                      {"ignore", options.ignore_globs}};
  if (s.weight_type == WeightType::kInt4) {
    report["scheme"]["group_size"] = s.group_size;
    report["scheme"]["symmetric"] = s.symmetric;
    report["scheme"]["method"] = QuantMethodName(s.method);
  }
  report["calibration"] = calibration.empty() ? Json(nullptr) : Json(calibration);
  report["tensors_quantized"] = summary.tensors_quantized;
  report["tensors_kept"] = summary.tensors_kept;
  report["bytes_in"] = summary.bytes_in;
  report["bytes_out"] = summary.bytes_out;
  std::vector<const ConvertedTensorReport*> worst;
  for (const ConvertedTensorReport& t : summary.tensors) {
    if (t.action == "quantized") worst.push_back(&t);
  }
  std::stable_sort(worst.begin(), worst.end(), [](const ConvertedTensorReport* a, const ConvertedTensorReport* b) {
    return a->relative_rms_error > b->relative_rms_error;
  });
  if (worst.size() > 5) worst.resize(5);
  report["worst_tensors"] = Json::array();
  for (const ConvertedTensorReport* t : worst) {
    report["worst_tensors"].push_back(
        {{"name", t->name}, {"relative_rms_error", t->relative_rms_error}, {"sqnr_db", NumberOrNull(t->sqnr_db)}});
  }
  report["tensors"] = Json::array();
  for (size_t i = 0; i < plan.tensors.size(); ++i) {
    const PlannedTensor& planned = plan.tensors[i];
    const ConvertedTensorReport& t = summary.tensors[i];
    Json entry = {{"name", t.name},
                  {"role", TensorRoleName(planned.role)},
                  {"action", t.action},
                  {"dtype_in", t.dtype_in},
                  {"dtype_out", t.dtype_out},
                  {"shape", planned.source->shape}};
    if (const auto it = plan.module_formats.find(planned.module); it != plan.module_formats.end()) {
      entry["format"] = it->second.Name();
    }
    if (planned.shape_index) entry["group_size"] = planned.group_size;
    if (planned.action == TensorAction::kQuantize) {
      entry["relative_rms_error"] = t.relative_rms_error;
      entry["sqnr_db"] = NumberOrNull(t.sqnr_db);
      entry["max_abs_error"] = t.max_abs_error;
      if (planned.layout.kind == WeightScale::kTensor && !planned.shape_index) {
        entry["weight_scale"] = tensor_scales[i];
      }
      if (const auto it = input_scales.find(planned.module); it != input_scales.end()) {
        entry["input_scale"] = it->second;
      }
    }
    report["tensors"].push_back(std::move(entry));
  }
  report["files"] = files;
  report["copied_files"] = summary.copied_files;
  report["skipped_files"] = summary.skipped_files;
  return report;
}

void PrintSummary(FILE* log, const ConvertOptions& options, const ConversionPlan& plan,
                  const ConvertSummary& summary) {
  fmt::print(log, "octet convert: {} -> {} ({}, {} format)\n", options.model.string(), options.output.string(),
             plan.scheme.name, OutputFormatName(plan.format));
  fmt::print(log, "  tensors: {} quantized, {} kept\n", summary.tensors_quantized, summary.tensors_kept);
  fmt::print(log, "  bytes:   {} -> {} ({:.2f}x smaller) in {:.1f} s\n", FormatBytes(summary.bytes_in),
             FormatBytes(summary.bytes_out),
             summary.bytes_out ? static_cast<double>(summary.bytes_in) / static_cast<double>(summary.bytes_out) : 0.0,
             summary.seconds);
  const Json& worst = summary.report["worst_tensors"];
  if (!worst.empty()) {
    fmt::print(log, "  worst quantization error (relative RMS, SQNR):\n");
    for (const Json& t : worst) {
      fmt::print(log, "    {:<60} {:.3f}%  {}\n", t["name"].get<std::string>(),
                 100.0 * t["relative_rms_error"].get<double>(),
                 t["sqnr_db"].is_null() ? std::string("exact") : fmt::format("{:.1f} dB", t["sqnr_db"].get<double>()));
    }
  }
  if (!summary.skipped_files.empty()) {
    fmt::print(log, "  not copied (other weight files): {}\n", fmt::join(summary.skipped_files, ", "));
  }
  if (summary.report.contains("short_last_group")) {
    const Json& names = summary.report["short_last_group"];
    fmt::print(log,
               "  note: {} INT4 tensors have a row length the group size does not divide ({}{}); their last group is "
               "shorter, which octet runs but vLLM's INT4 kernels refuse: use --keep 'GLOB=fp8' for them if the "
               "output is for vLLM\n",
               names.size(), names[0].get<std::string>(), names.size() > 1 ? ", ..." : "");
  }
  fmt::print(log, "  report:  {}\n", (options.output / "octet-report.json").string());
}

}  // namespace

ConvertSummary Convert(const ConvertOptions& options) {
  if (std::optional<ConvertSummary> gguf = ConvertGgufIfRequested(options)) return std::move(*gguf);
  const auto start = std::chrono::steady_clock::now();
  const QuantScheme scheme = ResolveScheme(options.scheme, options.overrides);
  const Checkpoint checkpoint = Checkpoint::Open(options.model);
  const Json input_config = ReadOrderedConfig(checkpoint);
  const std::string config_path = (checkpoint.dir() / "config.json").string();
  const Architecture& architecture = Architecture::ForConfig(checkpoint.config(), config_path);
  const ModelShape shape = ParseModelShape(checkpoint.config(), config_path);
  PlanOptions plan_options{options.ignore_globs, {}};
  for (const std::string& rule : options.keep_rules) plan_options.keep_rules.push_back(ParsePrecisionRule(rule));
  ThreadPool pool(options.threads);
  ConversionPlan plan = PlanConversion(checkpoint, architecture, shape, scheme, plan_options);
  MixedPrecisionChoice mix;
  if (options.auto_mix_bits > 0) {
    if (scheme.weight_type != WeightType::kInt4) Fail("--auto-mix needs an INT4 scheme (int4, q4f16_1, ...)");
    if (!options.mixed_precision_planner) {
      Fail("--auto-mix measures each layer's sensitivity on calibration data: pass --calib-data TOKENS or --calib-text FILE");
    }
    std::vector<std::string> modules;
    for (const PlannedTensor& planned : plan.tensors) {
      if (planned.shape_index && !plan.module_formats.count(planned.module)) modules.push_back(planned.module);
    }
    mix = options.mixed_precision_planner(checkpoint, scheme, modules, options.auto_mix_bits, pool);
    // The user's rules first: they win where both match.
    plan_options.keep_rules.insert(plan_options.keep_rules.end(), mix.rules.begin(), mix.rules.end());
    plan = PlanConversion(checkpoint, architecture, shape, scheme, plan_options);
    if (!options.quiet) fmt::print(options.log, "{}", mix.table);
  }
  const std::map<std::string, float> input_scales = ResolveInputScales(plan, checkpoint, options);

  if (options.output.has_parent_path()) fs::create_directories(options.output.parent_path());
  OutputDirectory output = OutputDirectory::Begin(options.output, options.overwrite);
  SafetensorsWriter writer(output.path(), plan.specs, options.max_shard_bytes);
  Progress progress(Progress::DetectMode(options.log, options.quiet), options.log, plan.tensors.size(),
                    checkpoint.TotalTensorBytes());
  std::unique_ptr<LayerwiseQuantizer> layerwise;
  if (scheme.weight_type == WeightType::kInt4 && scheme.method != QuantMethod::kRtn) {
    if (!options.layerwise_quantizer) {
      Fail("--method {} chooses INT4 codes from calibration data: pass --calib-data TOKENS or --calib-text FILE (or --method rtn)",
           QuantMethodName(scheme.method));
    }
    layerwise = options.layerwise_quantizer(checkpoint, scheme, pool);
  }
  Converter converter(checkpoint, plan, input_scales, layerwise.get(), writer, pool, progress);
  converter.Run();
  writer.Finish();
  progress.Finish();

  ConvertSummary summary;
  for (size_t i = 0; i < plan.tensors.size(); ++i) {
    const PlannedTensor& planned = plan.tensors[i];
    const QuantError& error = converter.errors()[i];
    summary.tensors.push_back({planned.source->name, ActionName(planned.action),
                               std::string(DTypeName(planned.source->dtype)),
                               std::string(DTypeName(plan.specs[planned.out_index].dtype)), error.relative_rms(),
                               error.sqnr_db(), error.max_abs_error});
    if (planned.action == TensorAction::kQuantize) {
      ++summary.tensors_quantized;
    } else {
      ++summary.tensors_kept;
    }
    summary.bytes_in += planned.source->bytes.size();
  }
  for (const TensorSpec& spec : plan.specs) summary.bytes_out += spec.byte_size();

  const std::vector<std::string> weight_names = checkpoint.WeightFileNames();
  CopyOtherFiles(checkpoint.dir(), output.path(), std::set<std::string>(weight_names.begin(), weight_names.end()),
                 summary);
  WriteTextFile(output.path() / "config.json", BuildOutputConfig(input_config, plan).dump(2) + "\n");
  std::string calibration = options.calibration_description;
  if (layerwise) calibration = layerwise->Description();
  summary.report = BuildReport(options, plan, summary, converter.tensor_scales(), input_scales, writer.FileNames(),
                               calibration);
  if (options.auto_mix_bits > 0) summary.report["auto_mix"] = mix.report;
  // INT4 rows the group size does not divide: octet runs them, vLLM's kernels do not (README "INT4").
  Json short_groups = Json::array();
  for (const PlannedTensor& planned : plan.tensors) {
    if (planned.shape_index && planned.source->cols() % planned.group_size != 0) {
      short_groups.push_back(planned.source->name);
    }
  }
  if (!short_groups.empty()) summary.report["short_last_group"] = short_groups;
  for (const auto& [key, value] : options.report_notes.items()) summary.report[key] = value;
  WriteTextFile(output.path() / "octet-report.json", summary.report.dump(2) + "\n");
  output.Commit();
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!options.quiet) PrintSummary(options.log, options, plan, summary);
  return summary;
}

}  // namespace octet
