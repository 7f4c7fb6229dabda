// The hook through which `convert` gets INT4 weights chosen with calibration data (GPTQ, AWQ). Those methods need
// each layer's inputs as the already-quantized layers before it produce them, so the converter walks the decoder
// layers in order: BeginLayer(i), then Quantize for every linear of layer i (and Replacement for its other
// tensors), then EndLayer(i), which lets the implementation run layer i quantized to make layer i+1's inputs.
// Only one layer's weights and the calibration activations are held at a time.
//
// convert/ only consumes this interface; calib/layerwise_int4.h implements it with the runtime's forward pass.
#ifndef OCTET_CONVERT_LAYERWISE_QUANTIZER_H_
#define OCTET_CONVERT_LAYERWISE_QUANTIZER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "quant/int4_group.h"
#include "quant/scheme.h"
#include "util/thread_pool.h"

namespace octet {

class LayerwiseQuantizer {
 public:
  virtual ~LayerwiseQuantizer() = default;

  virtual void BeginLayer(int64_t layer) = 0;
  // `weight` is the linear `module`'s weight as stored ([rows, cols], decoded to F32, checked finite).
  virtual Int4Matrix Quantize(const std::string& module, std::vector<float> weight, int64_t rows, int64_t cols,
                              const Int4Params& params) = 0;
  // Values to write instead of tensor `name`'s own, or empty to keep them (AWQ folds its per-channel input scales
  // into the RMSNorm weight before the linears it scaled, and into a linear the converter keeps out of INT4 whose
  // neighbour it scaled; the converter stores or FP8-quantizes those values). Asked for the layer's tensors that do
  // not go through Quantize, between BeginLayer and EndLayer.
  virtual std::vector<float> Replacement(const std::string& name) = 0;
  virtual void EndLayer(int64_t layer) = 0;
  // One line for the report, e.g. "gptq over 16 sequences (2048 tokens), damp 0.01, act-order".
  virtual std::string Description() const = 0;
};

using LayerwiseQuantizerFactory =
    std::function<std::unique_ptr<LayerwiseQuantizer>(const Checkpoint& original, const QuantScheme& scheme,
                                                      ThreadPool& pool)>;

}  // namespace octet

#endif  // OCTET_CONVERT_LAYERWISE_QUANTIZER_H_
