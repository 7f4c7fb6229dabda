// ggml tensor types (the u32 `ggml_type` stored in a GGUF tensor info) and codecs for the two block formats octet
// writes and reads: Q8_0 and Q4_0.
//
// Sources (ggml-org/ggml): include/ggml.h `enum ggml_type` for the ids; src/ggml.c `type_traits[]` for
// blck_size / type_size; src/ggml-common.h for the block structs (each with a static_assert on its size);
// src/ggml-quants.c `quantize_row_q8_0_ref`, `quantize_row_q4_0_ref`, `dequantize_row_q8_0`,
// `dequantize_row_q4_0` for the arithmetic. The `_ref` quantizers are ggml's "reference implementation for
// deterministic creation of model files"; the functions here reproduce them bit for bit.
//
// Block layouts (little-endian, no padding; `d` is an IEEE binary16 scale, encoded with octet's EncodeF16):
//   Q8_0: 32 elements in 34 bytes: u16 d; int8 qs[32];           x[i] = d * qs[i]
//   Q4_0: 32 elements in 18 bytes: u16 d; u8 qs[16];             x[j]    = d * ((qs[j] & 0xF) - 8)
//                                                                  x[j+16] = d * ((qs[j] >> 4)  - 8)
//         i.e. byte j holds element j in its LOW nibble and element j+16 in its HIGH nibble (not neighbours).
#ifndef OCTET_NUMERIC_GGML_BLOCKS_H_
#define OCTET_NUMERIC_GGML_BLOCKS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace octet {

// ids from ggml.h `enum ggml_type`. Gaps (4, 5, 31-33, 36-38) are ids ggml has removed; a file carrying one is
// rejected as an unknown type.
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
  kMXFP4 = 39,
};

// What ggml's type_traits table says about one type.
struct GgmlTypeTraits {
  GgmlType type;
  std::string_view name;  // ggml's name: "f32", "q4_0", "q4_K", ... (ggml.c type_traits[].type_name)
  int64_t block_elements;  // blck_size: elements per block (1 for plain element types)
  uint64_t block_bytes;    // type_size: bytes per block
  // True for the types octet can decode to F32 and encode from F32: F32, F16, BF16, Q8_0, Q4_0. The others can be
  // read (their byte size is known, so a file holding them opens and its metadata is usable) but not decoded.
  bool octet_supported;
};

// Traits of the type with ggml id `id`, or nullopt for an id ggml does not define (or has removed).
std::optional<GgmlTypeTraits> FindGgmlType(uint32_t id);
// Traits of a known type.
GgmlTypeTraits GgmlTraits(GgmlType type);
// Upper-case display name as users know it from llama.cpp file names: "F32", "Q4_0", "Q4_K", "IQ2_XXS".
std::string GgmlTypeName(GgmlType type);

// Bytes of one row of `elements` values (ne[0] in ggml terms). Throws octet::Error when `elements` is negative or
// not a multiple of the block size ("Q8_0 rows need a multiple of 32 elements, got 100").
uint64_t GgmlRowBytes(GgmlType type, int64_t elements);

// Decodes one row of `type` (y.size() elements, `bytes` = GgmlRowBytes(type, y.size())) to f32: F32, F16, BF16,
// Q8_0, Q4_0. Throws octet::Error "unsupported ggml type Q4_K" for the others.
void DequantizeGgmlRow(GgmlType type, std::span<const std::byte> bytes, std::span<float> y);
// Encodes one row of f32 into `type` (same types; F16/BF16 round to nearest even, Q8_0/Q4_0 as the ggml _ref
// quantizers below). `out` is GgmlRowBytes(type, x.size()) bytes.
void QuantizeGgmlRow(GgmlType type, std::span<const float> x, std::span<std::byte> out);

// ---------------------------------------------------------------------------------------------------------------
// Q8_0 and Q4_0 blocks.

inline constexpr int64_t kGgmlBlockElements = 32;  // QK8_0 == QK4_0 == 32 (ggml-common.h)
inline constexpr size_t kQ8_0BlockBytes = 34;      // sizeof(ggml_half) + QK8_0
inline constexpr size_t kQ4_0BlockBytes = 18;      // sizeof(ggml_half) + QK4_0 / 2

// Quantizes `x` (size a multiple of 32) into x.size()/32 Q8_0 blocks written to `out` (exactly
// x.size()/32*34 bytes), bit-exact with ggml's quantize_row_q8_0_ref: amax = max|x|, d = amax/127,
// id = d ? 1/d : 0, qs[i] = roundf(x[i]*id) (half away from zero), d stored as F16.
void QuantizeRowQ8_0(std::span<const float> x, std::span<std::byte> out);
// Inverse: y[i] = F16(d) * qs[i]. `blocks` is y.size()/32*34 bytes.
void DequantizeRowQ8_0(std::span<const std::byte> blocks, std::span<float> y);

// Quantizes `x` (size a multiple of 32) into Q4_0 blocks, bit-exact with ggml's quantize_row_q4_0_ref: max = the
// element with the largest |x| (its sign kept, the first one on ties), d = max / -8, id = d ? 1/d : 0,
// q = min(15, (int8)(x*id + 8.5)); so the extreme element gets code 0 (= -8*d) and the asymmetric [-8, 7] range is
// used fully. d stored as F16 (note: codes are chosen with the f32 d, as ggml does, not the rounded F16 one).
void QuantizeRowQ4_0(std::span<const float> x, std::span<std::byte> out);
// Inverse: y[j] = F16(d) * ((qs[j] & 0xF) - 8), y[j+16] = F16(d) * ((qs[j] >> 4) - 8).
void DequantizeRowQ4_0(std::span<const std::byte> blocks, std::span<float> y);

// The Q4_0 reference split into its two steps, so a quantizer that chooses scales and codes by other means
// (GPTQ, AWQ, an imatrix-weighted search) on the Q4_0 grid x = d * (q - 8) can emit ggml blocks.
//
// Step 1: ggml's choice for one block of 32: returns d = max/-8 (f32, before F16 rounding) and writes the codes
// q in 0..15 (element order, not nibble order). QuantizeRowQ4_0 == ChooseQ4_0Block + PackQ4_0Block per block.
float ChooseQ4_0Block(std::span<const float, 32> x, std::span<uint8_t, 32> codes);
// Step 2: packs one block from a scale and 32 codes in 0..15 (element order): d is encoded to F16, element j goes
// to the low nibble of qs[j] and element j+16 to the high nibble. Throws octet::Error on a code above 15.
void PackQ4_0Block(float d, std::span<const uint8_t, 32> codes, std::span<std::byte, kQ4_0BlockBytes> out);
// Step 2 for a whole row: codes.size() == 32 * scales.size() (element order), out is scales.size() * 18 bytes.
// Throws octet::Error on a size mismatch or a code above 15.
void PackQ4_0Row(std::span<const float> scales, std::span<const uint8_t> codes, std::span<std::byte> out);
// Step 2 for Q8_0 likewise: d to F16, then the 32 signed codes as bytes.
void PackQ8_0Block(float d, std::span<const int8_t, 32> codes, std::span<std::byte, kQ8_0BlockBytes> out);

}  // namespace octet

#endif  // OCTET_NUMERIC_GGML_BLOCKS_H_
