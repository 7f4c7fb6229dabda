#include "convert/progress.h"

#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

namespace octet {
namespace {

constexpr auto kBarRedrawInterval = std::chrono::milliseconds(200);
constexpr auto kLineInterval = std::chrono::seconds(5);
constexpr int kBarWidth = 30;

std::string FormatDuration(double seconds) {
  if (!(seconds >= 0) || seconds > 99 * 3600) return "--:--";
  const int s = static_cast<int>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{:02}:{:02}", s / 60, s % 60);
}

}  // namespace

std::string FormatBytes(uint64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (b >= 1e9) return fmt::format("{:.2f} GB", b / 1e9);
  if (b >= 1e6) return fmt::format("{:.1f} MB", b / 1e6);
  if (b >= 1e3) return fmt::format("{:.1f} kB", b / 1e3);
  return fmt::format("{} B", bytes);
}

Progress::Mode Progress::DetectMode(FILE* stream, bool quiet) {
  if (quiet) return Mode::kQuiet;
  return isatty(fileno(stream)) ? Mode::kBar : Mode::kLines;
}

Progress::Progress(Mode mode, FILE* stream, uint64_t total_tensors, uint64_t total_bytes)
    : mode_(mode),
      stream_(stream),
      total_tensors_(total_tensors),
      total_bytes_(total_bytes),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

void Progress::Advance(uint64_t tensors, uint64_t bytes) {
  if (mode_ == Mode::kQuiet) return;
  std::lock_guard<std::mutex> lock(mutex_);
  done_tensors_ += tensors;
  done_bytes_ += bytes;
  const auto now = std::chrono::steady_clock::now();
  const auto interval = mode_ == Mode::kBar ? std::chrono::duration_cast<std::chrono::milliseconds>(kBarRedrawInterval)
                                            : std::chrono::duration_cast<std::chrono::milliseconds>(kLineInterval);
  if (now - last_draw_ < interval) return;
  last_draw_ = now;
  Draw(false);
}

void Progress::Finish() {
  if (mode_ == Mode::kQuiet) return;
  std::lock_guard<std::mutex> lock(mutex_);
  Draw(true);
}

void Progress::Draw(bool final) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double fraction =
      total_bytes_ > 0 ? std::min(1.0, static_cast<double>(done_bytes_) / static_cast<double>(total_bytes_)) : 1.0;
  const double rate = elapsed > 0 ? static_cast<double>(done_bytes_) / elapsed : 0;
  const double eta = rate > 0 ? static_cast<double>(total_bytes_ - std::min(done_bytes_, total_bytes_)) / rate : -1;
  const std::string figures =
      fmt::format("{}/{} tensors  {}/{}  {}/s  {} {}", done_tensors_, total_tensors_, FormatBytes(done_bytes_),
                  FormatBytes(total_bytes_), FormatBytes(static_cast<uint64_t>(rate)),
                  final ? "elapsed" : "ETA", FormatDuration(final ? elapsed : eta));
  if (mode_ == Mode::kBar) {
    const int filled = static_cast<int>(fraction * kBarWidth);
    fmt::print(stream_, "\r[{}{}] {:3.0f}%  {}\x1b[K{}", std::string(filled, '#'), std::string(kBarWidth - filled, '.'),
               fraction * 100, figures, final ? "\n" : "");
  } else {
    fmt::print(stream_, "progress: {:3.0f}%  {}\n", fraction * 100, figures);
  }
  std::fflush(stream_);
}

}  // namespace octet
