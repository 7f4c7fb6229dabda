// Small tensors the runtime keeps in F32 (norm weights, scales, embedding rows) decoded from their storage type.
#ifndef OCTET_RUNTIME_TENSOR_DECODE_H_
#define OCTET_RUNTIME_TENSOR_DECODE_H_

#include <cstddef>
#include <vector>

#include "io/tensor_view.h"

namespace octet {

// Decodes F32/F16/BF16 elements [first, first + count) of `view` into `out`; throws naming the tensor and its
// file for any other dtype.
void DecodeElementsF32(const TensorView& view, size_t first, size_t count, float* out);

// The whole tensor as F32.
std::vector<float> DecodeTensorF32(const TensorView& view);

// Throws "<file>: tensor '<name>' has shape [..], expected [..]" unless view.shape == expected.
void ExpectShape(const TensorView& view, const Shape& expected);

}  // namespace octet

#endif  // OCTET_RUNTIME_TENSOR_DECODE_H_
