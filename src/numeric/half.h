// 16-bit floats: IEEE binary16 ("F16") and bfloat16 ("BF16", the top half of an f32), scalar codecs.
//
// Encoding is a plain dtype cast like torch's .to(float16/bfloat16): round to nearest, ties to even, IEEE
// overflow to +-Inf, subnormals kept. A NaN stays a quiet NaN of the same sign: F16 keeps the top payload bits
// and sets the quiet bit (exactly what x86 vcvtps2ph does, so the SIMD path may use it); BF16 keeps the top 16
// bits and sets its quiet bit. Decoding is exact: F16 NaNs come back quiet (as vcvtph2ps does), BF16 is the
// 16-bit shift, payload untouched.
//
// For many values use the SIMD row conversions in numeric/convert_rows.h, which produce identical bits.
#ifndef OCTET_NUMERIC_HALF_H_
#define OCTET_NUMERIC_HALF_H_

#include <cstdint>

namespace octet {

uint16_t EncodeF16(float x);
float DecodeF16(uint16_t bits);
uint16_t EncodeBF16(float x);
float DecodeBF16(uint16_t bits);

}  // namespace octet

#endif  // OCTET_NUMERIC_HALF_H_
