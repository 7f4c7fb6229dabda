// OCP 8-bit floating point (OFP8 rev 1.0): E4M3FN and E5M2, scalar codecs.
//
// Encoding from f32 rounds to nearest, ties to even, and saturates: any magnitude above the largest finite value,
// +-Inf included, becomes +-max finite (448 / 57344). That is NVIDIA's __NV_SATFINITE mode (cuda_fp8.hpp: in
// __nv_cvt_double_to_fp8 an Inf is not > the NaN threshold and takes the "> overflow threshold -> MAXNORM"
// branch; the __nv_fp8_e4m3/__nv_fp8_e5m2 constructors use SATFINITE), and what PyTorch-based quantizers produce
// since they clamp to finfo.max before casting. NaN encodes to the all-ones code with the input's sign (0x7F/0xFF;
// CUDA's host path drops the sign, PyTorch keeps it). Decoding is exact; decoding a NaN code gives a quiet NaN.
//
// For many values use the SIMD row conversions in numeric/convert_rows.h, which produce identical bits.
#ifndef OCTET_NUMERIC_FP8_H_
#define OCTET_NUMERIC_FP8_H_

#include <cstdint>

#include "numeric/dtype.h"

namespace octet {

inline constexpr float kE4M3Max = 448.0f;
inline constexpr float kE5M2Max = 57344.0f;

enum class Fp8Format : uint8_t { kE4M3, kE5M2 };

uint8_t EncodeE4M3(float x);
float DecodeE4M3(uint8_t code);
uint8_t EncodeE5M2(float x);
float DecodeE5M2(uint8_t code);

uint8_t EncodeFp8(Fp8Format format, float x);
float DecodeFp8(Fp8Format format, uint8_t code);

// Largest finite magnitude: kE4M3Max or kE5M2Max.
float Fp8MaxFinite(Fp8Format format);
// The safetensors dtype of the format: kF8E4M3 or kF8E5M2.
DType Fp8DType(Fp8Format format);

}  // namespace octet

#endif  // OCTET_NUMERIC_FP8_H_
