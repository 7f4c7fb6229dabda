#include "tokenizer/hf_decoder.h"

#include "tokenizer/byte_level.h"
#include "tokenizer/hf_normalizer.h"
#include "util/error.h"

namespace octet {
namespace {

using nlohmann::json;

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

void HfDecoder::AddSteps(const json& config) {
  if (config.is_null()) return;
  const std::string type = config.value("type", "");
  if (type == "Sequence") {
    for (const json& inner : config.value("decoders", json::array())) AddSteps(inner);
  } else if (type == "Replace") {
    const json& pattern = config.value("pattern", json::object());
    if (!pattern.contains("String") || !pattern["String"].is_string() || pattern["String"].get<std::string>().empty()) {
      Fail("Replace decoder: only literal {{\"String\": ...}} patterns are supported, not {}", pattern.dump());
    }
    steps_.push_back({Kind::kReplace, pattern["String"].get<std::string>(), config.value("content", "")});
  } else if (type == "ByteFallback") {
    steps_.push_back({Kind::kByteFallback, "", ""});
  } else if (type == "Fuse") {
    // Concatenation is what decoding does anyway.
  } else if (type == "Strip") {
    if (config.value("content", " ") != " " || config.value("stop", 0) != 0 || config.value("start", 0) > 1) {
      Fail("Strip decoder: only stripping one leading space is supported, not {}", config.dump());
    }
    leading_spaces_to_strip_ = config.value("start", 0);
  } else if (type == "Metaspace") {
    const std::string replacement = config.value("replacement", "\u2581");
    if (replacement.empty()) Fail("Metaspace decoder: empty replacement");
    steps_.push_back({Kind::kReplace, replacement, " "});
    const std::string scheme =
        config.value("prepend_scheme", config.value("add_prefix_space", true) ? "always" : "never");
    if (scheme != "never") leading_spaces_to_strip_ = 1;
  } else if (type == "ByteLevel") {
    steps_.push_back({Kind::kByteLevel, "", ""});
  } else {
    Fail(
        "decoder \"{}\" is not supported (octet implements Sequence, Replace, ByteFallback, Fuse, Strip, "
        "Metaspace, ByteLevel)",
        type);
  }
}

HfDecoder HfDecoder::FromJson(const json& config) {
  HfDecoder decoder;
  decoder.AddSteps(config);
  return decoder;
}

std::string HfDecoder::DecodeToken(std::string_view token) const {
  std::string text(token);
  for (const Step& step : steps_) {
    switch (step.kind) {
      case Kind::kReplace:
        text = ReplaceAll(text, step.from, step.to);
        break;
      case Kind::kByteFallback:
        // Exactly "<0xAB>" (upper-case hex) is a raw byte.
        if (text.size() == 6 && text.compare(0, 3, "<0x") == 0 && text[5] == '>' && HexDigit(text[3]) >= 0 &&
            HexDigit(text[4]) >= 0) {
          text = std::string(1, static_cast<char>(HexDigit(text[3]) * 16 + HexDigit(text[4])));
        }
        break;
      case Kind::kByteLevel:
        text = byte_level::DecodeToken(text);
        break;
    }
  }
  return text;
}

}  // namespace octet
