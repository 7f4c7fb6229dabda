// INT4 weights chosen with calibration data, one decoder layer at a time (GPTQ, AWQ), as convert's
// LayerwiseQuantizer (convert/layerwise_quantizer.h).
//
// The calibration sequences are embedded once; then for each layer i:
//   BeginLayer(i)  runs layer i with its original weights on the current hidden states (what the already
//                  quantized layers 0..i-1 produce) and records, per linear, what the method needs: GPTQ the
//                  Hessian of its inputs (quant/gptq.h); linears that read the same input (q/k/v, gate/up, an
//                  expert's w1/w3) share one;
//   Quantize       quantizes one linear of layer i from those statistics and keeps its dequantized weight;
//   Replacement    AWQ's folded norm weights, and the weight of a linear the converter keeps out of INT4
//                  (GGUF's F16 fallback, a --keep rule) with the scales AWQ gave its neighbours applied;
//   EndLayer(i)    runs layer i again with the dequantized weights to produce layer i+1's inputs, and drops
//                  layer i's statistics and weights.
// So errors of earlier layers are seen and compensated by later ones (the "sequential" pipeline of GPTQ and
// llm-compressor), and memory holds one layer's statistics plus the hidden states of the calibration tokens.
//
// A Mixtral expert no calibration token was routed to has no statistics: it is rounded to nearest, and the
// description says how many were.
#ifndef OCTET_CALIB_LAYERWISE_INT4_H_
#define OCTET_CALIB_LAYERWISE_INT4_H_

#include <memory>
#include <vector>

#include "convert/layerwise_quantizer.h"
#include "io/checkpoint.h"
#include "quant/scheme.h"
#include "runtime/token_file.h"
#include "util/thread_pool.h"

namespace octet {

// The grid llm-compressor's MSE observer searches for GPTQ's static group scales (compressed-tensors output).
inline constexpr int kGptqScaleSearchGrid = 100;

// Throws octet::Error if the scheme is not INT4 with gptq/awq, there is no sequence, or a sequence does not fit
// the model. `original` must outlive the result.
std::unique_ptr<LayerwiseQuantizer> NewLayerwiseInt4Quantizer(const Checkpoint& original, const QuantScheme& scheme,
                                                              std::vector<TokenSequence> sequences, ThreadPool& pool);

}  // namespace octet

#endif  // OCTET_CALIB_LAYERWISE_INT4_H_
