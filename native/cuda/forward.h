// The GPU forward pass of one sequence, built from the operators in ops.h: the device
// weights (shared by every sequence) and, per sequence, its KV cache slots, activations
// and captured decode step. Positions come from the caller (the engine's session): this
// class keeps none; the only position on the device is the decode step's, set by
// replay().
//
// Two paths through a layer:
//   - few tokens (n ≤ 8, decode and short appends): fused matrix-vector kernels that
//     read each weight once (gemv_*.cu), flash-decoding attention over the cache;
//   - a chunk of prefill: RMSNorm, cuBLASLt products (quantized matrices times up to 64
//     rows: the gemv kernel on their stored format), RoPE, tiled tensor-core attention
//     (a short chunk's keys split over several blocks), kv_commit, SwiGLU.
// Both compute the same function up to fp32 summation order and f16 rounding, and call
// the same feed-forward step per layer (the model family's; dense SwiGLU today).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "gemm.h"
#include "ops.h"

namespace tramontane::cuda {

// Mistral 7B v0.1's shape (benchmarks and checks on random weights).
ModelConfig mistral_7b_config();
// Mixtral 8x7B's shape: the 7B's attention, 8 experts of 14336 per layer, top 2, no window.
ModelConfig mixtral_8x7b_config();
// Rows of the fused q/k/v matrix, and the parameters of a model of this shape.
inline int qkv_rows(const ModelConfig& c) { return (c.n_heads + 2 * c.n_kv_heads) * c.head_dim; }
size_t parameter_count(const ModelConfig& c);

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

// The storage of each weight matrix on the device: F16, or a block type kept in its
// plane form (engine/weight_planes.h). Types are per tensor, as GGUF files mix them.
struct WeightTypes {
  struct Layer {
    StoredType q = StoredType::F16, k = StoredType::F16, v = StoredType::F16;
    StoredType o = StoredType::F16, gate_up = StoredType::F16, down = StoredType::F16;
  };
  std::vector<Layer> layers;
  StoredType embed = StoredType::F16, lm_head = StoredType::F16;
  // Every matrix in one type.
  static WeightTypes uniform(const ModelConfig& c, StoredType t);
  // The types llama.cpp's Q4_K_M gives a model of this shape (engine/quant_mix.h), for
  // random models in benchmarks and checks: mostly Q4_K, Q6_K for lm_head and in some
  // layers, Q8_0 / Q5_K in Mixtral's attention (q/k/v then in two row ranges).
  static WeightTypes llama_q4_k_m(const ModelConfig& c);
};

// The model's weights on the device, in the layouts the kernels read: q/k/v rows fused
// into one matrix (one range per storage format), gate/up likewise. Tied models share
// embed and lm_head.
class DeviceWeights {
 public:
  struct Layer {
    RowParts wqkv;                // [qkv_rows][dim]: q rows, k rows, v rows
    DeviceMatrix wo;              // [dim][n_heads · head_dim]
    DeviceMatrix wgu;             // [2 · hidden][dim]: gate rows, then up rows
    DeviceMatrix wd;              // [dim][hidden]
    float* attn_norm = nullptr;   // [dim]
    float* ffn_norm = nullptr;    // [dim]
    // A mixture of experts (FeedForwardKind::MixtureOfExperts; wgu and wd stay empty):
    // every expert's matrices stacked in one gate/up and one down matrix of the layer's
    // storage types (ops.h, experts.cu, for the row layout).
    struct Experts {
      float* router = nullptr;    // [n_experts][dim], fp32 (as the files keep it)
      DeviceMatrix wgu;           // [n_experts · 2 · hidden][dim]
      DeviceMatrix wd;            // [n_experts · dim][hidden]
    } moe;
  };

  // Device storage for a model of this shape and these storage types, checked against
  // the free GPU memory first (one-line Error on shortage). Only the RoPE table is
  // written; the caller fills the tensors (the engine's upload, cuda/engine_backend.cu;
  // random()). A model with quantized matrices also gets one f16 scratch as large as
  // its largest quantized matrix, where the prefill path expands a matrix before its
  // cuBLASLt product (sessions share it: they run one at a time on one stream).
  static std::unique_ptr<DeviceWeights> allocate(const ModelConfig& config,
                                                 const WeightTypes& types, bool tied,
                                                 cudaStream_t stream);
  // Random weights of the given shape and types generated on the GPU (benchmarks,
  // tests): f16 uniform in ±sqrt(3/fan_in) so activations keep unit scale, quantized
  // ones with random codes and scales of that range, norms near 1.
  static std::unique_ptr<DeviceWeights> random(const ModelConfig& config, uint64_t seed,
                                               cudaStream_t stream);
  static std::unique_ptr<DeviceWeights> random(const ModelConfig& config,
                                               const WeightTypes& types, uint64_t seed,
                                               cudaStream_t stream);

  const ModelConfig& config() const { return config_; }
  const Layer& layer(int i) const { return layers_[size_t(i)]; }
  const DeviceMatrix& embed() const { return embed_; }
  const DeviceMatrix& lm_head() const { return lm_head_; }
  float* final_norm() const { return final_norm_; }
  const float* inv_freq() const { return inv_freq_; }  // [head_dim / 2], θ^(−2i/d)
  size_t bytes() const { return storage_.bytes(); }
  // The weights as f16 rows for a cuBLASLt product: an F16 matrix as it is, a quantized
  // one expanded into the shared scratch (valid until the next call).
  const f16* as_f16(const Launch& l, const DeviceMatrix& m) const;
  const f16* as_f16(const Launch& l, const RowParts& m) const;
  // Rows first .. first + count − 1 of m, as a matrix of their own (one expert's rows).
  static DeviceMatrix row_range(const DeviceMatrix& m, int first, int count);

 private:
  ModelConfig config_;
  DeviceBuffer storage_;
  std::vector<Layer> layers_;
  DeviceMatrix embed_, lm_head_;
  float* final_norm_ = nullptr;
  float* inv_freq_ = nullptr;
  f16* expand_scratch_ = nullptr;  // [largest quantized matrix]
};

struct ForwardConfig {
  int capacity = 0;       // KV cache slots C: W + slack with a window, the context without
  int max_chunk = 4096;   // largest chunk run() takes (activation buffers are sized for it)
  int gemv_max = kGemvMaxTokens;  // chunks of at most this many tokens take the gemv path
  int chunk_gemv_max = kChunkGemvMaxTokens;  // on the prefill path, quantized matrices times at
                                             // most this many rows by the gemv kernel
  bool pdl = true;        // programmatic dependent launch between kernels (the fastest
                          // decode, in the captured graph too: see cuda/NOTES.md)
  bool simple_attention = false;  // prefill attention by the simple kernel (checks)
  int decode_blocks_per_sm = 1;   // decode attention blocks per SM at full window
  int logits_rows = 256;  // rows of logits computed per lm_head product on the GEMM path
};

// Kernel configurations of the gemv path, one per operator and token-count class.
struct GemvPlan {
  GemvConfig qkv, o, gate_up, down, logits;
  // A mixture of experts: the experts' products (slots × one expert's rows), and whether
  // they are launched with PDL (their kernel then waits on the router before its first
  // weight loads; without, each launch waits for the previous kernel to finish).
  GemvConfig expert_gate_up, expert_down;
  bool expert_pdl = false;
};

// The activations of one sequence, [rows = max chunk][features], and the device slots
// of the decode step.
struct Activations {
  float* x = nullptr;       // [rows][dim] residual stream
  f16* xn = nullptr;        // [rows][dim] normalized input of a product
  float* qkv = nullptr;     // [rows][qkv_rows]
  f16* q = nullptr;         // [rows][q_dim]
  f16* k_new = nullptr;     // [kv_heads][rows][head_dim]
  f16* v_new = nullptr;
  f16* ao = nullptr;        // [rows][q_dim] attention output
  f16* gu = nullptr;        // [rows][2 hidden] (rows · k of them with experts)
  f16* h = nullptr;         // [rows][hidden] (likewise)
  float* logits = nullptr;  // [max(logits_rows, 8)][vocab]
  int* tokens = nullptr;    // [rows]
  int* pos = nullptr;       // the decode step's position
  int* token = nullptr;     // the decode step's token (its argmax afterwards)
};

// The scratch of a mixture-of-experts layer (forward_experts.cu), per slot (token t's
// j-th choice is slot t·k + j); the expert products' gate/up and SwiGLU outputs use
// Activations::gu and h, sized for rows · k slots in such a model.
struct ExpertScratch {
  ExpertRouting routing;     // [rows · k]
  f16* xe = nullptr;         // [feed-forward rows][dim] normalized inputs: one per slot
                             // (decode), grouped by expert (prefill)
  float* y = nullptr;        // [feed-forward rows][dim] each slot's expert output
  int* slot_row = nullptr;   // [rows · k] prefill: each slot's row in the grouped order
  int group_align = 1;       // prefill: each expert's group starts at a multiple of this
                             // row (256-byte aligned rows for cuBLASLt)
  std::vector<int> host_chosen, host_slot_row;  // prefill's routing on the host
};

class Forward {
 public:
  Forward(const DeviceWeights& weights, Gemm& gemm, const ForwardConfig& config,
          cudaStream_t stream);
  ~Forward();
  Forward(const Forward&) = delete;
  Forward& operator=(const Forward&) = delete;

  int capacity() const { return config_.capacity; }
  int max_chunk() const { return config_.max_chunk; }
  int gemv_max() const { return config_.gemv_max; }  // chunks up to this size: decode kernels
  size_t cache_bytes() const { return cache_.bytes(); }
  size_t scratch_bytes() const { return scratch_.bytes(); }

  // Runs one chunk of n ≤ max_chunk tokens (valid ids) at positions pos .. pos + n − 1,
  // writing their keys and values to slots (pos + t) mod C after their attention read
  // the held ones. If logits is non-null it receives n × vocab floats (copied to the
  // host; synchronizes). The last row's logits stay on the device in last_logits().
  // Without logits, returns with the work enqueued.
  void run(const int* tokens, int n, int64_t pos, float* logits = nullptr);
  const float* last_logits() const { return last_logits_; }

  // Greedy token from last_logits() into the device token slot; returns it (syncs).
  int argmax_token();

  // The decode step: embeds the token in the device token slot at the device position,
  // runs every layer, writes argmax(logits) back into the slot and advances the device
  // position. enqueue_decode_step() launches it straight onto the stream;
  // capture_decode() records it once as a CUDA graph and replay(k, pos) launches k
  // steps from position pos.
  void enqueue_decode_step();
  void capture_decode();
  void replay(int steps, int64_t pos);
  void set_token(int token);  // the device token slot
  int token() const;          // reads it back (syncs)
  void set_pos(int64_t pos);  // the device position

  // Switches programmatic dependent launch on or off (recapture the decode step after).
  void set_pdl(bool on) { config_.pdl = on; }
  // Quantized products of chunks up to n rows by the gemv kernel (0: all by cuBLASLt).
  void set_chunk_gemv_max(int n) { config_.chunk_gemv_max = std::min(n, kChunkGemvMaxTokens); }
  cudaStream_t stream() const { return stream_; }

  // The pieces the decode step is made of, for benchmarks that time or tune them.
  GemvPlan& gemv_plan(bool single) { return single ? plan1_ : plan8_; }
  const Activations& activations() const { return a_; }
  const AttnShape& attn_shape() const { return attn_; }
  const DecodeScratch& decode_scratch() const { return decode_; }
  const ExpertScratch& expert_scratch() const { return moe_; }
  const PrefillSplits& prefill_splits() const { return prefill_splits_; }
  const DeviceWeights& weights() const { return w_; }
  Launch launch_cfg() const { return Launch{stream_, config_.pdl}; }
  f16* layer_k(int layer) const;
  f16* layer_v(int layer) const;
  // The input of a normalized gemv: fused for one token, rmsnorm() into xn for several.
  NormedInput normed(const float* norm_w, int n);

 private:
  void run_gemv_chunk(const int* d_tokens, int n, bool all_logits);
  void run_gemm_chunk(const int* d_tokens, int n, int pos0, float* host_logits);
  // The layer's feed-forward block on n rows of x (the model family's step).
  void feed_forward_gemv(const DeviceWeights::Layer& lw, int n);
  void feed_forward_gemm(const DeviceWeights::Layer& lw, int n);
  template <class M>
  void product(const Launch& l, const f16* x, const M& w, void* y, ProductOut out, int n);
  // The mixture-of-experts block of both paths (forward_experts.cu).
  void experts_gemv(const DeviceWeights::Layer& lw, int n);
  void experts_gemm(const DeviceWeights::Layer& lw, int n);

  const DeviceWeights& w_;
  Gemm& gemm_;
  ForwardConfig config_;
  cudaStream_t stream_;
  const ModelConfig& c_;
  AttnShape attn_;
  int rows_ = 0;  // activation rows (max chunk)

  DeviceBuffer cache_, scratch_;
  Activations a_;
  ExpertScratch moe_;
  DecodeScratch decode_;
  PrefillSplits prefill_splits_;
  const float* last_logits_ = nullptr;
  GemvPlan plan1_, plan8_;
  void use_long_batches_below_8_bits(GemvPlan& plan) const;
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t graph_exec_ = nullptr;
};

}  // namespace tramontane::cuda
