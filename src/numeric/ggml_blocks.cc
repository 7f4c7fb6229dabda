#include "numeric/ggml_blocks.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstring>

#include "numeric/convert_rows.h"
#include "numeric/half.h"
#include "util/error.h"

namespace octet {
namespace {

// ggml src/ggml.c type_traits[] (blck_size, type_size) with sizes as asserted in src/ggml-common.h
// (QK_K = 256): e.g. sizeof(block_q4_K) == 2*sizeof(ggml_half) + K_SCALE_SIZE + QK_K/2 == 144.
constexpr GgmlTypeTraits kTraits[] = {
    {GgmlType::kF32, "f32", 1, 4, true},
    {GgmlType::kF16, "f16", 1, 2, true},
    {GgmlType::kQ4_0, "q4_0", 32, 18, true},
    {GgmlType::kQ4_1, "q4_1", 32, 20, false},
    {GgmlType::kQ5_0, "q5_0", 32, 22, false},
    {GgmlType::kQ5_1, "q5_1", 32, 24, false},
    {GgmlType::kQ8_0, "q8_0", 32, 34, true},
    {GgmlType::kQ8_1, "q8_1", 32, 36, false},
    {GgmlType::kQ2_K, "q2_K", 256, 84, false},
    {GgmlType::kQ3_K, "q3_K", 256, 110, false},
    {GgmlType::kQ4_K, "q4_K", 256, 144, false},
    {GgmlType::kQ5_K, "q5_K", 256, 176, false},
    {GgmlType::kQ6_K, "q6_K", 256, 210, false},
    {GgmlType::kQ8_K, "q8_K", 256, 292, false},
    {GgmlType::kIQ2_XXS, "iq2_xxs", 256, 66, false},
    {GgmlType::kIQ2_XS, "iq2_xs", 256, 74, false},
    {GgmlType::kIQ3_XXS, "iq3_xxs", 256, 98, false},
    {GgmlType::kIQ1_S, "iq1_s", 256, 50, false},
    {GgmlType::kIQ4_NL, "iq4_nl", 32, 18, false},
    {GgmlType::kIQ3_S, "iq3_s", 256, 110, false},
    {GgmlType::kIQ2_S, "iq2_s", 256, 82, false},
    {GgmlType::kIQ4_XS, "iq4_xs", 256, 136, false},
    {GgmlType::kI8, "i8", 1, 1, false},
    {GgmlType::kI16, "i16", 1, 2, false},
    {GgmlType::kI32, "i32", 1, 4, false},
    {GgmlType::kI64, "i64", 1, 8, false},
    {GgmlType::kF64, "f64", 1, 8, false},
    {GgmlType::kIQ1_M, "iq1_m", 256, 56, false},
    {GgmlType::kBF16, "bf16", 1, 2, true},
    {GgmlType::kTQ1_0, "tq1_0", 256, 54, false},
    {GgmlType::kTQ2_0, "tq2_0", 256, 66, false},
    {GgmlType::kMXFP4, "mxfp4", 32, 17, false},
};

static_assert(kQ8_0BlockBytes == sizeof(uint16_t) + kGgmlBlockElements);
static_assert(kQ4_0BlockBytes == sizeof(uint16_t) + kGgmlBlockElements / 2);

// ggml's MAX macro, ((a) > (b) ? (a) : (b)): a NaN in b loses, a NaN already in a stays.
inline float GgmlMax(float a, float b) { return a > b ? a : b; }

// The float -> int8 conversions of the reference quantizers ((int8_t)roundf(x), (int8_t)(x + 8.5f)) are only
// defined for in-range values. For finite input the values are always in range; a NaN (from a NaN or Inf input)
// is mapped to 0, which is what the x86 conversion instruction (cvttss2si -> 0x80000000, low byte 0) gives.
inline int8_t TruncToInt8(float v) {
  if (!(v > -129.0f && v < 128.0f)) return 0;
  return static_cast<int8_t>(static_cast<int>(v));
}

void WriteF16(std::byte* out, float d) {
  const uint16_t bits = EncodeF16(d);
  out[0] = static_cast<std::byte>(bits & 0xff);
  out[1] = static_cast<std::byte>(bits >> 8);
}

float ReadF16(const std::byte* in) {
  return DecodeF16(static_cast<uint16_t>(std::to_integer<uint16_t>(in[0]) | (std::to_integer<uint16_t>(in[1]) << 8)));
}

void CheckRow(std::string_view what, size_t elements, size_t bytes, size_t block_bytes) {
  if (elements % kGgmlBlockElements != 0) {
    Fail("{}: row of {} elements is not a multiple of the block size {}", what, elements, kGgmlBlockElements);
  }
  if (bytes != elements / kGgmlBlockElements * block_bytes) {
    Fail("{}: {} elements need {} bytes, got {}", what, elements, elements / kGgmlBlockElements * block_bytes,
         bytes);
  }
}

}  // namespace

std::optional<GgmlTypeTraits> FindGgmlType(uint32_t id) {
  for (const GgmlTypeTraits& traits : kTraits) {
    if (static_cast<uint32_t>(traits.type) == id) return traits;
  }
  return std::nullopt;
}

GgmlTypeTraits GgmlTraits(GgmlType type) {
  const std::optional<GgmlTypeTraits> traits = FindGgmlType(static_cast<uint32_t>(type));
  if (!traits) Fail("unknown ggml type id {}", static_cast<uint32_t>(type));
  return *traits;
}

std::string GgmlTypeName(GgmlType type) {
  const std::optional<GgmlTypeTraits> traits = FindGgmlType(static_cast<uint32_t>(type));
  if (!traits) return fmt::format("type {}", static_cast<uint32_t>(type));
  std::string name(traits->name);
  // ggml spells the K in lower-case-type names as "q4_K"; users know "Q4_K", so upper-case everything.
  for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

uint64_t GgmlRowBytes(GgmlType type, int64_t elements) {
  const GgmlTypeTraits traits = GgmlTraits(type);
  if (elements < 0 || elements % traits.block_elements != 0) {
    Fail("{} rows need a multiple of {} elements, got {}", GgmlTypeName(type), traits.block_elements, elements);
  }
  return static_cast<uint64_t>(elements / traits.block_elements) * traits.block_bytes;
}

void DequantizeGgmlRow(GgmlType type, std::span<const std::byte> bytes, std::span<float> y) {
  const uint64_t expected = GgmlRowBytes(type, static_cast<int64_t>(y.size()));
  if (bytes.size() != expected) {
    Fail("{} row of {} elements needs {} bytes, got {}", GgmlTypeName(type), y.size(), expected, bytes.size());
  }
  switch (type) {
    case GgmlType::kF32: DecodeToF32(DType::kF32, bytes.data(), y.size(), y.data()); return;
    case GgmlType::kF16: DecodeToF32(DType::kF16, bytes.data(), y.size(), y.data()); return;
    case GgmlType::kBF16: DecodeToF32(DType::kBF16, bytes.data(), y.size(), y.data()); return;
    case GgmlType::kQ8_0: DequantizeRowQ8_0(bytes, y); return;
    case GgmlType::kQ4_0: DequantizeRowQ4_0(bytes, y); return;
    default: Fail("unsupported ggml type {}", GgmlTypeName(type));
  }
}

void QuantizeGgmlRow(GgmlType type, std::span<const float> x, std::span<std::byte> out) {
  const uint64_t expected = GgmlRowBytes(type, static_cast<int64_t>(x.size()));
  if (out.size() != expected) {
    Fail("{} row of {} elements needs {} bytes, got {}", GgmlTypeName(type), x.size(), expected, out.size());
  }
  switch (type) {
    case GgmlType::kF32: EncodeFromF32(DType::kF32, x.data(), x.size(), out.data()); return;
    case GgmlType::kF16: EncodeFromF32(DType::kF16, x.data(), x.size(), out.data()); return;
    case GgmlType::kBF16: EncodeFromF32(DType::kBF16, x.data(), x.size(), out.data()); return;
    case GgmlType::kQ8_0: QuantizeRowQ8_0(x, out); return;
    case GgmlType::kQ4_0: QuantizeRowQ4_0(x, out); return;
    default: Fail("unsupported ggml type {}", GgmlTypeName(type));
  }
}

// ---- Q8_0 (ggml-quants.c quantize_row_q8_0_ref / dequantize_row_q8_0)

void PackQ8_0Block(float d, std::span<const int8_t, 32> codes, std::span<std::byte, kQ8_0BlockBytes> out) {
  WriteF16(out.data(), d);
  std::memcpy(out.data() + 2, codes.data(), 32);
}

void QuantizeRowQ8_0(std::span<const float> x, std::span<std::byte> out) {
  CheckRow("Q8_0 quantize", x.size(), out.size(), kQ8_0BlockBytes);
  for (size_t b = 0; b < x.size() / kGgmlBlockElements; ++b) {
    const float* block = x.data() + b * kGgmlBlockElements;
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = GgmlMax(amax, std::fabs(block[j]));
    const float d = amax / ((1 << 7) - 1);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    std::array<int8_t, 32> codes;
    // roundf rounds half away from zero, as ggml's reference does (not nearbyint's ties-to-even).
    for (int j = 0; j < 32; ++j) codes[j] = TruncToInt8(std::roundf(block[j] * id));
    PackQ8_0Block(d, codes, std::span<std::byte, kQ8_0BlockBytes>(out.data() + b * kQ8_0BlockBytes,
                                                                    kQ8_0BlockBytes));
  }
}

void DequantizeRowQ8_0(std::span<const std::byte> blocks, std::span<float> y) {
  CheckRow("Q8_0 dequantize", y.size(), blocks.size(), kQ8_0BlockBytes);
  for (size_t b = 0; b < y.size() / kGgmlBlockElements; ++b) {
    const std::byte* block = blocks.data() + b * kQ8_0BlockBytes;
    const float d = ReadF16(block);
    for (int j = 0; j < 32; ++j) {
      y[b * 32 + j] = static_cast<float>(static_cast<int8_t>(std::to_integer<uint8_t>(block[2 + j]))) * d;
    }
  }
}

// ---- Q4_0 (ggml-quants.c quantize_row_q4_0_ref / dequantize_row_q4_0)

float ChooseQ4_0Block(std::span<const float, 32> x, std::span<uint8_t, 32> codes) {
  float amax = 0.0f;  // absolute max
  float max = 0.0f;   // the element it came from, sign kept
  for (int j = 0; j < 32; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  const float d = max / -8;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < 32; ++j) {
    // (int8_t)(x*id + 8.5f) truncates toward zero: x*id in [-8, 8] gives 0..16, clamped to 15.
    codes[j] = static_cast<uint8_t>(std::min<int>(15, TruncToInt8(x[j] * id + 8.5f)));
  }
  return d;
}

void PackQ4_0Block(float d, std::span<const uint8_t, 32> codes, std::span<std::byte, kQ4_0BlockBytes> out) {
  for (int j = 0; j < 32; ++j) {
    if (codes[j] > 15) Fail("Q4_0 code {} at element {} is out of range 0..15", codes[j], j);
  }
  WriteF16(out.data(), d);
  for (int j = 0; j < 16; ++j) out[2 + j] = static_cast<std::byte>(codes[j] | (codes[j + 16] << 4));
}

void PackQ4_0Row(std::span<const float> scales, std::span<const uint8_t> codes, std::span<std::byte> out) {
  if (codes.size() != scales.size() * kGgmlBlockElements || out.size() != scales.size() * kQ4_0BlockBytes) {
    Fail("Q4_0 pack: {} scales need {} codes and {} bytes, got {} and {}", scales.size(),
         scales.size() * kGgmlBlockElements, scales.size() * kQ4_0BlockBytes, codes.size(), out.size());
  }
  for (size_t b = 0; b < scales.size(); ++b) {
    PackQ4_0Block(scales[b], std::span<const uint8_t, 32>(codes.data() + b * 32, 32),
                  std::span<std::byte, kQ4_0BlockBytes>(out.data() + b * kQ4_0BlockBytes, kQ4_0BlockBytes));
  }
}

void QuantizeRowQ4_0(std::span<const float> x, std::span<std::byte> out) {
  CheckRow("Q4_0 quantize", x.size(), out.size(), kQ4_0BlockBytes);
  for (size_t b = 0; b < x.size() / kGgmlBlockElements; ++b) {
    std::array<uint8_t, 32> codes;
    const float d = ChooseQ4_0Block(std::span<const float, 32>(x.data() + b * 32, 32), codes);
    PackQ4_0Block(d, codes, std::span<std::byte, kQ4_0BlockBytes>(out.data() + b * kQ4_0BlockBytes,
                                                                    kQ4_0BlockBytes));
  }
}

void DequantizeRowQ4_0(std::span<const std::byte> blocks, std::span<float> y) {
  CheckRow("Q4_0 dequantize", y.size(), blocks.size(), kQ4_0BlockBytes);
  for (size_t b = 0; b < y.size() / kGgmlBlockElements; ++b) {
    const std::byte* block = blocks.data() + b * kQ4_0BlockBytes;
    const float d = ReadF16(block);
    for (int j = 0; j < 16; ++j) {
      const uint8_t q = std::to_integer<uint8_t>(block[2 + j]);
      y[b * 32 + j] = static_cast<float>((q & 0x0F) - 8) * d;
      y[b * 32 + j + 16] = static_cast<float>((q >> 4) - 8) * d;
    }
  }
}

}  // namespace octet
