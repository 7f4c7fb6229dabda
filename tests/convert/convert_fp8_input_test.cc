// FP8 checkpoints as input: every scale layout octet reads (vLLM per-tensor, 128x128 block weight_scale_inv,
// compressed-tensors channel) is dequantized and re-quantized or cast; its scale tensors are consumed, not copied.
#include <gtest/gtest.h>

#include "convert/convert.h"
#include "io/checkpoint.h"
#include "numeric/convert_rows.h"
#include "convert_test_util.h"
#include "test_util.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using testing::ScratchDir;
using testing::ReadFile;
using testing::ToFloats;

// w = code * scale for the layouts the converter writes, computed here independently of the converter.
std::vector<float> DequantizeFp8(const Checkpoint& fp8, const std::string& module) {
  const TensorView& weight = fp8.Get(module + ".weight");
  const TensorView* scale = fp8.Find(module + ".weight_scale");
  if (scale == nullptr) scale = &fp8.Get(module + ".weight_scale_inv");
  std::vector<float> w = ToFloats(weight);
  const std::vector<float> s = ToFloats(*scale);
  const int64_t rows = weight.shape[0], cols = weight.shape[1];
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      float factor = s[0];
      if (s.size() == static_cast<size_t>(rows) && scale->shape.size() == 2 && scale->shape[1] == 1) factor = s[r];
      if (scale->name.ends_with("_inv")) factor = s[(r / 128) * ((cols + 127) / 128) + c / 128];
      w[r * cols + c] *= factor;
    }
  }
  return w;
}

TEST(ConvertFp8InputTest, EveryScaleLayoutDequantizesExactly) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  struct Case {
    std::string weight_scale;
    std::string activations;
  };
  for (const Case& c : {Case{"tensor", "static"}, Case{"block", "dynamic"}, Case{"channel", "none"}}) {
    SCOPED_TRACE(c.weight_scale);
    ScratchDir dir;
    ConvertOptions fp8 = testing::QuietConvert(model, dir / "fp8", "fp8");
    fp8.overrides.weight_scale = c.weight_scale;
    fp8.overrides.activations = c.activations;
    if (c.activations == "static") {
      fp8.calibrator = [](const Checkpoint&, const std::vector<std::string>& modules) {
        std::map<std::string, float> scales;
        for (const std::string& m : modules) scales[m] = 0.05f;
        return scales;
      };
    }
    Convert(fp8);
    Convert(testing::QuietConvert(dir / "fp8", dir / "f32", "q0f32"));
    const Checkpoint quantized = Checkpoint::Open(dir / "fp8");
    const Checkpoint dequantized = Checkpoint::Open(dir / "f32");
    EXPECT_FALSE(dequantized.config().contains("quantization_config"));
    int linears = 0;
    for (const TensorView& view : dequantized.tensors()) {
      EXPECT_EQ(view.dtype, DType::kF32) << view.name;
      EXPECT_EQ(view.name.find("scale"), std::string::npos) << "scale tensors are consumed: " << view.name;
      if (view.name.find("_proj.weight") == std::string::npos) continue;
      ++linears;
      const std::string module = view.name.substr(0, view.name.size() - 7);
      ASSERT_EQ(ToFloats(view), DequantizeFp8(quantized, module)) << module;
    }
    EXPECT_EQ(linears, 28);

    // And straight on to INT4: no scale tensor of the FP8 input survives.
    Convert(testing::QuietConvert(dir / "fp8", dir / "int4", "int4"));
    const Checkpoint int4 = Checkpoint::Open(dir / "int4");
    EXPECT_EQ(int4.Find("model.layers.0.self_attn.q_proj.input_scale"), nullptr);
    EXPECT_EQ(int4.Find("model.layers.0.self_attn.q_proj.weight_scale_inv"), nullptr);
    EXPECT_NE(int4.Find("model.layers.0.self_attn.q_proj.weight_packed"), nullptr);
  }
}

}  // namespace
}  // namespace octet
