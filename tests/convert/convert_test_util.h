// Helpers shared by the conversion tests.
#ifndef OCTET_TESTS_CONVERT_CONVERT_TEST_UTIL_H_
#define OCTET_TESTS_CONVERT_CONVERT_TEST_UTIL_H_

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "convert/convert.h"
#include "io/tensor_view.h"
#include "numeric/convert_rows.h"

namespace octet::testing {

// A tensor's values decoded to F32.
inline std::vector<float> ToFloats(const TensorView& view) {
  std::vector<float> values(view.num_elements());
  DecodeToF32(view.dtype, view.bytes.data(), values.size(), values.data());
  return values;
}

// A whole file's bytes, for byte-identity checks.
inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Options for a quiet conversion of `model` to `out` with `scheme`.
inline ConvertOptions QuietConvert(const std::filesystem::path& model, const std::filesystem::path& out,
                                   const std::string& scheme, size_t threads = 2) {
  ConvertOptions options;
  options.model = model;
  options.output = out;
  options.scheme = scheme;
  options.quiet = true;
  options.threads = threads;
  return options;
}

}  // namespace octet::testing

#endif  // OCTET_TESTS_CONVERT_CONVERT_TEST_UTIL_H_
