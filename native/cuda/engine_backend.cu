// The CUDA backend behind the engine's ForwardBackend interface: the model's weights
// copied to the GPU, and per session a cuda::Session (rolling KV cache + activations)
// beside the KvCache whose positions the engine's session logic keeps.
//
// Weights: the kernels compute in f16 (IEEE half; NOTES.md says why not bf16). f16
// tensors are copied as they are; bf16 and f32 tensors are rounded to f16 on the GPU
// (bf16 is exact in f16 for magnitudes 6.1e-5 .. 65504; a weight beyond 65504 is refused
// with an error naming its tensor). The q/k/v matrices are placed one after the other
// (wqkv) and gate/up likewise (wgu), the layouts the kernels read.
//
// Paths: head_dim 64 and 128 take the fast kernels (gemv decode path, flash-decoding and
// tiled tensor-core attention); a single token, greedy or sampled, replays the session's
// captured decode step. Other head sizes (8, 16, 32: the test models) run every
// chunk through the prefill path with the simple attention kernel: correct, not fast.
//
// GPU memory is checked against cudaMemGetInfo before each allocation: the weights when
// the model loads, each session's cache and scratch when it is created.
#include <mutex>
#include <string>
#include <vector>

#include "forward_backend.h"
#include "gemm.h"
#include "model.h"

namespace tramontane {
namespace {

// Copies weight matrices to the GPU as f16: each one raw into a device staging buffer,
// then rounded there (convert_to_f16); a value beyond the f16 range is refused, naming
// the tensor. Every copy is ordered on the backend's stream: a plain cudaMemcpy from
// pageable memory may return before its DMA lands, and the kernels run on a
// non-blocking stream that would not wait for it.
class WeightUploader {
 public:
  explicit WeightUploader(cudaStream_t stream) : stream_(stream), overflow_(sizeof(unsigned)) {}

  void upload(cuda::f16* dst, const Matrix& m, const std::string& name) {
    const size_t count = size_t(m.rows) * size_t(m.cols);
    const size_t bytes = count * dtype_size(m.dtype);
    if (m.dtype == DType::F16) {
      TR_CUDA_CHECK(cudaMemcpyAsync(dst, m.data, bytes, cudaMemcpyHostToDevice, stream_));
      return;
    }
    if (staging_.bytes() < bytes) {
      TR_CUDA_CHECK(cudaStreamSynchronize(stream_));  // the old buffer may still be read
      staging_ = cuda::DeviceBuffer(bytes);
    }
    TR_CUDA_CHECK(cudaMemcpyAsync(staging_.as<void>(), m.data, bytes, cudaMemcpyHostToDevice,
                                  stream_));
    TR_CUDA_CHECK(cudaMemsetAsync(overflow_.as<unsigned>(), 0, sizeof(unsigned), stream_));
    const auto format = m.dtype == DType::BF16 ? cuda::StoredFormat::BF16 : cuda::StoredFormat::F32;
    cuda::convert_to_f16(cuda::Launch{stream_, false}, staging_.as<void>(), format, count, dst,
                         overflow_.as<unsigned>());
    unsigned overflow = 0;
    TR_CUDA_CHECK(cudaMemcpyAsync(&overflow, overflow_.as<unsigned>(), sizeof overflow,
                                  cudaMemcpyDeviceToHost, stream_));
    TR_CUDA_CHECK(cudaStreamSynchronize(stream_));
    if (overflow > 0) {
      throw Error(name + ": " + std::to_string(overflow) +
                  " weights beyond the f16 range (|w| > 65504), which the CUDA backend computes "
                  "in; use the cpu backend");
    }
  }

 private:
  static size_t dtype_size(DType t) { return t == DType::F32 ? 4 : 2; }
  cudaStream_t stream_;
  cuda::DeviceBuffer staging_, overflow_;
};

void upload(float* dst, const std::vector<float>& v, cudaStream_t stream) {
  TR_CUDA_CHECK(cudaMemcpyAsync(dst, v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice,
                                stream));
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
    WeightUploader up(stream_);
    const size_t d = size_t(s.dim);
    for (int l = 0; l < s.n_layers; ++l) {
      const LayerWeights& lw = w.layers[size_t(l)];
      const std::string layer = "layer " + std::to_string(l) + " ";
      up.upload(p.wqkv[l], lw.wq, layer + "q_proj");
      up.upload(p.wqkv[l] + size_t(lw.wq.rows) * d, lw.wk, layer + "k_proj");
      up.upload(p.wqkv[l] + size_t(lw.wq.rows + lw.wk.rows) * d, lw.wv, layer + "v_proj");
      up.upload(p.wo[l], lw.wo, layer + "o_proj");
      up.upload(p.wgu[l], lw.w_gate, layer + "gate_proj");
      up.upload(p.wgu[l] + size_t(lw.w_gate.rows) * d, lw.w_up, layer + "up_proj");
      up.upload(p.wd[l], lw.w_down, layer + "down_proj");
      upload(p.attn_norm[l], lw.attn_norm, stream_);
      upload(p.ffn_norm[l], lw.ffn_norm, stream_);
    }
    up.upload(p.embed, w.embed, "embed_tokens");
    if (!tied) up.upload(p.lm_head, w.lm_head, "lm_head");
    upload(p.final_norm, w.final_norm, stream_);
    TR_CUDA_CHECK(cudaStreamSynchronize(stream_));  // the host's weights may be unmapped next
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
