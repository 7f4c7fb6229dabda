// Test-side reference for the narrow float formats, written from the specs' formulas (OCP OFP8 rev 1.0 table,
// IEEE 754 binary16, bfloat16 = top half of binary32) and sharing no code or constants with src/numeric, so the
// tests check the codecs against something independent.
#ifndef OCTET_TESTS_NUMERIC_FLOAT_REFERENCE_H_
#define OCTET_TESTS_NUMERIC_FLOAT_REFERENCE_H_

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <vector>

namespace octet::testing {

// A binary float format as the specs describe it.
struct SpecFormat {
  int exponent_bits;
  int mantissa_bits;
  int bias;
  bool has_inf;  // IEEE specials (all-ones exponent: Inf / NaN); false = E4M3FN (only all-ones code is NaN)
};

inline constexpr SpecFormat kSpecE4M3{4, 3, 7, false};
inline constexpr SpecFormat kSpecE5M2{5, 2, 15, true};
inline constexpr SpecFormat kSpecF16{5, 10, 15, true};

// The value of `code` by the spec formula: (-1)^s * 2^(e - bias) * (1 + m / 2^M) for e > 0,
// (-1)^s * 2^(1 - bias) * (m / 2^M) for e = 0, and the special values.
inline double SpecValue(const SpecFormat& f, uint32_t code) {
  const int total_bits = 1 + f.exponent_bits + f.mantissa_bits;
  const bool negative = (code >> (total_bits - 1)) & 1;
  const uint32_t e = (code >> f.mantissa_bits) & ((1u << f.exponent_bits) - 1);
  const uint32_t m = code & ((1u << f.mantissa_bits) - 1);
  const uint32_t e_all_ones = (1u << f.exponent_bits) - 1;
  const uint32_t m_all_ones = (1u << f.mantissa_bits) - 1;
  double magnitude;
  if (f.has_inf && e == e_all_ones) {
    magnitude = m == 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  } else if (!f.has_inf && e == e_all_ones && m == m_all_ones) {
    magnitude = std::numeric_limits<double>::quiet_NaN();
  } else if (e == 0) {
    magnitude = std::ldexp(static_cast<double>(m) / (1u << f.mantissa_bits), 1 - f.bias);
  } else {
    magnitude = std::ldexp(1.0 + static_cast<double>(m) / (1u << f.mantissa_bits), static_cast<int>(e) - f.bias);
  }
  return negative ? -magnitude : magnitude;
}

inline double SpecValueBF16(uint16_t code) {
  return static_cast<double>(std::bit_cast<float>(static_cast<uint32_t>(code) << 16));
}

inline uint32_t FloatBits(float x) { return std::bit_cast<uint32_t>(x); }

// Rounding intervals of the non-negative codes 0..top_code of a format, as f32 bit patterns: code c is the
// nearest value to any x with lo[c] <= bits(x) <= hi[c], where the bounds are the midpoints to the neighbouring
// codes (exact in f32: they need one bit more than the format has). A bound equal to a midpoint is a tie.
struct RoundingIntervals {
  std::vector<uint32_t> lo, hi;
  std::vector<bool> lo_is_tie, hi_is_tie;
};

// `value(c)` for c in [0, top_code]; the top code's interval ends at `top_bits` (not a tie).
template <class ValueFn>
RoundingIntervals MakeRoundingIntervals(uint32_t top_code, uint32_t top_bits, ValueFn value) {
  RoundingIntervals r;
  r.lo.resize(top_code + 1);
  r.hi.resize(top_code + 1);
  r.lo_is_tie.assign(top_code + 1, true);
  r.hi_is_tie.assign(top_code + 1, true);
  for (uint32_t c = 0; c <= top_code; ++c) {
    if (c == 0) {
      r.lo[c] = 0;
      r.lo_is_tie[c] = false;
    } else {
      r.lo[c] = r.hi[c - 1];
    }
    if (c == top_code) {
      r.hi[c] = top_bits;
      r.hi_is_tie[c] = false;
    } else {
      const double mid = (value(c) + value(c + 1)) / 2;
      r.hi[c] = FloatBits(static_cast<float>(mid));
      if (static_cast<double>(static_cast<float>(mid)) != mid) std::abort();  // must be exact
    }
  }
  return r;
}

}  // namespace octet::testing

#endif  // OCTET_TESTS_NUMERIC_FLOAT_REFERENCE_H_
