// A fixed set of worker threads for data-parallel loops. Work is split into items whose boundaries never depend on
// the number of threads, and each item's result goes to its own place, so results are bit-identical at any thread
// count (the project's determinism rule).
#ifndef OCTET_UTIL_THREAD_POOL_H_
#define OCTET_UTIL_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace octet {

class ThreadPool {
 public:
  // `num_threads` counts the calling thread: 1 runs everything inline. 0 means one per hardware thread.
  explicit ThreadPool(size_t num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  size_t num_threads() const { return workers_.size() + 1; }

  // Calls body(i) for every i in [0, count), spread over the threads; returns when all are done. If any call
  // throws, the first exception (lowest i among those seen) is rethrown here after the others finish.
  // Not reentrant: body must not call ParallelFor on the same pool.
  void ParallelFor(size_t count, const std::function<void(size_t)>& body);

 private:
  void WorkerLoop();
  void RunItems();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable work_done_;
  const std::function<void(size_t)>* body_ = nullptr;
  // Written under mutex_; atomic so that spinning threads may read them without it.
  std::atomic<size_t> count_ = 0;
  std::atomic<size_t> next_ = 0;
  std::atomic<size_t> active_ = 0;
  std::atomic<size_t> generation_ = 0;
  std::atomic<bool> stop_ = false;
  std::exception_ptr error_;
  size_t error_index_ = 0;
};

}  // namespace octet

#endif  // OCTET_UTIL_THREAD_POOL_H_
