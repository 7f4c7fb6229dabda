#include "quant/int4_pack.h"

#include <cstring>

#include "util/error.h"

namespace octet {
namespace {

uint32_t NibbleOf(int8_t value) {
  // pack_to_int32: value + offset (1 << (bits - 1)) as unsigned; values are in [-8, 7] so this is 0..15.
  return static_cast<uint32_t>(value + kInt4NibbleOffset) & 0xFu;
}

int8_t ValueOf(uint32_t word, int j) {
  return static_cast<int8_t>(static_cast<int>((word >> (4 * j)) & 0xFu) - kInt4NibbleOffset);
}

int32_t AsInt32(uint32_t word) {
  int32_t out;
  std::memcpy(&out, &word, sizeof(out));
  return out;
}

uint32_t AsUint32(int32_t word) {
  uint32_t out;
  std::memcpy(&out, &word, sizeof(out));
  return out;
}

void CheckValues(const int8_t* values, size_t n, const char* what) {
  for (size_t i = 0; i < n; ++i) {
    if (values[i] < kInt4Min || values[i] > kInt4Max) {
      Fail("{}: value {} at index {} is outside the INT4 range [-8, 7]", what, values[i], i);
    }
  }
}

}  // namespace

std::vector<int32_t> PackInt4AlongCols(const int8_t* values, int64_t rows, int64_t cols) {
  CheckValues(values, static_cast<size_t>(rows * cols), "INT4 packing");
  const int64_t words = Int4PackedWords(cols);
  std::vector<int32_t> packed(static_cast<size_t>(rows * words), 0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < words; ++k) {
      uint32_t word = 0;  // padding nibbles stay 0
      for (int j = 0; j < kInt4PerWord; ++j) {
        const int64_t c = k * kInt4PerWord + j;
        if (c < cols) word |= NibbleOf(values[r * cols + c]) << (4 * j);
      }
      packed[static_cast<size_t>(r * words + k)] = AsInt32(word);
    }
  }
  return packed;
}

std::vector<int8_t> UnpackInt4AlongCols(const int32_t* packed, int64_t rows, int64_t cols) {
  const int64_t words = Int4PackedWords(cols);
  std::vector<int8_t> values(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const uint32_t word = AsUint32(packed[r * words + c / kInt4PerWord]);
      values[static_cast<size_t>(r * cols + c)] = ValueOf(word, static_cast<int>(c % kInt4PerWord));
    }
  }
  return values;
}

std::vector<int32_t> PackInt4AlongRows(const int8_t* values, int64_t rows, int64_t cols) {
  CheckValues(values, static_cast<size_t>(rows * cols), "INT4 zero-point packing");
  const int64_t words = Int4PackedWords(rows);
  std::vector<int32_t> packed(static_cast<size_t>(words * cols), 0);
  for (int64_t k = 0; k < words; ++k) {
    for (int64_t c = 0; c < cols; ++c) {
      uint32_t word = 0;
      for (int j = 0; j < kInt4PerWord; ++j) {
        const int64_t r = k * kInt4PerWord + j;
        if (r < rows) word |= NibbleOf(values[r * cols + c]) << (4 * j);
      }
      packed[static_cast<size_t>(k * cols + c)] = AsInt32(word);
    }
  }
  return packed;
}

std::vector<int8_t> UnpackInt4AlongRows(const int32_t* packed, int64_t rows, int64_t cols) {
  std::vector<int8_t> values(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const uint32_t word = AsUint32(packed[(r / kInt4PerWord) * cols + c]);
      values[static_cast<size_t>(r * cols + c)] = ValueOf(word, static_cast<int>(r % kInt4PerWord));
    }
  }
  return values;
}

PackedInt4Weight PackCompressedTensors(const Int4Matrix& m) {
  if (m.grid != Int4Grid::kCompressedTensors) {
    Fail("pack-quantized holds compressed-tensors INT4 only; this weight is on the ggml Q4_0 grid");
  }
  const int64_t groups = m.num_groups();
  if (m.codes.size() != static_cast<size_t>(m.rows * m.cols) ||
      m.scales.size() != static_cast<size_t>(m.rows * groups) ||
      (!m.symmetric && m.zeros.size() != static_cast<size_t>(m.rows * groups))) {
    Fail("INT4 matrix [{}, {}] group {} has inconsistent sizes (codes {}, scales {}, zeros {})", m.rows, m.cols,
         m.group_size, m.codes.size(), m.scales.size(), m.zeros.size());
  }
  PackedInt4Weight out;
  out.rows = m.rows;
  out.cols = m.cols;
  out.group_size = m.group_size;
  out.weight_packed = PackInt4AlongCols(m.codes.data(), m.rows, m.cols);
  out.weight_scale = m.scales;
  if (!m.symmetric) out.weight_zero_point = PackInt4AlongRows(m.zeros.data(), m.rows, groups);
  return out;
}

Int4Matrix UnpackCompressedTensors(const PackedInt4Weight& packed) {
  if (packed.rows < 0 || packed.cols < 0 || packed.group_size <= 0) {
    Fail("pack-quantized weight: invalid shape [{}, {}] or group size {}", packed.rows, packed.cols, packed.group_size);
  }
  const int64_t groups = Int4NumGroups(packed.cols, packed.group_size);
  const size_t want_packed = static_cast<size_t>(packed.rows * Int4PackedWords(packed.cols));
  if (packed.weight_packed.size() != want_packed) {
    Fail("pack-quantized weight [{}, {}]: weight_packed has {} words, expected {} ([{}, {}])", packed.rows, packed.cols,
         packed.weight_packed.size(), want_packed, packed.rows, Int4PackedWords(packed.cols));
  }
  if (packed.weight_scale.size() != static_cast<size_t>(packed.rows * groups)) {
    Fail("pack-quantized weight [{}, {}] group {}: weight_scale has {} values, expected {} ([{}, {}])", packed.rows,
         packed.cols, packed.group_size, packed.weight_scale.size(), packed.rows * groups, packed.rows, groups);
  }
  const bool symmetric = packed.weight_zero_point.empty();
  const size_t want_zero = static_cast<size_t>(Int4PackedWords(packed.rows) * groups);
  if (!symmetric && packed.weight_zero_point.size() != want_zero) {
    Fail("pack-quantized weight [{}, {}] group {}: weight_zero_point has {} words, expected {} ([{}, {}])", packed.rows,
         packed.cols, packed.group_size, packed.weight_zero_point.size(), want_zero, Int4PackedWords(packed.rows),
         groups);
  }
  Int4Matrix m;
  m.rows = packed.rows;
  m.cols = packed.cols;
  m.group_size = packed.group_size;
  m.symmetric = symmetric;
  m.grid = Int4Grid::kCompressedTensors;
  m.codes = UnpackInt4AlongCols(packed.weight_packed.data(), packed.rows, packed.cols);
  m.scales = packed.weight_scale;
  if (!symmetric) m.zeros = UnpackInt4AlongRows(packed.weight_zero_point.data(), packed.rows, groups);
  return m;
}

}  // namespace octet
