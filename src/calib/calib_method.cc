#include "calib/calib_method.h"

#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "util/error.h"

namespace octet {

std::string CalibMethod::ToString() const {
  switch (kind) {
    case Kind::kMax: return "max";
    case Kind::kPercentile: return fmt::format("percentile:{}", percentile);
    case Kind::kMse: return "mse";
  }
  return "?";
}

CalibMethod ParseCalibMethod(std::string_view text) {
  CalibMethod method;
  if (text == "max") return method;
  if (text == "mse") {
    method.kind = CalibMethod::Kind::kMse;
    return method;
  }
  constexpr std::string_view kPrefix = "percentile:";
  if (text.starts_with(kPrefix)) {
    const std::string_view number = text.substr(kPrefix.size());
    double p = NAN;
    const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), p);
    if (error != std::errc() || end != number.data() + number.size() || !(p > 0.0 && p <= 100.0)) {
      Fail("calibration method '{}': the percentile must be a number in (0, 100], e.g. percentile:99.99", text);
    }
    method.kind = CalibMethod::Kind::kPercentile;
    method.percentile = p;
    return method;
  }
  Fail("unknown calibration method '{}'; use max, percentile:P (0 < P <= 100) or mse", text);
}

}  // namespace octet
