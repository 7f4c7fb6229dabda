#include "calib/calibrate.h"

#include <algorithm>
#include <mutex>

#include "calib/input_scale.h"
#include "runtime/transformer.h"
#include "util/error.h"

namespace octet {
namespace {

// Values per histogram task: large enough that a task's 40 KiB histogram is worth allocating.
constexpr size_t kValuesPerTask = 1 << 16;

}  // namespace

void ActivationStatsObserver::Observe(std::string_view module, const float* x, size_t tokens, size_t dim) {
  auto it = stats_.find(module);
  if (it == stats_.end()) it = stats_.emplace(std::string(module), ModuleActivationStats{}).first;
  ModuleActivationStats& stats = it->second;
  const size_t n = tokens * dim;
  stats.tokens += tokens;
  if (n <= kValuesPerTask || pool_.num_threads() == 1) {
    stats.histogram.Add(x, n);
  } else {
    std::mutex mutex;
    pool_.ParallelFor((n + kValuesPerTask - 1) / kValuesPerTask, [&](size_t task) {
      AbsHistogram part;
      const size_t begin = task * kValuesPerTask;
      part.Add(x + begin, std::min(kValuesPerTask, n - begin));
      const std::lock_guard<std::mutex> lock(mutex);
      stats.histogram.Merge(part);
    });
  }
  if (stats.histogram.has_non_finite()) Fail("calibration: the input of '{}' holds Inf or NaN", module);
}

std::map<std::string, ModuleActivationStats, std::less<>> CollectActivationStats(
    const Checkpoint& original, const std::vector<std::vector<int32_t>>& sequences, ThreadPool& pool) {
  if (sequences.empty()) Fail("calibration needs at least one token sequence");
  const Transformer model(original);
  ActivationStatsObserver observer(pool);
  for (size_t i = 0; i < sequences.size(); ++i) {
    const auto& sequence = sequences[i];
    if (static_cast<int64_t>(sequence.size()) > model.config().max_position_embeddings) {
      Fail("calibration sequence {} has {} tokens; the model's context (max_position_embeddings) is {}", i + 1,
           sequence.size(), model.config().max_position_embeddings);
    }
    KvCache cache = model.NewCache();
    WithContext("calibration sequence " + std::to_string(i + 1),
                [&] { model.Forward(sequence, cache, pool, LogitsFor::kNone, &observer); });
  }
  return observer.stats();
}

std::map<std::string, float> CalibrateInputScales(const Checkpoint& original,
                                                  const std::vector<std::vector<int32_t>>& sequences,
                                                  const CalibMethod& method, ThreadPool& pool) {
  std::map<std::string, float> scales;
  for (const auto& [module, stats] : CollectActivationStats(original, sequences, pool)) {
    scales[module] = InputScale(stats.histogram, method);
  }
  return scales;
}

}  // namespace octet
