// Test Mixtral checkpoints derived from a Llama one (aidreams260K).
#ifndef OCTET_TESTS_RUNTIME_MIXTRAL_BUILDER_H_
#define OCTET_TESTS_RUNTIME_MIXTRAL_BUILDER_H_

#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/checkpoint.h"

namespace octet::testing {

// Writes to `out` a MixtralForCausalLM with `experts` copies of each layer's MLP (expert e's w2 scaled by
// 1 + e / 4 so experts differ; expert 0 is the original) and a router gate [experts, hidden] = `router`.
// Returns the config written.
nlohmann::json WriteMixtral(const Checkpoint& llama, const std::filesystem::path& out, int experts, int top_k,
                            const std::vector<float>& router);

}  // namespace octet::testing

#endif  // OCTET_TESTS_RUNTIME_MIXTRAL_BUILDER_H_
