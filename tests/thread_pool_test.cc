#include "util/thread_pool.h"

#include <atomic>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

namespace octet {
namespace {

TEST(ThreadPoolTest, VisitsEveryIndexOnceAtAnyThreadCount) {
  for (size_t threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    for (size_t count : {0, 1, 7, 1000}) {
      std::vector<std::atomic<int>> hits(count);
      pool.ParallelFor(count, [&](size_t i) { hits[i]++; });
      for (size_t i = 0; i < count; ++i) EXPECT_EQ(hits[i].load(), 1) << "threads " << threads << " i " << i;
    }
  }
}

TEST(ThreadPoolTest, RethrowsTheLowestIndexedException) {
  ThreadPool pool(3);
  try {
    pool.ParallelFor(100, [](size_t i) {
      if (i == 17 || i == 60) throw std::runtime_error("item " + std::to_string(i));
    });
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    // Both may be seen; the lowest index wins, so the report does not depend on scheduling.
    EXPECT_STREQ(e.what(), "item 17");
  }
  // The pool stays usable after an exception.
  std::atomic<int> sum = 0;
  pool.ParallelFor(10, [&](size_t i) { sum += static_cast<int>(i); });
  EXPECT_EQ(sum.load(), 45);
}

}  // namespace
}  // namespace octet
