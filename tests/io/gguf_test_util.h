// Helpers for the GGUF tests: a little-endian byte builder for hand-made (and deliberately broken) files.
#ifndef OCTET_TESTS_IO_GGUF_TEST_UTIL_H_
#define OCTET_TESTS_IO_GGUF_TEST_UTIL_H_

#include <cstdint>
#include <cstring>
#include <string>

namespace octet::testing {

class RawGguf {
 public:
  RawGguf& U8(uint8_t v) { return Put(v); }
  RawGguf& U32(uint32_t v) { return Put(v); }
  RawGguf& I32(int32_t v) { return Put(v); }
  RawGguf& U64(uint64_t v) { return Put(v); }
  RawGguf& I64(int64_t v) { return Put(v); }
  RawGguf& F32(float v) { return Put(v); }
  RawGguf& Str(const std::string& s) {
    U64(s.size());
    bytes_ += s;
    return *this;
  }
  // magic, version, n_tensors, n_kv
  RawGguf& Header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    bytes_ += "GGUF";
    return U32(version).U64(n_tensors).U64(n_kv);
  }
  // name, n_dims, ne..., type, offset
  RawGguf& Tensor(const std::string& name, std::initializer_list<int64_t> ne, uint32_t type, uint64_t offset) {
    Str(name).U32(static_cast<uint32_t>(ne.size()));
    for (int64_t d : ne) I64(d);
    return U32(type).U64(offset);
  }
  RawGguf& PadTo(size_t alignment) {
    bytes_.append((alignment - bytes_.size() % alignment) % alignment, '\0');
    return *this;
  }
  RawGguf& Zeros(size_t n) {
    bytes_.append(n, '\0');
    return *this;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  template <typename T>
  RawGguf& Put(T v) {
    char raw[sizeof(T)];
    std::memcpy(raw, &v, sizeof(T));
    bytes_.append(raw, sizeof(T));
    return *this;
  }
  std::string bytes_;
};

}  // namespace octet::testing

#endif  // OCTET_TESTS_IO_GGUF_TEST_UTIL_H_
