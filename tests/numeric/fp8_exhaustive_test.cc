// Every f32 bit pattern (all 2^32) through the bulk SIMD encoders, for both FP8 formats, checked by a property
// that is O(1) per input and shares nothing with the encoder: the result must be the nearest value (no
// neighbouring code closer), an exact tie must pick the even code, magnitudes above the largest finite value must
// saturate, NaN must stay NaN, and the sign must be kept. The scalar encoder must agree on all 2^32 patterns, and
// QuantizeFp8 with scale 1 must agree with the direct cast.
#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "numeric/convert_rows.h"
#include "numeric/float_reference.h"
#include "numeric/fp8.h"

namespace octet {
namespace {

using ::octet::testing::FloatBits;
using ::octet::testing::MakeRoundingIntervals;
using ::octet::testing::RoundingIntervals;
using ::octet::testing::SpecFormat;
using ::octet::testing::SpecValue;

constexpr uint32_t kSign = 0x80000000u;
constexpr uint32_t kPositiveInfBits = 0x7F800000u;
constexpr size_t kChunk = size_t{1} << 16;
constexpr uint64_t kPositivePatterns = uint64_t{1} << 31;

// Optimized builds check every pattern (seconds). Unoptimized and sanitizer builds run 10-50x slower, so there
// every 16th chunk of 2^16 patterns is checked (still all exponents and every rounding situation), and the test
// says so in its output.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define OCTET_SLOW_BUILD 1
#endif
#endif
#if !defined(__OPTIMIZE__) || defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define OCTET_SLOW_BUILD 1
#endif
#ifdef OCTET_SLOW_BUILD
constexpr uint64_t kChunkStride = 16;
#else
constexpr uint64_t kChunkStride = 1;
#endif

struct Fp8Case {
  Fp8Format format;
  SpecFormat spec;
  uint8_t max_code;  // largest finite magnitude code per the spec table
};

// Collects failures from the worker threads; the test thread reports them.
class Failures {
 public:
  void Add(const std::string& message) {
    if (count_.fetch_add(1) < kKept) {
      std::lock_guard<std::mutex> lock(mutex_);
      messages_.push_back(message);
    }
  }
  uint64_t count() const { return count_.load(); }
  const std::vector<std::string>& messages() const { return messages_; }

 private:
  static constexpr uint64_t kKept = 20;
  std::atomic<uint64_t> count_{0};
  std::mutex mutex_;
  std::vector<std::string> messages_;
};

// Per positive magnitude code c, the f32 bit patterns [lo[c], hi[c]] that must encode to c: the rounding
// interval between the midpoints to the neighbouring codes, with a midpoint (an exact tie) included only when c
// is even (its mantissa LSB, the code's LSB, is 0).
struct AcceptedRanges {
  std::vector<uint32_t> lo, hi;
};

AcceptedRanges MakeAcceptedRanges(const Fp8Case& c, uint32_t max_bits) {
  const RoundingIntervals intervals =
      MakeRoundingIntervals(c.max_code, max_bits, [&](uint32_t code) { return SpecValue(c.spec, code); });
  AcceptedRanges ranges{intervals.lo, intervals.hi};
  for (uint32_t code = 0; code <= c.max_code; ++code) {
    const bool even = (code & 1) == 0;
    if (intervals.lo_is_tie[code] && !even) ++ranges.lo[code];
    if (intervals.hi_is_tie[code] && !even) --ranges.hi[code];
  }
  return ranges;
}

class ExhaustiveChecker {
 public:
  ExhaustiveChecker(const Fp8Case& c, uint8_t (*scalar_encoder)(float))
      : case_(c),
        scalar_encoder_(scalar_encoder),
        max_bits_(FloatBits(static_cast<float>(SpecValue(c.spec, c.max_code)))),
        ranges_(MakeAcceptedRanges(c, max_bits_)) {}

  // `positive` holds f32 patterns with the sign clear, `negative` the same with the sign set.
  void CheckChunk(const std::vector<float>& positive, const std::vector<float>& negative, Failures& failures,
                  std::vector<uint8_t>& pos_codes, std::vector<uint8_t>& neg_codes,
                  std::vector<uint8_t>& scratch) const {
    const size_t n = positive.size();
    EncodeFromF32(Fp8DType(case_.format), positive.data(), n, pos_codes.data());
    EncodeFromF32(Fp8DType(case_.format), negative.data(), n, neg_codes.data());
    QuantizeFp8(case_.format, positive.data(), n, 1.0f, scratch.data());
    if (!std::equal(scratch.begin(), scratch.begin() + n, pos_codes.begin())) {
      failures.Add(fmt::format("QuantizeFp8(scale 1) != EncodeFromF32 near {:#010x}", FloatBits(positive[0])));
    }
    QuantizeFp8(case_.format, negative.data(), n, 1.0f, scratch.data());
    if (!std::equal(scratch.begin(), scratch.begin() + n, neg_codes.begin())) {
      failures.Add(fmt::format("QuantizeFp8(scale 1) != EncodeFromF32 near {:#010x}", FloatBits(negative[0])));
    }
    for (size_t i = 0; i < n; ++i) {
      const uint32_t bits = FloatBits(positive[i]);
      const uint8_t code = pos_codes[i];
      if (!IsCorrectPositive(bits, code)) {
        failures.Add(fmt::format("{}: x bits {:#010x} encoded to {:#04x}", DTypeName(Fp8DType(case_.format)), bits,
                                 code));
      }
      // Negation flips exactly the sign bit of the code (sign preserved, magnitude rounded symmetrically).
      if (neg_codes[i] != (code | 0x80)) {
        failures.Add(fmt::format("x bits {:#010x} encoded to {:#04x}, its negation to {:#04x}", bits, code,
                                 neg_codes[i]));
      }
      if (scalar_encoder_(positive[i]) != code || scalar_encoder_(negative[i]) != neg_codes[i]) {
        failures.Add(fmt::format("scalar and SIMD encoders disagree on {:#010x} (or its negation)", bits));
      }
    }
  }

 private:
  bool IsCorrectPositive(uint32_t bits, uint8_t code) const {
    if (bits > kPositiveInfBits) return code < 0x80 && std::isnan(SpecValue(case_.spec, code));
    if (bits > max_bits_) return code == case_.max_code;  // saturation, +Inf included
    return code <= case_.max_code && ranges_.lo[code] <= bits && bits <= ranges_.hi[code];
  }

  Fp8Case case_;
  uint8_t (*scalar_encoder_)(float);
  uint32_t max_bits_;
  AcceptedRanges ranges_;
};

TEST(Fp8Exhaustive, EveryFloat32EncodesToNearestEvenSaturated) {
  const auto start = std::chrono::steady_clock::now();
  const ExhaustiveChecker e4m3({Fp8Format::kE4M3, ::octet::testing::kSpecE4M3, 0x7E}, EncodeE4M3);
  const ExhaustiveChecker e5m2({Fp8Format::kE5M2, ::octet::testing::kSpecE5M2, 0x7B}, EncodeE5M2);
  Failures failures;
  std::atomic<uint64_t> next_chunk{0};
  const uint64_t chunks = kPositivePatterns / kChunk;
  auto worker = [&] {
    std::vector<float> positive(kChunk), negative(kChunk);
    std::vector<uint8_t> pos_codes(kChunk), neg_codes(kChunk), scratch(kChunk);
    for (uint64_t chunk = next_chunk.fetch_add(kChunkStride); chunk < chunks;
         chunk = next_chunk.fetch_add(kChunkStride)) {
      const uint32_t base = static_cast<uint32_t>(chunk * kChunk);
      for (size_t i = 0; i < kChunk; ++i) {
        const uint32_t bits = base + static_cast<uint32_t>(i);
        positive[i] = std::bit_cast<float>(bits);
        negative[i] = std::bit_cast<float>(bits | kSign);
      }
      e4m3.CheckChunk(positive, negative, failures, pos_codes, neg_codes, scratch);
      e5m2.CheckChunk(positive, negative, failures, pos_codes, neg_codes, scratch);
    }
  };
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (std::thread& t : pool) t.join();

  EXPECT_EQ(failures.count(), 0u);
  for (const std::string& message : failures.messages()) ADD_FAILURE() << message;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  RecordProperty("seconds", std::to_string(seconds));
  std::printf("[ info     ] 2 formats x %s f32 patterns on %u threads in %.1f s\n",
              kChunkStride == 1 ? "all 2^32" : "every 16th 64K-chunk of the 2^32 (unoptimized build)", threads, seconds);
}

}  // namespace
}  // namespace octet
