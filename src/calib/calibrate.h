// Activation calibration for static FP8 input scales: runs the original (unquantized) model over calibration
// token sequences, records a histogram of |x| of the input of every quantizable linear (through the forward
// pass's LinearInputObserver), and turns each into an input_scale with the chosen method.
//
// Modules that saw no token (a Mixtral expert no calibration token was routed to) are absent from the results:
// the caller decides (vLLM shares one input scale across a layer's experts anyway: the maximum).
#ifndef OCTET_CALIB_CALIBRATE_H_
#define OCTET_CALIB_CALIBRATE_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "calib/abs_histogram.h"
#include "calib/calib_method.h"
#include "io/checkpoint.h"
#include "runtime/linear_observer.h"
#include "util/thread_pool.h"

namespace octet {

struct ModuleActivationStats {
  AbsHistogram histogram;
  uint64_t tokens = 0;  // rows observed
};

// Records per-module statistics. Uses `pool` to histogram large inputs (counts are integers, so the result does
// not depend on the thread count).
class ActivationStatsObserver : public LinearInputObserver {
 public:
  explicit ActivationStatsObserver(ThreadPool& pool) : pool_(pool) {}
  void Observe(std::string_view module, const float* x, size_t tokens, size_t dim) override;
  const std::map<std::string, ModuleActivationStats, std::less<>>& stats() const { return stats_; }

 private:
  ThreadPool& pool_;
  std::map<std::string, ModuleActivationStats, std::less<>> stats_;
};

// Runs `original` (each sequence as one prefill) and returns the statistics of every observed module. Throws if
// there is no sequence, a sequence does not fit the model, or an input holds Inf/NaN.
std::map<std::string, ModuleActivationStats, std::less<>> CollectActivationStats(
    const Checkpoint& original, const std::vector<std::vector<int32_t>>& sequences, ThreadPool& pool);

// Module prefix (e.g. "model.layers.0.self_attn.q_proj") -> input_scale (dequantization multiplier: x ~= q * s).
std::map<std::string, float> CalibrateInputScales(const Checkpoint& original,
                                                  const std::vector<std::vector<int32_t>>& sequences,
                                                  const CalibMethod& method, ThreadPool& pool);

}  // namespace octet

#endif  // OCTET_CALIB_CALIBRATE_H_
