#include "convert/weight_checks.h"

#include <fmt/format.h>

#include "numeric/convert_rows.h"
#include "util/error.h"

namespace octet {

void FailNonFiniteWeight(const TensorView& view, uint64_t flat_index, float value) {
  std::string position = fmt::format("[{}]", flat_index);
  if (view.shape.size() >= 2 && view.shape[0] > 0) {
    const uint64_t cols = view.num_elements() / static_cast<uint64_t>(view.shape[0]);
    position = fmt::format("[{}, {}]", flat_index / cols, flat_index % cols);
  }
  Fail("{}: tensor '{}' has a non-finite weight ({}) at element {}; octet refuses NaN/Inf weights", view.file,
       view.name, value, position);
}

void DecodeWeightsChecked(const TensorView& view, uint64_t first, uint64_t count, float* out) {
  if (view.dtype != DType::kF32 && view.dtype != DType::kF16 && view.dtype != DType::kBF16) {
    Fail("{}: tensor '{}' is {}; octet reads F32, F16 and BF16 weights here", view.file, view.name,
         DTypeName(view.dtype));
  }
  const uint64_t elem_bytes = DTypeBits(view.dtype) / 8;
  if ((first + count) * elem_bytes > view.bytes.size()) {
    Fail("{}: tensor '{}': internal read past its end", view.file, view.name);
  }
  DecodeToF32(view.dtype, view.bytes.data() + first * elem_bytes, count, out);
  const RangeScan scan = ScanRange(out, count);
  if (scan.first_non_finite < count) FailNonFiniteWeight(view, first + scan.first_non_finite, out[scan.first_non_finite]);
}

}  // namespace octet
