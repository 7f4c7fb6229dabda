#include "numeric/half.h"

#include <bit>

#include "numeric/bfloat16.h"
#include "numeric/narrow_float.h"

namespace octet {

uint16_t EncodeF16(float x) { return static_cast<uint16_t>(EncodeNarrowFloat<kF16Format>(x)); }
float DecodeF16(uint16_t bits) { return DecodeNarrowFloat<kF16Format>(bits); }

uint16_t EncodeBF16(float x) {
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  if ((bits & kF32AbsMask) > kF32InfBits) {
    return static_cast<uint16_t>(bits >> kBF16DroppedBits) | kBF16QuietNanBit;
  }
  const uint32_t kept_lsb = (bits >> kBF16DroppedBits) & 1u;
  return static_cast<uint16_t>((bits + kBF16RoundingBias + kept_lsb) >> kBF16DroppedBits);
}

float DecodeBF16(uint16_t bits) { return std::bit_cast<float>(static_cast<uint32_t>(bits) << kBF16DroppedBits); }

}  // namespace octet
