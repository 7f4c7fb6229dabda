#include "quant/scheme.h"

#include <gtest/gtest.h>

#include "util/error.h"

namespace octet {
namespace {

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

  const QuantScheme channel = ResolveScheme("fp8", {"channel", "none"});
  EXPECT_EQ(channel.weight_scale, WeightScale::kChannel);
  EXPECT_EQ(channel.activations, ActivationScheme::kNone);

  const QuantScheme block = ResolveScheme("fp8", {"block", ""});
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
  expect_error("fp8", {"row", ""}, "unknown --weight-scale 'row'");
  expect_error("fp8", {"", "sometimes"}, "unknown --activations 'sometimes'");
  expect_error("fp8", {"block", "static"}, "block weight scales go with dynamic activations");
  expect_error("q0f16", {"channel", ""}, "does not quantize");
  expect_error("e5m2_e5m2_f16", {"tensor", ""}, "without a scale");
  expect_error("fp8-e5m2", {"", "dynamic"}, "weight-only");
}

}  // namespace
}  // namespace octet
