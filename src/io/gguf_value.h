// A GGUF metadata value: one of the 13 `gguf_type`s (ggml include/gguf.h), arrays included (possibly nested, as
// the spec in ggml docs/gguf.md allows; ggml's own loader refuses nested arrays). Shared by gguf_reader.h and
// gguf_writer.h. Plain value type: copyable, comparable.
#ifndef OCTET_IO_GGUF_VALUE_H_
#define OCTET_IO_GGUF_VALUE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace octet {

// ids from gguf.h `enum gguf_type`.
enum class GgufValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,  // one byte, 0 or 1
  kString = 8,  // u64 length + bytes, no NUL
  kArray = 9,   // u32 element type, u64 count, elements
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

// "uint32", "string", "array", ... (gguf.cpp GGUF_TYPE_NAME); "type 13" for an id outside the enum.
std::string GgufValueTypeName(GgufValueType type);

class GgufValue;

// Elements all of `element_type` (the writer checks this; the reader produces nothing else).
struct GgufArray {
  GgufValueType element_type = GgufValueType::kUint8;
  std::vector<GgufValue> elements;
  bool operator==(const GgufArray&) const;
};

class GgufValue {
 public:
  GgufValue() : GgufValue(Uint8(0)) {}

  // Constructors, one per wire type.
  static GgufValue Uint8(uint8_t v) { return GgufValue(GgufValueType::kUint8, uint64_t{v}); }
  static GgufValue Int8(int8_t v) { return GgufValue(GgufValueType::kInt8, int64_t{v}); }
  static GgufValue Uint16(uint16_t v) { return GgufValue(GgufValueType::kUint16, uint64_t{v}); }
  static GgufValue Int16(int16_t v) { return GgufValue(GgufValueType::kInt16, int64_t{v}); }
  static GgufValue Uint32(uint32_t v) { return GgufValue(GgufValueType::kUint32, uint64_t{v}); }
  static GgufValue Int32(int32_t v) { return GgufValue(GgufValueType::kInt32, int64_t{v}); }
  static GgufValue Uint64(uint64_t v) { return GgufValue(GgufValueType::kUint64, v); }
  static GgufValue Int64(int64_t v) { return GgufValue(GgufValueType::kInt64, v); }
  static GgufValue Float32(float v) { return GgufValue(GgufValueType::kFloat32, double{v}); }
  static GgufValue Float64(double v) { return GgufValue(GgufValueType::kFloat64, v); }
  static GgufValue Bool(bool v) { return GgufValue(GgufValueType::kBool, v); }
  static GgufValue String(std::string v) { return GgufValue(GgufValueType::kString, std::move(v)); }
  // Throws octet::Error when an element's type differs from `element_type`.
  static GgufValue Array(GgufValueType element_type, std::vector<GgufValue> elements);
  // Conveniences for the common tokenizer arrays.
  static GgufValue StringArray(const std::vector<std::string>& v);
  static GgufValue Float32Array(const std::vector<float>& v);
  static GgufValue Int32Array(const std::vector<int32_t>& v);

  GgufValueType type() const { return type_; }
  bool is_array() const { return type_ == GgufValueType::kArray; }
  bool is_integer() const;  // any of the 8 integer types (not bool)
  bool is_float() const { return type_ == GgufValueType::kFloat32 || type_ == GgufValueType::kFloat64; }

  // Raw accessors; each throws octet::Error "<what> is a <type>, expected <kind>" on the wrong type. `what` names
  // the value in the message (the reader passes "FILE: metadata key 'KEY'").
  // Any integer type whose value fits in uint64 / int64 (a negative int to AsUint64 fails, as does a u64 above
  // INT64_MAX to AsInt64).
  uint64_t AsUint64(std::string_view what = "value") const;
  int64_t AsInt64(std::string_view what = "value") const;
  // F32 or F64 (F32 values are stored widened to double, exactly).
  double AsDouble(std::string_view what = "value") const;
  bool AsBool(std::string_view what = "value") const;
  const std::string& AsString(std::string_view what = "value") const;
  const GgufArray& AsArray(std::string_view what = "value") const;

  bool operator==(const GgufValue&) const;

 private:
  using Storage = std::variant<uint64_t, int64_t, double, bool, std::string, GgufArray>;
  GgufValue(GgufValueType type, Storage storage) : type_(type), storage_(std::move(storage)) {}

  GgufValueType type_;
  Storage storage_;
};

struct GgufKeyValue {
  std::string key;
  GgufValue value;
  bool operator==(const GgufKeyValue&) const = default;
};

}  // namespace octet

#endif  // OCTET_IO_GGUF_VALUE_H_
