// Hash map keyed by std::string that can be queried with a std::string_view without building a string.
#ifndef OCTET_TOKENIZER_STRING_MAP_H_
#define OCTET_TOKENIZER_STRING_MAP_H_

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace octet {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

template <typename Value>
using StringMap = std::unordered_map<std::string, Value, StringHash, std::equal_to<>>;

}  // namespace octet

#endif  // OCTET_TOKENIZER_STRING_MAP_H_
