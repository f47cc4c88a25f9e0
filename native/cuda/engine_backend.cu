// The CUDA backend behind the engine's ForwardBackend interface: the model's weights
// copied to the GPU, and per session a CudaCache (the KvCache implementation) holding a
// cuda::Forward (the sequence's KV cache slots, activations and captured decode step).
// Positions come from the engine's session with every call.
//
// Weights: the kernels compute in f16 (IEEE half; NOTES.md says why not bf16). f16
// tensors are copied as they are; bf16 and f32 tensors are rounded to f16 on the GPU
// (bf16 is exact in f16 for magnitudes 6.1e-5 .. 65504; a weight beyond 65504 is refused
// with an error naming its tensor). Block-quantized tensors (GGUF) stay quantized on
// the GPU in their plane form (engine/weight_planes.h): the gemv kernels expand 8 values
// at a time in registers, the prefill path expands a matrix into a shared f16 scratch
// before its cuBLASLt product. The q/k/v matrices are placed one after the other (wqkv,
// one row range per storage type) and gate/up likewise (wgu), the layouts the kernels
// read. A mixture of experts (Mixtral) keeps its router in fp32 and stacks each layer's
// experts: expert e's gate and up rows at row 2e·hidden of one matrix, its down rows at
// row e·dim of another (forward_experts.cu reads them).
//
// Paths: head_dim 64 and 128 take the fast kernels (gemv decode path, flash-decoding and
// tiled tensor-core attention); a single token, greedy or sampled, replays the session's
// captured decode step. Other head sizes (8, 16, 32: the test models) run every
// chunk through the prefill path with the simple attention kernel: correct, not fast.
//
// GPU memory is checked against cudaMemGetInfo before each allocation: the weights when
// the model loads, each session's cache and scratch when it is created.
#include <algorithm>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "expert_route.h"
#include "forward_backend.h"
#include "gemm.h"
#include "forward.h"
#include "quant_blocks.h"
#include "weight_planes.h"

namespace tramontane {
namespace {

// The storage of a matrix on the GPU: a block type with a plane form stays quantized
// (engine/weight_planes.h) when its rows are whole 128-value units; every other matrix
// becomes f16 (f32 and bf16 rounded; IQ4_NL, IQ4_XS, Q2_K, Q3_K and narrow rows dequantized).
StoredType device_type(const Matrix& m) {
  return plane_form_fits(m.type, m.cols) ? m.type : StoredType::F16;
}

cuda::WeightTypes device_types(const Weights& w) {
  cuda::WeightTypes t;
  for (const LayerWeights& lw : w.layers) {
    cuda::WeightTypes::Layer l;
    l.q = device_type(lw.wq);
    l.k = device_type(lw.wk);
    l.v = device_type(lw.wv);
    l.o = device_type(lw.wo);
    // Gate and up rows share one matrix (the fused SwiGLU kernel reads a pair of rows
    // per output): when a file stores them differently, both go to f16.
    l.gate_up = device_type(lw.ffn.gate) == device_type(lw.ffn.up) ? device_type(lw.ffn.gate) : StoredType::F16;
    l.down = device_type(lw.ffn.down);
    if (!lw.moe.experts.empty()) {
      // A mixture's experts are stacked in one gate/up and one down matrix: in their
      // common type, or f16 when the experts differ.
      const StoredType gu = device_type(lw.moe.experts[0].gate), dn = device_type(lw.moe.experts[0].down);
      bool same_gu = true, same_dn = true;
      for (const FeedForwardWeights& f : lw.moe.experts) {
        same_gu = same_gu && device_type(f.gate) == gu && device_type(f.up) == gu;
        same_dn = same_dn && device_type(f.down) == dn;
      }
      l.gate_up = same_gu ? gu : StoredType::F16;
      l.down = same_dn ? dn : StoredType::F16;
    }
    t.layers.push_back(l);
  }
  t.embed = device_type(w.embed);
  t.lm_head = device_type(w.lm_head);
  return t;
}

// Copies weight matrices to the GPU into their device storage. f16 rows: each matrix
// raw into a device staging buffer, then rounded there (convert_to_f16); a value beyond
// the f16 range is refused, naming the tensor. Quantized rows: repacked into planes on
// the host (all cores), then copied. Every copy is ordered on the backend's stream: a
// plain cudaMemcpy from pageable memory may return before its DMA lands, and the
// kernels run on a non-blocking stream that would not wait for it.
class WeightUploader {
 public:
  explicit WeightUploader(cudaStream_t stream) : stream_(stream), overflow_(sizeof(unsigned)) {}

  // m's rows into rows first_row .. of dst.
  void upload(const cuda::DeviceMatrix& dst, int first_row, const Matrix& m,
              const std::string& name) {
    if (m.cols != dst.cols || first_row + m.rows > dst.rows) {
      throw Error(name + ": shape does not match its place on the GPU");
    }
    if (dst.quantized()) {
      upload_planes(dst, first_row, m, name);
      return;
    }
    cuda::f16* out = dst.data + size_t(first_row) * size_t(dst.cols);
    const size_t count = size_t(m.rows) * size_t(m.cols);
    if (m.type == StoredType::F16) {
      TR_CUDA_CHECK(cudaMemcpyAsync(out, m.data, m.bytes(), cudaMemcpyHostToDevice, stream_));
      return;
    }
    const void* src = m.data;
    StoredType src_type = m.type;
    std::vector<float> values;
    if (is_quantized(m.type)) {  // a block type kept as f16: its reference values
      values = dequantized(m);
      src = values.data();
      src_type = StoredType::F32;
    }
    const size_t bytes = count * (src_type == StoredType::F32 ? 4 : 2);
    if (staging_.bytes() < bytes) {
      TR_CUDA_CHECK(cudaStreamSynchronize(stream_));  // the old buffer may still be read
      staging_ = cuda::DeviceBuffer(bytes);
    }
    TR_CUDA_CHECK(cudaMemcpyAsync(staging_.as<void>(), src, bytes, cudaMemcpyHostToDevice, stream_));
    TR_CUDA_CHECK(cudaMemsetAsync(overflow_.as<unsigned>(), 0, sizeof(unsigned), stream_));
    cuda::convert_to_f16(cuda::Launch{stream_, false}, staging_.as<void>(), src_type, count, out,
                         overflow_.as<unsigned>());
    unsigned overflow = 0;
    TR_CUDA_CHECK(cudaMemcpyAsync(&overflow, overflow_.as<unsigned>(), sizeof overflow,
                                  cudaMemcpyDeviceToHost, stream_));
    TR_CUDA_CHECK(cudaStreamSynchronize(stream_));  // also: `values` may be freed now
    if (overflow > 0) {
      throw Error(name + ": " + std::to_string(overflow) +
                  " weights beyond the f16 range (|w| > 65504), which the CUDA backend computes "
                  "in; use the cpu backend");
    }
  }

  // m's rows into the row ranges of a fused matrix, starting at its row first_row.
  void upload(const cuda::RowParts& dst, int first_row, const Matrix& m, const std::string& name) {
    for (int p = 0; p < dst.count; ++p) {
      const int begin = dst.first_row[p], end = begin + dst.part[p].rows;
      if (first_row >= begin && first_row < end) return upload(dst.part[p], first_row - begin, m, name);
    }
    throw Error(name + ": no place on the GPU");
  }

 private:
  static std::vector<float> dequantized(const Matrix& m) {
    std::vector<float> v(size_t(m.rows) * size_t(m.cols));
    parallel_rows(m.rows, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        cpu::dequantize_row(m.type, static_cast<const uint8_t*>(m.data) + size_t(r) * m.row_bytes(),
                            v.data() + size_t(r) * size_t(m.cols), m.cols);
      }
    });
    return v;
  }

  void upload_planes(const cuda::DeviceMatrix& dst, int first_row, const Matrix& m,
                     const std::string& name) {
    if (m.type != dst.type) throw Error(name + ": stored type does not match its place on the GPU");
    const PlaneRowBytes rb = plane_row_bytes(plane_format(m.type), m.cols);
    std::vector<uint8_t> codes(size_t(m.rows) * rb.codes), high(size_t(m.rows) * rb.high);
    std::vector<uint16_t> scales(size_t(m.rows) * rb.scales / 2);
    parallel_rows(m.rows, [&](int64_t r0, int64_t r1) {
      to_planes(m.type, static_cast<const uint8_t*>(m.data) + size_t(r0) * m.row_bytes(), r1 - r0,
                m.cols, codes.data() + size_t(r0) * rb.codes,
                rb.high ? high.data() + size_t(r0) * rb.high : nullptr,
                scales.data() + size_t(r0) * rb.scales / 2);
    });
    const size_t r = size_t(first_row);
    TR_CUDA_CHECK(cudaMemcpyAsync(dst.codes + r * rb.codes, codes.data(), codes.size(),
                                  cudaMemcpyHostToDevice, stream_));
    if (rb.high) {
      TR_CUDA_CHECK(cudaMemcpyAsync(dst.high + r * rb.high, high.data(), high.size(),
                                    cudaMemcpyHostToDevice, stream_));
    }
    TR_CUDA_CHECK(cudaMemcpyAsync(dst.scales + r * rb.scales / 2, scales.data(),
                                  scales.size() * sizeof(uint16_t), cudaMemcpyHostToDevice, stream_));
    TR_CUDA_CHECK(cudaStreamSynchronize(stream_));  // the host planes are freed on return
  }

  // fn(r0, r1) over row ranges on every core (repacking a 7B model's rows is seconds of
  // work on one).
  template <class Fn>
  static void parallel_rows(int64_t rows, Fn&& fn) {
    const int64_t workers = std::max<int64_t>(1, std::min<int64_t>(rows / 64 + 1,
                                                                   std::thread::hardware_concurrency()));
    std::vector<std::thread> pool;
    for (int64_t i = 0; i < workers; ++i) {
      const int64_t r0 = rows * i / workers, r1 = rows * (i + 1) / workers;
      pool.emplace_back([&fn, r0, r1] { fn(r0, r1); });
    }
    for (std::thread& t : pool) t.join();
  }

  cudaStream_t stream_;
  cuda::DeviceBuffer staging_, overflow_;
};

void upload(float* dst, const std::vector<float>& v, cudaStream_t stream) {
  TR_CUDA_CHECK(cudaMemcpyAsync(dst, v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice,
                                stream));
}

// A router's rows as fp32 (the files keep it F32; any stored type is read exactly).
void upload_router(float* dst, const Matrix& m, cudaStream_t stream) {
  std::vector<float> v(size_t(m.rows) * size_t(m.cols));
  for (int64_t r = 0; r < m.rows; ++r) {
    cpu::dequantize_row(m.type, static_cast<const uint8_t*>(m.data) + size_t(r) * m.row_bytes(),
                        v.data() + size_t(r) * size_t(m.cols), m.cols);
  }
  upload(dst, v, stream);
  TR_CUDA_CHECK(cudaStreamSynchronize(stream));  // v is freed on return
}

class CudaBackend;

// One session's cache: the sequence's GPU forward, and what its device token slot holds.
class CudaCache : public KvCache {
 public:
  CudaCache(CudaBackend& backend, std::unique_ptr<cuda::Forward> gpu)
      : backend_(backend), gpu_(std::move(gpu)) {}

  int capacity() const override { return gpu_->capacity(); }
  // Whole chunks: a 512-token chunk of the 7B shape takes about 13 ms, and 64-token
  // steps would cost prefill speed (each step reads every weight once).
  int preemption_batch() const override { return gpu_->max_chunk(); }
  // A mixture's rows route to different experts: a step of k rows reads the weights of
  // up to min(2k, 8) experts against 2 for one token. The 8x7B shape (Q4_K_M, H100)
  // decoded 113 tok/s with drafts kept for 60 of 256 tokens, slower than the 127 it
  // decoded without drafts at a longer context: no drafts for a mixture.
  int single_step_batch() const override {
    if (gpu_->weights().config().feed_forward == FeedForwardKind::MixtureOfExperts) return 1;
    return gpu_->gemv_max();
  }
  void forward(const Batch& batch, float* logits, bool all_rows) override;
  bool decode_greedy(int token, int64_t pos, int* next) override;
  void read_last_logits(float* logits) override;

 private:
  friend class CudaBackend;
  CudaBackend& backend_;
  std::unique_ptr<cuda::Forward> gpu_;
  bool captured_ = false;  // the decode-step graph of gpu_
  int slot_ = -1;          // what the device token slot holds, when known (else -1)
};

class CudaBackend : public ForwardBackend {
 public:
  CudaBackend(const ModelConfig& config, const Weights& w) : config_(config) {
    if (!cuda_device_available()) {
      throw Error("--backend cuda: no CUDA GPU is available on this machine");
    }
    const ModelConfig& c = config;
    if (const std::string why = cuda_unsupported(c); !why.empty()) throw Error(why);
    fast_ = c.head_dim == 64 || c.head_dim == 128;
    TR_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    gemm_ = std::make_unique<cuda::Gemm>();

    const bool tied = w.lm_head.data == w.embed.data;
    weights_ = cuda::DeviceWeights::allocate(c, device_types(w), tied, stream_);
    WeightUploader up(stream_);
    for (int l = 0; l < c.n_layers; ++l) {
      const LayerWeights& lw = w.layers[size_t(l)];
      const cuda::DeviceWeights::Layer& dl = weights_->layer(l);
      const std::string layer = "layer " + std::to_string(l) + " ";
      up.upload(dl.wqkv, 0, lw.wq, layer + "q_proj");
      up.upload(dl.wqkv, int(lw.wq.rows), lw.wk, layer + "k_proj");
      up.upload(dl.wqkv, int(lw.wq.rows + lw.wk.rows), lw.wv, layer + "v_proj");
      up.upload(dl.wo, 0, lw.wo, layer + "o_proj");
      if (c.feed_forward == FeedForwardKind::MixtureOfExperts) {
        upload_router(dl.moe.router, lw.moe.router, stream_);
        const int h = c.hidden_dim;
        for (int e = 0; e < c.n_experts; ++e) {
          const FeedForwardWeights& f = lw.moe.experts[size_t(e)];
          const std::string expert = layer + "expert " + std::to_string(e) + " ";
          up.upload(dl.moe.wgu, 2 * h * e, f.gate, expert + "w1 (gate)");
          up.upload(dl.moe.wgu, 2 * h * e + h, f.up, expert + "w3 (up)");
          up.upload(dl.moe.wd, c.dim * e, f.down, expert + "w2 (down)");
        }
      } else {
        up.upload(dl.wgu, 0, lw.ffn.gate, layer + "gate_proj");
        up.upload(dl.wgu, int(lw.ffn.gate.rows), lw.ffn.up, layer + "up_proj");
        up.upload(dl.wd, 0, lw.ffn.down, layer + "down_proj");
      }
      upload(dl.attn_norm, lw.attn_norm, stream_);
      upload(dl.ffn_norm, lw.ffn_norm, stream_);
    }
    up.upload(weights_->embed(), 0, w.embed, "embed_tokens");
    if (!tied) up.upload(weights_->lm_head(), 0, w.lm_head, "lm_head");
    upload(weights_->final_norm(), w.final_norm, stream_);
    TR_CUDA_CHECK(cudaStreamSynchronize(stream_));  // the host's weights may be unmapped next
  }

  ~CudaBackend() override {
    weights_.reset();
    gemm_.reset();
    if (stream_) cudaStreamDestroy(stream_);
  }

  BackendKind kind() const override { return BackendKind::Cuda; }

  std::unique_ptr<KvCache> new_cache(int capacity, int chunk) override {
    cuda::ForwardConfig fc;
    fc.capacity = capacity;
    fc.max_chunk = chunk;
    if (!fast_) {
      fc.gemv_max = 0;  // every chunk on the prefill path
      fc.simple_attention = true;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    auto gpu = std::make_unique<cuda::Forward>(*weights_, *gemm_, fc, stream_);
    return std::make_unique<CudaCache>(*this, std::move(gpu));
  }

  void forward(CudaCache& c, const Batch& b, float* logits, bool all_rows) {
    std::lock_guard<std::mutex> lock(mutex_);
    cuda::Forward& gpu = *c.gpu_;
    if (fast_ && b.n == 1) {  // one token (sampled generation): the captured decode step
      step(c, b.tokens[0], b.pos);
      c.slot_ = -1;  // the step left its argmax in the slot, not a token the caller chose
      copy_last_logits(gpu, logits);
      return;
    }
    c.slot_ = -1;
    if (all_rows) {
      gpu.run(b.tokens, b.n, b.pos, logits);
    } else {
      gpu.run(b.tokens, b.n, b.pos, nullptr);
      copy_last_logits(gpu, logits);
    }
  }

  // Greedy decoding: one captured step (see step()), and the pick comes back as one int;
  // the logits stay on the device.
  bool decode_greedy(CudaCache& c, int token, int64_t pos, int* next) {
    if (!fast_) return false;  // heads of 8/16/32: no gemv decode path
    std::lock_guard<std::mutex> lock(mutex_);
    step(c, token, pos);
    const int picked = c.gpu_->token();
    c.slot_ = picked;
    *next = picked;
    return true;
  }

  void read_last_logits(CudaCache& c, float* logits) {
    std::lock_guard<std::mutex> lock(mutex_);
    copy_last_logits(*c.gpu_, logits);
  }

 private:
  // One token at `pos` through the cache's captured decode step (cuda::Forward::
  // capture_decode, once per cache): embeds the token in the device slot, runs the
  // layers, writes the argmax back into the slot. The token goes to the device only when
  // the slot does not already hold it (it does when greedy generation feeds back the
  // previous pick). Called with the lock held.
  void step(CudaCache& c, int token, int64_t pos) {
    cuda::Forward& gpu = *c.gpu_;
    if (!c.captured_) {
      gpu.capture_decode();
      c.captured_ = true;
    }
    const int held = c.slot_;
    c.slot_ = -1;
    if (held != token) gpu.set_token(token);
    gpu.replay(1, pos);
  }

  void copy_last_logits(cuda::Forward& gpu, float* logits) {
    TR_CUDA_CHECK(cudaMemcpyAsync(logits, gpu.last_logits(),
                                  sizeof(float) * size_t(config_.vocab_size),
                                  cudaMemcpyDeviceToHost, stream_));
    TR_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  const ModelConfig& config_;
  bool fast_ = false;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<cuda::Gemm> gemm_;
  std::unique_ptr<cuda::DeviceWeights> weights_;
  std::mutex mutex_;
};

void CudaCache::forward(const Batch& batch, float* logits, bool all_rows) {
  backend_.forward(*this, batch, logits, all_rows);
}
bool CudaCache::decode_greedy(int token, int64_t pos, int* next) {
  return backend_.decode_greedy(*this, token, pos, next);
}
void CudaCache::read_last_logits(float* logits) { backend_.read_last_logits(*this, logits); }

}  // namespace

std::string cuda_unsupported(const ModelConfig& c) {
  if (c.dim % 8 != 0 || c.hidden_dim % 8 != 0 || c.head_dim % 8 != 0) {
    return "the CUDA backend needs hidden_size, intermediate_size and head_dim to be multiples of 8";
  }
  if (c.feed_forward == FeedForwardKind::MixtureOfExperts &&
      (c.n_experts > cuda::route::kMaxExperts || c.n_experts_per_token > cuda::route::kMaxChosen)) {
    return "the CUDA backend routes at most " + std::to_string(cuda::route::kMaxChosen) + " of at most " +
           std::to_string(cuda::route::kMaxExperts) + " experts (this model: " +
           std::to_string(c.n_experts_per_token) + " of " + std::to_string(c.n_experts) +
           "); use --backend cpu";
  }
  return "";
}

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
