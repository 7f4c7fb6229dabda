// GGUF Q4_0 with calibrated rounding (`--method gptq|awq`, convert/gguf_export.h), on the real aidreams260K model:
// the layer-wise plumbing (call order, Hugging Face row order in, ggml grid, the Q/K permutation and block packing
// afterwards) reproduces the streaming export byte for byte when the quantizer rounds to nearest; GPTQ's file is
// byte-identical at 1 and 3 threads (through the CLI and through Convert()) and from an F32 GGUF input; GPTQ and AWQ
// files, imported back and evaluated against the F32 original, lose less than llama.cpp's own Q4_0 rounding; AWQ's
// folded norms and its rescaled F16 ffn_down are written; impossible option combinations are refused with one line.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "calib/layerwise_int4.h"
#include "convert/convert.h"
#include "convert/gguf_export.h"
#include "io/checkpoint.h"
#include "io/gguf_reader.h"
#include "runtime/eval.h"
#include "runtime/mixtral_builder.h"
#include "runtime/token_file.h"
#include "runtime/transformer.h"
#include "convert_test_util.h"
#include "test_util.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using testing::QuietConvert;
using testing::ReadFile;
using testing::ScratchDir;
using testing::ToFloats;

// A GGUF tensor dequantized to F32, in its stored row order.
std::vector<float> GgufFloats(const GgufFile& file, const std::string& name) {
  const GgufTensorInfo* t = file.FindTensor(name);
  if (t == nullptr) {
    ADD_FAILURE() << name << " missing";
    return {};
  }
  const int64_t cols = t->ne[0];
  const uint64_t row_bytes = GgmlRowBytes(t->type, cols);
  std::vector<float> values(t->num_elements());
  for (uint64_t r = 0; r < t->num_rows(); ++r) {
    DequantizeGgmlRow(t->type, t->bytes.subspan(r * row_bytes, row_bytes),
                      std::span<float>(values).subspan(r * cols, cols));
  }
  return values;
}

LayerwiseQuantizerFactory FactoryFor(const fs::path& tokens) {
  return [tokens](const Checkpoint& original, const QuantScheme& scheme, ThreadPool& pool) {
    return NewLayerwiseInt4Quantizer(original, scheme, ReadTokenFile(tokens, 512), pool);
  };
}

// A layer-wise quantizer that rounds to nearest with the parameters it is given and logs every call, checking
// that each weight arrives as the checkpoint stores it (Hugging Face rows, not llama.cpp's permuted ones).
class RecordingRtnQuantizer : public LayerwiseQuantizer {
 public:
  RecordingRtnQuantizer(const Checkpoint& original, std::vector<std::string>& log) : original_(original), log_(log) {}
  void BeginLayer(int64_t layer) override { log_.push_back(fmt::format("begin {}", layer)); }
  Int4Matrix Quantize(const std::string& module, std::vector<float> weight, int64_t rows, int64_t cols,
                      const Int4Params& params) override {
    log_.push_back(module);
    EXPECT_TRUE(weight == ToFloats(original_.Get(module + ".weight"))) << module << " not in Hugging Face row order";
    EXPECT_EQ(params.grid, Int4Grid::kGgmlQ4_0);
    EXPECT_EQ(params.scale_dtype, Int4ScaleDtype::kF16);
    EXPECT_EQ(params.group_size, 32);
    EXPECT_TRUE(params.symmetric);
    return QuantizeRtn(weight.data(), rows, cols, params);
  }
  std::vector<float> Replacement(const std::string& name) override {
    log_.push_back("replacement? " + name);
    return {};
  }
  void EndLayer(int64_t layer) override { log_.push_back(fmt::format("end {}", layer)); }
  std::string Description() const override { return "recording rtn"; }

 private:
  const Checkpoint& original_;
  std::vector<std::string>& log_;
};

// Round to nearest on ggml's grid IS quantize_row_q4_0_ref (quant/int4_group.h), so the layer-wise path with an
// RTN quantizer must write the very bytes of the streaming export, whose blocks gguf_export_test checks against a
// scalar restatement of ggml's reference on independently permuted rows. Any slip in the permutation, the nibble
// packing or the offsets of the layer-wise path would change them.
TEST(GgufCalibrated, LayerwisePathWithRoundToNearestEqualsPlainQ4_0Export) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  ScratchDir dir;
  Convert(QuietConvert(model, dir / "plain.gguf", "Q4_0"));
  std::vector<std::string> log;
  QuantScheme seen;
  ConvertOptions options = QuietConvert(model, dir / "layerwise.gguf", "Q4_0");
  options.overrides.method = "gptq";
  options.layerwise_quantizer = [&](const Checkpoint& original, const QuantScheme& scheme, ThreadPool&) {
    seen = scheme;
    return std::unique_ptr<LayerwiseQuantizer>(new RecordingRtnQuantizer(original, log));
  };
  Convert(options);
  EXPECT_TRUE(ReadFile(dir / "plain.gguf") == ReadFile(dir / "layerwise.gguf"));
  EXPECT_EQ(seen.weight_type, WeightType::kInt4);
  EXPECT_EQ(seen.method, QuantMethod::kGptq);
  EXPECT_EQ(seen.int4_grid, Int4Grid::kGgmlQ4_0);
  EXPECT_EQ(seen.group_size, 32);
  // Layer by layer; the 172-wide down_proj is F16 (asked for a replacement, not quantized); norms asked too.
  std::vector<std::string> expected;
  for (int l = 0; l < 4; ++l) {
    const std::string p = fmt::format("model.layers.{}.", l);
    expected.push_back(fmt::format("begin {}", l));
    expected.push_back("replacement? " + p + "input_layernorm.weight");
    for (const char* m : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj"}) {
      expected.push_back(p + m);
    }
    expected.push_back("replacement? " + p + "post_attention_layernorm.weight");
    expected.push_back(p + "mlp.gate_proj");
    expected.push_back(p + "mlp.up_proj");
    expected.push_back("replacement? " + p + "mlp.down_proj.weight");
    expected.push_back(fmt::format("end {}", l));
  }
  EXPECT_EQ(log, expected);
  const nlohmann::json report = nlohmann::json::parse(ReadFile(GgufReportPath(dir / "layerwise.gguf")));
  EXPECT_EQ(report["method"], "gptq");
  EXPECT_EQ(report["calibration"], "recording rtn");
}

// Mixtral: each expert of a merged ffn_*_exps tensor is quantized on its own (under its Hugging Face module name)
// and lands at its expert's offset: with round to nearest, the plain export's bytes again. GPTQ and AWQ run through
// the routed experts and give the same file at 1 and 3 threads; AWQ's w2 scales reach the F16 ffn_down_exps.
TEST(GgufCalibrated, MixtralExpertsAreQuantizedOneByOne) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  ScratchDir dir;
  std::vector<float> router(3 * 64);
  for (size_t i = 0; i < router.size(); ++i) router[i] = std::sin(0.37f * static_cast<float>(i));
  fs::create_directories(dir / "mixtral");
  testing::WriteMixtral(Checkpoint::Open(model), dir / "mixtral", 3, 2, router);
  Convert(QuietConvert(dir / "mixtral", dir / "plain.gguf", "Q4_0"));
  std::vector<std::string> log;
  ConvertOptions options = QuietConvert(dir / "mixtral", dir / "layerwise.gguf", "Q4_0");
  options.overrides.method = "awq";
  options.layerwise_quantizer = [&](const Checkpoint& original, const QuantScheme&, ThreadPool&) {
    return std::unique_ptr<LayerwiseQuantizer>(new RecordingRtnQuantizer(original, log));
  };
  Convert(options);
  EXPECT_TRUE(ReadFile(dir / "plain.gguf") == ReadFile(dir / "layerwise.gguf"));
  for (const char* module : {"model.layers.3.block_sparse_moe.experts.2.w1",
                             "model.layers.3.block_sparse_moe.experts.2.w3",
                             "replacement? model.layers.3.block_sparse_moe.experts.2.w2.weight",
                             "replacement? model.layers.3.block_sparse_moe.gate.weight"}) {
    EXPECT_NE(std::find(log.begin(), log.end(), module), log.end()) << module;
  }
  const fs::path calib = model / "sample_text_ids.txt";
  for (const std::string method : {"gptq", "awq"}) {
    for (size_t threads : {1, 3}) {
      const fs::path out = dir / fmt::format("{}{}.gguf", method, threads);
      ConvertOptions real = QuietConvert(dir / "mixtral", out, "Q4_0", threads);
      real.overrides.method = method;
      real.layerwise_quantizer = FactoryFor(calib);
      Convert(real);
    }
    EXPECT_TRUE(ReadFile(dir / (method + "1.gguf")) == ReadFile(dir / (method + "3.gguf"))) << method;
  }
  EXPECT_NE(GgufFloats(GgufFile::Open(dir / "awq1.gguf"), "blk.1.ffn_down_exps.weight"),
            GgufFloats(GgufFile::Open(dir / "plain.gguf"), "blk.1.ffn_down_exps.weight"));
  EXPECT_EQ(GgufFloats(GgufFile::Open(dir / "gptq1.gguf"), "blk.1.ffn_down_exps.weight"),
            GgufFloats(GgufFile::Open(dir / "plain.gguf"), "blk.1.ffn_down_exps.weight"));
}

// The task's acceptance test: GPTQ (and AWQ) Q4_0 files, imported back and run, are closer to the F32 original
// than llama.cpp's own Q4_0 rounding. In all three files the 172-wide ffn_down is F16 and token_embd Q8_0, so the
// difference comes from the Q4_0 tensors alone.
TEST(GgufCalibrated, GptqAndAwqQ4_0BeatPlainQ4_0AndAreDeterministic) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  const fs::path calib = model / "sample_text_ids.txt";
  ScratchDir dir;
  Convert(QuietConvert(model, dir / "plain.gguf", "Q4_0"));
  // GPTQ at 1 thread through the CLI (its --calib-data wiring) and at 3 threads through Convert().
  const auto cli = testing::RunCli(fmt::format("convert {} -q Q4_0 --method gptq --calib-data {} --threads 1 -o {}",
                                               model.string(), calib.string(), (dir / "gptq1.gguf").string()));
  ASSERT_EQ(cli.exit_code, 0) << cli.output;
  EXPECT_NE(cli.output.find("Q4_0 codes by gptq over"), std::string::npos) << cli.output;
  ConvertOptions gptq3 = QuietConvert(model, dir / "gptq3.gguf", "Q4_0", 3);
  gptq3.overrides.method = "gptq";
  gptq3.layerwise_quantizer = FactoryFor(calib);
  Convert(gptq3);
  EXPECT_TRUE(ReadFile(dir / "gptq1.gguf") == ReadFile(dir / "gptq3.gguf")) << "GPTQ Q4_0 depends on --threads";
  EXPECT_FALSE(ReadFile(dir / "gptq1.gguf") == ReadFile(dir / "plain.gguf"));
  // GGUF in (F32), careful Q4_0 out: the imported checkpoint calibrates to the same file.
  Convert(QuietConvert(model, dir / "f32.gguf", "F32"));
  ConvertOptions via = QuietConvert(dir / "f32.gguf", dir / "via.gguf", "Q4_0");
  via.overrides.method = "gptq";
  via.layerwise_quantizer = FactoryFor(calib);
  Convert(via);
  EXPECT_TRUE(ReadFile(dir / "via.gguf") == ReadFile(dir / "gptq1.gguf"));
  ConvertOptions awq = QuietConvert(model, dir / "awq.gguf", "Q4_0", 2);
  awq.overrides.method = "awq";
  awq.layerwise_quantizer = FactoryFor(calib);
  Convert(awq);

  // AWQ writes its folded norm (F32 in GGUF) and multiplies the F16 ffn_down's columns by the s it divided
  // ffn_up's rows by; GPTQ changes neither.
  const Checkpoint original = Checkpoint::Open(model);
  const GgufFile awq_file = GgufFile::Open(dir / "awq.gguf");
  const GgufFile gptq_file = GgufFile::Open(dir / "gptq1.gguf");
  const std::vector<float> norm = ToFloats(original.Get("model.layers.0.input_layernorm.weight"));
  EXPECT_NE(GgufFloats(awq_file, "blk.0.attn_norm.weight"), norm);
  EXPECT_EQ(GgufFloats(gptq_file, "blk.0.attn_norm.weight"), norm);
  // ffn_down is [64 rows, 172 inputs]: AWQ's version is the original with each input column c multiplied by one
  // s[c] (up to F16 rounding), the scale ffn_up's row c was divided by.
  const std::vector<float> down_awq = GgufFloats(awq_file, "blk.0.ffn_down.weight");
  const std::vector<float> down = ToFloats(original.Get("model.layers.0.mlp.down_proj.weight"));
  ASSERT_EQ(down_awq.size(), 64u * 172u);
  int scaled_columns = 0;
  for (size_t c = 0; c < 172; ++c) {
    size_t largest = c;  // s from the column's largest weight
    for (size_t r = 0; r < 64; ++r) {
      if (std::fabs(down[r * 172 + c]) > std::fabs(down[largest])) largest = r * 172 + c;
    }
    const double s = static_cast<double>(down_awq[largest]) / down[largest];
    scaled_columns += std::fabs(s - 1.0) > 0.01;
    for (size_t r = 0; r < 64; ++r) {
      const size_t i = r * 172 + c;
      ASSERT_NEAR(down_awq[i], down[i] * s, 2e-3 * std::fabs(down[i] * s) + 1e-7) << "row " << r << " column " << c;
    }
  }
  EXPECT_GT(scaled_columns, 0) << "AWQ chose no scale for down_proj";

  const Transformer reference(original);
  const std::vector<TokenSequence> sequences = ReadTokenFile(model / "sample_tokens.txt", 512);
  ThreadPool pool(2);
  const auto kld = [&](const std::string& name) {
    // Q4_0, Q8_0 and F16 blocks dequantize exactly to F32, so the imported q0f32 checkpoint runs the GGUF's weights.
    Convert(QuietConvert(dir / (name + ".gguf"), dir / name, "q0f32"));
    const Checkpoint checkpoint = Checkpoint::Open(dir / name);
    const Transformer model_q(checkpoint);
    const EvalMetrics metrics = Evaluate(model_q, &reference, sequences, pool);
    std::printf("GGUF Q4_0 %s: ppl %.4f (%+.3f%%), kld %.5f, top1 %.4f\n", name.c_str(), metrics.ppl,
                metrics.reference->delta_ppl_pct, metrics.reference->kld_mean, metrics.reference->top1_agreement);
    return metrics.reference->kld_mean;
  };
  const double plain = kld("plain");
  EXPECT_LT(kld("gptq1"), plain);
  EXPECT_LT(kld("awq"), plain);
}

void ExpectError(const std::function<void()>& body, const std::string& fragment) {
  try {
    body();
    ADD_FAILURE() << "no error; expected one containing: " << fragment;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(GgufCalibrated, ImpossibleCombinationsAreRefusedBeforeAnyWork) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  const fs::path calib = model / "sample_text_ids.txt";
  ScratchDir dir;
  const auto with = [&](const std::string& scheme, const std::function<void(ConvertOptions&)>& edit) {
    ConvertOptions options = QuietConvert(model, dir / "x.gguf", scheme);
    edit(options);
    return [options] { Convert(options); };
  };
  ExpectError(with("Q8_0", [&](ConvertOptions& o) {
                o.overrides.method = "gptq";
                o.layerwise_quantizer = FactoryFor(calib);
              }),
              "--method gptq chooses 4-bit codes from calibration data and applies to GGUF Q4_0 only; Q8_0");
  ExpectError(with("F16", [&](ConvertOptions& o) { o.overrides.method = "awq"; }), "applies to GGUF Q4_0 only; F16");
  ExpectError(with("Q4_0", [&](ConvertOptions& o) { o.overrides.method = "gptq"; }), "pass --calib-data");
  ExpectError(with("Q4_0", [&](ConvertOptions& o) { o.overrides.method = "optq"; }), "unknown --method 'optq'");
  ExpectError(with("Q4_0", [&](ConvertOptions& o) { o.layerwise_quantizer = FactoryFor(calib); }),
              "only with --method gptq or awq");
  ExpectError(with("Q4_0", [&](ConvertOptions& o) { o.overrides.zero_point = true; }), "Q4_1");
  ExpectError(with("Q4_0", [&](ConvertOptions& o) { o.overrides.group_size = 128; }), "--group-size 128");
  ExpectError(with("Q4_0", [&](ConvertOptions& o) { o.keep_rules = {"lm_head=bf16"}; }), "--keep and --auto-mix");
  EXPECT_FALSE(fs::exists(dir / "x.gguf"));
  EXPECT_FALSE(fs::exists(dir / "x.gguf.partial"));
  // The CLI: --calib-data with the default --method rtn is one line and a non-zero exit.
  const auto result = testing::RunCli(fmt::format("convert {} -q Q4_0 --calib-data {} -o {}", model.string(),
                                                  calib.string(), (dir / "c.gguf").string()));
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.output.find("only with --method gptq or awq"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace octet
