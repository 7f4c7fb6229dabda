// Fuzzes config.json interpretation: ParseModelShape and Architecture::ForConfig (what `convert` reads), the
// tensor list the shape implies, and the runtime's ParseModelConfig. A config is untrusted input shipped with
// every downloaded model.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "models/architecture.h"
#include "models/model_config.h"
#include "runtime/model_config.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(data, data + size);
  } catch (const nlohmann::json::exception&) {
    return 0;  // Not JSON: Checkpoint::Open refuses it before these functions see it.
  }
  const std::string source = "fuzz/config.json";
  try {
    const octet::ModelShape shape = octet::ParseModelShape(config, source);
    OCTET_FUZZ_CHECK(shape.hidden_size > 0 && shape.num_layers > 0 && shape.num_heads > 0);
    OCTET_FUZZ_CHECK(shape.num_kv_heads > 0 && shape.num_heads % shape.num_kv_heads == 0);
    OCTET_FUZZ_CHECK(shape.head_dim > 0 && shape.vocab_size > 0);
    const octet::Architecture& architecture = octet::Architecture::ForConfig(config, source);
    OCTET_FUZZ_CHECK(architecture.name() == shape.architecture);
    // The converter lists the implied tensors only after checking their count against the checkpoint's
    // (conversion_plan.cc, finding F1); mirror that with a checkpoint of up to 10,000 tensors (more only slows
    // the fuzzer down).
    const int64_t per_layer = architecture.is_moe() ? 7 + 3 * shape.num_experts : 9;
    if (shape.num_layers <= 10'000 / per_layer) {
      for (const octet::ExpectedTensor& tensor : architecture.ExpectedTensors(shape)) {
        for (int64_t d : tensor.shape) OCTET_FUZZ_CHECK(d > 0);
        // Whatever the config says, the roles the converter derives from names must agree with the table.
        OCTET_FUZZ_CHECK(architecture.Classify(tensor.name) == tensor.role);
      }
    }
  } catch (const octet::Error&) {
  }
  try {
    const octet::ModelConfig runtime = octet::ParseModelConfig(config, source);
    OCTET_FUZZ_CHECK(runtime.shape.num_layers > 0);
  } catch (const octet::Error&) {
  }
  return 0;
}
