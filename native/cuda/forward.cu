// The GPU forward pass: device weights and one sequence's forward. See forward.h.
#include "forward.h"

#include "quant_mix.h"
#include "weight_planes.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <type_traits>
#include <vector>

namespace tramontane::cuda {

// --- shapes and buffers ----------------------------------------------------------------

ModelConfig mistral_7b_config() {
  ModelConfig c;
  c.vocab_size = 32000;
  c.dim = 4096;
  c.n_layers = 32;
  c.n_heads = 32;
  c.n_kv_heads = 8;
  c.head_dim = 128;
  c.hidden_dim = 14336;
  c.sliding_window = 4096;
  c.rope_theta = 10000.f;
  c.norm_eps = 1e-5f;
  return c;
}

ModelConfig mixtral_8x7b_config() {
  ModelConfig c = mistral_7b_config();
  c.sliding_window = 0;
  c.rope_theta = 1e6f;
  c.feed_forward = FeedForwardKind::MixtureOfExperts;
  c.n_experts = 8;
  c.n_experts_per_token = 2;
  return c;
}

size_t parameter_count(const ModelConfig& c) {
  const size_t d = size_t(c.dim), q = size_t(c.n_heads) * c.head_dim;
  const bool moe = c.feed_forward == FeedForwardKind::MixtureOfExperts;
  const size_t ffn = moe ? size_t(c.n_experts) * (3 * size_t(c.hidden_dim) * d + d)
                         : 3 * size_t(c.hidden_dim) * d;
  const size_t per_layer = size_t(qkv_rows(c)) * d + d * q + ffn + 2 * d;
  return size_t(c.n_layers) * per_layer + 2 * size_t(c.vocab_size) * d + d;
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

WeightTypes WeightTypes::uniform(const ModelConfig& c, StoredType t) {
  WeightTypes w;
  w.layers.assign(size_t(c.n_layers), Layer{t, t, t, t, t, t});
  w.embed = w.lm_head = t;
  return w;
}

WeightTypes WeightTypes::llama_q4_k_m(const ModelConfig& c) {
  using R = MatrixRole;
  WeightTypes t;
  for (int i = 0; i < c.n_layers; ++i) {
    auto type = [&](MatrixRole r) { return llama_q4_k_m_type(r, i, c); };
    t.layers.push_back(Layer{type(R::Q), type(R::K), type(R::V), type(R::O), type(R::Gate), type(R::Down)});
  }
  t.embed = llama_q4_k_m_type(R::Embed, 0, c);
  t.lm_head = llama_q4_k_m_type(R::LmHead, 0, c);
  return t;
}

namespace {

// A [rows][cols] matrix of the given storage from the carver.
DeviceMatrix take_matrix(Carver& cv, StoredType type, int rows, int cols) {
  DeviceMatrix m;
  m.type = type;
  m.rows = rows;
  m.cols = cols;
  if (type == StoredType::F16) {
    m.data = cv.take<f16>(size_t(rows) * size_t(cols));
    return m;
  }
  if (!plane_form_fits(type, cols)) {
    throw Error(std::string("the CUDA backend cannot hold ") + stored_type_name(type) +
                " weights of width " + std::to_string(cols));
  }
  const PlaneRowBytes rb = plane_row_bytes(plane_format(type), cols);
  m.codes = cv.take<uint8_t>(size_t(rows) * rb.codes);
  if (rb.high) m.high = cv.take<uint8_t>(size_t(rows) * rb.high);
  m.scales = cv.take<uint16_t>(size_t(rows) * rb.scales / 2);
  return m;
}

// The q/k/v matrix as row ranges, consecutive parts of one type merged.
RowParts take_qkv(Carver& cv, const WeightTypes::Layer& t, const ModelConfig& c) {
  const int q = c.n_heads * c.head_dim, kv = c.n_kv_heads * c.head_dim;
  const StoredType types[3] = {t.q, t.k, t.v};
  const int rows[3] = {q, kv, kv};
  RowParts parts;
  int first = 0;
  for (int i = 0; i < 3;) {
    int j = i, n = 0;
    while (j < 3 && types[j] == types[i]) n += rows[j++];
    parts.first_row[parts.count] = first;
    parts.part[parts.count++] = take_matrix(cv, types[i], n, c.dim);
    first += n;
    i = j;
  }
  return parts;
}

size_t elements(const DeviceMatrix& m) { return size_t(m.rows) * size_t(m.cols); }

}  // namespace

std::unique_ptr<DeviceWeights> DeviceWeights::allocate(const ModelConfig& c,
                                                       const WeightTypes& types, bool tied,
                                                       cudaStream_t stream) {
  if (types.layers.size() != size_t(c.n_layers)) throw Error("weight types: one entry per layer");
  auto w = std::unique_ptr<DeviceWeights>(new DeviceWeights());
  w->config_ = c;
  const int d = c.dim, q = c.n_heads * c.head_dim, h = c.hidden_dim;
  const bool moe = c.feed_forward == FeedForwardKind::MixtureOfExperts;
  const int experts = moe ? c.n_experts : 0;
  size_t expand = 0;  // elements of the largest quantized matrix (of one expert)
  auto note = [&](const DeviceMatrix& m) {
    if (m.quantized()) expand = std::max(expand, elements(m));
  };
  auto carve = [&](Carver& cv) {
    expand = 0;
    w->layers_.assign(size_t(c.n_layers), Layer{});
    for (int i = 0; i < c.n_layers; ++i) {
      Layer& l = w->layers_[size_t(i)];
      const WeightTypes::Layer& t = types.layers[size_t(i)];
      l.wqkv = take_qkv(cv, t, c);
      l.wo = take_matrix(cv, t.o, d, q);
      if (moe) {
        l.moe.router = cv.take<float>(size_t(experts) * size_t(d));
        l.moe.wgu = take_matrix(cv, t.gate_up, experts * 2 * h, d);
        l.moe.wd = take_matrix(cv, t.down, experts * d, h);
      } else {
        l.wgu = take_matrix(cv, t.gate_up, 2 * h, d);
        l.wd = take_matrix(cv, t.down, d, h);
      }
      l.attn_norm = cv.take<float>(size_t(d));
      l.ffn_norm = cv.take<float>(size_t(d));
      bool any = false;
      for (int p = 0; p < l.wqkv.count; ++p) any = any || l.wqkv.part[p].quantized();
      if (any) expand = std::max(expand, size_t(qkv_rows(c)) * size_t(d));
      note(l.wo);
      note(l.wgu);
      note(l.wd);
      if (moe) {  // one expert at a time; f16 slices off the 256-byte grid are copied
        note(row_range(l.moe.wgu, 0, 2 * h));
        note(row_range(l.moe.wd, 0, d));
        if (size_t(2 * h) * size_t(d) * 2 % 256 != 0) expand = std::max(expand, size_t(2 * h) * size_t(d));
        if (size_t(d) * size_t(h) * 2 % 256 != 0) expand = std::max(expand, size_t(d) * size_t(h));
      }
    }
    w->embed_ = take_matrix(cv, types.embed, c.vocab_size, d);
    w->lm_head_ = tied ? w->embed_ : take_matrix(cv, types.lm_head, c.vocab_size, d);
    note(w->lm_head_);
    w->final_norm_ = cv.take<float>(size_t(d));
    w->inv_freq_ = cv.take<float>(size_t(c.head_dim / 2));
    w->expand_scratch_ = cv.take<f16>(expand);
  };
  Carver counter;
  carve(counter);
  require_free_memory(counter.size(), "the model's weights");
  w->storage_ = DeviceBuffer(counter.size());
  Carver placer(w->storage_.as<void>());
  carve(placer);
  if (expand == 0) w->expand_scratch_ = nullptr;

  // As HF computes it: 1 / θ^(2i/d) in fp32.
  std::vector<float> inv(size_t(c.head_dim / 2));
  for (int i = 0; i < c.head_dim / 2; ++i)
    inv[size_t(i)] = 1.f / std::pow(c.rope_theta, float(2 * i) / float(c.head_dim));
  TR_CUDA_CHECK(cudaMemcpyAsync(w->inv_freq_, inv.data(), inv.size() * sizeof(float),
                                cudaMemcpyHostToDevice, stream));
  TR_CUDA_CHECK(cudaStreamSynchronize(stream));
  return w;
}

const f16* DeviceWeights::as_f16(const Launch& l, const DeviceMatrix& m) const {
  if (!m.quantized()) {
    // Whole matrices start on 256-byte boundaries; one expert's rows of a stacked matrix
    // may not, and cuBLASLt's algorithms assume it: such a slice is copied first.
    if (reinterpret_cast<uintptr_t>(m.data) % 256 == 0 || !expand_scratch_) return m.data;
    TR_CUDA_CHECK(cudaMemcpyAsync(expand_scratch_, m.data, elements(m) * sizeof(f16),
                                  cudaMemcpyDeviceToDevice, l.stream));
    return expand_scratch_;
  }
  dequantize(l, m, expand_scratch_);
  return expand_scratch_;
}

DeviceMatrix DeviceWeights::row_range(const DeviceMatrix& m, int first, int count) {
  DeviceMatrix r = m;
  r.rows = count;
  if (!m.quantized()) {
    if (m.data) r.data = m.data + size_t(first) * size_t(m.cols);
    return r;
  }
  const PlaneRowBytes rb = plane_row_bytes(plane_format(m.type), m.cols);
  if (m.codes) r.codes = m.codes + size_t(first) * rb.codes;
  if (m.high) r.high = m.high + size_t(first) * rb.high;
  if (m.scales) r.scales = m.scales + size_t(first) * rb.scales / 2;
  return r;
}

const f16* DeviceWeights::as_f16(const Launch& l, const RowParts& m) const {
  if (m.count == 1) return as_f16(l, m.part[0]);
  for (int p = 0; p < m.count; ++p) {
    f16* dst = expand_scratch_ + size_t(m.first_row[p]) * size_t(m.part[p].cols);
    const DeviceMatrix& part = m.part[p];
    if (part.quantized()) {
      dequantize(l, part, dst);
    } else {
      TR_CUDA_CHECK(cudaMemcpyAsync(dst, part.data, elements(part) * sizeof(f16),
                                    cudaMemcpyDeviceToDevice, l.stream));
    }
  }
  return expand_scratch_;
}

std::unique_ptr<DeviceWeights> DeviceWeights::random(const ModelConfig& c, uint64_t seed,
                                                     cudaStream_t stream) {
  return random(c, WeightTypes::uniform(c, StoredType::F16), seed, stream);
}

std::unique_ptr<DeviceWeights> DeviceWeights::random(const ModelConfig& c,
                                                     const WeightTypes& types, uint64_t seed,
                                                     cudaStream_t stream) {
  auto w = allocate(c, types, false, stream);
  const Launch l{stream, false};
  uint64_t k = seed * 1000003ull;
  auto fill_w = [&](const DeviceMatrix& m, float amplitude) {
    if (m.quantized()) fill_random_planes(l, m, ++k, amplitude);
    else fill_uniform(l, m.data, elements(m), ++k, -amplitude, amplitude);
  };
  auto range = [](int fan_in) { return std::sqrt(3.f / float(fan_in)); };
  const int d = c.dim, q = c.n_heads * c.head_dim, h = c.hidden_dim;
  for (const Layer& L : w->layers_) {
    for (int p = 0; p < L.wqkv.count; ++p) fill_w(L.wqkv.part[p], range(d));
    fill_w(L.wo, range(q));
    if (c.feed_forward == FeedForwardKind::MixtureOfExperts) {
      fill_uniform(l, L.moe.router, size_t(c.n_experts) * size_t(d), ++k, -range(d), range(d));
      fill_w(L.moe.wgu, range(d));
      fill_w(L.moe.wd, range(h));
    } else {
      fill_w(L.wgu, range(d));
      fill_w(L.wd, range(h));
    }
    fill_uniform(l, L.attn_norm, size_t(d), ++k, 0.8f, 1.2f);
    fill_uniform(l, L.ffn_norm, size_t(d), ++k, 0.8f, 1.2f);
  }
  fill_w(w->embed_, 1.f);
  fill_w(w->lm_head_, range(d));
  fill_uniform(l, w->final_norm_, size_t(d), ++k, 0.8f, 1.2f);
  TR_CUDA_CHECK(cudaStreamSynchronize(stream));
  return w;
}

// --- one sequence ----------------------------------------------------------------------

// One token: 8-step batches of loads for an operator whose weights are stored in fewer
// than 8 bits in every layer (the K and legacy 4/5/6-bit formats): a step's loads are 3–4×
// smaller than f16 rows', so more must be in flight to keep memory busy. On an H100 this
// took the 7B Q4_K_M decode from 219 to 288 tok/s; with Q8_0 it lost 8% (237 against
// 259), and f16 rows are compiled for at most 4 steps.
void Forward::use_long_batches_below_8_bits(GemvPlan& plan) const {
  auto below_8_bits = [](const DeviceMatrix& m) { return m.quantized() && m.type != StoredType::Q8_0; };
  auto all_layers = [&](auto matrix_of) {
    for (int i = 0; i < c_.n_layers; ++i) {
      if (!matrix_of(w_.layer(i))) return false;
    }
    return true;
  };
  using L = DeviceWeights::Layer;
  auto set = [](GemvConfig& g, bool long_batches) { if (long_batches) g.steps = 8; };
  set(plan.qkv, all_layers([&](const L& l) {
        for (int p = 0; p < l.wqkv.count; ++p) {
          if (!below_8_bits(l.wqkv.part[p])) return false;
        }
        return true;
      }));
  set(plan.o, all_layers([&](const L& l) { return below_8_bits(l.wo); }));
  if (c_.feed_forward == FeedForwardKind::MixtureOfExperts) {
    set(plan.expert_gate_up, all_layers([&](const L& l) { return below_8_bits(l.moe.wgu); }));
    set(plan.expert_down, all_layers([&](const L& l) { return below_8_bits(l.moe.wd); }));
  } else {
    set(plan.gate_up, all_layers([&](const L& l) { return below_8_bits(l.wgu); }));
    set(plan.down, all_layers([&](const L& l) { return below_8_bits(l.wd); }));
  }
  set(plan.logits, below_8_bits(w_.lm_head()));
}

Forward::Forward(const DeviceWeights& weights, Gemm& gemm, const ForwardConfig& config,
                 cudaStream_t stream)
    : w_(weights), gemm_(gemm), config_(config), stream_(stream), c_(weights.config()) {
  const int window = c_.sliding_window;
  if (config_.capacity < 1 || (window > 0 && config_.capacity < window)) {
    throw Error("KV cache capacity " + std::to_string(config_.capacity) + " is below the window " +
                std::to_string(window));
  }
  if (config_.gemv_max > kGemvMaxTokens) config_.gemv_max = kGemvMaxTokens;
  if (config_.chunk_gemv_max > kChunkGemvMaxTokens) config_.chunk_gemv_max = kChunkGemvMaxTokens;
  attn_.n_heads = c_.n_heads;
  attn_.n_kv_heads = c_.n_kv_heads;
  attn_.head_dim = c_.head_dim;
  attn_.window = window;
  attn_.capacity = config_.capacity;
  rows_ = std::max(config_.max_chunk, kGemvMaxTokens);
  config_.logits_rows = std::max(1, std::min(config_.logits_rows, rows_));

  const size_t cache_bytes = 2 * size_t(c_.n_layers) * c_.n_kv_heads * size_t(config_.capacity) *
                             c_.head_dim * sizeof(f16);

  int dev = 0, sms = 0;
  TR_CUDA_CHECK(cudaGetDevice(&dev));
  TR_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  decode_.max_splits = decode_splits_for(attn_, sms * std::max(1, config_.decode_blocks_per_sm));
  // The gemv configurations the bench's tuner picked on an H100 (132 SMs), as multiples
  // of the SM count or of the tiles per block: a sound start on any card; the bench
  // tunes them on the card at hand.
  plan1_ = GemvPlan{{8, ceil_div(gemv_qkv_tiles(attn_), 2), 4}, {8, 0, 4}, {8, 2 * sms, 4},
                    {8, 0, 4}, {8, 8 * sms, 4}};
  plan8_ = GemvPlan{{4, 0, 4}, {8, 0, 4}, {8, 12 * sms, 4}, {8, 0, 4}, {8, 6 * sms, 4}};
  for (GemvPlan* p : {&plan1_, &plan8_}) {
    p->expert_gate_up = p->gate_up;
    p->expert_down = p->down;
  }
  use_long_batches_below_8_bits(plan1_);
  decode_.max_queries = kGemvMaxTokens;
  // A short chunk's attention: each head's keys over up to this many blocks, so that the
  // heads together fill the SMs three blocks deep (one block per head and query tile
  // otherwise; a block of a chunk under 64 queries has idle warps, and three fit an SM).
  prefill_splits_.max_splits = std::max(1, std::min(16, 3 * sms / c_.n_heads));
  const size_t r = size_t(rows_), d = size_t(c_.dim), qd = size_t(attn_.q_dim());
  const bool moe = c_.feed_forward == FeedForwardKind::MixtureOfExperts;
  // Feed-forward rows: one per slot for a mixture, plus the padding that starts every
  // expert's group of rows on a 256-byte boundary on the prefill path (cuBLASLt's
  // algorithms assume that alignment).
  size_t slots = r;
  if (moe) {
    const auto rows_for_256 = [](size_t row_bytes) { return 256 / std::gcd(size_t(256), row_bytes); };
    const size_t a = std::lcm(rows_for_256(2 * d), rows_for_256(2 * size_t(c_.hidden_dim)));
    moe_.group_align = int(a);
    slots = r * size_t(c_.n_experts_per_token) + size_t(c_.n_experts) * (a - 1);
  }
  const size_t routed = moe ? r * size_t(c_.n_experts_per_token) : 0;  // slots proper
  auto carve = [&](Carver& c) {
    a_.x = c.take<float>(r * d);
    a_.xn = c.take<f16>(r * d);
    a_.qkv = c.take<float>(r * size_t(qkv_rows(c_)));
    a_.q = c.take<f16>(r * qd);
    a_.k_new = c.take<f16>(r * size_t(attn_.kv_dim()));
    a_.v_new = c.take<f16>(r * size_t(attn_.kv_dim()));
    a_.ao = c.take<f16>(r * qd);
    a_.gu = c.take<f16>(slots * 2 * size_t(c_.hidden_dim));
    a_.h = c.take<f16>(slots * size_t(c_.hidden_dim));
    if (moe) {
      moe_.routing.chosen = c.take<int>(routed);
      moe_.routing.weight = c.take<float>(routed);
      moe_.slot_row = c.take<int>(routed);
      moe_.xe = c.take<f16>(slots * d);
      moe_.y = c.take<float>(slots * d);
    }
    a_.logits = c.take<float>(size_t(std::max(config_.logits_rows, kGemvMaxTokens)) * c_.vocab_size);
    a_.tokens = c.take<int>(r);
    a_.pos = c.take<int>(1);
    a_.token = c.take<int>(1);
    decode_.part_o = c.take<float>(DecodeScratch::part_o_floats(attn_, decode_.max_splits,
                                                                decode_.max_queries));
    decode_.part_ml = c.take<float>(size_t(decode_.max_queries) * c_.n_heads *
                                    decode_.max_splits * 2);
    decode_.done_count = c.take<int>(size_t(c_.n_kv_heads));
    if (prefill_splits_.max_splits > 1) {
      const size_t rows = size_t(prefill_splits_.max_splits) * PrefillSplits::kMaxQueries * c_.n_heads;
      prefill_splits_.part_o = c.take<float>(rows * size_t(c_.head_dim));
      prefill_splits_.part_ml = c.take<float>(rows * 2);
    }
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
  TR_CUDA_CHECK(cudaMemsetAsync(a_.pos, 0, sizeof(int), stream_));
  TR_CUDA_CHECK(cudaMemsetAsync(a_.token, 0, sizeof(int), stream_));
  TR_CUDA_CHECK(cudaMemsetAsync(decode_.done_count, 0, sizeof(int) * c_.n_kv_heads, stream_));
  last_logits_ = a_.logits;
  TR_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

Forward::~Forward() {
  if (graph_exec_) cudaGraphExecDestroy(graph_exec_);
  if (graph_) cudaGraphDestroy(graph_);
}

f16* Forward::layer_k(int layer) const {
  return cache_.as<f16>() + size_t(layer) * c_.n_kv_heads * size_t(config_.capacity) * c_.head_dim;
}
f16* Forward::layer_v(int layer) const {
  return layer_k(layer) + size_t(c_.n_layers) * c_.n_kv_heads * size_t(config_.capacity) * c_.head_dim;
}

void Forward::set_pos(int64_t pos) { fill_int(launch_cfg(), a_.pos, 1, int(pos)); }

void Forward::run(const int* tokens, int n, int64_t pos, float* logits) {
  if (n < 1 || n > rows_) {
    throw Error("forward pass of " + std::to_string(n) + " tokens does not fit the " +
                std::to_string(rows_) + "-token scratch");
  }
  TR_CUDA_CHECK(cudaMemcpyAsync(a_.tokens, tokens, sizeof(int) * size_t(n),
                                cudaMemcpyHostToDevice, stream_));
  // The gemv path writes a chunk's keys before its attention reads the window: safe
  // while the chunk overwrites no slot its own queries still need (n ≤ slack + 1).
  const int slack = config_.capacity - c_.sliding_window;
  const bool small = n <= config_.gemv_max && (c_.sliding_window == 0 || n <= slack + 1);
  if (small) {
    set_pos(pos);
    run_gemv_chunk(a_.tokens, n, logits != nullptr);
    if (logits) {
      TR_CUDA_CHECK(cudaMemcpyAsync(logits, a_.logits, sizeof(float) * size_t(n) * c_.vocab_size,
                                    cudaMemcpyDeviceToHost, stream_));
      TR_CUDA_CHECK(cudaStreamSynchronize(stream_));
    }
  } else {
    run_gemm_chunk(a_.tokens, n, int(pos), logits);
  }
}

NormedInput Forward::normed(const float* norm_w, int n) {
  if (n == 1) return NormedInput{a_.x, norm_w, c_.norm_eps, nullptr};
  rmsnorm(launch_cfg(), a_.xn, a_.x, norm_w, n, c_.dim, c_.norm_eps);
  return NormedInput{nullptr, nullptr, 0.f, a_.xn};
}

void Forward::feed_forward_gemv(const DeviceWeights::Layer& lw, int n) {
  const Launch l = launch_cfg();
  const GemvPlan& p = n == 1 ? plan1_ : plan8_;
  switch (c_.feed_forward) {
    case FeedForwardKind::Dense:  // x += SwiGLU(rmsnorm(x))
      gemv_swiglu(l, p.gate_up, lw.wgu, normed(lw.ffn_norm, n), n, c_.dim, c_.hidden_dim, a_.h);
      gemv_residual(l, p.down, lw.wd, a_.h, n, c_.hidden_dim, c_.dim, a_.x);
      return;
    case FeedForwardKind::MixtureOfExperts:  // x += Σ weight · expert(rmsnorm(x))
      return experts_gemv(lw, n);
  }
}

void Forward::feed_forward_gemm(const DeviceWeights::Layer& lw, int n) {
  const Launch l = launch_cfg();
  const int d = c_.dim, hid = c_.hidden_dim;
  switch (c_.feed_forward) {
    case FeedForwardKind::Dense:  // x += SwiGLU(rmsnorm(x))
      rmsnorm(l, a_.xn, a_.x, lw.ffn_norm, n, d, c_.norm_eps);
      product(l, a_.xn, lw.wgu, a_.gu, ProductOut::F16, n);
      swiglu(l, a_.gu, n, hid, a_.h);
      product(l, a_.h, lw.wd, a_.x, ProductOut::F32Add, n);
      return;
    case FeedForwardKind::MixtureOfExperts:
      return experts_gemm(lw, n);
  }
}

// y = x · Wᵀ (added to y for F32Add) for n rows of a prefill chunk. A quantized matrix
// and a chunk of up to config_.chunk_gemv_max rows: the gemv kernel on the stored
// format, which reads each weight once, where cuBLASLt first needs the matrix expanded
// to f16 (14 GB written per chunk at the 7B shape). Otherwise cuBLASLt on f16 rows: on
// f16 weights it beats the gemv kernel from 16 rows on (cuda/NOTES.md).
template <class M>
void Forward::product(const Launch& l, const f16* x, const M& w, void* y, ProductOut out, int n) {
  int rows = 0, cols = 0;
  const bool few = n <= config_.chunk_gemv_max;
  if constexpr (std::is_same_v<M, RowParts>) {
    rows = w.rows();
    cols = w.part[0].cols;
    bool quantized = false;
    for (int p = 0; p < w.count; ++p) quantized |= w.part[p].quantized();
    if (few && quantized) return gemv_chunk(l, 0, w, x, n, y, rows, out);
  } else {
    rows = w.rows;
    cols = w.cols;
    if (few && w.quantized()) return gemv_chunk(l, 0, w, x, n, y, rows, 0, out);
  }
  gemm_.run(stream_, x, w_.as_f16(l, w), y, out != ProductOut::F16, n, rows, cols,
            out == ProductOut::F32Add);
}

void Forward::run_gemv_chunk(const int* d_tokens, int n, bool all_logits) {
  const Launch l = launch_cfg();
  const GemvPlan& p = n == 1 ? plan1_ : plan8_;
  embed(l, a_.x, w_.embed(), d_tokens, n);
  for (int i = 0; i < c_.n_layers; ++i) {
    const DeviceWeights::Layer& lw = w_.layer(i);
    gemv_qkv(l, p.qkv, lw.wqkv, normed(lw.attn_norm, n), n, c_.dim, attn_, c_.rope_layout,
             w_.inv_freq(), a_.pos, a_.q, layer_k(i), layer_v(i));
    attention_decode(l, a_.q, layer_k(i), layer_v(i), a_.pos, n, attn_, decode_, a_.ao);
    gemv_residual(l, p.o, lw.wo, a_.ao, n, attn_.q_dim(), c_.dim, a_.x);
    feed_forward_gemv(lw, n);
  }
  if (all_logits) {
    gemv_logits(l, p.logits, w_.lm_head(), normed(w_.final_norm(), n), n, c_.dim, c_.vocab_size,
                a_.logits);
    last_logits_ = a_.logits + size_t(n - 1) * c_.vocab_size;
  } else {
    const NormedInput last{a_.x + size_t(n - 1) * c_.dim, w_.final_norm(), c_.norm_eps, nullptr};
    gemv_logits(l, plan1_.logits, w_.lm_head(), last, 1, c_.dim, c_.vocab_size, a_.logits);
    last_logits_ = a_.logits;
  }
}

void Forward::run_gemm_chunk(const int* d_tokens, int n, int pos0, float* host_logits) {
  const Launch l = launch_cfg();
  const float eps = c_.norm_eps;
  const int d = c_.dim, qd = attn_.q_dim();
  embed(l, a_.x, w_.embed(), d_tokens, n);
  for (int i = 0; i < c_.n_layers; ++i) {
    const DeviceWeights::Layer& lw = w_.layer(i);
    rmsnorm(l, a_.xn, a_.x, lw.attn_norm, n, d, eps);
    product(l, a_.xn, lw.wqkv, a_.qkv, ProductOut::F32, n);
    rope_qkv(l, a_.qkv, n, pos0, attn_, c_.rope_layout, w_.inv_freq(), a_.q, a_.k_new, a_.v_new);
    if (config_.simple_attention)
      attention_prefill_simple(l, a_.q, a_.k_new, a_.v_new, layer_k(i), layer_v(i), n, pos0, attn_,
                               a_.ao);
    else
      attention_prefill(l, a_.q, a_.k_new, a_.v_new, layer_k(i), layer_v(i), n, pos0, attn_, a_.ao,
                        prefill_splits_);
    kv_commit(l, a_.k_new, a_.v_new, n, pos0, attn_, layer_k(i), layer_v(i));
    product(l, a_.ao, lw.wo, a_.x, ProductOut::F32Add, n);
    feed_forward_gemm(lw, n);
  }
  if (host_logits) {
    for (int r0 = 0; r0 < n; r0 += config_.logits_rows) {
      const int rr = std::min(config_.logits_rows, n - r0);
      rmsnorm(l, a_.xn, a_.x + size_t(r0) * d, w_.final_norm(), rr, d, eps);
      product(l, a_.xn, w_.lm_head(), a_.logits, ProductOut::F32, rr);
      TR_CUDA_CHECK(cudaMemcpyAsync(host_logits + size_t(r0) * c_.vocab_size, a_.logits,
                                    sizeof(float) * size_t(rr) * c_.vocab_size,
                                    cudaMemcpyDeviceToHost, stream_));
      TR_CUDA_CHECK(cudaStreamSynchronize(stream_));
      last_logits_ = a_.logits + size_t(rr - 1) * c_.vocab_size;
    }
  } else {
    const NormedInput last{a_.x + size_t(n - 1) * d, w_.final_norm(), eps, nullptr};
    gemv_logits(l, plan1_.logits, w_.lm_head(), last, 1, d, c_.vocab_size, a_.logits);
    last_logits_ = a_.logits;
  }
}

int Forward::argmax_token() {
  argmax(launch_cfg(), last_logits_, c_.vocab_size, a_.token, nullptr, 0);
  return token();
}

void Forward::set_token(int token) {
  TR_CUDA_CHECK(cudaMemcpyAsync(a_.token, &token, sizeof(int), cudaMemcpyHostToDevice, stream_));
  TR_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

int Forward::token() const {
  int t = 0;
  TR_CUDA_CHECK(cudaMemcpyAsync(&t, a_.token, sizeof(int), cudaMemcpyDeviceToHost, stream_));
  TR_CUDA_CHECK(cudaStreamSynchronize(stream_));
  return t;
}

void Forward::enqueue_decode_step() {
  run_gemv_chunk(a_.token, 1, false);
  argmax(launch_cfg(), a_.logits, c_.vocab_size, a_.token, a_.pos, 1);
  last_logits_ = a_.logits;
}

void Forward::capture_decode() {
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
    enqueue_decode_step();
  } catch (...) {
    cudaGraph_t g = nullptr;
    cudaStreamEndCapture(stream_, &g);
    if (g) cudaGraphDestroy(g);
    throw;
  }
  TR_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph_));
  TR_CUDA_CHECK(cudaGraphInstantiate(&graph_exec_, graph_, 0));
}

void Forward::replay(int steps, int64_t pos) {
  if (!graph_exec_) throw Error("replay before capture_decode");
  set_pos(pos);
  for (int i = 0; i < steps; ++i) TR_CUDA_CHECK(cudaGraphLaunch(graph_exec_, stream_));
  last_logits_ = a_.logits;
}

}  // namespace tramontane::cuda
