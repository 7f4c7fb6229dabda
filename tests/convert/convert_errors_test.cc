// Bad input through the real CLI: one clear line naming the file/tensor, a non-zero exit, and no output left.
#include <cmath>
#include <algorithm>
#include <cstring>
#include <fstream>

#include <gtest/gtest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "io/checkpoint.h"
#include "io/safetensors_writer.h"
#include "test_util.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using testing::RunCli;
using testing::ScratchDir;

// Copies aidreams260K into `dir` with `edit` applied to its tensors and config.
template <typename Edit>
void WriteEditedModel(const fs::path& source, const fs::path& dir, Edit edit, nlohmann::json config) {
  fs::create_directories(dir);
  const Checkpoint original = Checkpoint::Open(source);
  std::vector<std::vector<std::byte>> storage;
  std::vector<TensorView> tensors;
  storage.reserve(original.tensors().size());
  for (const TensorView& t : original.tensors()) {
    storage.emplace_back(t.bytes.begin(), t.bytes.end());
    TensorView copy = t;
    copy.bytes = storage.back();
    if (edit(copy, storage.back())) tensors.push_back(copy);
  }
  WriteSafetensors(dir, tensors);
  std::ofstream(dir / "config.json") << config.dump(2);
}

nlohmann::json ConfigOf(const fs::path& model) {
  std::ifstream in(model / "config.json");
  return nlohmann::json::parse(in);
}

void ExpectCleanFailure(const testing::CommandResult& result, const std::vector<std::string>& needles,
                        const fs::path& out) {
  EXPECT_NE(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output.rfind("octet: error: ", 0), 0u) << result.output;
  EXPECT_EQ(std::count(result.output.begin(), result.output.end(), '\n'), 1) << "one line: " << result.output;
  for (const std::string& needle : needles) {
    EXPECT_NE(result.output.find(needle), std::string::npos) << "missing '" << needle << "' in: " << result.output;
  }
  EXPECT_FALSE(fs::exists(out)) << "output left behind";
  EXPECT_FALSE(fs::exists(out.string() + ".partial")) << "partial output left behind";
}

TEST(ConvertErrorsTest, UnknownArchitectureIsRefusedNamingSupportedOnes) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  ScratchDir scratch;
  nlohmann::json config = ConfigOf(model);
  config["architectures"] = {"GPTBigCodeForCausalLM"};
  WriteEditedModel(model, scratch / "m", [](TensorView&, std::vector<std::byte>&) { return true; }, config);
  const auto result = RunCli(fmt::format("convert {} --quantization fp8 -o {}", (scratch / "m").string(),
                                         (scratch / "out").string()));
  ExpectCleanFailure(result, {"GPTBigCodeForCausalLM", "not supported", "LlamaForCausalLM", "MixtralForCausalLM"},
                     scratch / "out");
}

TEST(ConvertErrorsTest, MissingTensorIsNamed) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  ScratchDir scratch;
  WriteEditedModel(
      model, scratch / "m",
      [](TensorView& t, std::vector<std::byte>&) { return t.name != "model.layers.2.mlp.down_proj.weight"; },
      ConfigOf(model));
  const auto result = RunCli(fmt::format("convert {} --quantization fp8 -o {}", (scratch / "m").string(),
                                         (scratch / "out").string()));
  ExpectCleanFailure(result, {"model.layers.2.mlp.down_proj.weight", "missing"}, scratch / "out");
}

TEST(ConvertErrorsTest, MisshapenTensorIsNamedWithItsFile) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  ScratchDir scratch;
  WriteEditedModel(
      model, scratch / "m",
      [](TensorView& t, std::vector<std::byte>&) {
        if (t.name == "model.layers.1.self_attn.o_proj.weight") t.shape = {32, 128};  // same bytes, wrong shape
        return true;
      },
      ConfigOf(model));
  const auto result = RunCli(fmt::format("convert {} --quantization fp8 -o {}", (scratch / "m").string(),
                                         (scratch / "out").string()));
  ExpectCleanFailure(result, {"model.layers.1.self_attn.o_proj.weight", "[32, 128]", "[64, 64]", "model.safetensors"},
                     scratch / "out");
}

TEST(ConvertErrorsTest, NonFiniteWeightIsRefusedNamingTensorAndIndex) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  for (const float bad : {std::nanf(""), INFINITY}) {
    ScratchDir scratch;
    WriteEditedModel(
        model, scratch / "m",
        [bad](TensorView& t, std::vector<std::byte>& bytes) {
          if (t.name == "model.layers.3.mlp.up_proj.weight") std::memcpy(bytes.data() + 4 * (5 * 64 + 7), &bad, 4);
          return true;
        },
        ConfigOf(model));
    for (const char* scale : {"tensor", "channel"}) {
      const auto result =
          RunCli(fmt::format("convert {} --quantization fp8 --weight-scale {} -o {}", (scratch / "m").string(),
                             scale, (scratch / "out").string()));
      ExpectCleanFailure(result, {"model.layers.3.mlp.up_proj.weight", "[5, 7]", "non-finite"}, scratch / "out");
    }
  }
}

TEST(ConvertErrorsTest, ImpossibleOptionsAreRefused) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  ScratchDir scratch;
  const fs::path out = scratch / "out";
  ExpectCleanFailure(RunCli(fmt::format("convert {} --quantization q7f3 -o {}", model.string(), out.string())),
                     {"unknown quantization scheme 'q7f3'"}, out);
  ExpectCleanFailure(RunCli(fmt::format("convert {} --quantization fp8 --weight-scale block --activations static "
                                        "-o {}",
                                        model.string(), out.string())),
                     {"block weight scales go with dynamic activations"}, out);
  ExpectCleanFailure(
      RunCli(fmt::format("convert {} --quantization fp8 --max-shard-size lots -o {}", model.string(), out.string())),
      {"--max-shard-size"}, out);
  ExpectCleanFailure(RunCli(fmt::format("convert {} --quantization fp8 -o {}", (scratch / "nothing-here").string(),
                                        out.string())),
                     {"nothing-here"}, out);
}

}  // namespace
}  // namespace octet
