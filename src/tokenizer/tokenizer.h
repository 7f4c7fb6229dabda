// Text <-> token ids. One interface for every tokenizer format octet reads (tokenizer/load_tokenizer.h picks the
// format from a model directory):
//   - Hugging Face tokenizer.json BPE, SentencePiece-style (Llama-2, Mistral) and byte-level (GPT-2, Llama-3, Qwen)
//   - SentencePiece tokenizer.model (when built with libsentencepiece)
//   - the tokenizer.ggml.* vocabulary of a GGUF file (llama.cpp's "llama" and "gpt2" models)
//   - llama2.c tokenizer.bin
// Encoding follows the reference implementation of each format exactly (tests/tokenizer checks ids against
// tokenizers.js and llama2.c's run.c). Decoding is byte-exact too, except that malformed UTF-8 in the output
// becomes U+FFFD, and special tokens (BOS, EOS, chat markers) decode to nothing.
#ifndef OCTET_TOKENIZER_TOKENIZER_H_
#define OCTET_TOKENIZER_TOKENIZER_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace octet {

// Special ids of a tokenizer; -1 when it has none.
struct SpecialTokenIds {
  int32_t bos = -1;
  int32_t eos = -1;
  // Ids that end generation: eos and any further end-of-turn ids the model's config lists.
  std::vector<int32_t> stop;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Ids of `text` (UTF-8; malformed bytes are byte-fallback encoded or become unk, never an error). Special-token
  // text such as "<s>" or "<|eot_id|>" is matched as the special token, as transformers does. `add_bos`: add what
  // the tokenizer adds around one sequence: BOS for Llama-family tokenizers (tokenizer.json: its post-processor
  // template, e.g. "<|begin_of_text|>"); nothing for tokenizers without a BOS, such as GPT-2's or Qwen's.
  virtual std::vector<int32_t> Encode(std::string_view text, bool add_bos = true) const = 0;

  // Text of `ids`: equal to pushing them all through a StreamDecoder. Ids outside the vocabulary decode to
  // nothing (a model's embedding table is often padded past the tokenizer's vocabulary).
  std::string Decode(std::span<const int32_t> ids) const;

  // Bytes that `id` adds to decoded text (empty for special tokens and unknown ids), before the start-of-text
  // strip below. May be part of a UTF-8 character (byte-fallback tokens, byte-level BPE).
  virtual std::string_view TokenBytes(int32_t id) const = 0;
  // How many leading spaces decoding drops at the start of a text (SentencePiece's dummy-prefix space): 0 or 1.
  virtual int leading_spaces_to_strip() const = 0;

  // The id of the vocabulary entry spelled `token` as in the tokenizer file (e.g. "<s>", "▁the", "Ġthe").
  virtual std::optional<int32_t> TokenToId(std::string_view token) const = 0;

  // One more than the largest id the tokenizer can produce or decode.
  virtual int32_t vocab_size() const = 0;
  // What was loaded, for messages, e.g. "tokenizer.json (BPE, byte-level, 50257 tokens)".
  virtual std::string description() const = 0;

  const SpecialTokenIds& special_ids() const { return special_; }
  int32_t bos_id() const { return special_.bos; }
  int32_t eos_id() const { return special_.eos; }
  bool IsStop(int32_t id) const;

 protected:
  Tokenizer() = default;
  // Set once by the format's loader, after it can look tokens up.
  SpecialTokenIds special_;
};

// Decodes a stream of ids (e.g. during generation) and hands out text only in whole UTF-8 characters, so a
// character split over several byte tokens is printed once it is complete. Malformed sequences come out as U+FFFD.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer);

  // Text completed by `id`; often empty (special token, or a character still incomplete).
  std::string Push(int32_t id);
  // Whatever is still held back (an unfinished character, as U+FFFD); the decoder is then back at a clean state
  // (but not at the start of a text).
  std::string Finish();

 private:
  const Tokenizer* tokenizer_;
  std::string pending_;
  int spaces_to_strip_;
};

}  // namespace octet

#endif  // OCTET_TOKENIZER_TOKENIZER_H_
