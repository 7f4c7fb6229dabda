#include "quant/scheme.h"

#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "util/error.h"

namespace octet {
namespace {

SchemeOverrides Fp8Overrides(std::string weight_scale, std::string activations) {
  SchemeOverrides overrides;
  overrides.weight_scale = std::move(weight_scale);
  overrides.activations = std::move(activations);
  return overrides;
}

TEST(SchemeTest, MlcNamesArePresetsOfTheFp8Family) {
  const QuantScheme e4m3 = ResolveScheme("e4m3_e4m3_f16");
  EXPECT_TRUE(e4m3.quantize_linears);
  EXPECT_EQ(e4m3.weight_format, Fp8Format::kE4M3);
  EXPECT_EQ(e4m3.weight_scale, WeightScale::kTensor);
  EXPECT_EQ(e4m3.activations, ActivationScheme::kStatic);
  EXPECT_EQ(e4m3.kept_dtype, DType::kF16);

  const QuantScheme e5m2 = ResolveScheme("e5m2_e5m2_f16");
  EXPECT_EQ(e5m2.weight_format, Fp8Format::kE5M2);
  EXPECT_EQ(e5m2.weight_scale, WeightScale::kNone);
  EXPECT_EQ(e5m2.activations, ActivationScheme::kNone);

  const QuantScheme q0 = ResolveScheme("q0bf16");
  EXPECT_FALSE(q0.quantize_linears);
  EXPECT_EQ(q0.kept_dtype, DType::kBF16);
  EXPECT_EQ(ResolveScheme("q0f32").kept_dtype, DType::kF32);
  EXPECT_EQ(ResolveScheme("q0f16").kept_dtype, DType::kF16);
}

TEST(SchemeTest, Fp8DefaultsAndOverrides) {
  const QuantScheme fp8 = ResolveScheme("fp8");
  EXPECT_EQ(fp8.weight_format, Fp8Format::kE4M3);
  EXPECT_EQ(fp8.weight_scale, WeightScale::kTensor);
  EXPECT_EQ(fp8.activations, ActivationScheme::kDynamic);
  EXPECT_FALSE(fp8.kept_dtype.has_value());

  const QuantScheme channel = ResolveScheme("fp8", Fp8Overrides("channel", "none"));
  EXPECT_EQ(channel.weight_scale, WeightScale::kChannel);
  EXPECT_EQ(channel.activations, ActivationScheme::kNone);

  const QuantScheme block = ResolveScheme("fp8", Fp8Overrides("block", ""));
  EXPECT_EQ(block.weight_scale, WeightScale::kBlock);
  EXPECT_EQ(block.block_size, 128);

  const QuantScheme e5m2 = ResolveScheme("fp8-e5m2");
  EXPECT_EQ(e5m2.weight_format, Fp8Format::kE5M2);
  EXPECT_EQ(e5m2.weight_scale, WeightScale::kTensor);
  EXPECT_EQ(e5m2.activations, ActivationScheme::kNone);
}

TEST(SchemeTest, RefusesUnknownOrImpossibleCombinations) {
  const auto expect_error = [](std::string_view name, SchemeOverrides overrides, const std::string& needle) {
    try {
      ResolveScheme(name, overrides);
      ADD_FAILURE() << "expected an error for " << name;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error("q4f16_9", {}, "unknown quantization scheme 'q4f16_9'");
  expect_error("q4f16_9", {}, "e4m3_e4m3_f16");  // lists the known ones
  expect_error("fp8", Fp8Overrides("row", ""), "unknown --weight-scale 'row'");
  expect_error("fp8", Fp8Overrides("", "sometimes"), "unknown --activations 'sometimes'");
  expect_error("fp8", Fp8Overrides("block", "static"), "block weight scales go with dynamic activations");
  expect_error("q0f16", Fp8Overrides("channel", ""), "does not quantize");
  expect_error("e5m2_e5m2_f16", Fp8Overrides("tensor", ""), "without a scale");
  expect_error("fp8-e5m2", Fp8Overrides("", "dynamic"), "weight-only");
  SchemeOverrides group64;
  group64.group_size = 64;
  expect_error("fp8", group64, "apply to INT4 schemes");
  expect_error("q4f16_1", group64, "fixes groups of 32");
  SchemeOverrides group48;
  group48.group_size = 48;
  expect_error("int4", group48, "--group-size 48 is not supported");
  SchemeOverrides zero_point;
  zero_point.zero_point = true;
  expect_error("q4f16_1", zero_point, "symmetric");
  expect_error("int4", Fp8Overrides("channel", ""), "INT4 scales are per group");
  expect_error("int4", Fp8Overrides("", "dynamic"), "weight-only");
  SchemeOverrides method;
  method.method = "gptq";
  expect_error("fp8", method, "applies to INT4 schemes");
  method.method = "hqq";
  expect_error("int4", method, "unknown --method 'hqq'");
}

TEST(SchemeTest, Int4PresetsAndOptions) {
  const QuantScheme q4 = ResolveScheme("q4f16_1");
  EXPECT_TRUE(q4.quantize_linears);
  EXPECT_EQ(q4.weight_type, WeightType::kInt4);
  EXPECT_EQ(q4.group_size, 32);
  EXPECT_TRUE(q4.symmetric);
  EXPECT_EQ(q4.activations, ActivationScheme::kNone);
  EXPECT_EQ(q4.kept_dtype, DType::kF16);
  EXPECT_EQ(q4.method, QuantMethod::kRtn);
  EXPECT_FALSE(q4.needs_calibration());
  EXPECT_EQ(ResolveScheme("q4bf16_1").kept_dtype, DType::kBF16);
  EXPECT_EQ(ResolveScheme("q4f32_1").kept_dtype, DType::kF32);

  SchemeOverrides overrides;
  overrides.group_size = 128;
  overrides.zero_point = true;
  overrides.method = "gptq";
  const QuantScheme int4 = ResolveScheme("int4", overrides);
  EXPECT_EQ(int4.group_size, 128);
  EXPECT_FALSE(int4.symmetric);
  EXPECT_EQ(int4.method, QuantMethod::kGptq);
  EXPECT_FALSE(int4.kept_dtype.has_value());
  EXPECT_TRUE(int4.needs_calibration());
  EXPECT_EQ(ResolveScheme("fp8").weight_type, WeightType::kFp8);
}

}  // namespace
}  // namespace octet
