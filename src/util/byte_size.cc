#include "util/byte_size.h"

#include <array>
#include <cctype>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "util/error.h"

namespace octet {
namespace {

struct Unit {
  std::string_view name;  // lower case
  uint64_t bytes;
};

constexpr uint64_t kKi = 1024;
constexpr std::array<Unit, 14> kUnits = {{
    {"", 1},
    {"b", 1},
    {"k", 1'000},
    {"kb", 1'000},
    {"m", 1'000'000},
    {"mb", 1'000'000},
    {"g", 1'000'000'000},
    {"gb", 1'000'000'000},
    {"t", 1'000'000'000'000},
    {"tb", 1'000'000'000'000},
    {"kib", kKi},
    {"mib", kKi * kKi},
    {"gib", kKi * kKi * kKi},
    {"tib", kKi * kKi * kKi * kKi},
}};

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

uint64_t ParseByteSize(std::string_view text, std::string_view what) {
  auto fail = [&](std::string_view why) {
    Fail("{}: invalid size '{}' ({}); use bytes or a number with a unit, e.g. 500MB, 2GB, 1GiB", what, text, why);
  };
  size_t pos = 0;
  while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos]))) ++pos;
  // Digits and at most one decimal point: integers are exact; a fraction is only scaled, never parsed as a float
  // on its own, so "4000000000" is not rounded through a double.
  uint64_t whole = 0;
  std::string fraction;
  bool any_digit = false;
  bool in_fraction = false;
  for (; pos < text.size(); ++pos) {
    const char c = text[pos];
    if (c == '.' && !in_fraction) {
      in_fraction = true;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      any_digit = true;
      if (in_fraction) {
        fraction.push_back(c);
      } else {
        const auto digit = static_cast<uint64_t>(c - '0');
        if (whole > (std::numeric_limits<uint64_t>::max() - digit) / 10) fail("too large");
        whole = whole * 10 + digit;
      }
    } else {
      break;
    }
  }
  if (!any_digit) fail(text.empty() ? "empty" : "no number");
  while (pos < text.size() && text[pos] == ' ') ++pos;
  const std::string unit_name = Lower(text.substr(pos));
  uint64_t unit = 0;
  for (const Unit& u : kUnits) {
    if (u.name == unit_name) unit = u.bytes;
  }
  if (unit == 0) fail(fmt::format("unknown unit '{}'", text.substr(pos)));
  if (whole > std::numeric_limits<uint64_t>::max() / unit) fail("too large");
  uint64_t bytes = whole * unit;
  if (!fraction.empty()) {
    // Fractions of a unit: at most 12 digits matter (a TB has 12 zeros), the rest cannot change whole bytes much.
    const double frac = std::stod("0." + fraction.substr(0, 15));
    bytes += static_cast<uint64_t>(std::floor(frac * static_cast<double>(unit)));
  }
  if (bytes == 0) fail("must be at least 1 byte");
  return bytes;
}

std::string FormatByteSize(uint64_t bytes) {
  constexpr std::array<std::string_view, 5> kNames = {"B", "kB", "MB", "GB", "TB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1000.0 && unit + 1 < kNames.size()) {
    value /= 1000.0;
    ++unit;
  }
  if (unit == 0) return fmt::format("{} B", bytes);
  const int decimals = value >= 100.0 ? 1 : 2;
  return fmt::format("{:.{}f} {}", value, decimals, kNames[unit]);
}

}  // namespace octet
