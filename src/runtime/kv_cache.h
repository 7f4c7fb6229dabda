// Keys and values of the positions a sequence has run so far, per layer, in F32 (after rotary embedding for
// keys). Grows as tokens are appended, so a model with a 128k context does not reserve it up front.
#ifndef OCTET_RUNTIME_KV_CACHE_H_
#define OCTET_RUNTIME_KV_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace octet {

class KvCache {
 public:
  KvCache(int64_t num_layers, int64_t kv_dim) : kv_dim_(kv_dim), keys_(num_layers), values_(num_layers) {}

  // Positions stored (the position of the next token).
  int64_t length() const { return length_; }
  int64_t kv_dim() const { return kv_dim_; }
  void Clear() {
    length_ = 0;
    for (auto& k : keys_) k.clear();
    for (auto& v : values_) v.clear();
  }

  // Makes room for positions [length, length + count) in every layer (called before a forward step).
  void Reserve(int64_t count) {
    const size_t size = static_cast<size_t>((length_ + count) * kv_dim_);
    for (auto& k : keys_) k.resize(size);
    for (auto& v : values_) v.resize(size);
  }
  // Marks `count` reserved positions as filled.
  void Advance(int64_t count) { length_ += count; }

  float* key(int64_t layer, int64_t pos) { return keys_[layer].data() + pos * kv_dim_; }
  float* value(int64_t layer, int64_t pos) { return values_[layer].data() + pos * kv_dim_; }
  const float* key(int64_t layer, int64_t pos) const { return keys_[layer].data() + pos * kv_dim_; }
  const float* value(int64_t layer, int64_t pos) const { return values_[layer].data() + pos * kv_dim_; }

 private:
  int64_t kv_dim_;
  int64_t length_ = 0;
  std::vector<std::vector<float>> keys_;    // [layer][pos * kv_dim]
  std::vector<std::vector<float>> values_;  // [layer][pos * kv_dim]
};

}  // namespace octet

#endif  // OCTET_RUNTIME_KV_CACHE_H_
