#include "runtime/linear.h"

#include <cmath>

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
  if (weight == nullptr && checkpoint.Find(module + ".weight_packed") != nullptr) {
    Fail("{}: '{}' holds packed integer weights (weight_packed), which the runtime does not run yet",
         checkpoint.dir().string(), module);
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
