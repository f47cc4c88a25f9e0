// A small fixed thread pool for data-parallel loops.
//
// parallel_for(n, fn) splits [0, n) into size() contiguous ranges and runs
// fn(begin, end, worker) on each, the calling thread taking range 0; it returns when
// all ranges are done. The split depends only on n and size(), never on timing, so
// results are reproducible. Nothing is allocated per call (the callable is passed by
// pointer), which keeps the token loop allocation-free.
//
// The pool stays hot between calls: a decode step runs dozens of short loops, so
// waiting threads first spin on an atomic for up to kSpin (a wake-up through the
// kernel would cost more than most of those loops), then sleep on a condition
// variable, so an idle engine uses no CPU. On a busy machine, where a spin that runs
// out means the other thread was not even running, spinning backs off (Backoff).
//
// One parallel_for at a time: callers serialize (the model holds a mutex around each
// forward pass).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace tramontane::cpu {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);  // total threads, the caller included; ≥ 1
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return size_; }

  template <class F>
  void parallel_for(int64_t n, F&& fn) {
    if (n <= 0) return;
    if (size_ == 1 || n == 1) {
      fn(int64_t(0), n, 0);
      return;
    }
    using Fn = std::remove_reference_t<F>;
    run(n, [](void* ctx, int64_t b, int64_t e, int w) { (*static_cast<Fn*>(ctx))(b, e, w); },
        const_cast<void*>(static_cast<const void*>(&fn)));
  }

  // How long a waiting thread spins before it sleeps.
  static constexpr std::chrono::microseconds kSpin{100};

 private:
  struct Backoff {
    int skip = 0;      // waits left that sleep without spinning
    int failures = 0;  // spins in a row that ran out
    // Spins (or not) until done(); true if done() held, false: go to sleep.
    bool spin(const std::function<bool()>& done);
  };

  using Trampoline = void (*)(void* ctx, int64_t begin, int64_t end, int worker);
  void run(int64_t n, Trampoline call, void* ctx);
  void worker_loop(int worker);
  void run_range(int worker);

  int size_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable start_;
  std::condition_variable done_;
  std::atomic<uint64_t> generation_{0};  // bumped for each job
  std::atomic<int> pending_{0};          // workers still running the current job
  std::atomic<int> sleeping_workers_{0};
  std::atomic<bool> caller_sleeping_{false};
  Backoff caller_backoff_;
  std::atomic<bool> stop_{false};
  // The current job, published by the generation_ bump.
  int64_t n_ = 0;
  Trampoline call_ = nullptr;
  void* ctx_ = nullptr;
};

}  // namespace tramontane::cpu
