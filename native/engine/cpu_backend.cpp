// The CPU backend: cpu::Forward behind the ForwardBackend interface. Forward passes of
// all sessions take turns on one mutex: they share the thread pool and the scratch.
#include <mutex>

#include "forward.h"
#include "forward_backend.h"

namespace tramontane {
namespace {

class CpuBackend : public ForwardBackend {
 public:
  CpuBackend(const ModelConfig& config, const Weights& weights, int threads)
      : config_(config), forward_(config, weights, threads) {}

  BackendKind kind() const override { return BackendKind::Cpu; }

  std::unique_ptr<KvCache> new_cache(int capacity, int chunk) override {
    const ModelConfig& c = config_;
    auto cache = std::make_unique<KvCache>(c.n_layers, c.n_kv_heads * c.head_dim,
                                           c.sliding_window, capacity);
    // A query sees at most W keys with a window, at most the whole cache without.
    std::lock_guard<std::mutex> lock(mutex_);
    forward_.reserve(chunk, c.sliding_window > 0 ? c.sliding_window : capacity);
    return cache;
  }

  void forward(KvCache& cache, const int* tokens, int n, float* logits, bool all_rows) override {
    std::lock_guard<std::mutex> lock(mutex_);
    forward_.run(cache, tokens, n, logits, all_rows);
  }

 private:
  const ModelConfig& config_;
  std::mutex mutex_;
  cpu::Forward forward_;
};

}  // namespace

std::unique_ptr<ForwardBackend> make_cpu_backend(const ModelConfig& config,
                                                 const Weights& weights, int threads) {
  return std::make_unique<CpuBackend>(config, weights, threads);
}

}  // namespace tramontane
