// What a model's forward pass runs on. The session (session.cpp) owns every rule about
// positions: capacity, chunking, rollback, cancellation. A backend only makes caches
// (kv_cache.h), and each cache runs forward steps at the positions it is told.
//
//   CPU  (cpu_backend.cpp → cpu/forward.cpp): the reference.
//   CUDA (cuda/engine_backend.cu → cuda/forward.cu, built with TRAMONTANE_WITH_CUDA).
#pragma once

#include <memory>
#include <string>

#include "config.h"
#include "kv_cache.h"
#include "weights.h"

namespace tramontane {

class ForwardBackend {
 public:
  virtual ~ForwardBackend() = default;

  virtual BackendKind kind() const = 0;

  // A new session's cache of `capacity` slots, whose forward steps take batches of up
  // to `chunk` tokens. Throws a one-line Error when memory is short.
  virtual std::unique_ptr<KvCache> new_cache(int capacity, int chunk) = 0;
};

// The reference backend: cpu/forward.cpp on `threads` threads, caches of kv_cache's
// type (Auto resolved as KvCacheType says). Keeps references to config and weights,
// which must outlive it.
std::unique_ptr<ForwardBackend> make_cpu_backend(const ModelConfig& config,
                                                 const Weights& weights, int threads,
                                                 KvCacheType kv_cache = KvCacheType::Auto);

#ifdef TRAMONTANE_WITH_CUDA
// The GPU backend (cuda/engine_backend.cu): copies the weights to the GPU as f16, the
// precision its kernels compute in (f16 as they are; bf16 and f32 rounded). Keeps
// references to config.
std::unique_ptr<ForwardBackend> make_cuda_backend(const ModelConfig& config,
                                                  const Weights& weights);

// True when at least one CUDA device can be used (cudaGetDeviceCount succeeds and
// reports one or more); clears the error it may leave otherwise.
bool cuda_device_available();

// Why the CUDA backend cannot run a model of this shape (one line), or "" when it can;
// make_cuda_backend throws it, and --backend auto picks the CPU instead.
std::string cuda_unsupported(const ModelConfig& config);
#endif

}  // namespace tramontane
