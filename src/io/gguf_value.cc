#include "io/gguf_value.h"

#include <limits>

#include "util/error.h"

namespace octet {
namespace {

std::string KindOf(GgufValueType type) {
  switch (type) {
    case GgufValueType::kString: return "a string";
    case GgufValueType::kArray: return "an array";
    case GgufValueType::kBool: return "a bool";
    case GgufValueType::kFloat32:
    case GgufValueType::kFloat64: return "a float (" + GgufValueTypeName(type) + ")";
    default: return "an integer (" + GgufValueTypeName(type) + ")";
  }
}

}  // namespace

// Names as in ggml src/gguf.cpp GGUF_TYPE_NAME.
std::string GgufValueTypeName(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8: return "u8";
    case GgufValueType::kInt8: return "i8";
    case GgufValueType::kUint16: return "u16";
    case GgufValueType::kInt16: return "i16";
    case GgufValueType::kUint32: return "u32";
    case GgufValueType::kInt32: return "i32";
    case GgufValueType::kFloat32: return "f32";
    case GgufValueType::kBool: return "bool";
    case GgufValueType::kString: return "str";
    case GgufValueType::kArray: return "arr";
    case GgufValueType::kUint64: return "u64";
    case GgufValueType::kInt64: return "i64";
    case GgufValueType::kFloat64: return "f64";
  }
  return fmt::format("type {}", static_cast<uint32_t>(type));
}

bool GgufArray::operator==(const GgufArray& other) const {
  return element_type == other.element_type && elements == other.elements;
}

GgufValue GgufValue::Array(GgufValueType element_type, std::vector<GgufValue> elements) {
  for (size_t i = 0; i < elements.size(); ++i) {
    if (elements[i].type() != element_type) {
      Fail("GGUF array of {} has element {} of type {}", GgufValueTypeName(element_type), i,
           GgufValueTypeName(elements[i].type()));
    }
  }
  return GgufValue(GgufValueType::kArray, GgufArray{element_type, std::move(elements)});
}

GgufValue GgufValue::StringArray(const std::vector<std::string>& v) {
  std::vector<GgufValue> elements;
  elements.reserve(v.size());
  for (const std::string& s : v) elements.push_back(String(s));
  return GgufValue(GgufValueType::kArray, GgufArray{GgufValueType::kString, std::move(elements)});
}

GgufValue GgufValue::Float32Array(const std::vector<float>& v) {
  std::vector<GgufValue> elements;
  elements.reserve(v.size());
  for (float f : v) elements.push_back(Float32(f));
  return GgufValue(GgufValueType::kArray, GgufArray{GgufValueType::kFloat32, std::move(elements)});
}

GgufValue GgufValue::Int32Array(const std::vector<int32_t>& v) {
  std::vector<GgufValue> elements;
  elements.reserve(v.size());
  for (int32_t i : v) elements.push_back(Int32(i));
  return GgufValue(GgufValueType::kArray, GgufArray{GgufValueType::kInt32, std::move(elements)});
}

bool GgufValue::is_integer() const {
  switch (type_) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kUint64:
    case GgufValueType::kInt64: return true;
    default: return false;
  }
}

uint64_t GgufValue::AsUint64(std::string_view what) const {
  if (!is_integer()) Fail("{} is {}, expected an integer", what, KindOf(type_));
  if (const uint64_t* u = std::get_if<uint64_t>(&storage_)) return *u;
  const int64_t i = std::get<int64_t>(storage_);
  if (i < 0) Fail("{} is {}, expected a non-negative integer", what, i);
  return static_cast<uint64_t>(i);
}

int64_t GgufValue::AsInt64(std::string_view what) const {
  if (!is_integer()) Fail("{} is {}, expected an integer", what, KindOf(type_));
  if (const int64_t* i = std::get_if<int64_t>(&storage_)) return *i;
  const uint64_t u = std::get<uint64_t>(storage_);
  if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    Fail("{} is {}, which does not fit in a signed 64-bit integer", what, u);
  }
  return static_cast<int64_t>(u);
}

double GgufValue::AsDouble(std::string_view what) const {
  if (!is_float()) Fail("{} is {}, expected a float", what, KindOf(type_));
  return std::get<double>(storage_);
}

bool GgufValue::AsBool(std::string_view what) const {
  if (type_ != GgufValueType::kBool) Fail("{} is {}, expected a bool", what, KindOf(type_));
  return std::get<bool>(storage_);
}

const std::string& GgufValue::AsString(std::string_view what) const {
  if (type_ != GgufValueType::kString) Fail("{} is {}, expected a string", what, KindOf(type_));
  return std::get<std::string>(storage_);
}

const GgufArray& GgufValue::AsArray(std::string_view what) const {
  if (type_ != GgufValueType::kArray) Fail("{} is {}, expected an array", what, KindOf(type_));
  return std::get<GgufArray>(storage_);
}

bool GgufValue::operator==(const GgufValue& other) const {
  return type_ == other.type_ && storage_ == other.storage_;
}

}  // namespace octet
