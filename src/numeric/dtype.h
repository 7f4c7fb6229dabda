// Element types of tensors on disk, named as safetensors names them (huggingface/safetensors
// safetensors/src/tensor.rs `Dtype`). Every dtype a safetensors file may legally carry is known here, so the
// reader can tell "unknown dtype" (a corrupt file) from "known but not convertible" (say F8_E8M0 scales).
#ifndef OCTET_NUMERIC_DTYPE_H_
#define OCTET_NUMERIC_DTYPE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace octet {

enum class DType : uint8_t {
  kBool,
  kF4,       // FP4 E2M1 (packed two per byte)
  kF6E2M3,   // FP6 (packed)
  kF6E3M2,   // FP6 (packed)
  kU8,
  kI8,
  kF8E5M2,   // OCP E5M2
  kF8E4M3,   // OCP E4M3FN (torch.float8_e4m3fn)
  kF8E8M0,   // exponent-only scale type (MX formats)
  kF8E4M3Fnuz,
  kF8E5M2Fnuz,
  kI16,
  kU16,
  kF16,
  kBF16,
  kI32,
  kU32,
  kF32,
  kC64,
  kF64,
  kI64,
  kU64,
};

// The safetensors spelling, e.g. "F8_E4M3".
std::string_view DTypeName(DType dtype);
// Inverse of DTypeName; nullopt for a name safetensors does not define.
std::optional<DType> ParseDTypeName(std::string_view name);
// Storage bits of one element (4 for F4, 6 for the FP6 types, 8..64 otherwise).
size_t DTypeBits(DType dtype);
// True for the types octet can read as numbers (F32, F16, BF16, the two OCP FP8 types).
bool IsFloatingPointWeightType(DType dtype);

}  // namespace octet

#endif  // OCTET_NUMERIC_DTYPE_H_
