// The GPU forward pass: device weights and a session. See model.h.
#include "model.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace tramontane::cuda {

// --- shapes and buffers ----------------------------------------------------------------

ModelShape ModelShape::mistral_7b() {
  ModelShape s;
  s.vocab = 32000;
  s.dim = 4096;
  s.n_layers = 32;
  s.n_heads = 32;
  s.n_kv_heads = 8;
  s.head_dim = 128;
  s.hidden = 14336;
  s.window = 4096;
  s.rope_theta = 10000.f;
  s.norm_eps = 1e-5f;
  return s;
}

size_t ModelShape::parameter_count() const {
  const size_t d = size_t(dim), q = size_t(n_heads) * head_dim;
  const size_t per_layer = size_t(qkv_rows()) * d + d * q + 3 * size_t(hidden) * d + 2 * d;
  return size_t(n_layers) * per_layer + 2 * size_t(vocab) * d + d;
}

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes == 0) return;
  const cudaError_t err = cudaMalloc(&ptr_, bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free allocation error
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    throw Error("out of GPU memory: need " + std::to_string(bytes >> 20) + " MiB, " +
                std::to_string(free_b >> 20) + " MiB free of " + std::to_string(total_b >> 20) +
                " MiB");
  }
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_) cudaFree(ptr_);
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    if (ptr_) cudaFree(ptr_);
    ptr_ = o.ptr_;
    bytes_ = o.bytes_;
    o.ptr_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

namespace {

// Hands out 256-byte-aligned pieces of one allocation: first counting, then placing.
class Carver {
 public:
  explicit Carver(void* base = nullptr) : base_(static_cast<char*>(base)) {}
  template <typename T>
  T* take(size_t count) {
    offset_ = (offset_ + 255) & ~size_t(255);
    T* p = base_ ? reinterpret_cast<T*>(base_ + offset_) : nullptr;
    offset_ += count * sizeof(T);
    return p;
  }
  size_t size() const { return (offset_ + 255) & ~size_t(255); }

 private:
  char* base_;
  size_t offset_ = 0;
};

// Checks up front that `bytes` more fit in the GPU's free memory, so a shortage is a
// one-line error naming what did not fit rather than a failure half-way through.
void require_free_memory(size_t bytes, const std::string& what) {
  size_t free_b = 0, total_b = 0;
  TR_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  if (bytes > free_b) {
    throw Error("not enough GPU memory for " + what + ": need " + std::to_string(bytes >> 20) +
                " MiB, " + std::to_string(free_b >> 20) + " MiB free of " +
                std::to_string(total_b >> 20) + " MiB");
  }
}

}  // namespace

std::unique_ptr<DeviceWeights> DeviceWeights::allocate(const ModelShape& s, bool tied,
                                                       Places* places, cudaStream_t stream) {
  auto w = std::unique_ptr<DeviceWeights>(new DeviceWeights());
  w->shape_ = s;
  const size_t d = size_t(s.dim), q = size_t(s.n_heads) * s.head_dim, h = size_t(s.hidden);
  float* inv_freq = nullptr;
  auto carve = [&](Carver& c, Places& p) {
    p = Places{};
    for (int l = 0; l < s.n_layers; ++l) {
      p.wqkv.push_back(c.take<f16>(size_t(s.qkv_rows()) * d));
      p.wo.push_back(c.take<f16>(d * q));
      p.wgu.push_back(c.take<f16>(2 * h * d));
      p.wd.push_back(c.take<f16>(d * h));
      p.attn_norm.push_back(c.take<float>(d));
      p.ffn_norm.push_back(c.take<float>(d));
    }
    p.embed = c.take<f16>(size_t(s.vocab) * d);
    p.lm_head = tied ? p.embed : c.take<f16>(size_t(s.vocab) * d);
    p.final_norm = c.take<float>(d);
    inv_freq = c.take<float>(size_t(s.head_dim / 2));
  };
  Carver counter;
  carve(counter, *places);
  require_free_memory(counter.size(), "the model's weights");
  w->storage_ = DeviceBuffer(counter.size());
  Carver placer(w->storage_.as<void>());
  carve(placer, *places);

  const Places& p = *places;
  for (int i = 0; i < s.n_layers; ++i)
    w->layers_.push_back(LayerWeights{p.wqkv[i], p.wo[i], p.wgu[i], p.wd[i], p.attn_norm[i],
                                      p.ffn_norm[i]});
  w->embed_ = p.embed;
  w->lm_head_ = p.lm_head;
  w->final_norm_ = p.final_norm;
  w->inv_freq_ = inv_freq;
  // As HF computes it: 1 / θ^(2i/d) in fp32.
  std::vector<float> inv(size_t(s.head_dim / 2));
  for (int i = 0; i < s.head_dim / 2; ++i)
    inv[size_t(i)] = 1.f / std::pow(s.rope_theta, float(2 * i) / float(s.head_dim));
  TR_CUDA_CHECK(cudaMemcpyAsync(inv_freq, inv.data(), inv.size() * sizeof(float),
                                cudaMemcpyHostToDevice, stream));
  TR_CUDA_CHECK(cudaStreamSynchronize(stream));
  return w;
}

std::unique_ptr<DeviceWeights> DeviceWeights::random(const ModelShape& s, uint64_t seed,
                                                     cudaStream_t stream) {
  Places p;
  auto w = allocate(s, false, &p, stream);
  const size_t d = size_t(s.dim), q = size_t(s.n_heads) * s.head_dim, h = size_t(s.hidden);
  const Launch l{stream, false};
  uint64_t k = seed * 1000003ull;
  auto fill_w = [&](f16* ptr, size_t count, size_t fan_in) {
    const float a = std::sqrt(3.f / float(fan_in));
    fill_uniform(l, ptr, count, ++k, -a, a);
  };
  for (int i = 0; i < s.n_layers; ++i) {
    fill_w(p.wqkv[i], size_t(s.qkv_rows()) * d, d);
    fill_w(p.wo[i], d * q, q);
    fill_w(p.wgu[i], 2 * h * d, d);
    fill_w(p.wd[i], d * h, h);
    fill_uniform(l, p.attn_norm[i], d, ++k, 0.8f, 1.2f);
    fill_uniform(l, p.ffn_norm[i], d, ++k, 0.8f, 1.2f);
  }
  fill_uniform(l, p.embed, size_t(s.vocab) * d, ++k, -1.f, 1.f);
  fill_w(p.lm_head, size_t(s.vocab) * d, d);
  fill_uniform(l, p.final_norm, d, ++k, 0.8f, 1.2f);
  TR_CUDA_CHECK(cudaStreamSynchronize(stream));
  return w;
}

// --- session ---------------------------------------------------------------------------

Session::Session(const DeviceWeights& weights, Gemm& gemm, const SessionConfig& config,
                 cudaStream_t stream)
    : w_(weights), gemm_(gemm), config_(config), stream_(stream), s_(weights.shape()) {
  if (s_.window > 0) {
    if (config_.slack < 0) throw Error("slack must be >= 0");
    capacity_ = s_.window + config_.slack;
  } else {
    if (config_.context <= 0) throw Error("a model without a window needs a context length");
    capacity_ = config_.context;
  }
  if (config_.gemv_max > kGemvMaxTokens) config_.gemv_max = kGemvMaxTokens;
  attn_.n_heads = s_.n_heads;
  attn_.n_kv_heads = s_.n_kv_heads;
  attn_.head_dim = s_.head_dim;
  attn_.window = s_.window;
  attn_.capacity = capacity_;
  rows_ = std::max(config_.max_chunk, kGemvMaxTokens);
  config_.logits_rows = std::max(1, std::min(config_.logits_rows, rows_));

  const size_t cache_bytes = 2 * size_t(s_.n_layers) * s_.n_kv_heads * size_t(capacity_) *
                            s_.head_dim * sizeof(f16);

  int dev = 0, sms = 0;
  TR_CUDA_CHECK(cudaGetDevice(&dev));
  TR_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  decode_.max_splits = decode_splits_for(attn_, sms * std::max(1, config_.decode_blocks_per_sm));
  // The gemv configurations tune_gemv picked on an H100 (132 SMs), as multiples of the
  // SM count or of the tiles per block: a sound start on any card; the bench tunes them
  // on the card at hand.
  plan1_ = GemvPlan{{8, ceil_div(gemv_qkv_tiles(attn_), 2), 4}, {8, 0, 4}, {8, 2 * sms, 4},
                    {8, 0, 4}, {8, 8 * sms, 4}};
  plan8_ = GemvPlan{{4, 0, 4}, {8, 0, 4}, {8, 12 * sms, 4}, {8, 0, 4}, {8, 6 * sms, 4}};
  decode_.max_queries = kGemvMaxTokens;
  const size_t r = size_t(rows_), d = size_t(s_.dim), qd = size_t(attn_.q_dim());
  auto carve = [&](Carver& c) {
    x_ = c.take<float>(r * d);
    xn_ = c.take<f16>(r * d);
    qkv_ = c.take<float>(r * size_t(s_.qkv_rows()));
    q_ = c.take<f16>(r * qd);
    k_new_ = c.take<f16>(r * size_t(attn_.kv_dim()));
    v_new_ = c.take<f16>(r * size_t(attn_.kv_dim()));
    ao_ = c.take<f16>(r * qd);
    gu_ = c.take<f16>(r * 2 * size_t(s_.hidden));
    h_ = c.take<f16>(r * size_t(s_.hidden));
    logits_ = c.take<float>(size_t(std::max(config_.logits_rows, kGemvMaxTokens)) * s_.vocab);
    d_tokens_ = c.take<int>(r);
    d_pos_ = c.take<int>(1);
    d_token_ = c.take<int>(1);
    decode_.part_o = c.take<float>(DecodeScratch::part_o_floats(attn_, decode_.max_splits,
                                                                decode_.max_queries));
    decode_.part_ml = c.take<float>(size_t(decode_.max_queries) * s_.n_heads *
                                    decode_.max_splits * 2);
    decode_.done_count = c.take<int>(size_t(s_.n_kv_heads));
  };
  Carver counter;
  carve(counter);
  require_free_memory(cache_bytes + counter.size(),
                      "a session (KV cache " + std::to_string(cache_bytes >> 20) + " MiB + scratch " +
                          std::to_string(counter.size() >> 20) + " MiB)");
  cache_ = DeviceBuffer(cache_bytes);
  scratch_ = DeviceBuffer(counter.size());
  Carver placer(scratch_.as<void>());
  carve(placer);
  TR_CUDA_CHECK(cudaMemsetAsync(d_pos_, 0, sizeof(int), stream_));
  TR_CUDA_CHECK(cudaMemsetAsync(d_token_, 0, sizeof(int), stream_));
  TR_CUDA_CHECK(cudaMemsetAsync(decode_.done_count, 0, sizeof(int) * s_.n_kv_heads, stream_));
  last_logits_ = logits_;
  TR_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

Session::~Session() {
  if (graph_exec_) cudaGraphExecDestroy(graph_exec_);
  if (graph_) cudaGraphDestroy(graph_);
}

f16* Session::layer_k(int layer) const {
  return cache_.as<f16>() + size_t(layer) * s_.n_kv_heads * size_t(capacity_) * s_.head_dim;
}
f16* Session::layer_v(int layer) const {
  return layer_k(layer) + size_t(s_.n_layers) * s_.n_kv_heads * size_t(capacity_) * s_.head_dim;
}

void Session::set_pos(int pos) { fill_int(launch_cfg(), d_pos_, 1, pos); }

void Session::feed(const int* tokens, int n, int chunk, float* logits) {
  if (n <= 0) return;
  if (chunk <= 0) chunk = config_.max_chunk;
  chunk = std::min(chunk, rows_);
  if (s_.window == 0 && length_ + n > capacity_)
    throw Error("context full: " + std::to_string(length_ + n) + " tokens, room for " +
                std::to_string(capacity_));
  for (int off = 0; off < n; off += chunk) {
    const int m = std::min(chunk, n - off);
    for (int i = 0; i < m; ++i) {
      if (tokens[off + i] < 0 || tokens[off + i] >= s_.vocab)
        throw Error("token id " + std::to_string(tokens[off + i]) + " out of range");
    }
    TR_CUDA_CHECK(cudaMemcpyAsync(d_tokens_, tokens + off, sizeof(int) * size_t(m),
                                  cudaMemcpyHostToDevice, stream_));
    const int pos0 = int(length_);
    // The gemv path writes a chunk's keys before its attention reads the window: safe
    // while the chunk overwrites no slot its own queries still need (m ≤ slack + 1).
    const bool small = m <= config_.gemv_max && (s_.window == 0 || m <= config_.slack + 1);
    float* out = logits ? logits + size_t(off) * s_.vocab : nullptr;
    if (small) {
      set_pos(pos0);
      run_gemv_chunk(d_tokens_, m, out != nullptr);
      if (out) {
        TR_CUDA_CHECK(cudaMemcpyAsync(out, logits_, sizeof(float) * size_t(m) * s_.vocab,
                                      cudaMemcpyDeviceToHost, stream_));
        TR_CUDA_CHECK(cudaStreamSynchronize(stream_));
      }
    } else {
      run_gemm_chunk(d_tokens_, m, pos0, out);
    }
    length_ += m;
  }
}

NormedInput Session::normed(const float* norm_w, int n) {
  if (n == 1) return NormedInput{x_, norm_w, s_.norm_eps, nullptr};
  rmsnorm(launch_cfg(), xn_, x_, norm_w, n, s_.dim, s_.norm_eps);
  return NormedInput{nullptr, nullptr, 0.f, xn_};
}

void Session::run_gemv_chunk(const int* d_tokens, int n, bool all_logits) {
  const Launch l = launch_cfg();
  const GemvPlan& p = n == 1 ? plan1_ : plan8_;
  embed(l, x_, w_.embed(), s_.dim, d_tokens, n);
  for (int i = 0; i < s_.n_layers; ++i) {
    const LayerWeights& lw = w_.layer(i);
    gemv_qkv(l, p.qkv, lw.wqkv, normed(lw.attn_norm, n), n, s_.dim, attn_, s_.rope_layout,
             w_.inv_freq(), d_pos_, q_, layer_k(i), layer_v(i));
    attention_decode(l, q_, layer_k(i), layer_v(i), d_pos_, n, attn_, decode_, ao_);
    gemv_residual(l, p.o, lw.wo, ao_, n, attn_.q_dim(), s_.dim, x_);
    gemv_swiglu(l, p.gate_up, lw.wgu, normed(lw.ffn_norm, n), n, s_.dim, s_.hidden, h_);
    gemv_residual(l, p.down, lw.wd, h_, n, s_.hidden, s_.dim, x_);
  }
  if (all_logits) {
    gemv_logits(l, p.logits, w_.lm_head(), normed(w_.final_norm(), n), n, s_.dim, s_.vocab, logits_);
    last_logits_ = logits_ + size_t(n - 1) * s_.vocab;
  } else {
    const NormedInput last{x_ + size_t(n - 1) * s_.dim, w_.final_norm(), s_.norm_eps, nullptr};
    gemv_logits(l, plan1_.logits, w_.lm_head(), last, 1, s_.dim, s_.vocab, logits_);
    last_logits_ = logits_;
  }
}

void Session::run_gemm_chunk(const int* d_tokens, int n, int pos0, float* host_logits) {
  const Launch l = launch_cfg();
  const float eps = s_.norm_eps;
  const int d = s_.dim, qd = attn_.q_dim(), hid = s_.hidden;
  embed(l, x_, w_.embed(), d, d_tokens, n);
  for (int i = 0; i < s_.n_layers; ++i) {
    const LayerWeights& lw = w_.layer(i);
    rmsnorm(l, xn_, x_, lw.attn_norm, n, d, eps);
    gemm_.run(stream_, xn_, lw.wqkv, qkv_, true, n, s_.qkv_rows(), d, false);
    rope_qkv(l, qkv_, n, pos0, attn_, s_.rope_layout, w_.inv_freq(), q_, k_new_, v_new_);
    if (config_.simple_attention)
      attention_prefill_simple(l, q_, k_new_, v_new_, layer_k(i), layer_v(i), n, pos0, attn_, ao_);
    else
      attention_prefill(l, q_, k_new_, v_new_, layer_k(i), layer_v(i), n, pos0, attn_, ao_);
    kv_commit(l, k_new_, v_new_, n, pos0, attn_, layer_k(i), layer_v(i));
    gemm_.run(stream_, ao_, lw.wo, x_, true, n, d, qd, true);
    rmsnorm(l, xn_, x_, lw.ffn_norm, n, d, eps);
    gemm_.run(stream_, xn_, lw.wgu, gu_, false, n, 2 * hid, d, false);
    swiglu(l, gu_, n, hid, h_);
    gemm_.run(stream_, h_, lw.wd, x_, true, n, d, hid, true);
  }
  if (host_logits) {
    for (int r0 = 0; r0 < n; r0 += config_.logits_rows) {
      const int rr = std::min(config_.logits_rows, n - r0);
      rmsnorm(l, xn_, x_ + size_t(r0) * d, w_.final_norm(), rr, d, eps);
      gemm_.run(stream_, xn_, w_.lm_head(), logits_, true, rr, s_.vocab, d, false);
      TR_CUDA_CHECK(cudaMemcpyAsync(host_logits + size_t(r0) * s_.vocab, logits_,
                                    sizeof(float) * size_t(rr) * s_.vocab, cudaMemcpyDeviceToHost,
                                    stream_));
      TR_CUDA_CHECK(cudaStreamSynchronize(stream_));
      last_logits_ = logits_ + size_t(rr - 1) * s_.vocab;
    }
  } else {
    const NormedInput last{x_ + size_t(n - 1) * d, w_.final_norm(), eps, nullptr};
    gemv_logits(l, plan1_.logits, w_.lm_head(), last, 1, d, s_.vocab, logits_);
    last_logits_ = logits_;
  }
}

void Session::rollback(int64_t length) {
  if (length < 0 || length > length_) throw Error("rollback beyond the held tokens");
  length_ = length;
}

int Session::argmax_token() {
  argmax(launch_cfg(), last_logits_, s_.vocab, d_token_, nullptr, 0);
  return token();
}

void Session::set_token(int token) {
  TR_CUDA_CHECK(cudaMemcpyAsync(d_token_, &token, sizeof(int), cudaMemcpyHostToDevice, stream_));
  TR_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

int Session::token() const {
  int t = 0;
  TR_CUDA_CHECK(cudaMemcpyAsync(&t, d_token_, sizeof(int), cudaMemcpyDeviceToHost, stream_));
  TR_CUDA_CHECK(cudaStreamSynchronize(stream_));
  return t;
}

void Session::capture_decode() {
  if (graph_exec_) {
    TR_CUDA_CHECK(cudaGraphExecDestroy(graph_exec_));
    graph_exec_ = nullptr;
  }
  if (graph_) {
    TR_CUDA_CHECK(cudaGraphDestroy(graph_));
    graph_ = nullptr;
  }
  TR_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
  try {
    run_gemv_chunk(d_token_, 1, false);
    argmax(launch_cfg(), logits_, s_.vocab, d_token_, d_pos_, 1);
  } catch (...) {
    cudaGraph_t g = nullptr;
    cudaStreamEndCapture(stream_, &g);
    if (g) cudaGraphDestroy(g);
    throw;
  }
  TR_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph_));
  TR_CUDA_CHECK(cudaGraphInstantiate(&graph_exec_, graph_, 0));
}

void Session::replay(int steps) {
  if (!graph_exec_) throw Error("replay before capture_decode");
  if (s_.window == 0 && length_ + steps > capacity_) throw Error("context full");
  set_pos(int(length_));
  for (int i = 0; i < steps; ++i) TR_CUDA_CHECK(cudaGraphLaunch(graph_exec_, stream_));
  length_ += steps;
  last_logits_ = logits_;
}

void Session::decode_stream(int steps) {
  if (s_.window == 0 && length_ + steps > capacity_) throw Error("context full");
  set_pos(int(length_));
  for (int i = 0; i < steps; ++i) {
    run_gemv_chunk(d_token_, 1, false);
    argmax(launch_cfg(), logits_, s_.vocab, d_token_, d_pos_, 1);
  }
  length_ += steps;
  last_logits_ = logits_;
}

void Session::enqueue_op(Op op, int layer, int n) {
  const Launch l = launch_cfg();
  const GemvPlan& p = n == 1 ? plan1_ : plan8_;
  const LayerWeights& lw = w_.layer(layer);
  // Several tokens read rows normalized beforehand (xn_), as run_gemv_chunk arranges.
  auto in = [&](const float* norm_w) {
    return n == 1 ? NormedInput{x_, norm_w, s_.norm_eps, nullptr} : NormedInput{nullptr, nullptr, 0.f, xn_};
  };
  switch (op) {
    case Op::Qkv:
      return gemv_qkv(l, p.qkv, lw.wqkv, in(lw.attn_norm), n, s_.dim, attn_, s_.rope_layout,
                      w_.inv_freq(), d_pos_, q_, layer_k(layer), layer_v(layer));
    case Op::Attention:
      return attention_decode(l, q_, layer_k(layer), layer_v(layer), d_pos_, n, attn_, decode_, ao_);
    case Op::OutProj: return gemv_residual(l, p.o, lw.wo, ao_, n, attn_.q_dim(), s_.dim, x_);
    case Op::GateUp:
      return gemv_swiglu(l, p.gate_up, lw.wgu, in(lw.ffn_norm), n, s_.dim, s_.hidden, h_);
    case Op::Down: return gemv_residual(l, p.down, lw.wd, h_, n, s_.hidden, s_.dim, x_);
    case Op::Logits:
      return gemv_logits(l, p.logits, w_.lm_head(), in(w_.final_norm()), n, s_.dim, s_.vocab, logits_);
    case Op::Argmax: return argmax(l, logits_, s_.vocab, d_token_, nullptr, 0);
    case Op::Embed: return embed(l, x_, w_.embed(), s_.dim, d_tokens_, n);
    case Op::Norm: return rmsnorm(l, xn_, x_, lw.attn_norm, n, s_.dim, s_.norm_eps);
  }
}

namespace {

float median_of(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

void Session::tune_gemv(int reps) {
  const Launch l{stream_, false};
  const int d = s_.dim;
  // Real data everywhere the operators read.
  fill_uniform(l, x_, size_t(kGemvMaxTokens) * d, 11, -1.f, 1.f);
  fill_uniform(l, ao_, size_t(kGemvMaxTokens) * attn_.q_dim(), 12, -1.f, 1.f);
  fill_uniform(l, h_, size_t(kGemvMaxTokens) * s_.hidden, 13, -1.f, 1.f);
  fill_uniform(l, xn_, size_t(kGemvMaxTokens) * d, 14, -1.f, 1.f);
  fill_int(l, d_tokens_, kGemvMaxTokens, 1);
  set_pos(0);
  int sms = 0, dev = 0;
  TR_CUDA_CHECK(cudaGetDevice(&dev));
  TR_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));

  cudaEvent_t start, stop;
  TR_CUDA_CHECK(cudaEventCreate(&start));
  TR_CUDA_CHECK(cudaEventCreate(&stop));
  struct Item {
    Op op;
    int tiles;
  };
  auto config_of = [](GemvPlan& p, Op op) -> GemvConfig& {
    switch (op) {
      case Op::Qkv: return p.qkv;
      case Op::OutProj: return p.o;
      case Op::GateUp: return p.gate_up;
      case Op::Down: return p.down;
      default: return p.logits;
    }
  };
  const Item items[] = {
      {Op::Qkv, gemv_qkv_tiles(attn_)},
      {Op::OutProj, gemv_rows_tiles(d)},
      {Op::GateUp, gemv_swiglu_tiles(s_.hidden)},
      {Op::Down, gemv_rows_tiles(d)},
      {Op::Logits, gemv_rows_tiles(s_.vocab)},
  };
  for (int n : {1, kGemvMaxTokens}) {
    GemvPlan& plan = n == 1 ? plan1_ : plan8_;
    for (const Item& it : items) {
      GemvConfig best{8, 0, 4};
      float best_ms = 1e30f;
      // Grids: one block per tile (0), whole multiples of the SM count, and grids that
      // give every block the same number of tiles.
      std::vector<int> grids = {0};
      for (int mult : {1, 2, 3, 4, 6, 8, 12, 16}) grids.push_back(mult * sms);
      for (int per_block = 2; per_block <= 8; ++per_block) grids.push_back(ceil_div(it.tiles, per_block));
      std::sort(grids.begin(), grids.end());
      grids.erase(std::unique(grids.begin(), grids.end()), grids.end());
      for (int steps : {2, 4})
      for (int warps : {2, 4, 8}) {
        for (int grid : grids) {
          if (grid >= it.tiles || grid > 16 * sms) continue;
          config_of(plan, it.op) = GemvConfig{warps, grid, steps};
          const int layers = it.op == Op::Logits ? 1 : s_.n_layers;
          std::vector<float> times;
          for (int r = 0; r < reps + 1; ++r) {
            TR_CUDA_CHECK(cudaEventRecord(start, stream_));
            for (int i = 0; i < layers; ++i) enqueue_op(it.op, i, n);
            TR_CUDA_CHECK(cudaEventRecord(stop, stream_));
            TR_CUDA_CHECK(cudaEventSynchronize(stop));
            float ms = 0.f;
            TR_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
            if (r > 0) times.push_back(ms / float(layers));  // the first is a warm-up
          }
          const float ms = median_of(times);
          if (ms < best_ms) {
            best_ms = ms;
            best = GemvConfig{warps, grid, steps};
          }
        }
      }
      config_of(plan, it.op) = best;
    }
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

void Session::tune_gemm(int m) {
  m = std::min(m, rows_);
  const Launch l{stream_, false};
  const int d = s_.dim, qd = attn_.q_dim(), hid = s_.hidden;
  fill_uniform(l, xn_, size_t(m) * d, 21, -1.f, 1.f);
  fill_uniform(l, ao_, size_t(m) * qd, 22, -1.f, 1.f);
  fill_uniform(l, h_, size_t(m) * hid, 23, -1.f, 1.f);
  const LayerWeights& lw = w_.layer(0);
  gemm_.tune(stream_, xn_, lw.wqkv, qkv_, true, m, s_.qkv_rows(), d, 5);
  gemm_.tune(stream_, ao_, lw.wo, x_, true, m, d, qd, 5);
  gemm_.tune(stream_, xn_, lw.wgu, gu_, false, m, 2 * hid, d, 5);
  gemm_.tune(stream_, h_, lw.wd, x_, true, m, d, hid, 5);
}

}  // namespace tramontane::cuda
