// A hook the forward pass calls with the input of every linear a quantization scheme may quantize, just before
// that linear runs (before any activation quantization of its own). Calibration (src/calib) records statistics
// through it; diagnostics can too.
#ifndef OCTET_RUNTIME_LINEAR_OBSERVER_H_
#define OCTET_RUNTIME_LINEAR_OBSERVER_H_

#include <cstddef>
#include <string_view>

namespace octet {

class LinearInputObserver {
 public:
  virtual ~LinearInputObserver() = default;

  // `module` is the weight's module prefix, e.g. "model.layers.0.self_attn.q_proj" or, for a Mixtral expert,
  // "model.layers.0.block_sparse_moe.experts.3.w1"; x holds `tokens` rows of `dim` values. For experts only the
  // tokens routed to that expert are passed (possibly none: then it is not called). q/k/v (and w1/w3, gate/up)
  // share one input and are each observed. Called on the thread that runs the forward pass, one call at a time.
  // The router and the output head are not observed: no scheme quantizes them.
  virtual void Observe(std::string_view module, const float* x, size_t tokens, size_t dim) = 0;
};

}  // namespace octet

#endif  // OCTET_RUNTIME_LINEAR_OBSERVER_H_
