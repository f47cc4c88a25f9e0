#include "thread_pool.h"

namespace tramontane::cpu {

ThreadPool::ThreadPool(int threads) : size_(threads < 1 ? 1 : threads) {
  for (int w = 1; w < size_; ++w) threads_.emplace_back([this, w] { worker_loop(w); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  start_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::run_range(int worker) {
  int64_t begin = n_ * worker / size_;
  int64_t end = n_ * (worker + 1) / size_;
  if (begin < end) call_(ctx_, begin, end, worker);
}

void ThreadPool::run(int64_t n, Trampoline call, void* ctx) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    n_ = n;
    call_ = call;
    ctx_ = ctx;
    pending_ = size_ - 1;
    ++generation_;
  }
  start_.notify_all();
  run_range(0);
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [this] { return pending_ == 0; });
}

void ThreadPool::worker_loop(int worker) {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      start_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    run_range(worker);
    bool last;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      last = --pending_ == 0;
    }
    if (last) done_.notify_one();
  }
}

}  // namespace tramontane::cpu
