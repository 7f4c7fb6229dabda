// Bridges `convert --calib-data` to the runtime's activation calibration (src/calib/): convert only sees a
// function from the original checkpoint to per-module input scales.
#include <string>

#include <fmt/format.h>

#include "calib/auto_mix.h"
#include "calib/calibrate.h"
#include "calib/layerwise_int4.h"
#include "convert/convert.h"
#include "models/model_config.h"
#include "runtime/token_file.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace octet::cli {

InputScaleCalibrator MakeCalibrator(const std::string& calib_data, const std::string& calib_method,
                                    size_t threads, std::string& description) {
  const CalibMethod method = ParseCalibMethod(calib_method);  // refuse a bad method before any work
  description = fmt::format("{} over {}", method.ToString(), calib_data);
  return [calib_data, method, threads](const Checkpoint& original, const std::vector<std::string>& modules) {
    (void)modules;  // every quantizable linear is observed; convert picks the ones it quantizes
    const int64_t vocab = ParseModelShape(original.config(), (original.dir() / "config.json").string()).vocab_size;
    const std::vector<TokenSequence> sequences = ReadTokenFile(calib_data, vocab);
    ThreadPool pool(threads);
    return CalibrateInputScales(original, sequences, method, pool);
  };
}

LayerwiseQuantizerFactory MakeLayerwiseQuantizer(const std::string& calib_data) {
  return [calib_data](const Checkpoint& original, const QuantScheme& scheme, ThreadPool& pool) {
    const int64_t vocab = ParseModelShape(original.config(), (original.dir() / "config.json").string()).vocab_size;
    return NewLayerwiseInt4Quantizer(original, scheme, ReadTokenFile(calib_data, vocab), pool);
  };
}

MixedPrecisionPlanner MakeMixedPrecisionPlanner(const std::string& calib_data) {
  return [calib_data](const Checkpoint& original, const QuantScheme& scheme, const std::vector<std::string>& modules,
                      double bits, ThreadPool& pool) {
    const int64_t vocab = ParseModelShape(original.config(), (original.dir() / "config.json").string()).vocab_size;
    const MixedPrecisionPlan plan =
        PlanMixedPrecision(original, scheme, modules, ReadTokenFile(calib_data, vocab), bits, pool);
    MixedPrecisionChoice choice;
    choice.rules = plan.Rules();
    choice.table = plan.ToText();
    choice.report = MixedPrecisionReport(plan);
    return choice;
  };
}

}  // namespace octet::cli
