// What every loaded tokenizer promises, whatever file it came from (tokenizer/tokenizer.h), checked by the tokenizer
// fuzz targets on a few fixed texts that reach the normalizer, pre-tokenizer, byte fallback, added-token matching
// and BPE merges.
#ifndef OCTET_FUZZ_TOKENIZER_CHECKS_H_
#define OCTET_FUZZ_TOKENIZER_CHECKS_H_

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"
#include "util/error.h"

namespace octet::fuzz {

// Encodes the fixed texts and `extra` (part of the input itself, so vocabulary strings the fuzzer wrote meet their
// own merges), then decodes the ids: ids within [0, vocab_size), decoded text valid UTF-8 (malformed bytes become
// U+FFFD), special ids valid.
inline void CheckTokenizer(const Tokenizer& tokenizer, std::string_view extra) {
  const int32_t vocab_size = tokenizer.vocab_size();
  OCTET_FUZZ_CHECK(vocab_size >= 0);
  for (const int32_t id : {tokenizer.bos_id(), tokenizer.eos_id()}) OCTET_FUZZ_CHECK(id >= -1 && id < vocab_size);
  for (const int32_t id : tokenizer.special_ids().stop) OCTET_FUZZ_CHECK(id >= 0 && id < vocab_size);
  (void)tokenizer.description();

  static constexpr std::string_view kTexts[] = {
      "",
      " ",
      "Once upon a time, there was a little girl.",
      "  two  spaces\tand\ttabs\r\nlines\n\n",
      "caf\xc3\xa9 na\xc3\xafve \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x99\x82 e\xcc\x81",  // NFC-relevant
      "3.14159 and 1234567 digits, don't we'll",
      "<s>special</s><unk><|endoftext|><|begin_of_text|> <pad>",
      "\xff\xfe\xc3 broken \xe6\x97 utf-8 \x80",
      std::string_view("nul\0byte", 8),
  };
  std::vector<std::string_view> texts(std::begin(kTexts), std::end(kTexts));
  texts.push_back(extra);
  for (const std::string_view text : texts) {
    for (const bool add_bos : {false, true}) {
      std::vector<int32_t> ids;
      try {
        ids = tokenizer.Encode(text, add_bos);
      } catch (const Error&) {
        // The one refusal Encode may make: an NFC normalizer meeting text NFC would change (hf_normalizer.h).
        continue;
      }
      for (const int32_t id : ids) OCTET_FUZZ_CHECK(id >= 0 && id < vocab_size);
      const std::string decoded = tokenizer.Decode(ids);
      OCTET_FUZZ_CHECK(unicode::ToValidUtf8(decoded) == decoded);
    }
  }
  // Ids outside the vocabulary decode to nothing; every id's bytes and spelling can be asked for.
  for (const int32_t id : {-1, vocab_size, vocab_size + 1}) OCTET_FUZZ_CHECK(tokenizer.TokenBytes(id).empty());
  for (int32_t id = 0; id < std::min<int32_t>(vocab_size, 600); ++id) (void)tokenizer.TokenBytes(id);
  for (const std::string_view token : {"<s>", "</s>", "a", "\xe2\x96\x81" "a", "\xc4\xa0" "a", ""}) {
    if (const std::optional<int32_t> id = tokenizer.TokenToId(token)) OCTET_FUZZ_CHECK(*id >= 0 && *id < vocab_size);
  }
}

}  // namespace octet::fuzz

#endif  // OCTET_FUZZ_TOKENIZER_CHECKS_H_
