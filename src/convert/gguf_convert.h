// Where `octet convert` meets GGUF: decides from the options whether the input is a GGUF file (import, then the
// normal conversion), the output is a GGUF file (export), or neither, and refuses the combinations that cannot
// work with one clear line (a llama.cpp type name with a directory output, an FP8 scheme with a .gguf output).
#ifndef OCTET_CONVERT_GGUF_CONVERT_H_
#define OCTET_CONVERT_GGUF_CONVERT_H_

#include <optional>

#include "convert/convert.h"

namespace octet {

// True when the options ask for GGUF output: --format gguf, or no --format and an output path ending in ".gguf".
bool WantsGgufOutput(const ConvertOptions& options);

// Runs the conversion when GGUF is involved (input or output) and returns its summary; nullopt when it is not, so
// Convert() goes on with its safetensors path. Throws octet::Error on an impossible combination.
std::optional<ConvertSummary> ConvertGgufIfRequested(const ConvertOptions& options);

}  // namespace octet

#endif  // OCTET_CONVERT_GGUF_CONVERT_H_
