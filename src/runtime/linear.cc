#include "runtime/linear.h"

#include <cmath>
#include <cstring>

#include "runtime/activation_quant.h"
#include "runtime/tensor_decode.h"
#include "util/error.h"

namespace octet {
namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The block edge along a dimension of `extent` elements that yields `grid` blocks when the checkpoint's config
// does not say: 128 (the universal choice) if it fits, else the smallest power of two that fits, else the even
// split ceil(extent / grid). 0 when nothing fits.
int64_t InferBlockEdge(int64_t extent, int64_t grid) {
  if (grid <= 0) return 0;
  if (CeilDiv(extent, 128) == grid) return 128;
  for (int64_t edge = 1; edge <= extent; edge *= 2) {
    if (CeilDiv(extent, edge) == grid) return edge;
  }
  const int64_t even = CeilDiv(extent, grid);
  return CeilDiv(extent, even) == grid ? even : 0;
}

const TensorView* FindFirst(const Checkpoint& checkpoint, const std::string& module,
                            std::initializer_list<const char*> suffixes) {
  for (const char* suffix : suffixes) {
    if (const TensorView* view = checkpoint.Find(module + suffix)) return view;
  }
  return nullptr;
}

}  // namespace

Linear Linear::FromTensor(const TensorView& weight, const std::string& module) {
  if (weight.dtype != DType::kF32 && weight.dtype != DType::kF16 && weight.dtype != DType::kBF16) {
    Fail("{}: tensor '{}' is {}; expected F32, F16 or BF16", weight.file, weight.name, DTypeName(weight.dtype));
  }
  if (weight.shape.size() != 2) {
    Fail("{}: tensor '{}' has shape {}, expected a matrix", weight.file, weight.name, ShapeToString(weight.shape));
  }
  Linear linear;
  linear.module_ = module;
  linear.dtype_ = weight.dtype;
  linear.rows_ = weight.shape[0];
  linear.cols_ = weight.shape[1];
  linear.data_ = weight.bytes.data();
  return linear;
}

Linear Linear::Load(const Checkpoint& checkpoint, const std::string& module, int64_t out, int64_t in,
                    const CheckpointQuantParams& params) {
  const TensorView* weight = checkpoint.Find(module + ".weight");
  if (const TensorView* packed = checkpoint.Find(module + ".weight_packed")) {
    if (weight != nullptr) {
      Fail("{}: '{}' has both weight and weight_packed; expected one", packed->file, module);
    }
    return LoadPackedInt4(checkpoint, module, out, in, params);
  }
  if (weight == nullptr) weight = &checkpoint.Get(module + ".weight");
  ExpectShape(*weight, {out, in});
  if (weight->dtype != DType::kF8E4M3 && weight->dtype != DType::kF8E5M2) {
    return FromTensor(*weight, module);
  }

  Linear linear;
  linear.module_ = module;
  linear.dtype_ = weight->dtype;
  linear.rows_ = out;
  linear.cols_ = in;
  linear.data_ = weight->bytes.data();

  const TensorView* scale = checkpoint.Find(module + ".weight_scale");
  const TensorView* scale_inv = checkpoint.Find(module + ".weight_scale_inv");
  if (scale != nullptr && scale_inv != nullptr) {
    Fail("{}: '{}' has both weight_scale and weight_scale_inv; expected one", weight->file, module);
  }
  if (scale == nullptr) scale = scale_inv;
  if (scale != nullptr) {
    linear.scales_ = DecodeTensorF32(*scale);
    for (float s : linear.scales_) {
      if (!std::isfinite(s) || s <= 0) {
        Fail("{}: tensor '{}' holds a scale that is not finite and positive ({})", scale->file, scale->name, s);
      }
    }
    const Shape& shape = scale->shape;
    const auto misshapen = [&]() {
      Fail("{}: tensor '{}' has shape {}, which is no scale layout for a [{}, {}] weight", scale->file,
           scale->name, ShapeToString(shape), out, in);
    };
    if (shape.size() > 2) misshapen();
    if (linear.scales_.size() == 1 && (shape.empty() || shape[0] == 1) && out != 1) {
      linear.scale_kind_ = ScaleKind::kTensor;
    } else if (scale != scale_inv && ((shape.size() == 1 && shape[0] == out) ||
                                      (shape.size() == 2 && shape[0] == out && shape[1] == 1))) {
      linear.scale_kind_ = ScaleKind::kChannel;
    } else if (shape.size() == 2) {
      // A grid of scales: blocks (vLLM weight_block_size, compressed-tensors block_structure) or one row per
      // output row with groups along the input (compressed-tensors group strategy: block_rows = 1).
      int64_t block_rows = params.block_rows, block_cols = params.block_cols;
      if (block_rows == 0 && params.weight_group_size > 0 && shape[0] == out) {
        block_rows = 1;
        block_cols = params.weight_group_size;
      }
      if (block_rows == 0) {
        block_rows = scale != scale_inv && shape[0] == out ? 1 : InferBlockEdge(out, shape[0]);
        block_cols = InferBlockEdge(in, shape[1]);
      }
      if (block_rows <= 0 || block_cols <= 0 || CeilDiv(out, block_rows) != shape[0] ||
          CeilDiv(in, block_cols) != shape[1]) {
        misshapen();
      }
      linear.scale_kind_ = ScaleKind::kBlock;
      linear.block_rows_ = block_rows;
      linear.block_cols_ = block_cols;
    } else if (linear.scales_.size() == 1) {
      linear.scale_kind_ = ScaleKind::kTensor;  // a [1, 1]-row weight: tensor and channel coincide
    } else {
      misshapen();
    }
  }

  const TensorView* input_scale = FindFirst(checkpoint, module, {".input_scale", ".activation_scale"});
  linear.activations_ = params.activations_declared
                            ? params.activations
                            : (input_scale != nullptr ? ActivationQuant::kStatic : ActivationQuant::kNone);
  if (linear.activations_ == ActivationQuant::kStatic) {
    if (input_scale == nullptr) input_scale = &checkpoint.Get(module + ".input_scale");
    const std::vector<float> value = DecodeTensorF32(*input_scale);
    if (value.size() != 1) {
      Fail("{}: tensor '{}' has shape {}, expected one value ([] or [1])", input_scale->file, input_scale->name,
           ShapeToString(input_scale->shape));
    }
    if (!std::isfinite(value[0]) || value[0] <= 0) {
      Fail("{}: tensor '{}' = {} is not a finite positive scale", input_scale->file, input_scale->name, value[0]);
    }
    linear.input_scale_ = value[0];
  }
  if (linear.activations_ == ActivationQuant::kDynamicGroup) {
    linear.activation_group_ = params.activation_group_size;
    if (linear.activation_group_ <= 0) {
      if (linear.scale_kind_ != ScaleKind::kBlock) {
        Fail("{}: '{}': dynamic per-group activations need a group size (weight_block_size or group_size)",
             weight->file, module);
      }
      linear.activation_group_ = linear.block_cols_;
    }
  }
  return linear;
}

namespace {

// Reads an integer tensor (I32 or I64) of at most a few elements, e.g. weight_shape.
std::vector<int64_t> ReadIntegers(const TensorView& view) {
  std::vector<int64_t> values(view.num_elements());
  for (size_t i = 0; i < values.size(); ++i) {
    if (view.dtype == DType::kI64) {
      std::memcpy(&values[i], view.bytes.data() + 8 * i, 8);
    } else {
      int32_t v;
      std::memcpy(&v, view.bytes.data() + 4 * i, 4);
      values[i] = v;
    }
  }
  return values;
}

void ExpectDType(const TensorView& view, DType dtype, const char* what) {
  if (view.dtype != dtype) {
    Fail("{}: tensor '{}' is {}; expected {} ({})", view.file, view.name, DTypeName(view.dtype), DTypeName(dtype),
         what);
  }
}

}  // namespace

// Layout sources: neuralmagic/compressed-tensors compressors/quantized_compressors/pack_quantized.py
// (compression_param_info: weight_packed [out, ceil(in / 8)] int32, weight_zero_point [ceil(out / 8), groups]
// int32 packed with packed_dim=0 by pack_to_int32, which stores zp + 8 like the weights) and vLLM
// compressed_tensors_wNa16.py (weight_shape int64[2]; weight_g_idx int32[in] only with actorder "group"; the
// asymmetric kernel type is uint4 with the stored zero point, i.e. w = (u - (zp + 8)) * s = (q - zp) * s).
// vLLM sizes scales in / group_size and so needs in to be a multiple of the group; compressed-tensors' own
// initialize_qparams uses ceil(in / group_size), and so does octet: a shorter last group is accepted.
Linear Linear::LoadPackedInt4(const Checkpoint& checkpoint, const std::string& module, int64_t out, int64_t in,
                              const CheckpointQuantParams& checkpoint_params) {
  CheckpointQuantParams params = checkpoint_params;
  if (const auto it = params.int_weights_by_module.find(module); it != params.int_weights_by_module.end()) {
    params.int_weights = true;
    params.int_weights_symmetric = it->second.symmetric;
    params.int_weights_per_channel = it->second.per_channel;
    params.weight_group_size = it->second.group_size;
  }
  const TensorView& packed = checkpoint.Get(module + ".weight_packed");
  ExpectDType(packed, DType::kI32, "eight 4-bit codes per word");
  ExpectShape(packed, {out, CeilDiv(in, 8)});
  if (const TensorView* shape = checkpoint.Find(module + ".weight_shape")) {
    if (shape->dtype != DType::kI64 && shape->dtype != DType::kI32) {
      Fail("{}: tensor '{}' is {}; expected I64", shape->file, shape->name, DTypeName(shape->dtype));
    }
    ExpectShape(*shape, {2});
    const std::vector<int64_t> dims = ReadIntegers(*shape);
    if (dims[0] != out || dims[1] != in) {
      Fail("{}: tensor '{}' = [{}, {}], but the model config gives [{}, {}]", shape->file, shape->name, dims[0],
           dims[1], out, in);
    }
  }
  if (params.activations_declared && params.activations != ActivationQuant::kNone) {
    Fail("{}: '{}' has INT4 weights with {} activations; the runtime runs INT4 only weight-only (W4A16)",
         packed.file, module, ActivationQuantName(params.activations));
  }
  if (const TensorView* input_scale = FindFirst(checkpoint, module, {".input_scale", ".activation_scale"})) {
    Fail("{}: tensor '{}': INT4 weights run weight-only (W4A16); activation scales are not supported",
         input_scale->file, input_scale->name);
  }

  Linear linear;
  linear.module_ = module;
  linear.dtype_ = DType::kI32;
  linear.packing_ = WeightPacking::kInt4;
  linear.rows_ = out;
  linear.cols_ = in;
  linear.data_ = packed.bytes.data();

  // Scales: per group along the input, or one per row.
  const TensorView& scale = checkpoint.Get(module + ".weight_scale");
  linear.scales_ = DecodeTensorF32(scale);
  for (float s : linear.scales_) {
    if (!std::isfinite(s) || s <= 0) {
      Fail("{}: tensor '{}' holds a scale that is not finite and positive ({})", scale.file, scale.name, s);
    }
  }
  const bool per_row = (scale.shape.size() == 1 && scale.shape[0] == out) ||
                       (scale.shape.size() == 2 && scale.shape[0] == out && scale.shape[1] == 1);
  int64_t groups = 1;
  if (params.int_weights_per_channel || (!params.int_weights && per_row)) {
    if (!per_row) {
      Fail("{}: tensor '{}' has shape {}, expected [{}, 1] (per-channel scales)", scale.file, scale.name,
           ShapeToString(scale.shape), out);
    }
    linear.scale_kind_ = ScaleKind::kChannel;
  } else {
    const int64_t group = params.weight_group_size;
    if (group <= 0) {
      Fail("{}: tensor '{}' has shape {}, which needs a group_size, and quantization_config declares none",
           scale.file, scale.name, ShapeToString(scale.shape));
    }
    groups = CeilDiv(in, group);
    ExpectShape(scale, {out, groups});
    linear.scale_kind_ = ScaleKind::kGroup;
    linear.group_size_ = group;
  }

  // Zero points, asymmetric only.
  const TensorView* zero_point = checkpoint.Find(module + ".weight_zero_point");
  if (params.int_weights && !params.int_weights_symmetric && zero_point == nullptr) {
    Fail("{}: '{}': quantization_config declares asymmetric int4 weights but there is no weight_zero_point",
         packed.file, module);
  }
  if (params.int_weights && params.int_weights_symmetric && zero_point != nullptr) {
    Fail("{}: tensor '{}' present, but quantization_config declares symmetric int4 weights", zero_point->file,
         zero_point->name);
  }
  if (zero_point != nullptr) {
    ExpectDType(*zero_point, DType::kI32, "eight 4-bit zero points per word, packed along the output dimension");
    ExpectShape(*zero_point, {CeilDiv(out, 8), groups});
    linear.zero_points_.resize(static_cast<size_t>(out * groups));
    for (int64_t r = 0; r < out; ++r) {
      for (int64_t g = 0; g < groups; ++g) {
        uint32_t word;
        std::memcpy(&word, zero_point->bytes.data() + 4 * ((r / 8) * groups + g), 4);
        linear.zero_points_[r * groups + g] = static_cast<int8_t>(static_cast<int>((word >> (4 * (r % 8))) & 0xF) - 8);
      }
    }
  }

  // Activation order: only the identity permutation (what octet writes) runs.
  if (const TensorView* g_idx = checkpoint.Find(module + ".weight_g_idx")) {
    ExpectDType(*g_idx, DType::kI32, "group index per input column");
    ExpectShape(*g_idx, {in});
    const std::vector<int64_t> index = ReadIntegers(*g_idx);
    const int64_t group = linear.scale_kind_ == ScaleKind::kGroup ? linear.group_size_ : in;
    for (int64_t c = 0; c < in; ++c) {
      if (index[c] != c / group) {
        Fail("{}: tensor '{}' maps column {} to group {} (activation order \"group\"); the runtime runs only "
             "static group order (g_idx[c] = c / group_size)",
             g_idx->file, g_idx->name, c, index[c]);
      }
    }
  }
  return linear;
}

WeightMatrix Linear::matrix() const {
  WeightMatrix w;
  w.dtype = dtype_;
  w.rows = rows_;
  w.cols = cols_;
  w.data = data_;
  w.scale_kind = scale_kind_;
  w.scales = scales_.empty() ? nullptr : scales_.data();
  w.block_rows = block_rows_;
  w.block_cols = block_cols_;
  w.group_size = group_size_;
  w.packing = packing_;
  w.zero_points = zero_points_.empty() ? nullptr : zero_points_.data();
  return w;
}

void Linear::Apply(const float* x, size_t tokens, float* y, ThreadPool& pool) const {
  std::vector<float> quantized;
  if (quantizes_input()) {
    quantized.assign(x, x + tokens * static_cast<size_t>(cols_));
    QuantizeActivations(activations_, input_scale_, activation_group_, quantized.data(), tokens,
                        static_cast<size_t>(cols_));
    x = quantized.data();
  }
  const WeightMatrix w = matrix();
  if (tokens == 1) {
    MatVec(w, x, y, pool);
  } else {
    MatMul(w, x, tokens, y, pool);
  }
}

}  // namespace octet
