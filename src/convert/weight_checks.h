// Checks every converter applies to source weights, with one wording across output formats.
#ifndef OCTET_CONVERT_WEIGHT_CHECKS_H_
#define OCTET_CONVERT_WEIGHT_CHECKS_H_

#include <cstdint>

#include "io/tensor_view.h"

namespace octet {

// Throws "FILE: tensor 'NAME' has a non-finite weight (nan) at element [r, c]; octet refuses NaN/Inf weights" (every
// output format reports bad weights with this one message).
[[noreturn]] void FailNonFiniteWeight(const TensorView& view, uint64_t flat_index, float value);

// Decodes `count` elements of `view` starting at element `first` to f32 in `out` (F32, F16, BF16 sources) and
// refuses NaN/Inf with FailNonFiniteWeight. Throws naming the tensor for any other dtype.
void DecodeWeightsChecked(const TensorView& view, uint64_t first, uint64_t count, float* out);

}  // namespace octet

#endif  // OCTET_CONVERT_WEIGHT_CHECKS_H_
