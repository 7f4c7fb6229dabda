// Fuzzes SafetensorsFile::Open on whole files (8-byte length, JSON header, data). Any input must either be
// refused with octet::Error or yield views that honour the reader's documented layout guarantees; a crash, a
// sanitizer report, another exception type or a broken guarantee is a finding.
#include <cstddef>
#include <cstdint>
#include <exception>

#include "fuzz_util.h"
#include "io/safetensors_reader.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static octet::fuzz::MemFile file;
  file.Set(data, size);
  try {
    const octet::SafetensorsFile st = octet::SafetensorsFile::Open(file.path());
    OCTET_FUZZ_CHECK(st.file_size() == size);
    // The data buffer is what follows the 8-byte length and the header; tensors tile it exactly, in order.
    uint64_t header_size = 0;
    for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | data[i];
    uint64_t expected_offset = 8 + header_size;
    for (const octet::TensorView& view : st.tensors()) {
      OCTET_FUZZ_CHECK(st.Find(view.name) == &view);
      OCTET_FUZZ_CHECK(view.num_elements() * octet::DTypeBits(view.dtype) / 8 == view.bytes.size() ||
                       view.bytes.empty());
      if (!view.bytes.empty()) {
        const auto* begin = reinterpret_cast<const uint8_t*>(view.bytes.data());
        // Views point into the map, not the fuzzer's buffer; compare contents at the matching offset.
        OCTET_FUZZ_CHECK(view.bytes.size() <= size - expected_offset);
        OCTET_FUZZ_CHECK(begin[0] == data[expected_offset]);
        OCTET_FUZZ_CHECK(begin[view.bytes.size() - 1] == data[expected_offset + view.bytes.size() - 1]);
      }
      expected_offset += view.bytes.size();
    }
    OCTET_FUZZ_CHECK(expected_offset == size);
  } catch (const octet::Error&) {
    // Refused with a message: the expected outcome for almost every input.
  }
  return 0;
}
