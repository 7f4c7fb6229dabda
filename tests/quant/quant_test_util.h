// Helpers shared by the INT4 quantizer tests.
#ifndef OCTET_TESTS_QUANT_QUANT_TEST_UTIL_H_
#define OCTET_TESTS_QUANT_QUANT_TEST_UTIL_H_

#include <cstdint>
#include <random>
#include <vector>

#include "quant/int4_group.h"

namespace octet::testing {

inline Int4Params Params(int group_size, bool symmetric) {
  Int4Params p;
  p.group_size = group_size;
  p.symmetric = symmetric;
  return p;
}

// n normally distributed values (mean 0, standard deviation sigma), reproducible from `seed`.
inline std::vector<float> Normal(int64_t n, float sigma, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = normal(rng);
  return v;
}

}  // namespace octet::testing

#endif  // OCTET_TESTS_QUANT_QUANT_TEST_UTIL_H_
