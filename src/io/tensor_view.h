// A tensor as it lies in a file: name, element type, shape (row-major, PyTorch order) and its raw little-endian
// bytes, borrowed from a memory map. Views are cheap to copy; the bytes stay valid while the file that handed
// them out is open.
#ifndef OCTET_IO_TENSOR_VIEW_H_
#define OCTET_IO_TENSOR_VIEW_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "numeric/dtype.h"

namespace octet {

using Shape = std::vector<int64_t>;

// Product of the dimensions (1 for a 0-d scalar).
inline uint64_t NumElements(const Shape& shape) {
  uint64_t n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  return n;
}

// "[4096, 14336]"
std::string ShapeToString(const Shape& shape);

struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;
  std::span<const std::byte> bytes;
  std::string file;  // Path of the file the bytes live in, for error messages.

  uint64_t num_elements() const { return NumElements(shape); }
  // Rows and columns of a 2-D tensor viewed as a matrix; a 1-D tensor is one row.
  int64_t rows() const { return shape.size() >= 2 ? shape[0] : 1; }
  int64_t cols() const { return shape.empty() ? 1 : shape.back(); }
};

}  // namespace octet

#endif  // OCTET_IO_TENSOR_VIEW_H_
