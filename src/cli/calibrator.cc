// Bridges `convert --calib-data / --calib-text` to the runtime's activation calibration (src/calib/): convert
// only sees a function from the original checkpoint to per-module input scales.
#include <string>

#include <fmt/format.h>

#include "calib/auto_mix.h"
#include "calib/calib_data.h"
#include "calib/calibrate.h"
#include "calib/layerwise_int4.h"
#include "convert/convert.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace octet::cli {

InputScaleCalibrator MakeCalibrator(const CalibDataSpec& data, const std::string& calib_method, size_t threads,
                                    std::string& description) {
  const CalibMethod method = ParseCalibMethod(calib_method);  // refuse a bad method before any work
  description = fmt::format("{} over {}", method.ToString(), data.Describe());
  return [data, method, threads](const Checkpoint& original, const std::vector<std::string>& modules) {
    (void)modules;  // every quantizable linear is observed; convert picks the ones it quantizes
    const std::vector<TokenSequence> sequences = LoadCalibrationSequences(data, original.dir(), original.config());
    ThreadPool pool(threads);
    return CalibrateInputScales(original, sequences, method, pool);
  };
}

LayerwiseQuantizerFactory MakeLayerwiseQuantizer(const CalibDataSpec& data) {
  return [data](const Checkpoint& original, const QuantScheme& scheme, ThreadPool& pool) {
    return NewLayerwiseInt4Quantizer(original, scheme,
                                     LoadCalibrationSequences(data, original.dir(), original.config()), pool);
  };
}

MixedPrecisionPlanner MakeMixedPrecisionPlanner(const CalibDataSpec& data) {
  return [data](const Checkpoint& original, const QuantScheme& scheme, const std::vector<std::string>& modules,
                double bits, ThreadPool& pool) {
    const MixedPrecisionPlan plan = PlanMixedPrecision(
        original, scheme, modules, LoadCalibrationSequences(data, original.dir(), original.config()), bits, pool);
    MixedPrecisionChoice choice;
    choice.rules = plan.Rules();
    choice.table = plan.ToText();
    choice.report = MixedPrecisionReport(plan);
    return choice;
  };
}

}  // namespace octet::cli
