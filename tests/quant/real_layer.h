// Real linear layers of aidreams260K with the inputs they see when the model runs sample_tokens.txt, for checking
// that GPTQ / AWQ lower the output error of real layers on real activations. The first sequences calibrate, the
// last ones are held out.
#ifndef OCTET_TESTS_QUANT_REAL_LAYER_H_
#define OCTET_TESTS_QUANT_REAL_LAYER_H_

#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "io/checkpoint.h"
#include "runtime/linear_observer.h"
#include "runtime/tensor_decode.h"
#include "runtime/token_file.h"
#include "runtime/transformer.h"
#include "util/thread_pool.h"

namespace octet::testing {

inline constexpr size_t kHeldOutSequences = 4;  // of the 16 in sample_tokens.txt

struct RealLayer {
  std::string module;
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<float> weight;  // [rows, cols]
  std::vector<float> calib;   // [calib_tokens, cols]
  int64_t calib_tokens = 0;
  std::vector<float> held_out;  // [held_out_tokens, cols]
  int64_t held_out_tokens = 0;
};

// Records the inputs of the wanted modules, into the calibration or the held-out set.
class CapturingObserver : public LinearInputObserver {
 public:
  explicit CapturingObserver(std::set<std::string> wanted) : wanted_(std::move(wanted)) {}
  void set_held_out(bool held_out) { held_out_ = held_out; }
  void Observe(std::string_view module, const float* x, size_t tokens, size_t dim) override {
    const std::string name(module);
    if (wanted_.count(name) == 0) return;
    auto& sink = held_out_ ? held_out_inputs_[name] : calib_inputs_[name];
    sink.insert(sink.end(), x, x + tokens * dim);
  }
  std::map<std::string, std::vector<float>>& calib_inputs() { return calib_inputs_; }
  std::map<std::string, std::vector<float>>& held_out_inputs() { return held_out_inputs_; }

 private:
  std::set<std::string> wanted_;
  bool held_out_ = false;
  std::map<std::string, std::vector<float>> calib_inputs_;
  std::map<std::string, std::vector<float>> held_out_inputs_;
};

// Runs the model over sample_tokens.txt and returns the wanted layers (module names as
// "model.layers.1.mlp.down_proj"), in the order asked.
inline std::vector<RealLayer> CaptureRealLayers(const std::filesystem::path& model_dir,
                                                const std::vector<std::string>& modules) {
  const Checkpoint checkpoint = Checkpoint::Open(model_dir);
  const Transformer model(checkpoint);
  ThreadPool pool(2);
  const std::vector<TokenSequence> sequences =
      ReadTokenFile(model_dir / "sample_tokens.txt", model.config().shape.vocab_size);
  CapturingObserver observer(std::set<std::string>(modules.begin(), modules.end()));
  for (size_t i = 0; i < sequences.size(); ++i) {
    observer.set_held_out(i + kHeldOutSequences >= sequences.size());
    KvCache cache = model.NewCache();
    model.Forward(sequences[i], cache, pool, LogitsFor::kNone, &observer);
  }
  std::vector<RealLayer> layers;
  for (const std::string& module : modules) {
    const TensorView& view = checkpoint.Get(module + ".weight");
    RealLayer layer;
    layer.module = module;
    layer.rows = view.rows();
    layer.cols = view.cols();
    layer.weight = DecodeTensorF32(view);
    layer.calib = std::move(observer.calib_inputs()[module]);
    layer.held_out = std::move(observer.held_out_inputs()[module]);
    layer.calib_tokens = static_cast<int64_t>(layer.calib.size()) / layer.cols;
    layer.held_out_tokens = static_cast<int64_t>(layer.held_out.size()) / layer.cols;
    layers.push_back(std::move(layer));
  }
  return layers;
}

}  // namespace octet::testing

#endif  // OCTET_TESTS_QUANT_REAL_LAYER_H_
