#include "gguf_random.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <map>
#include <thread>
#include <utility>
#include <vector>

#include "config.h"
#include "gguf_convert.h"
#include "gguf_writer.h"
#include "quant_blocks.h"
#include "quant_mix.h"
#include "sentencepiece_model.h"

namespace tramontane {

namespace {

constexpr int64_t kPoolRows = 4096;

uint64_t mix(uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// n values uniform in ±bound from the stream named by (seed, stream).
void fill_uniform(float* out, int64_t n, float bound, uint64_t seed, uint64_t stream) {
  uint64_t s = mix(seed ^ mix(stream));
  for (int64_t i = 0; i < n; ++i) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    out[i] = (float((s >> 40) & 0xffffff) * (2.f / 16777216.f) - 1.f) * bound;
  }
}

// llama.cpp's general.file_type values (include/llama.h: LLAMA_FTYPE_MOSTLY_*).
uint32_t file_type_id(const std::string& name) {
  if (name == "F16") return 1;
  if (name == "Q8_0") return 7;
  if (name == "Q4_K_M") return 15;
  throw Error("--type: expected Q4_K_M, Q8_0 or F16, got \"" + name + "\"");
}

StoredType matrix_type(const std::string& file_type, MatrixRole role, int layer, const ModelConfig& c) {
  if (file_type == "F16") return StoredType::F16;
  if (file_type == "Q8_0") return StoredType::Q8_0;
  return llama_q4_k_m_type(role, layer, c);
}

// Quantized random rows of one kind of matrix, shared by every tensor of that kind.
struct Pool {
  MatrixRole role;
  StoredType type;
  int64_t cols = 0, rows = 0;
  std::vector<uint8_t> bytes;
  size_t row_bytes() const { return tramontane::row_bytes(type, cols); }
};

// A matrix of the file and where its bytes come from.
struct Planned {
  size_t tensor;  // index among the writer's tensors
  size_t pool;
  int64_t rows;
  uint64_t start;  // first pool row
};

void quantize_pools(std::vector<Pool>& pools, uint64_t seed, int threads) {
  struct Job {
    size_t pool;
    int64_t first, count;
  };
  std::vector<Job> jobs;
  for (size_t p = 0; p < pools.size(); ++p) {
    pools[p].bytes.resize(size_t(pools[p].rows) * pools[p].row_bytes());
    for (int64_t r = 0; r < pools[p].rows; r += 64) jobs.push_back({p, r, std::min<int64_t>(64, pools[p].rows - r)});
  }
  std::atomic<size_t> next{0};
  auto work = [&] {
    std::vector<float> values;
    for (size_t j; (j = next++) < jobs.size();) {
      Pool& pool = pools[jobs[j].pool];
      values.resize(size_t(pool.cols));
      const float bound = std::sqrt(3.f / float(pool.cols));
      for (int64_t r = jobs[j].first; r < jobs[j].first + jobs[j].count; ++r) {
        fill_uniform(values.data(), pool.cols, bound, seed, (uint64_t(jobs[j].pool) << 32) | uint64_t(r));
        cpu::quantize_row(pool.type, values.data(), pool.bytes.data() + size_t(r) * pool.row_bytes(), pool.cols);
      }
    }
  };
  std::vector<std::thread> pool_threads;
  for (int t = 1; t < threads; ++t) pool_threads.emplace_back(work);
  work();
  for (std::thread& t : pool_threads) t.join();
}

}  // namespace

ModelConfig random_model_shape(const std::string& name) {
  ModelConfig c;
  c.n_heads = 32, c.n_kv_heads = 8, c.head_dim = 128;
  c.dim = 4096, c.hidden_dim = 14336, c.n_layers = 32;
  c.max_position = 32768;
  c.rope_layout = RopeLayout::Interleaved;
  // No sliding window: Mistral 7B v0.1 has one of 4096, which llama.cpp's converter drops.
  if (name == "tiny-mixtral" || name == "tiny-llama") {
    // Widths in whole blocks of 256, so the K types fit without llama-quantize's fallback.
    c.n_heads = 4, c.n_kv_heads = 2, c.head_dim = 64;
    c.dim = 256, c.hidden_dim = 512, c.n_layers = 4;
    c.max_position = 2048;
  } else if (name != "mistral-7b" && name != "mixtral-8x7b") {
    throw Error("--shape: expected mistral-7b, mixtral-8x7b, tiny-mixtral or tiny-llama, got \"" + name + "\"");
  }
  if (name == "mixtral-8x7b" || name == "tiny-mixtral") {
    c.feed_forward = FeedForwardKind::MixtureOfExperts;
    c.n_experts = 8;
    c.n_experts_per_token = 2;
    c.rope_theta = 1e6f;
  }
  return c;
}

void write_random_gguf(const RandomModel& m, const std::string& path) {
  ModelConfig c = random_model_shape(m.shape);
  const uint32_t file_type = file_type_id(m.file_type);
  if (m.layers < 0 || m.layers > 1024) throw Error("--layers: expected 1 to 1024, got " + std::to_string(m.layers));
  if (m.layers > 0) c.n_layers = m.layers;
  const spm::ModelProto vocabulary = spm::parse_model(files::read_text(m.tokenizer), m.tokenizer);
  c.vocab_size = int(vocabulary.pieces.size());
  c.bos_id = vocabulary.bos_id, c.eos_id = vocabulary.eos_id;
  validate_config(c, m.shape);

  gguf::Writer out;
  add_model_metadata(out, c, m.shape + " (random weights)");
  out.add_u32("general.file_type", file_type);
  out.add_u32("general.quantization_version", 2);
  add_vocabulary(out, vocabulary);

  std::vector<Pool> pools;
  std::map<std::pair<MatrixRole, StoredType>, size_t> pool_of;
  std::vector<Planned> planned;
  size_t tensors = 0;
  // A [rows, cols] matrix (or stacked experts, shape [experts, rows / experts, cols]).
  auto matrix = [&](const std::string& name, MatrixRole role, int layer, int64_t rows, int64_t cols,
                    std::vector<int64_t> shape = {}) {
    const StoredType type = matrix_type(m.file_type, role, layer, c);
    auto [at, added] = pool_of.try_emplace({role, type}, pools.size());
    if (added) pools.push_back({role, type, cols, 0, {}});
    Pool& pool = pools[at->second];
    pool.rows = std::min(kPoolRows, std::max(pool.rows, rows));
    out.declare_tensor(name, type, shape.empty() ? std::vector<int64_t>{rows, cols} : shape);
    const size_t index = tensors++;
    planned.push_back({index, at->second, rows, mix(m.seed ^ mix(0x5eed000000000000ull + index))});
  };
  auto vector = [&](const std::string& name, const std::vector<float>& v, std::vector<int64_t> shape) {
    out.add_tensor(name, StoredType::F32, shape, v.data(), v.size() * 4);
    ++tensors;
  };
  const std::vector<float> ones(size_t(c.dim), 1.f);
  const int64_t q_dim = int64_t(c.n_heads) * c.head_dim, kv_dim = int64_t(c.n_kv_heads) * c.head_dim;
  const bool moe = c.feed_forward == FeedForwardKind::MixtureOfExperts;
  matrix("token_embd.weight", MatrixRole::Embed, 0, c.vocab_size, c.dim);
  vector("output_norm.weight", ones, {c.dim});
  matrix("output.weight", MatrixRole::LmHead, 0, c.vocab_size, c.dim);
  for (int i = 0; i < c.n_layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    vector(p + "attn_norm.weight", ones, {c.dim});
    matrix(p + "attn_q.weight", MatrixRole::Q, i, q_dim, c.dim);
    matrix(p + "attn_k.weight", MatrixRole::K, i, kv_dim, c.dim);
    matrix(p + "attn_v.weight", MatrixRole::V, i, kv_dim, c.dim);
    matrix(p + "attn_output.weight", MatrixRole::O, i, c.dim, q_dim);
    vector(p + "ffn_norm.weight", ones, {c.dim});
    if (moe) {
      // The router stays F32, with values of its own in every layer.
      std::vector<float> router(size_t(c.n_experts) * size_t(c.dim));
      fill_uniform(router.data(), int64_t(router.size()), std::sqrt(3.f / float(c.dim)), m.seed,
                   0x0e0e000000000000ull + uint64_t(i));
      vector(p + "ffn_gate_inp.weight", router, {c.n_experts, c.dim});
      const int64_t e = c.n_experts;
      matrix(p + "ffn_gate_exps.weight", MatrixRole::Gate, i, e * c.hidden_dim, c.dim, {e, c.hidden_dim, c.dim});
      matrix(p + "ffn_up_exps.weight", MatrixRole::Up, i, e * c.hidden_dim, c.dim, {e, c.hidden_dim, c.dim});
      matrix(p + "ffn_down_exps.weight", MatrixRole::Down, i, e * c.dim, c.hidden_dim, {e, c.dim, c.hidden_dim});
    } else {
      matrix(p + "ffn_gate.weight", MatrixRole::Gate, i, c.hidden_dim, c.dim);
      matrix(p + "ffn_up.weight", MatrixRole::Up, i, c.hidden_dim, c.dim);
      matrix(p + "ffn_down.weight", MatrixRole::Down, i, c.dim, c.hidden_dim);
    }
  }
  const unsigned hardware = std::max(1u, std::thread::hardware_concurrency());
  quantize_pools(pools, m.seed, m.threads > 0 ? m.threads : int(hardware));

  size_t next = 0;  // planned matrices come in the writer's order
  try {
    out.write(path, [&](size_t tensor, const gguf::Writer::Put& put) {
      while (planned[next].tensor != tensor) ++next;
      const Planned& t = planned[next];
      const Pool& pool = pools[t.pool];
      int64_t row = int64_t(t.start % uint64_t(pool.rows));
      for (int64_t done = 0; done < t.rows;) {
        const int64_t n = std::min(t.rows - done, pool.rows - row);
        put(pool.bytes.data() + size_t(row) * pool.row_bytes(), size_t(n) * pool.row_bytes());
        done += n;
        row = 0;
      }
    });
  } catch (const Error&) {
    std::remove(path.c_str());
    throw;
  }
}

}  // namespace tramontane
