// Bulk conversions between f32 and the on-disk float types, for converting checkpoints at disk speed. SIMD with
// Highway run-time dispatch (the best target the CPU supports); every function gives bit-for-bit the result of
// the scalar codecs in numeric/fp8.h and numeric/half.h applied element by element, on every target.
//
// Pointers need no alignment beyond their element type's; `src` of DecodeToF32 and `dst` of EncodeFromF32 may
// have any byte alignment. Source and destination must not overlap. n == 0 is allowed with null pointers.
#ifndef OCTET_NUMERIC_CONVERT_ROWS_H_
#define OCTET_NUMERIC_CONVERT_ROWS_H_

#include <cstddef>
#include <cstdint>

#include "numeric/dtype.h"
#include "numeric/fp8.h"

namespace octet {

// dst[i] = the f32 value of element i of `src`, which holds n elements of src_type: F32, F16, BF16, F8_E4M3 or
// F8_E5M2. Throws octet::Error for any other dtype.
void DecodeToF32(DType src_type, const void* src, size_t n, float* dst);

// Element i of `dst` (n elements of dst_type, same five types) = src[i] encoded as by EncodeF16 / EncodeBF16 /
// EncodeE4M3 / EncodeE5M2: a direct, saturating cast for FP8 with no scale. Throws octet::Error for other dtypes.
void EncodeFromF32(DType dst_type, const float* src, size_t n, void* dst);

// dst[i] = EncodeFp8(format, src[i] / scale): a true division, rounded once, exactly as the scalar expression
// (multiplying by 1/scale would round twice and could differ in the last place). `scale` is not checked: a zero,
// negative, Inf or NaN scale gives whatever the division gives (callers choose scales from ScanRange).
void QuantizeFp8(Fp8Format format, const float* src, size_t n, float scale, uint8_t* dst);

// What a quantizer needs to know about a row before choosing a scale.
struct RangeScan {
  float abs_max = 0;            // max |x| over the finite elements (0 if there are none)
  size_t first_non_finite = 0;  // index of the first NaN or +-Inf, or n if there is none
};
RangeScan ScanRange(const float* src, size_t n);

// The Highway target (an HWY_* bit) the functions above currently dispatch to; for tests and diagnostics.
int64_t ConvertRowsTarget();

}  // namespace octet

#endif  // OCTET_NUMERIC_CONVERT_ROWS_H_
