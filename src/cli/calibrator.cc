// Bridges `convert --calib-data` to the runtime's activation calibration.
#include <string>

#include "convert/convert.h"
#include "util/error.h"

namespace octet::cli {

InputScaleCalibrator MakeCalibrator(const std::string& calib_data, const std::string& calib_method,
                                    size_t threads, std::string& description) {
  (void)calib_data;
  (void)calib_method;
  (void)threads;
  (void)description;
  Fail("--calib-data: calibration arrives with the runtime (issue #3)");
}

}  // namespace octet::cli
