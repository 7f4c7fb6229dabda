// bfloat16 <-> f32 bit arithmetic, shared by the scalar codec (half.cc) and the SIMD kernels (convert_rows.cc).
// A bf16 is the top 16 bits of an f32, so only rounding away the low half needs care.
#ifndef OCTET_NUMERIC_BFLOAT16_H_
#define OCTET_NUMERIC_BFLOAT16_H_

#include <cstdint>

namespace octet {

// f32 bits dropped when narrowing to bf16.
inline constexpr int kBF16DroppedBits = 16;
// Half a bf16 ulp minus one in f32 bit units; the kept LSB is added on top for ties-to-even. A carry out of the
// mantissa bumps the exponent, and past the largest finite value lands exactly on Inf, as IEEE rounding wants.
inline constexpr uint32_t kBF16RoundingBias = (1u << (kBF16DroppedBits - 1)) - 1;
// bf16's quiet-NaN bit (its mantissa MSB), set so that a NaN whose payload lived in the dropped bits stays a NaN.
inline constexpr uint16_t kBF16QuietNanBit = 0x0040;

}  // namespace octet

#endif  // OCTET_NUMERIC_BFLOAT16_H_
