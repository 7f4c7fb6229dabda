// End to end on aidreams260K: every linear fake-quantized to INT4 (weights replaced by their dequantized values),
// the model evaluated against the original on held-out sequences. GPTQ (calibrated on the other sequences, each
// layer on the original model's activations) must bring the logits closer to the original than RTN does.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "io/safetensors_writer.h"
#include "quant/gptq.h"
#include "quant/int4_group.h"
#include "quant/real_layer.h"
#include "runtime/eval.h"
#include "test_util.h"

namespace octet {
namespace {

std::vector<std::string> AllLinears(int64_t layers) {
  std::vector<std::string> names;
  for (int64_t l = 0; l < layers; ++l) {
    for (const char* kind : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                             "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}) {
      names.push_back("model.layers." + std::to_string(l) + "." + kind);
    }
  }
  return names;
}

// Writes a copy of `original` (all F32) with the given weights replaced, into `dir`.
void WriteModified(const Checkpoint& original, const std::map<std::string, std::vector<float>>& replaced,
                   const std::filesystem::path& model_dir, const std::filesystem::path& dir) {
  std::filesystem::copy_file(model_dir / "config.json", dir / "config.json");
  std::vector<std::vector<float>> keep;
  keep.reserve(original.tensors().size());
  std::vector<TensorView> views;
  for (const TensorView& view : original.tensors()) {
    auto it = replaced.find(view.name);
    keep.push_back(it != replaced.end() ? it->second : DecodeTensorF32(view));
    TensorView out = view;
    out.dtype = DType::kF32;
    out.bytes = std::span<const std::byte>(reinterpret_cast<const std::byte*>(keep.back().data()),
                                           keep.back().size() * sizeof(float));
    views.push_back(out);
  }
  WriteSafetensors(dir, views);
}

TEST(Int4ModelTest, GptqModelIsCloserToTheOriginalThanRtn) {
  OCTET_REQUIRE_SHARED_MODEL(model_dir, "aidreams260K");
  const Checkpoint original = Checkpoint::Open(model_dir);
  const Transformer reference(original);
  const std::vector<testing::RealLayer> layers =
      testing::CaptureRealLayers(model_dir, AllLinears(reference.config().shape.num_layers));
  const std::vector<TokenSequence> sequences = ReadTokenFile(model_dir / "sample_tokens.txt");
  const std::vector<TokenSequence> held_out(sequences.end() - testing::kHeldOutSequences, sequences.end());
  ThreadPool pool(2);
  Int4Params params;
  params.group_size = 128;

  std::map<std::string, double> kld;
  for (const bool use_gptq : {false, true}) {
    std::map<std::string, std::vector<float>> replaced;
    for (const testing::RealLayer& layer : layers) {
      Int4Matrix q;
      if (use_gptq) {
        HessianAccumulator hessian(layer.cols);
        hessian.Add(layer.calib.data(), layer.calib_tokens, &pool);
        GptqOptions options;
        options.name = layer.module;
        q = QuantizeGptq(layer.weight.data(), layer.rows, layer.cols, hessian.Finish(), params, options, &pool);
      } else {
        q = QuantizeRtn(layer.weight.data(), layer.rows, layer.cols, params, &pool);
      }
      replaced[layer.module + ".weight"] = q.Dequantize();
    }
    const testing::ScratchDir dir;
    WriteModified(original, replaced, model_dir, dir.path());
    const Checkpoint quantized_checkpoint = Checkpoint::Open(dir.path());
    const Transformer quantized(quantized_checkpoint);
    const EvalMetrics metrics = Evaluate(quantized, &reference, held_out, pool);
    ASSERT_TRUE(metrics.reference.has_value());
    const char* name = use_gptq ? "GPTQ" : "RTN";
    std::printf(
        "[ real ] aidreams260K all linears INT4 %s, %s: held-out PPL %.4f (original %.4f, %+.2f%%), "
        "KLD mean %.5f, top-1 agreement %.4f\n",
        params.ToString().c_str(), name, metrics.ppl, metrics.reference->ref_ppl, metrics.reference->delta_ppl_pct,
        metrics.reference->kld_mean, metrics.reference->top1_agreement);
    kld[name] = metrics.reference->kld_mean;
  }
  EXPECT_LT(kld["GPTQ"], kld["RTN"]);
}

}  // namespace
}  // namespace octet
