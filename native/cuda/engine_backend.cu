// The CUDA backend behind the engine's ForwardBackend interface: the model's weights
// copied to the GPU, and per session a cuda::Session (rolling KV cache + activations)
// beside the KvCache whose positions the engine's session logic keeps.
//
// Weights: bf16 tensors are copied as they are; f32 and f16 tensors are rounded to bf16
// (round to nearest even) on the way, the precision every kernel here computes from
// (f16 → bf16 keeps the range and drops 3 mantissa bits, an error the size of the
// activations' own rounding). The q/k/v matrices are placed one after
// the other (wqkv) and gate/up likewise (wgu), the layouts the kernels read.
//
// Paths: head_dim 64 and 128 take the fast kernels (gemv decode path, flash-decoding and
// tiled tensor-core attention); a single token, greedy or sampled, replays the session's
// captured decode step. Other head sizes (8, 16, 32: the test models) run every
// chunk through the prefill path with the simple attention kernel: correct, not fast.
//
// GPU memory is checked against cudaMemGetInfo before each allocation: the weights when
// the model loads, each session's cache and scratch when it is created.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "convert.h"
#include "forward_backend.h"
#include "gemm.h"
#include "model.h"

namespace tramontane {
namespace {

// fp32 → bf16, round to nearest even (NaN stays NaN).
uint16_t to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  if (std::isnan(f)) return uint16_t((bits >> 16) | 0x40);
  bits += 0x7fff + ((bits >> 16) & 1);
  return uint16_t(bits >> 16);
}

// Copies a [rows][cols] weight matrix to dst as bf16.
void upload(cuda::bf16* dst, const Matrix& m, std::vector<uint16_t>& staging) {
  const size_t count = size_t(m.rows) * size_t(m.cols);
  const void* src = m.data;
  if (m.dtype != DType::BF16) {
    staging.resize(count);
    std::vector<float> wide;
    constexpr size_t kPiece = size_t(1) << 20;  // widened a piece at a time
    const size_t elem = m.dtype == DType::F32 ? 4 : 2;
    for (size_t i = 0; i < count; i += kPiece) {
      const size_t n = std::min(kPiece, count - i);
      wide.resize(n);
      cpu::to_f32(wide.data(), static_cast<const char*>(m.data) + i * elem, m.dtype, n);
      for (size_t j = 0; j < n; ++j) staging[i + j] = to_bf16(wide[j]);
    }
    src = staging.data();
  }
  TR_CUDA_CHECK(cudaMemcpy(dst, src, count * sizeof(uint16_t), cudaMemcpyHostToDevice));
}

void upload(float* dst, const std::vector<float>& v) {
  TR_CUDA_CHECK(cudaMemcpy(dst, v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice));
}

cuda::ModelShape shape_of(const ModelConfig& c) {
  cuda::ModelShape s;
  s.vocab = c.vocab_size;
  s.dim = c.dim;
  s.n_layers = c.n_layers;
  s.n_heads = c.n_heads;
  s.n_kv_heads = c.n_kv_heads;
  s.head_dim = c.head_dim;
  s.hidden = c.hidden_dim;
  s.window = c.sliding_window;
  s.rope_theta = c.rope_theta;
  s.norm_eps = c.norm_eps;
  s.rope_layout = c.rope_layout;
  return s;
}

// Positions are bookkept by KvCache; keys and values live in the GPU session.
class CudaCache : public KvCache {
 public:
  CudaCache(const ModelConfig& c, int capacity, std::unique_ptr<cuda::Session> gpu)
      : KvCache(c.n_layers, c.n_kv_heads * c.head_dim, c.sliding_window, capacity,
                Storage::None),
        gpu_(std::move(gpu)) {}
  cuda::Session& gpu() { return *gpu_; }
  bool captured = false;  // the decode-step graph of gpu() (decode_greedy)
  int slot = -1;          // what the device token slot holds, when known (else -1)

 private:
  std::unique_ptr<cuda::Session> gpu_;
};

class CudaBackend : public ForwardBackend {
 public:
  CudaBackend(const ModelConfig& config, const Weights& w) : config_(config) {
    if (!cuda_device_available()) {
      throw Error("--backend cuda: no CUDA GPU is available on this machine");
    }
    const cuda::ModelShape s = shape_of(config);
    if (s.dim % 8 != 0 || s.hidden % 8 != 0 || s.head_dim % 8 != 0) {
      throw Error("the CUDA backend needs hidden_size, intermediate_size and head_dim to be "
                  "multiples of 8");
    }
    fast_ = s.head_dim == 64 || s.head_dim == 128;
    TR_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    gemm_ = std::make_unique<cuda::Gemm>();

    const bool tied = w.lm_head.data == w.embed.data;
    cuda::DeviceWeights::Places p;
    weights_ = cuda::DeviceWeights::allocate(s, tied, &p, stream_);
    std::vector<uint16_t> staging;
    const size_t d = size_t(s.dim);
    for (int l = 0; l < s.n_layers; ++l) {
      const LayerWeights& lw = w.layers[size_t(l)];
      upload(p.wqkv[l], lw.wq, staging);
      upload(p.wqkv[l] + size_t(lw.wq.rows) * d, lw.wk, staging);
      upload(p.wqkv[l] + size_t(lw.wq.rows + lw.wk.rows) * d, lw.wv, staging);
      upload(p.wo[l], lw.wo, staging);
      upload(p.wgu[l], lw.w_gate, staging);
      upload(p.wgu[l] + size_t(lw.w_gate.rows) * d, lw.w_up, staging);
      upload(p.wd[l], lw.w_down, staging);
      upload(p.attn_norm[l], lw.attn_norm);
      upload(p.ffn_norm[l], lw.ffn_norm);
    }
    upload(p.embed, w.embed, staging);
    if (!tied) upload(p.lm_head, w.lm_head, staging);
    upload(p.final_norm, w.final_norm);
  }

  ~CudaBackend() override {
    weights_.reset();
    gemm_.reset();
    if (stream_) cudaStreamDestroy(stream_);
  }

  BackendKind kind() const override { return BackendKind::Cuda; }

  std::unique_ptr<KvCache> new_cache(int capacity, int chunk) override {
    cuda::SessionConfig sc;
    const int window = config_.sliding_window;
    sc.slack = window > 0 ? capacity - window : 0;
    sc.context = window > 0 ? 0 : capacity;
    sc.max_chunk = chunk;
    if (!fast_) {
      sc.gemv_max = 0;  // every chunk on the prefill path
      sc.simple_attention = true;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    auto gpu = std::make_unique<cuda::Session>(*weights_, *gemm_, sc, stream_);
    return std::make_unique<CudaCache>(config_, capacity, std::move(gpu));
  }

  void forward(KvCache& cache, const int* tokens, int n, float* logits, bool all_rows) override {
    auto* c = dynamic_cast<CudaCache*>(&cache);
    if (!c) throw Error("the CUDA backend was given a cache it did not create");
    if (n < 1 || !cache.fits(n)) {
      throw Error("forward pass of " + std::to_string(n) + " tokens does not fit the cache");
    }
    std::lock_guard<std::mutex> lock(mutex_);
    cuda::Session& gpu = c->gpu();
    gpu.rollback(cache.end());  // the engine may have truncated or cleared the cache
    if (fast_ && n == 1) {  // one token (sampled generation): the captured decode step
      step(*c, tokens[0]);
      c->slot = -1;  // the step left its argmax in the slot, not a token the caller chose
      TR_CUDA_CHECK(cudaMemcpyAsync(logits, gpu.last_logits(),
                                    sizeof(float) * size_t(config_.vocab_size),
                                    cudaMemcpyDeviceToHost, stream_));
      TR_CUDA_CHECK(cudaStreamSynchronize(stream_));
      return;
    }
    if (all_rows) {
      gpu.feed(tokens, n, n, logits);
    } else {
      gpu.feed(tokens, n, n, nullptr);
      TR_CUDA_CHECK(cudaMemcpyAsync(logits, gpu.last_logits(),
                                    sizeof(float) * size_t(config_.vocab_size),
                                    cudaMemcpyDeviceToHost, stream_));
      TR_CUDA_CHECK(cudaStreamSynchronize(stream_));
    }
    cache.commit(n);
    c->slot = -1;
  }

  // Greedy decoding: one captured step (see step()), and the pick comes back as one int;
  // the logits stay on the device.
  bool decode_greedy(KvCache& cache, int token, int* next) override {
    if (!fast_) return false;  // heads of 8/16/32: no gemv decode path
    auto* c = dynamic_cast<CudaCache*>(&cache);
    if (!c) throw Error("the CUDA backend was given a cache it did not create");
    if (!cache.fits(1)) throw Error("decode step does not fit the cache");
    std::lock_guard<std::mutex> lock(mutex_);
    c->gpu().rollback(cache.end());
    step(*c, token);
    const int picked = c->gpu().token();
    c->slot = picked;
    *next = picked;
    return true;
  }

  // One token through the session's captured decode step (cuda::Session::capture_decode,
  // once per session): embeds the token in the device slot, runs the layers, writes the
  // argmax back into the slot, and commits the position. The token goes to the device
  // only when the slot does not already hold it (it does when greedy generation feeds
  // back the previous pick). Called with the lock held and the GPU session rolled back to
  // cache.end().
  void step(CudaCache& c, int token) {
    if (token < 0 || token >= config_.vocab_size) {
      throw Error("token " + std::to_string(token) + " is not an id in the vocabulary");
    }
    cuda::Session& gpu = c.gpu();
    if (!c.captured) {
      gpu.capture_decode();
      c.captured = true;
    }
    const int held = c.slot;
    c.slot = -1;
    if (held != token) gpu.set_token(token);
    gpu.replay(1);
    c.commit(1);
  }

  void read_last_logits(KvCache& cache, float* logits) override {
    auto* c = dynamic_cast<CudaCache*>(&cache);
    if (!c) throw Error("the CUDA backend was given a cache it did not create");
    std::lock_guard<std::mutex> lock(mutex_);
    TR_CUDA_CHECK(cudaMemcpyAsync(logits, c->gpu().last_logits(),
                                  sizeof(float) * size_t(config_.vocab_size),
                                  cudaMemcpyDeviceToHost, stream_));
    TR_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

 private:
  const ModelConfig& config_;
  bool fast_ = false;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<cuda::Gemm> gemm_;
  std::unique_ptr<cuda::DeviceWeights> weights_;
  std::mutex mutex_;
};

}  // namespace

bool cuda_device_available() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices <= 0) {
    cudaGetLastError();
    return false;
  }
  return true;
}

std::unique_ptr<ForwardBackend> make_cuda_backend(const ModelConfig& config,
                                                  const Weights& weights) {
  return std::make_unique<CudaBackend>(config, weights);
}

}  // namespace tramontane
