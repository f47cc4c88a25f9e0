// The CPU backend: cpu::Forward behind the ForwardBackend interface. Forward passes of
// all sessions take turns on one mutex: they share the thread pool and the scratch.
#include <mutex>

#include "forward.h"
#include "forward_backend.h"
#include "kv_buffer.h"

namespace tramontane {
namespace {

class CpuBackend : public ForwardBackend {
 public:
  CpuBackend(const ModelConfig& config, const Weights& weights, int threads, KvCacheType kv_cache)
      : config_(config), kv_cache_(resolve(config, kv_cache)), forward_(config, weights, threads) {}

  // Auto: f16 above 64 KiB per token in f32 (engine.h says why).
  static KvCacheType resolve(const ModelConfig& c, KvCacheType asked) {
    if (asked != KvCacheType::Auto) return asked;
    const int64_t f32_bytes_per_token = int64_t(c.n_layers) * c.n_kv_heads * c.head_dim * 2 * 4;
    return f32_bytes_per_token > (64 << 10) ? KvCacheType::F16 : KvCacheType::F32;
  }
  KvCacheType kv_cache() const { return kv_cache_; }

  BackendKind kind() const override { return BackendKind::Cpu; }

  std::unique_ptr<KvCache> new_cache(int capacity, int chunk) override;

  void run(cpu::KvBuffer& kv, const Batch& batch, float* logits, bool all_rows) {
    std::lock_guard<std::mutex> lock(mutex_);
    forward_.run(kv, batch, logits, all_rows);
  }

 private:
  const ModelConfig& config_;
  const KvCacheType kv_cache_;
  std::mutex mutex_;
  cpu::Forward forward_;
};

class CpuCache : public KvCache {
 public:
  CpuCache(CpuBackend& backend, const ModelConfig& c, int capacity)
      : backend_(backend), capacity_(capacity), kv_(c.n_layers, c.n_kv_heads, c.head_dim, capacity, backend.kv_cache()) {}

  int capacity() const override { return capacity_; }  // kv_ may hold a few more slots
  void forward(const Batch& batch, float* logits, bool all_rows) override {
    backend_.run(kv_, batch, logits, all_rows);
  }

 private:
  CpuBackend& backend_;
  int capacity_;
  cpu::KvBuffer kv_;
};

std::unique_ptr<KvCache> CpuBackend::new_cache(int capacity, int chunk) {
  const ModelConfig& c = config_;
  auto cache = std::make_unique<CpuCache>(*this, c, capacity);
  // A query sees at most W keys with a window, at most the whole cache without.
  std::lock_guard<std::mutex> lock(mutex_);
  forward_.reserve(chunk, c.sliding_window > 0 ? c.sliding_window : capacity);
  return cache;
}

}  // namespace

std::unique_ptr<ForwardBackend> make_cpu_backend(const ModelConfig& config,
                                                 const Weights& weights, int threads,
                                                 KvCacheType kv_cache) {
  return std::make_unique<CpuBackend>(config, weights, threads, kv_cache);
}

}  // namespace tramontane
