// A Mistral forward pass on the GPU, built from the operators in ops.h: device weights,
// and a session (one sequence with its rolling-buffer KV cache) that feeds tokens in
// chunks and replays a captured decode step.
//
// Two paths through a layer:
//   - few tokens (n ≤ 8, decode and short appends): fused matrix-vector kernels that
//     read each weight once (gemv_*.cu), flash-decoding attention over the cache;
//   - a chunk of prefill: RMSNorm, cuBLASLt products, RoPE, tiled tensor-core
//     attention, kv_commit, SwiGLU.
// Both compute the same function up to fp32 summation order and f16 rounding.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "gemm.h"
#include "ops.h"

namespace tramontane::cuda {

// What the forward pass needs from a model config.
struct ModelShape {
  int vocab = 0, dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, head_dim = 0, hidden = 0;
  int window = 0;  // 0 = full causal attention
  float rope_theta = 10000.f;
  float norm_eps = 1e-5f;
  RopeLayout rope_layout = RopeLayout::RotateHalf;

  static ModelShape mistral_7b();  // Mistral 7B v0.1
  int qkv_rows() const { return (n_heads + 2 * n_kv_heads) * head_dim; }
  size_t parameter_count() const;
};

// One cudaMalloc'd region, freed on destruction.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) {
    o.ptr_ = nullptr;
    o.bytes_ = 0;
  }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <typename T>
  T* as() const { return static_cast<T*>(ptr_); }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

struct LayerWeights {
  const f16* wqkv;         // [qkv_rows][dim]: q rows, k rows, v rows
  const f16* wo;           // [dim][n_heads · head_dim]
  const f16* wgu;          // [2 · hidden][dim]: gate rows, then up rows
  const f16* wd;           // [dim][hidden]
  const float* attn_norm;  // [dim]
  const float* ffn_norm;   // [dim]
};

class DeviceWeights {
 public:
  // Random f16 weights of the given shape generated on the GPU (benchmarks, tests):
  // uniform in ±sqrt(3/fan_in) so activations keep unit scale, norms near 1.
  static std::unique_ptr<DeviceWeights> random(const ModelShape& shape, uint64_t seed,
                                               cudaStream_t stream);

  // Where each tensor of a model lives on the device (tied: lm_head is embed).
  struct Places {
    std::vector<f16*> wqkv, wo, wgu, wd;
    std::vector<float*> attn_norm, ffn_norm;
    f16* embed = nullptr;
    f16* lm_head = nullptr;
    float* final_norm = nullptr;
  };
  // Device storage for a model of this shape, checked against the free GPU memory first
  // (one-line Error on shortage). Only the RoPE table is written; the caller copies the
  // tensors to `places` (the engine's loader, cuda/engine_backend.cu).
  static std::unique_ptr<DeviceWeights> allocate(const ModelShape& shape, bool tied,
                                                 Places* places, cudaStream_t stream);

  const ModelShape& shape() const { return shape_; }
  const LayerWeights& layer(int i) const { return layers_[size_t(i)]; }
  const f16* embed() const { return embed_; }
  const f16* lm_head() const { return lm_head_; }
  const float* final_norm() const { return final_norm_; }
  const float* inv_freq() const { return inv_freq_; }  // [head_dim / 2], θ^(−2i/d)
  size_t bytes() const { return storage_.bytes(); }

 private:
  ModelShape shape_;
  DeviceBuffer storage_;
  std::vector<LayerWeights> layers_;
  const f16* embed_ = nullptr;
  const f16* lm_head_ = nullptr;
  const float* final_norm_ = nullptr;
  const float* inv_freq_ = nullptr;
};

struct SessionConfig {
  int slack = 256;        // cache slots beyond the window (exact rollback distance)
  int context = 0;        // cache length for models without a window
  int max_chunk = 4096;   // largest prefill chunk (activation buffers are sized for it)
  int gemv_max = kGemvMaxTokens;  // chunks of at most this many tokens take the gemv path
  bool pdl = true;        // programmatic dependent launch between kernels (the fastest
                          // decode, in the captured graph too: see cuda/NOTES.md)
  bool simple_attention = false;  // prefill attention by the simple kernel (checks)
  int decode_blocks_per_sm = 1;   // decode attention blocks per SM at full window
  int logits_rows = 256;  // rows of logits computed per lm_head product on the GEMM path
};

// Kernel configurations of the gemv path, one per operator and token-count class.
struct GemvPlan {
  GemvConfig qkv, o, gate_up, down, logits;
};

class Session {
 public:
  Session(const DeviceWeights& weights, Gemm& gemm, const SessionConfig& config,
          cudaStream_t stream);
  ~Session();

  int capacity() const { return capacity_; }
  int64_t length() const { return length_; }
  size_t cache_bytes() const { return cache_.bytes(); }
  size_t scratch_bytes() const { return scratch_.bytes(); }

  // Runs tokens through the model at positions length() .. length() + n − 1 in chunks of
  // at most `chunk` tokens (0 = max_chunk). If logits is non-null it receives n × vocab
  // floats (copied to the host; synchronizes). The last row's logits stay on the device
  // in last_logits(). Without logits, returns with the work enqueued.
  void feed(const int* tokens, int n, int chunk = 0, float* logits = nullptr);
  const float* last_logits() const { return last_logits_; }

  // Forgets tokens past `length`. Exact while the cut is within the slack (the caller
  // checks, as the engine's KvCache does).
  void rollback(int64_t length);

  // Greedy token from last_logits() into the device token slot; returns it (syncs).
  int argmax_token();

  // The decode step as a CUDA graph: embeds the token in the device token slot at
  // position length(), runs every layer, writes argmax(logits) back into the slot and
  // advances the device position. replay(k) enqueues k steps; length() follows.
  void capture_decode();
  void replay(int steps);
  // The same decode step launched straight onto the stream, `steps` times (no graph).
  void decode_stream(int steps);
  void set_token(int token);  // the device token slot
  int token() const;          // reads it back (syncs)

  // Picks each gemv operator's block/grid configuration by timing candidates on this
  // session's buffers. Call before feeding (it writes cache slot 0..7).
  void tune_gemv(int reps = 10);
  GemvPlan& gemv_plan(bool single) { return single ? plan1_ : plan8_; }
  // Tunes cuBLASLt's algorithm choice for the prefill products of an m-token chunk.
  void tune_gemm(int m);

  // Kernel-by-kernel access for benchmarks: the decode step's pieces on layer `layer`.
  enum class Op { Qkv, Attention, OutProj, GateUp, Down, Logits, Argmax, Embed, Norm };
  void enqueue_op(Op op, int layer, int n);

  // Switches programmatic dependent launch on or off (recapture the decode step after).
  void set_pdl(bool on) { config_.pdl = on; }
  void set_device_pos(int pos) { set_pos(pos); }
  cudaStream_t stream() const { return stream_; }

 private:
  void run_gemv_chunk(const int* d_tokens, int n, bool all_logits);
  // The input of a normalized gemv: fused for one token, rmsnorm() into xn_ for several.
  NormedInput normed(const float* norm_w, int n);
  void run_gemm_chunk(const int* d_tokens, int n, int pos0, float* host_logits);
  void set_pos(int pos);
  Launch launch_cfg() const { return Launch{stream_, config_.pdl}; }
  f16* layer_k(int layer) const;
  f16* layer_v(int layer) const;

  const DeviceWeights& w_;
  Gemm& gemm_;
  SessionConfig config_;
  cudaStream_t stream_;
  ModelShape s_;
  AttnShape attn_;
  int capacity_ = 0;
  int64_t length_ = 0;
  int rows_ = 0;  // activation rows (max chunk)

  DeviceBuffer cache_, scratch_;
  float* x_ = nullptr;       // [rows][dim] residual stream
  f16* xn_ = nullptr;        // [rows][dim] normalized input of a product
  float* qkv_ = nullptr;     // [rows][qkv_rows]
  f16* q_ = nullptr;         // [rows][q_dim]
  f16* k_new_ = nullptr;     // [kv_heads][rows][head_dim]
  f16* v_new_ = nullptr;
  f16* ao_ = nullptr;        // [rows][q_dim] attention output
  f16* gu_ = nullptr;        // [rows][2 hidden]
  f16* h_ = nullptr;         // [rows][hidden]
  float* logits_ = nullptr;  // [max(logits_rows, 8)][vocab]
  int* d_tokens_ = nullptr;  // [rows]
  int* d_pos_ = nullptr;
  int* d_token_ = nullptr;
  DecodeScratch decode_;
  const float* last_logits_ = nullptr;
  GemvPlan plan1_, plan8_;
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t graph_exec_ = nullptr;
};

}  // namespace tramontane::cuda
