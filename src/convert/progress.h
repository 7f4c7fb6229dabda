// Progress of a long conversion: a bar redrawn in place on a terminal (tensors, bytes, rate, ETA), a plain line
// every few seconds otherwise (logs, CI), nothing when quiet. Thread-safe: workers report bytes as they finish
// pieces.
#ifndef OCTET_CONVERT_PROGRESS_H_
#define OCTET_CONVERT_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

namespace octet {

class Progress {
 public:
  enum class Mode { kQuiet, kLines, kBar };
  // kBar when `stream` is a terminal, kLines otherwise, kQuiet when quiet.
  static Mode DetectMode(FILE* stream, bool quiet);

  Progress(Mode mode, FILE* stream, uint64_t total_tensors, uint64_t total_bytes);
  // Adds finished work; redraws at most a few times per second.
  void Advance(uint64_t tensors, uint64_t bytes);
  // Final line (and newline after a bar).
  void Finish();

 private:
  void Draw(bool final);

  Mode mode_;
  FILE* stream_;
  uint64_t total_tensors_;
  uint64_t total_bytes_;
  uint64_t done_tensors_ = 0;
  uint64_t done_bytes_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  std::mutex mutex_;
};

// "1.23 GB", "512.0 MB", "17 B" (decimal units, as disk sizes are quoted).
std::string FormatBytes(uint64_t bytes);

}  // namespace octet

#endif  // OCTET_CONVERT_PROGRESS_H_
