#include "runtime/tensor_decode.h"

#include <cstring>

#include "numeric/convert_rows.h"
#include "util/error.h"

namespace octet {

void DecodeElementsF32(const TensorView& view, size_t first, size_t count, float* out) {
  if (view.dtype != DType::kF32 && view.dtype != DType::kF16 && view.dtype != DType::kBF16) {
    Fail("{}: tensor '{}' is {}; the runtime reads it only as F32, F16 or BF16", view.file, view.name,
         DTypeName(view.dtype));
  }
  if (first + count > view.num_elements()) {
    Fail("{}: tensor '{}' read past its {} elements", view.file, view.name, view.num_elements());
  }
  const size_t element_bytes = DTypeBits(view.dtype) / 8;
  DecodeToF32(view.dtype, view.bytes.data() + first * element_bytes, count, out);
}

std::vector<float> DecodeTensorF32(const TensorView& view) {
  std::vector<float> out(view.num_elements());
  DecodeElementsF32(view, 0, out.size(), out.data());
  return out;
}

void ExpectShape(const TensorView& view, const Shape& expected) {
  if (view.shape != expected) {
    Fail("{}: tensor '{}' has shape {}, expected {}", view.file, view.name, ShapeToString(view.shape),
         ShapeToString(expected));
  }
}

}  // namespace octet
