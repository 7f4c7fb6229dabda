// Scale tensors of quantized checkpoints, read without touching the weights: how a scale tensor's shape relates
// to its weight's [out, in] shape (per tensor, per channel, per group, per block; FORMATS.md a.2 and b.2) and the
// range of its values.
#ifndef OCTET_INSPECT_SCALE_STATS_H_
#define OCTET_INSPECT_SCALE_STATS_H_

#include "inspect/model_report.h"
#include "io/tensor_view.h"

namespace octet {

// Describes `scale` (role e.g. "weight_scale") for a weight whose logical shape is `weight_shape`; decodes the
// scale's values (F32, F16, BF16, FP8 or F8_E8M0, F64) for min/max/mean.
ScaleReport DescribeScale(const std::string& role, const TensorView& scale, const Shape& weight_shape);

}  // namespace octet

#endif  // OCTET_INSPECT_SCALE_STATS_H_
