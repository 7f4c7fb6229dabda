// Fuzzes config.json interpretation: ParseModelShape and Architecture::ForConfig (what `convert` reads), the
// tensor list the shape implies, and the runtime's ParseModelConfig. A config is untrusted input shipped with
// every downloaded model.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "models/architecture.h"
#include "models/model_config.h"
#include "runtime/model_config.h"
#include "util/error.h"

namespace {

// Known findings, open until fixed in src/ (RELIABILITY.md "Findings"). Inputs that hit them are skipped so a
// fuzzing run can look for new problems instead of rediscovering these; OCTET_FUZZ_KNOWN_ISSUES=1 in the
// environment disables the skip to reproduce them (fuzz/regressions/config_fuzzer/ has one input for each).
// Delete each guard together with its fix.
bool HitsKnownIssue(const nlohmann::json& config) {
  static const bool reproduce = std::getenv("OCTET_FUZZ_KNOWN_ISSUES") != nullptr;
  if (reproduce || !config.is_object()) return false;
  auto integer = [&](const char* key) -> int64_t {
    const auto it = config.find(key);
    return it != config.end() && it->is_number_integer() ? it->get<int64_t>() : 1;
  };
  // F1: Architecture::ExpectedTensors multiplies num_attention_heads (or num_key_value_heads) by head_dim
  // unchecked (signed overflow), and builds a list of num_hidden_layers * (9 + 3 * experts) entries before any
  // tensor is compared, so a config claiming 2^40 layers exhausts memory.
  int64_t product = 0;
  if (__builtin_mul_overflow(integer("num_attention_heads"), integer("head_dim"), &product)) return true;
  if (__builtin_mul_overflow(integer("num_key_value_heads"), integer("head_dim"), &product)) return true;
  const int64_t layers = integer("num_hidden_layers");
  const int64_t experts = integer("num_local_experts");
  if (layers > 4096 || experts > 4096 || layers * (experts + 1) > 65536) return true;
  // F2: ParseModelConfig casts rope_scaling.original_max_position_embeddings, a JSON double, to int64_t without a
  // range check (undefined for 1e300).
  for (const char* key : {"rope_scaling", "rope_parameters"}) {
    const auto scaling = config.find(key);
    if (scaling == config.end() || !scaling->is_object()) continue;
    const auto value = scaling->find("original_max_position_embeddings");
    if (value != scaling->end() && value->is_number_float() && !(std::fabs(value->get<double>()) < 9.2e18)) {
      return true;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(data, data + size);
  } catch (const nlohmann::json::exception&) {
    return 0;  // Not JSON: Checkpoint::Open refuses it before these functions see it.
  }
  if (HitsKnownIssue(config)) return 0;
  const std::string source = "fuzz/config.json";
  try {
    const octet::ModelShape shape = octet::ParseModelShape(config, source);
    OCTET_FUZZ_CHECK(shape.hidden_size > 0 && shape.num_layers > 0 && shape.num_heads > 0);
    OCTET_FUZZ_CHECK(shape.num_kv_heads > 0 && shape.num_heads % shape.num_kv_heads == 0);
    OCTET_FUZZ_CHECK(shape.head_dim > 0 && shape.vocab_size > 0);
    const octet::Architecture& architecture = octet::Architecture::ForConfig(config, source);
    OCTET_FUZZ_CHECK(architecture.name() == shape.architecture);
    const auto expected = architecture.ExpectedTensors(shape);
    for (const octet::ExpectedTensor& tensor : expected) {
      for (int64_t d : tensor.shape) OCTET_FUZZ_CHECK(d > 0);
      // Whatever the config says, the roles the converter derives from names must agree with the table.
      OCTET_FUZZ_CHECK(architecture.Classify(tensor.name) == tensor.role);
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
