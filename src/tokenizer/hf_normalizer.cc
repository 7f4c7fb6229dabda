#include "tokenizer/hf_normalizer.h"

#include "tokenizer/unicode.h"
#include "util/error.h"

namespace octet {
namespace {

using nlohmann::json;

std::string StringPattern(const json& config, const char* where) {
  const json& pattern = config.value("pattern", json::object());
  if (pattern.contains("String") && pattern["String"].is_string() && !pattern["String"].get<std::string>().empty()) {
    return pattern["String"].get<std::string>();
  }
  Fail("{}: only literal {{\"String\": ...}} patterns are supported, not {}", where, pattern.dump());
}

void CheckNfcInert(std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    const unicode::DecodedChar c = unicode::DecodeAt(text, pos);
    if (!unicode::IsNfcInert(c.code_point)) {
      Fail(
          "the tokenizer normalizes text with NFC, which octet implements only for text NFC leaves unchanged; "
          "this text contains U+{:04X} at byte {}",
          static_cast<uint32_t>(c.code_point), pos);
    }
    pos += c.length;
  }
}

std::string Strip(std::string_view text, bool left, bool right) {
  size_t begin = 0, end = text.size();
  while (left && begin < end) {
    const unicode::DecodedChar c = unicode::DecodeAt(text, begin);
    if (!unicode::IsWhitespace(c.code_point)) break;
    begin += c.length;
  }
  while (right && end > begin) {
    size_t start = end - 1;
    while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    const unicode::DecodedChar c = unicode::DecodeAt(text, start);
    if (start + c.length != end || !unicode::IsWhitespace(c.code_point)) break;
    end = start;
  }
  return std::string(text.substr(begin, end - begin));
}

}  // namespace

std::string ReplaceAll(std::string_view text, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  size_t pos = 0;
  while (true) {
    const size_t hit = text.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(text.substr(pos, hit - pos));
    out.append(to);
    pos = hit + from.size();
  }
  out.append(text.substr(pos));
  return out;
}

void HfNormalizer::AddSteps(const json& config, std::vector<Step>& steps) {
  if (config.is_null()) return;
  const std::string type = config.value("type", "");
  if (type == "Sequence") {
    for (const json& inner : config.value("normalizers", json::array())) AddSteps(inner, steps);
  } else if (type == "Prepend") {
    steps.push_back({Kind::kPrepend, "", config.value("prepend", "")});
  } else if (type == "Replace") {
    steps.push_back({Kind::kReplace, StringPattern(config, "Replace normalizer"), config.value("content", "")});
  } else if (type == "Strip") {
    steps.push_back({Kind::kStrip, "", "", config.value("strip_left", true), config.value("strip_right", true)});
  } else if (type == "NFC") {
    steps.push_back({Kind::kNfc, "", ""});
  } else {
    Fail("normalizer \"{}\" is not supported (octet implements Sequence, Prepend, Replace, Strip, NFC)", type);
  }
}

HfNormalizer HfNormalizer::FromJson(const json& config) {
  HfNormalizer normalizer;
  AddSteps(config, normalizer.steps_);
  return normalizer;
}

std::string HfNormalizer::Apply(std::string_view text) const {
  std::string current(text);
  for (const Step& step : steps_) {
    switch (step.kind) {
      case Kind::kPrepend:
        // As in the Rust library: an empty string stays empty.
        if (!current.empty()) current.insert(0, step.content);
        break;
      case Kind::kReplace:
        current = ReplaceAll(current, step.pattern, step.content);
        break;
      case Kind::kStrip:
        current = Strip(current, step.left, step.right);
        break;
      case Kind::kNfc:
        CheckNfcInert(current);
        break;
    }
  }
  return current;
}

}  // namespace octet
