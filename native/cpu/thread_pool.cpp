#include "thread_pool.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace tramontane::cpu {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Spins until done() or kSpin has passed; true if done() became true.
template <class Done>
bool spin_until(Done&& done) {
  const auto deadline = std::chrono::steady_clock::now() + ThreadPool::kSpin;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() > deadline) return false;
  }
}

}  // namespace

// A spin that ran out means the other side was not running (a busy machine: spinning
// then only burns the time slice it is waiting for), so the next 1, 3, 7, ... 63 waits
// sleep at once; one spin that succeeds restores spinning on every wait.
bool ThreadPool::Backoff::spin(const std::function<bool()>& done) {
  if (skip > 0) {
    --skip;
    return done();
  }
  if (spin_until(done)) {
    failures = 0;
    return true;
  }
  failures = failures < 6 ? failures + 1 : 6;
  skip = (1 << failures) - 1;
  return false;
}

ThreadPool::ThreadPool(int threads) : size_(threads < 1 ? 1 : threads) {
  for (int w = 1; w < size_; ++w) threads_.emplace_back([this, w] { worker_loop(w); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);  // before the bump: a worker that sees the bump sees the stop
    generation_.fetch_add(1);
  }
  start_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::run_range(int worker) {
  int64_t begin = n_ * worker / size_;
  int64_t end = n_ * (worker + 1) / size_;
  if (begin < end) call_(ctx_, begin, end, worker);
}

// The sleeping flags and the atomics they guard form a handshake in sequentially
// consistent order: a side going to sleep raises its flag, then re-checks under the
// mutex; a side publishing progress updates the atomic, then notifies under the mutex
// if it sees the flag. One of the two always sees the other, so no wake-up is lost.
void ThreadPool::run(int64_t n, Trampoline call, void* ctx) {
  n_ = n;
  call_ = call;
  ctx_ = ctx;
  pending_.store(size_ - 1);
  generation_.fetch_add(1);  // publishes the job
  if (sleeping_workers_.load() > 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    start_.notify_all();
  }
  run_range(0);
  if (caller_backoff_.spin([this] { return pending_.load(std::memory_order_acquire) == 0; })) return;
  std::unique_lock<std::mutex> lock(mutex_);
  caller_sleeping_.store(true);
  done_.wait(lock, [this] { return pending_.load() == 0; });
  caller_sleeping_.store(false);
}

void ThreadPool::worker_loop(int worker) {
  uint64_t seen = 0;
  Backoff backoff;
  const std::function<bool()> fresh = [&] { return generation_.load(std::memory_order_acquire) != seen; };
  for (;;) {
    if (!backoff.spin(fresh)) {
      std::unique_lock<std::mutex> lock(mutex_);
      sleeping_workers_.fetch_add(1);
      start_.wait(lock, [&] { return stop_.load() || generation_.load() != seen; });
      sleeping_workers_.fetch_sub(1);
      if (stop_.load()) return;
    }
    seen = generation_.load();
    if (stop_.load()) return;
    run_range(worker);
    if (pending_.fetch_sub(1) == 1 && caller_sleeping_.load()) {
      std::lock_guard<std::mutex> lock(mutex_);
      done_.notify_one();
    }
  }
}

}  // namespace tramontane::cpu
