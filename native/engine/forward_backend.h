// What a model's forward pass runs on. The session logic (feed, rollback, reuse,
// generate) is the same for every backend: ModelSession keeps the tokens and the cache's
// positions (KvCache), and asks the backend to run chunks of tokens through the model.
//
//   CPU  (cpu_backend.cpp): keys and values in the KvCache's own host memory.
//   CUDA (cuda/engine_backend.cu, built with TRAMONTANE_WITH_CUDA): a KvCache that
//        holds positions only, with the keys and values in a GPU session beside it.
#pragma once

#include <memory>

#include "config.h"
#include "kv_cache.h"
#include "weights.h"

namespace tramontane {

class ForwardBackend {
 public:
  virtual ~ForwardBackend() = default;

  virtual BackendKind kind() const = 0;

  // A new session's cache of `capacity` slots, with the backend's scratch sized for
  // chunks of up to `chunk` tokens. Throws a one-line Error when memory is short.
  virtual std::unique_ptr<KvCache> new_cache(int capacity, int chunk) = 0;

  // Runs n tokens (n ≤ the chunk given to new_cache) at positions cache.end() ..
  // cache.end() + n − 1 and commits them to the cache. logits (host memory) receives
  // [n][vocab] when all_rows, else the last token's [vocab]. `cache` must come from this
  // backend's new_cache. Safe to call from several threads (calls take turns).
  virtual void forward(KvCache& cache, const int* tokens, int n, float* logits,
                       bool all_rows) = 0;

  // Optional fast path for greedy decoding: runs one token at position cache.end() as
  // forward(cache, &token, 1, ...) would, commits it, and writes the argmax of its logits
  // (lowest id on ties, as Sampler's greedy pick) to *next without copying the logits to
  // the host. Returns false, having done nothing, where the backend has no such path (the
  // CPU backend; CUDA models whose head size takes the prefill path); callers then use
  // forward(). CUDA: a decode step captured once per session as a graph, argmax on the
  // device.
  virtual bool decode_greedy(KvCache& cache, int token, int* next) {
    (void)cache, (void)token, (void)next;
    return false;
  }

  // The logits [vocab] after the last token that decode_greedy ran (host memory). Only
  // called after decode_greedy returned true, before any other call on the cache.
  virtual void read_last_logits(KvCache& cache, float* logits) {
    (void)cache, (void)logits;
    throw Error("read_last_logits: this backend has no greedy decode path");
  }
};

// The reference backend: cpu/forward.cpp on `threads` threads. Keeps references to
// config and weights, which must outlive it.
std::unique_ptr<ForwardBackend> make_cpu_backend(const ModelConfig& config,
                                                 const Weights& weights, int threads);

#ifdef TRAMONTANE_WITH_CUDA
// The GPU backend (cuda/engine_backend.cu): copies the weights to the GPU as f16, the
// precision its kernels compute in (f16 as they are; bf16 and f32 rounded). Keeps
// references to config.
std::unique_ptr<ForwardBackend> make_cuda_backend(const ModelConfig& config,
                                                  const Weights& weights);

// True when at least one CUDA device can be used (cudaGetDeviceCount succeeds and
// reports one or more); clears the error it may leave otherwise.
bool cuda_device_available();
#endif

}  // namespace tramontane
