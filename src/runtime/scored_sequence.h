// A token sequence to evaluate and the first position whose prediction counts. Windowed evaluation of a long
// text (runtime/text_windows.h) runs each window from its start, so the model has context, but scores only the
// positions not scored by an earlier window.
#ifndef OCTET_RUNTIME_SCORED_SEQUENCE_H_
#define OCTET_RUNTIME_SCORED_SEQUENCE_H_

#include <cstddef>

#include "runtime/token_file.h"

namespace octet {

struct ScoredSequence {
  TokenSequence tokens;
  // The logits of positions t >= first_scored (each predicting tokens[t + 1]) are scored; 0 scores them all.
  size_t first_scored = 0;
};

}  // namespace octet

#endif  // OCTET_RUNTIME_SCORED_SEQUENCE_H_
