#include "numeric/fp8.h"

#include <bit>

#include "numeric/narrow_float.h"

namespace octet {

static_assert(std::bit_cast<float>(kE4M3Format.MaxFiniteF32Bits()) == kE4M3Max);
static_assert(std::bit_cast<float>(kE5M2Format.MaxFiniteF32Bits()) == kE5M2Max);

uint8_t EncodeE4M3(float x) { return static_cast<uint8_t>(EncodeNarrowFloat<kE4M3Format>(x)); }
float DecodeE4M3(uint8_t code) { return DecodeNarrowFloat<kE4M3Format>(code); }
uint8_t EncodeE5M2(float x) { return static_cast<uint8_t>(EncodeNarrowFloat<kE5M2Format>(x)); }
float DecodeE5M2(uint8_t code) { return DecodeNarrowFloat<kE5M2Format>(code); }

uint8_t EncodeFp8(Fp8Format format, float x) {
  return format == Fp8Format::kE4M3 ? EncodeE4M3(x) : EncodeE5M2(x);
}

float DecodeFp8(Fp8Format format, uint8_t code) {
  return format == Fp8Format::kE4M3 ? DecodeE4M3(code) : DecodeE5M2(code);
}

float Fp8MaxFinite(Fp8Format format) { return format == Fp8Format::kE4M3 ? kE4M3Max : kE5M2Max; }

DType Fp8DType(Fp8Format format) { return format == Fp8Format::kE4M3 ? DType::kF8E4M3 : DType::kF8E5M2; }

}  // namespace octet
