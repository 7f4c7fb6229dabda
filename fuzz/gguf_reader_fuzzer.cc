// Fuzzes GgufFile::Open on whole files (header, metadata, tensor infos, data). Any input must either be refused
// with octet::Error or yield tensors that honour the reader's documented guarantees (aligned, inside the file,
// disjoint, sized by their type and shape); a crash, a sanitizer report, another exception type (std::bad_alloc
// from a count the reader trusted, say) or a broken guarantee is a finding. Accepted files are then walked the
// way a consumer would: every typed getter on every key, the first row of every decodable tensor, and the
// tokenizer.ggml.* vocabulary through GgufTokenizer (encode and decode a short text).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_util.h"
#include "io/gguf_reader.h"
#include "numeric/ggml_blocks.h"
#include "tokenizer/gguf_tokenizer.h"
#include "util/error.h"

namespace {

template <typename Body>
void Tolerate(Body&& body) {
  try {
    body();
  } catch (const octet::Error&) {
    // A wrong-type getter or an undecodable type: refused with a message, as documented.
  }
}

void WalkMetadata(const octet::GgufFile& file) {
  for (const octet::GgufKeyValue& kv : file.metadata()) {
    OCTET_FUZZ_CHECK(file.Find(kv.key) == &kv.value);
    Tolerate([&] { file.GetUint(kv.key); });
    Tolerate([&] { file.GetInt(kv.key); });
    Tolerate([&] { file.GetFloat(kv.key); });
    Tolerate([&] { file.GetBool(kv.key); });
    Tolerate([&] { file.GetString(kv.key); });
    Tolerate([&] { file.GetStringArray(kv.key); });
    Tolerate([&] { file.GetFloatArray(kv.key); });
    Tolerate([&] { file.GetIntArray(kv.key); });
  }
}

void CheckTensors(const octet::GgufFile& file, const uint8_t* data, size_t size) {
  OCTET_FUZZ_CHECK(file.file_size() == size);
  OCTET_FUZZ_CHECK(file.data_offset() % file.alignment() == 0);
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const octet::GgufTensorInfo& t : file.tensors()) {
    OCTET_FUZZ_CHECK(file.FindTensor(t.name) == &t);
    OCTET_FUZZ_CHECK(!t.ne.empty() && t.ne.size() <= 4);
    OCTET_FUZZ_CHECK(t.offset % file.alignment() == 0);
    const octet::GgmlTypeTraits traits = octet::GgmlTraits(t.type);
    OCTET_FUZZ_CHECK(t.ne[0] % traits.block_elements == 0);
    OCTET_FUZZ_CHECK(t.bytes.size() == octet::GgmlRowBytes(t.type, t.ne[0]) * t.num_rows());
    const uint64_t begin = file.data_offset() + t.offset;
    OCTET_FUZZ_CHECK(begin <= size && t.bytes.size() <= size - begin);
    if (!t.bytes.empty()) {
      // Views point into the map, not the fuzzer's buffer; compare contents at the matching offset.
      const auto* bytes = reinterpret_cast<const uint8_t*>(t.bytes.data());
      OCTET_FUZZ_CHECK(bytes[0] == data[begin]);
      OCTET_FUZZ_CHECK(bytes[t.bytes.size() - 1] == data[begin + t.bytes.size() - 1]);
    }
    ranges.emplace_back(t.offset, t.offset + t.bytes.size());
    // Decode the first row of types octet supports (bounded, so one input stays fast).
    if (traits.octet_supported && t.ne[0] <= 4096) {
      std::vector<float> row(static_cast<size_t>(t.ne[0]));
      octet::DequantizeGgmlRow(t.type, t.bytes.subspan(0, octet::GgmlRowBytes(t.type, t.ne[0])), row);
    }
    Tolerate([&] { file.View(t); });
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) OCTET_FUZZ_CHECK(ranges[i].first >= ranges[i - 1].second);
}

void WalkTokenizer(const octet::GgufFile& file) {
  if (!file.Has("tokenizer.ggml.model")) return;
  Tolerate([&] {
    const auto tokenizer = octet::GgufTokenizer::FromGguf(file, octet::TokenizerConfig{});
    const std::vector<int32_t> ids = tokenizer->Encode("Hi <s>th\xC3\xA9  x\n<|eot_id|>12345 \xF0\x9F\x99\x82", true);
    for (const int32_t id : ids) OCTET_FUZZ_CHECK(id >= 0 && id < tokenizer->vocab_size());
    tokenizer->Decode(ids);
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static octet::fuzz::MemFile memfile;
  memfile.Set(data, size);
  try {
    const octet::GgufFile file = octet::GgufFile::Open(memfile.path());
    CheckTensors(file, data, size);
    WalkMetadata(file);
    WalkTokenizer(file);
  } catch (const octet::Error&) {
    // Refused with a message: the expected outcome for almost every input.
  }
  return 0;
}
