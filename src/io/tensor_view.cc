#include "io/tensor_view.h"

#include <fmt/format.h>

namespace octet {

std::string ShapeToString(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

}  // namespace octet
