// Helpers for the io/ tests: whole-file reads and writes and hand-built safetensors files.
#ifndef OCTET_TESTS_IO_IO_TEST_UTIL_H_
#define OCTET_TESTS_IO_IO_TEST_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "util/error.h"

namespace octet::testing {

inline std::string ReadFileBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void WriteFileBytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// 8-byte little-endian `header_length` (the real length when negative), the header text, then `data`.
inline std::string RawSafetensors(const std::string& header, const std::string& data, int64_t header_length = -1) {
  const uint64_t length = header_length < 0 ? header.size() : static_cast<uint64_t>(header_length);
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  return out + header + data;
}

inline std::vector<std::byte> RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> bytes(n);
  for (std::byte& b : bytes) b = static_cast<std::byte>(rng() & 0xff);
  return bytes;
}

// Runs `body`, which must throw octet::Error whose message contains every one of `parts`.
template <typename Body>
void ExpectError(Body&& body, const std::vector<std::string>& parts) {
  try {
    body();
    ADD_FAILURE() << "no octet::Error thrown; expected one mentioning '" << (parts.empty() ? "" : parts[0]) << "'";
  } catch (const Error& e) {
    const std::string message = e.what();
    for (const std::string& part : parts) {
      EXPECT_NE(message.find(part), std::string::npos) << "message: " << message << "\nmissing: " << part;
    }
    EXPECT_EQ(message.find('\n'), std::string::npos) << "message spans lines: " << message;
  }
}

}  // namespace octet::testing

#endif  // OCTET_TESTS_IO_IO_TEST_UTIL_H_
