// Engine tests on tiny models written by the test itself (random weights, so nothing
// depends on fixtures). Plain asserts; prints "N passed, M failed", exits 1 on failure.
//
// What is checked: the rolling cache's slot math; that the forward pass matches an
// independent, naive implementation of the HF semantics (GQA, sliding window, RoPE,
// head_dim ≠ dim / heads); that the consolidated layout and bf16/f16/sharded
// checkpoints give the same logits as their HF f32 twin; that chunk sizes, token-by-
// token feeding, thread counts, rollback (exact and re-prefill) and reuse all give the
// logits of a fresh run; reuse counts; sampling; generation; stop strings; and that
// every kind of malformed input is one clear Error.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "config.h"
#include "harness.h"
#include "kv_buffer.h"
#include "kv_cache.h"
#include "sampler.h"
#include "stop_strings.h"
#include "tensor.h"
#include "tramontane/engine.h"

using namespace tramontane;
using harness::TempDir;

static float max_abs_diff(const float* a, const float* b, size_t n) {
  float worst = 0;
  for (size_t i = 0; i < n; ++i) {
    float d = std::fabs(a[i] - b[i]);
    if (!(d <= worst)) worst = d;  // NaN propagates as a failure
  }
  return worst;
}
static float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  return max_abs_diff(a.data(), b.data(), a.size());
}

// ---------------------------------------------------------------------------------
// A safetensors writer.

static void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

struct RawTensor {
  std::string name;
  std::string dtype;  // "F32", "BF16", "F16"
  std::vector<int64_t> shape;
  std::string bytes;
};

static std::string shape_json(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

// [u64 header length][header JSON padded to 8 bytes][data]
static std::string encode_safetensors(const std::vector<RawTensor>& tensors) {
  std::string header = "{\"__metadata__\":{\"format\":\"pt\"}";
  std::string data;
  for (const auto& t : tensors) {
    header += ",\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":" + shape_json(t.shape) +
              ",\"data_offsets\":[" + std::to_string(data.size()) + "," +
              std::to_string(data.size() + t.bytes.size()) + "]}";
    data += t.bytes;
  }
  header += "}";
  while (header.size() % 8) header += ' ';
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char((n >> (8 * i)) & 0xff);
  return out + header + data;
}

// ---------------------------------------------------------------------------------
// Tiny models.

struct Spec {
  int vocab = 97;
  int dim = 44;  // not a multiple of 8: exercises the dot-product tails
  int layers = 2;
  int heads = 4;
  int kv_heads = 2;  // GQA
  int head_dim = 10;  // ≠ dim / heads
  int hidden = 72;
  int window = 8;  // 0 = none
  double theta = 10000.0;
  bool tied = false;
  bool theta_in_rope_parameters = false;
  uint32_t seed = 1;
};

// Float weights keyed by HF name; norms near 1, matrices uniform in ±0.25.
using WeightMap = std::map<std::string, std::vector<float>>;
using ShapeMap = std::map<std::string, std::vector<int64_t>>;

static ShapeMap hf_shapes(const Spec& s) {
  ShapeMap shapes;
  shapes["model.embed_tokens.weight"] = {s.vocab, s.dim};
  shapes["model.norm.weight"] = {s.dim};
  if (!s.tied) shapes["lm_head.weight"] = {s.vocab, s.dim};
  for (int l = 0; l < s.layers; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    shapes[p + "input_layernorm.weight"] = {s.dim};
    shapes[p + "post_attention_layernorm.weight"] = {s.dim};
    shapes[p + "self_attn.q_proj.weight"] = {s.heads * s.head_dim, s.dim};
    shapes[p + "self_attn.k_proj.weight"] = {s.kv_heads * s.head_dim, s.dim};
    shapes[p + "self_attn.v_proj.weight"] = {s.kv_heads * s.head_dim, s.dim};
    shapes[p + "self_attn.o_proj.weight"] = {s.dim, s.heads * s.head_dim};
    shapes[p + "mlp.gate_proj.weight"] = {s.hidden, s.dim};
    shapes[p + "mlp.up_proj.weight"] = {s.hidden, s.dim};
    shapes[p + "mlp.down_proj.weight"] = {s.dim, s.hidden};
  }
  return shapes;
}

static WeightMap random_weights(const Spec& s) {
  std::mt19937 rng(s.seed);
  std::uniform_real_distribution<float> u(-0.25f, 0.25f);
  WeightMap w;
  for (const auto& [name, shape] : hf_shapes(s)) {
    size_t n = 1;
    for (int64_t d : shape) n *= size_t(d);
    std::vector<float> v(n);
    bool norm = name.find("norm") != std::string::npos;
    for (auto& x : v) x = norm ? 1.f + u(rng) * 0.4f : u(rng);
    w[name] = std::move(v);
  }
  return w;
}

static std::string f32_bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

static std::string hf_config_json(const Spec& s) {
  std::string rope = s.theta_in_rope_parameters
                         ? "\"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": " +
                               std::to_string(s.theta) + "}"
                         : "\"rope_theta\": " + std::to_string(s.theta);
  return "{\"architectures\": [\"MistralForCausalLM\"], \"model_type\": \"mistral\", "
         "\"vocab_size\": " + std::to_string(s.vocab) +
         ", \"hidden_size\": " + std::to_string(s.dim) +
         ", \"intermediate_size\": " + std::to_string(s.hidden) +
         ", \"num_hidden_layers\": " + std::to_string(s.layers) +
         ", \"num_attention_heads\": " + std::to_string(s.heads) +
         ", \"num_key_value_heads\": " + std::to_string(s.kv_heads) +
         ", \"head_dim\": " + std::to_string(s.head_dim) +
         ", \"sliding_window\": " + (s.window ? std::to_string(s.window) : "null") +
         ", \"max_position_embeddings\": 4096, \"rms_norm_eps\": 1e-05, " + rope +
         ", \"tie_word_embeddings\": " + (s.tied ? "true" : "false") +
         ", \"hidden_act\": \"silu\", \"bos_token_id\": 1, \"eos_token_id\": 2}";
}

enum class Store { F32, BF16, F16 };

static uint16_t bf16_bits(float x) {  // truncation: the twin f32 model uses the same value
  uint32_t b;
  std::memcpy(&b, &x, 4);
  return uint16_t(b >> 16);
}
static float from_bf16(uint16_t h) {
  uint32_t b = uint32_t(h) << 16;
  float x;
  std::memcpy(&x, &b, 4);
  return x;
}
// Half precision for the value range used here (normal numbers and zero).
static uint16_t f16_bits(float x) {
  uint16_t sign = x < 0 ? 0x8000 : 0;
  float a = std::fabs(x);
  if (a < 6.2e-5f) return sign;  // flush tiny values to zero
  int e;
  float m = std::frexp(a, &e);           // a = m · 2^e, m in [0.5, 1)
  int mant = int((m * 2 - 1) * 1024.f);  // truncated 10-bit fraction
  return uint16_t(sign | uint16_t((e - 1 + 15) << 10) | uint16_t(mant));
}
static float from_f16(uint16_t h) {
  int e = (h >> 10) & 0x1f, m = h & 0x3ff;
  float a = e == 0 ? std::ldexp(float(m), -24) : std::ldexp(float(m | 0x400), e - 25);
  return (h & 0x8000) ? -a : a;
}

// Rounds every weight to what the 16-bit store keeps, so an f32 twin is comparable.
static void round_to(WeightMap& w, Store store) {
  for (auto& [name, v] : w) {
    for (auto& x : v) {
      if (store == Store::BF16) x = from_bf16(bf16_bits(x));
      if (store == Store::F16) x = from_f16(f16_bits(x));
    }
  }
}

static RawTensor raw(const std::string& name, const std::vector<int64_t>& shape,
                     const std::vector<float>& v, Store store) {
  RawTensor t{name, "F32", shape, f32_bytes(v)};
  if (store != Store::F32) {
    t.dtype = store == Store::BF16 ? "BF16" : "F16";
    std::string bytes(v.size() * 2, '\0');
    for (size_t i = 0; i < v.size(); ++i) {
      uint16_t h = store == Store::BF16 ? bf16_bits(v[i]) : f16_bits(v[i]);
      std::memcpy(&bytes[i * 2], &h, 2);
    }
    t.bytes = bytes;
  }
  return t;
}

// HF layout; shards > 1 splits the tensors over several files with an index.
static void write_hf_model(const std::string& dir, const Spec& s, const WeightMap& w,
                           Store store = Store::F32, int shards = 1) {
  write_file(dir + "/config.json", hf_config_json(s));
  ShapeMap shapes = hf_shapes(s);
  std::vector<std::vector<RawTensor>> files(static_cast<size_t>(shards));
  size_t i = 0;
  for (const auto& [name, shape] : shapes) files[i++ % size_t(shards)].push_back(raw(name, shape, w.at(name), store));
  if (shards == 1) {
    write_file(dir + "/model.safetensors", encode_safetensors(files[0]));
    return;
  }
  std::string index = "{\"metadata\": {}, \"weight_map\": {";
  bool first = true;
  for (int f = 0; f < shards; ++f) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", f + 1, shards);
    write_file(dir + "/" + name, encode_safetensors(files[size_t(f)]));
    for (const auto& t : files[size_t(f)]) {
      index += std::string(first ? "" : ", ") + "\"" + t.name + "\": \"" + name + "\"";
      first = false;
    }
  }
  write_file(dir + "/model.safetensors.index.json", index + "}}");
}

// Mistral's layout: params.json + consolidated.safetensors with interleaved RoPE rows.
// HF's conversion permutes q/k rows: HF row h·d + c·d/2 + i = consolidated row
// h·d + 2i + c. This writes the inverse, so both layouts hold the same model.
static std::vector<float> unpermute(const std::vector<float>& hf, int heads, int head_dim, int cols) {
  std::vector<float> out(hf.size());
  const int half = head_dim / 2;
  for (int h = 0; h < heads; ++h)
    for (int i = 0; i < half; ++i)
      for (int c = 0; c < 2; ++c)
        std::memcpy(&out[size_t(h * head_dim + 2 * i + c) * cols], &hf[size_t(h * head_dim + c * half + i) * cols],
                    sizeof(float) * size_t(cols));
  return out;
}

static void write_consolidated_model(const std::string& dir, const Spec& s, const WeightMap& w) {
  std::string params = "{\"dim\": " + std::to_string(s.dim) + ", \"n_layers\": " + std::to_string(s.layers) +
                       ", \"head_dim\": " + std::to_string(s.head_dim) + ", \"hidden_dim\": " + std::to_string(s.hidden) +
                       ", \"n_heads\": " + std::to_string(s.heads) + ", \"n_kv_heads\": " + std::to_string(s.kv_heads) +
                       ", \"norm_eps\": 1e-05, \"vocab_size\": " + std::to_string(s.vocab) +
                       ", \"sliding_window\": " + (s.window ? std::to_string(s.window) : "null") +
                       (s.theta != 10000.0 ? ", \"rope_theta\": " + std::to_string(s.theta) : std::string()) + "}";
  write_file(dir + "/params.json", params);
  std::vector<RawTensor> t;
  auto add = [&](const std::string& name, const std::string& hf, std::vector<float> v) {
    t.push_back({name, "F32", hf_shapes(s).at(hf), f32_bytes(v)});
  };
  add("tok_embeddings.weight", "model.embed_tokens.weight", w.at("model.embed_tokens.weight"));
  add("norm.weight", "model.norm.weight", w.at("model.norm.weight"));
  add("output.weight", "lm_head.weight", w.at("lm_head.weight"));
  for (int l = 0; l < s.layers; ++l) {
    std::string p = "layers." + std::to_string(l) + ".", h = "model.layers." + std::to_string(l) + ".";
    add(p + "attention_norm.weight", h + "input_layernorm.weight", w.at(h + "input_layernorm.weight"));
    add(p + "ffn_norm.weight", h + "post_attention_layernorm.weight", w.at(h + "post_attention_layernorm.weight"));
    add(p + "attention.wq.weight", h + "self_attn.q_proj.weight",
        unpermute(w.at(h + "self_attn.q_proj.weight"), s.heads, s.head_dim, s.dim));
    add(p + "attention.wk.weight", h + "self_attn.k_proj.weight",
        unpermute(w.at(h + "self_attn.k_proj.weight"), s.kv_heads, s.head_dim, s.dim));
    add(p + "attention.wv.weight", h + "self_attn.v_proj.weight", w.at(h + "self_attn.v_proj.weight"));
    add(p + "attention.wo.weight", h + "self_attn.o_proj.weight", w.at(h + "self_attn.o_proj.weight"));
    add(p + "feed_forward.w1.weight", h + "mlp.gate_proj.weight", w.at(h + "mlp.gate_proj.weight"));
    add(p + "feed_forward.w2.weight", h + "mlp.down_proj.weight", w.at(h + "mlp.down_proj.weight"));
    add(p + "feed_forward.w3.weight", h + "mlp.up_proj.weight", w.at(h + "mlp.up_proj.weight"));
  }
  write_file(dir + "/consolidated.safetensors", encode_safetensors(t));
}

// ---------------------------------------------------------------------------------
// An independent, deliberately naive forward pass in double precision: the whole
// sequence at once, HF's mask (i − W < j ≤ i), rotate-half RoPE, no cache.

static std::vector<float> naive_logits(const Spec& s, const WeightMap& w, const std::vector<int>& tokens) {
  const int n = int(tokens.size()), d = s.dim, hd = s.head_dim;
  auto W = [&](const std::string& name) -> const std::vector<float>& { return w.at(name); };
  auto linear = [&](const std::vector<double>& x, const std::vector<float>& m, int out, int in) {
    std::vector<double> y(size_t(n) * out);
    for (int t = 0; t < n; ++t)
      for (int o = 0; o < out; ++o) {
        double acc = 0;
        for (int i = 0; i < in; ++i) acc += double(m[size_t(o) * in + i]) * x[size_t(t) * in + i];
        y[size_t(t) * out + o] = acc;
      }
    return y;
  };
  auto rmsnorm = [&](const std::vector<double>& x, const std::vector<float>& g) {
    std::vector<double> y(x.size());
    for (int t = 0; t < n; ++t) {
      double ss = 0;
      for (int i = 0; i < d; ++i) ss += x[size_t(t) * d + i] * x[size_t(t) * d + i];
      double inv = 1.0 / std::sqrt(ss / d + 1e-5);
      for (int i = 0; i < d; ++i) y[size_t(t) * d + i] = g[size_t(i)] * x[size_t(t) * d + i] * inv;
    }
    return y;
  };
  auto rope = [&](std::vector<double>& x, int heads) {
    for (int t = 0; t < n; ++t)
      for (int h = 0; h < heads; ++h)
        for (int i = 0; i < hd / 2; ++i) {
          double angle = t * std::pow(s.theta, -2.0 * i / hd);
          double* v = &x[(size_t(t) * heads + h) * hd];
          double a = v[i], b = v[i + hd / 2];
          v[i] = a * std::cos(angle) - b * std::sin(angle);
          v[i + hd / 2] = b * std::cos(angle) + a * std::sin(angle);
        }
  };

  std::vector<double> x(size_t(n) * d);
  for (int t = 0; t < n; ++t)
    for (int i = 0; i < d; ++i) x[size_t(t) * d + i] = W("model.embed_tokens.weight")[size_t(tokens[size_t(t)]) * d + i];
  for (int l = 0; l < s.layers; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    std::vector<double> h = rmsnorm(x, W(p + "input_layernorm.weight"));
    std::vector<double> q = linear(h, W(p + "self_attn.q_proj.weight"), s.heads * hd, d);
    std::vector<double> k = linear(h, W(p + "self_attn.k_proj.weight"), s.kv_heads * hd, d);
    std::vector<double> v = linear(h, W(p + "self_attn.v_proj.weight"), s.kv_heads * hd, d);
    rope(q, s.heads);
    rope(k, s.kv_heads);
    std::vector<double> att(size_t(n) * s.heads * hd, 0.0);
    for (int t = 0; t < n; ++t)
      for (int hh = 0; hh < s.heads; ++hh) {
        int g = hh / (s.heads / s.kv_heads);
        std::vector<double> score(size_t(n), -INFINITY);
        double mx = -INFINITY;
        for (int j = 0; j <= t; ++j) {
          if (s.window && !(t - s.window < j)) continue;
          double acc = 0;
          for (int e = 0; e < hd; ++e)
            acc += q[(size_t(t) * s.heads + hh) * hd + e] * k[(size_t(j) * s.kv_heads + g) * hd + e];
          score[size_t(j)] = acc / std::sqrt(double(hd));
          mx = std::max(mx, score[size_t(j)]);
        }
        double sum = 0;
        for (int j = 0; j <= t; ++j) sum += std::isinf(score[size_t(j)]) ? 0 : std::exp(score[size_t(j)] - mx);
        for (int j = 0; j <= t; ++j) {
          if (std::isinf(score[size_t(j)])) continue;
          double p_ = std::exp(score[size_t(j)] - mx) / sum;
          for (int e = 0; e < hd; ++e)
            att[(size_t(t) * s.heads + hh) * hd + e] += p_ * v[(size_t(j) * s.kv_heads + g) * hd + e];
        }
      }
    std::vector<double> o = linear(att, W(p + "self_attn.o_proj.weight"), d, s.heads * hd);
    for (size_t i = 0; i < x.size(); ++i) x[i] += o[i];
    h = rmsnorm(x, W(p + "post_attention_layernorm.weight"));
    std::vector<double> gate = linear(h, W(p + "mlp.gate_proj.weight"), s.hidden, d);
    std::vector<double> up = linear(h, W(p + "mlp.up_proj.weight"), s.hidden, d);
    for (size_t i = 0; i < gate.size(); ++i) gate[i] = gate[i] / (1 + std::exp(-gate[i])) * up[i];
    std::vector<double> down = linear(gate, W(p + "mlp.down_proj.weight"), d, s.hidden);
    for (size_t i = 0; i < x.size(); ++i) x[i] += down[i];
  }
  std::vector<double> h = rmsnorm(x, W("model.norm.weight"));
  std::vector<double> logits =
      linear(h, W(s.tied ? "model.embed_tokens.weight" : "lm_head.weight"), s.vocab, d);
  return std::vector<float>(logits.begin(), logits.end());
}

// ---------------------------------------------------------------------------------
// Shared fixtures: one windowed and one window-less model, loaded once.

struct Loaded {
  Spec spec;
  WeightMap weights;
  TempDir dir;
  std::shared_ptr<Model> model;
};

static Loaded& windowed() {
  static Loaded m = [] {
    Loaded l;
    l.weights = random_weights(l.spec);
    write_hf_model(l.dir.path, l.spec, l.weights);
    l.model = Model::load(l.dir.path, LoadOptions{});
    return l;
  }();
  return m;
}

static Loaded& windowless() {
  static Loaded m = [] {
    Loaded l;
    l.spec.window = 0;
    l.spec.theta = 1e6;
    l.spec.theta_in_rope_parameters = true;
    l.spec.seed = 2;
    l.weights = random_weights(l.spec);
    write_hf_model(l.dir.path, l.spec, l.weights);
    l.model = Model::load(l.dir.path, LoadOptions{});
    return l;
  }();
  return m;
}

static std::vector<int> sequence(int n, int vocab, uint32_t seed = 7) {
  std::mt19937 rng(seed);
  std::vector<int> t(static_cast<size_t>(n));
  for (auto& x : t) x = int(rng() % uint32_t(vocab));
  return t;
}

static SessionOptions opts(int chunk, int slack = 256, int context = 0) {
  SessionOptions o;
  o.chunk = chunk;
  o.slack = slack;
  o.context = context;
  return o;
}

// All logits of feeding `tokens` in one call.
static std::vector<float> run_logits(Model& model, const std::vector<int>& tokens, SessionOptions o) {
  auto session = model.new_session(o);
  std::vector<float> logits(tokens.size() * size_t(model.config().vocab_size));
  session->feed(tokens.data(), tokens.size(), logits.data());
  return logits;
}

static std::vector<float> row(const std::vector<float>& logits, size_t t, int vocab) {
  return std::vector<float>(logits.begin() + std::ptrdiff_t(t * vocab),
                            logits.begin() + std::ptrdiff_t((t + 1) * vocab));
}
static std::vector<float> last(const Session& s, int vocab) {
  return std::vector<float>(s.last_logits(), s.last_logits() + vocab);
}

// ---------------------------------------------------------------------------------
// The rolling cache.

TEST(stored_types_give_the_bytes_of_a_row) {
  CHECK(row_bytes(StoredType::F32, 10) == 40);
  CHECK(row_bytes(StoredType::BF16, 10) == 20 && row_bytes(StoredType::F16, 7) == 14);
  CHECK(std::string(stored_type_name(StoredType::BF16)) == "BF16");
  Matrix m{nullptr, StoredType::F16, 3, 8};
  CHECK(m.row_bytes() == 16 && m.bytes() == 48);
  TensorView t;
  t.type = StoredType::F32;
  t.shape = {4, 6};
  CHECK(t.row_bytes() == 24);
}

TEST(kv_cache_slot_math_follows_the_worked_example) {
  KvPositions cache(/*window=*/4, /*capacity=*/6);
  CHECK(cache.capacity() == 6);
  cache.commit(9);  // positions 0..8
  CHECK(cache.begin() == 3 && cache.end() == 9);
  CHECK(cache.slot(6) == 0 && cache.slot(7) == 1 && cache.slot(8) == 2 && cache.slot(3) == 3);
  CHECK(cache.first_visible(9) == 6);
  CHECK(cache.first_visible(2) == 0);
  CHECK(cache.can_truncate(9));
  CHECK(cache.can_truncate(7));   // k = 2 = slack: exact
  CHECK(cache.can_truncate(6));   // k = 3 still works here: position 3 is held
  CHECK(!cache.can_truncate(5));  // needs position 2, overwritten by 8
  CHECK(cache.can_truncate(0));
  CHECK(!cache.can_truncate(10));
  // Two cuts add up: after cutting to 7, the held range still starts at 3.
  cache.truncate(7);
  CHECK(cache.end() == 7 && cache.begin() == 3);
  CHECK(!cache.can_truncate(5));
  CHECK(cache.can_truncate(6));
  // Values land in slot p mod C.
  cpu::KvBuffer kv(1, 1, 2, /*capacity=*/6);  // the buffer rounds its slots up to 16
  const float k[2] = {42.f, 1.f}, v[2] = {0.f, 0.f};
  kv.write(0, 7 + kv.capacity(), k, v);
  float got = 0;
  kv.read_key(0, 7, 0, 1, &got);
  CHECK(got == 42.f);  // 7 + C mod C = 7
  cache.commit(20);
  CHECK(cache.end() == 27 && cache.begin() == 21);
}

TEST(kv_cache_without_window_never_wraps) {
  KvPositions cache(/*window=*/0, /*capacity=*/10);
  CHECK(cache.fits(10));
  CHECK(!cache.fits(11));
  cache.commit(7);
  CHECK(cache.fits(3) && !cache.fits(4));
  CHECK(cache.first_visible(6) == 0);
  CHECK(cache.can_truncate(1));  // everything is held
  cache.truncate(1);
  CHECK(cache.end() == 1 && cache.fits(9));
}

// ---------------------------------------------------------------------------------
// Correctness of the forward pass.

TEST(forward_matches_a_naive_reference_with_window_and_gqa) {
  Loaded& m = windowed();
  std::vector<int> tokens = sequence(30, m.spec.vocab);  // several times the window
  std::vector<float> expected = naive_logits(m.spec, m.weights, tokens);
  std::vector<float> got = run_logits(*m.model, tokens, opts(512));
  float err = max_abs_diff(got, expected);
  CHECK_MSG(err <= 1e-4f, "max abs error %g", double(err));
}

TEST(forward_matches_a_naive_reference_without_window) {
  Loaded& m = windowless();
  CHECK(m.model->config().rope_theta == 1e6f);
  CHECK(m.model->config().sliding_window == 0);
  std::vector<int> tokens = sequence(30, m.spec.vocab, 9);
  std::vector<float> expected = naive_logits(m.spec, m.weights, tokens);
  std::vector<float> got = run_logits(*m.model, tokens, opts(7));
  float err = max_abs_diff(got, expected);
  CHECK_MSG(err <= 1e-4f, "max abs error %g", double(err));
}

TEST(the_window_changes_the_result) {
  // Guards the test above against a model too weak to notice the mask: the same
  // weights without a window must give different logits beyond position W.
  Loaded& m = windowed();
  Spec full = m.spec;
  full.window = 0;
  std::vector<int> tokens = sequence(20, m.spec.vocab);
  std::vector<float> with = naive_logits(m.spec, m.weights, tokens);
  std::vector<float> without = naive_logits(full, m.weights, tokens);
  size_t v = size_t(m.spec.vocab);
  CHECK(max_abs_diff(with.data(), without.data(), v * 8) < 1e-6f);  // first W rows agree
  CHECK(max_abs_diff(with.data() + v * 12, without.data() + v * 12, v * 8) > 1e-3f);
}

TEST(tied_embeddings_use_the_embedding_table) {
  Spec s;
  s.tied = true;
  s.seed = 11;
  WeightMap w = random_weights(s);
  TempDir dir;
  write_hf_model(dir.path, s, w);
  auto model = Model::load(dir.path, LoadOptions{});
  CHECK(model->config().tie_embeddings);
  std::vector<int> tokens = sequence(12, s.vocab);
  float err = max_abs_diff(run_logits(*model, tokens, opts(5)), naive_logits(s, w, tokens));
  CHECK_MSG(err <= 1e-4f, "max abs error %g", double(err));
}

TEST(consolidated_layout_gives_the_hf_logits) {
  Loaded& m = windowed();
  TempDir dir;
  write_consolidated_model(dir.path, m.spec, m.weights);
  auto model = Model::load(dir.path, LoadOptions{});
  CHECK(model->config().rope_layout == RopeLayout::Interleaved);
  CHECK(model->config().rope_theta == 10000.f);  // params.json without rope_theta
  std::vector<int> tokens = sequence(25, m.spec.vocab);
  float err = max_abs_diff(run_logits(*model, tokens, opts(6)), run_logits(*m.model, tokens, opts(6)));
  CHECK_MSG(err <= 1e-5f, "max abs difference %g", double(err));
}

TEST(bf16_and_f16_checkpoints_match_their_f32_twin) {
  for (Store store : {Store::BF16, Store::F16}) {
    Spec s;
    s.seed = 5;
    WeightMap w = random_weights(s);
    round_to(w, store);
    TempDir half, full;
    write_hf_model(half.path, s, w, store);
    write_hf_model(full.path, s, w, Store::F32);
    auto a = Model::load(half.path, LoadOptions{});
    auto b = Model::load(full.path, LoadOptions{});
    std::vector<int> tokens = sequence(20, s.vocab);
    std::vector<float> la = run_logits(*a, tokens, opts(4)), lb = run_logits(*b, tokens, opts(4));
    // Widening is exact, so the arithmetic is the same.
    CHECK_MSG(max_abs_diff(la, lb) == 0.f, "store %d differs by %g", int(store), double(max_abs_diff(la, lb)));
    CHECK(max_abs_diff(la, naive_logits(s, w, tokens)) <= 1e-4f);
  }
}

TEST(sharded_checkpoints_load_like_a_single_file) {
  Loaded& m = windowed();
  TempDir dir;
  write_hf_model(dir.path, m.spec, m.weights, Store::F32, 3);
  auto model = Model::load(dir.path, LoadOptions{});
  std::vector<int> tokens = sequence(15, m.spec.vocab);
  CHECK(max_abs_diff(run_logits(*model, tokens, opts(4)), run_logits(*m.model, tokens, opts(4))) == 0.f);
}

TEST(chunk_sizes_and_slacks_give_the_same_logits) {
  Loaded& m = windowed();
  const int W = m.spec.window;
  std::vector<int> tokens = sequence(41, m.spec.vocab, 3);
  std::vector<float> whole = run_logits(*m.model, tokens, opts(64));
  for (int slack : {0, 1, 3, 256}) {
    for (int chunk : {1, 7, W - 1, W, W + 1, 2 * W + 3, 41}) {
      float err = max_abs_diff(run_logits(*m.model, tokens, opts(chunk, slack)), whole);
      CHECK_MSG(err <= 1e-5f, "chunk %d slack %d: %g", chunk, slack, double(err));
    }
  }
  Loaded& f = windowless();
  std::vector<float> full = run_logits(*f.model, tokens, opts(64));
  for (int chunk : {1, 7, 13, 41}) {
    CHECK(max_abs_diff(run_logits(*f.model, tokens, opts(chunk, 0, 41)), full) <= 1e-5f);
  }
}

TEST(token_by_token_feeding_equals_all_at_once) {
  Loaded& m = windowed();
  std::vector<int> tokens = sequence(30, m.spec.vocab, 4);
  const int v = m.spec.vocab;
  std::vector<float> whole = run_logits(*m.model, tokens, opts(30));
  auto session = m.model->new_session(opts(512, 2));
  for (size_t t = 0; t < tokens.size(); ++t) {
    session->feed(&tokens[t], 1, nullptr);
    float err = max_abs_diff(last(*session, v), row(whole, t, v));
    CHECK_MSG(err <= 1e-5f, "position %zu: %g", t, double(err));
  }
  CHECK(session->tokens() == tokens);
}

TEST(thread_counts_do_not_change_the_logits) {
  Loaded& m = windowed();
  std::vector<int> tokens = sequence(20, m.spec.vocab);
  std::vector<float> base = run_logits(*m.model, tokens, opts(6));
  for (int threads : {1, 3}) {
    LoadOptions o;
    o.threads = threads;
    auto model = Model::load(m.dir.path, o);
    CHECK(max_abs_diff(run_logits(*model, tokens, opts(6)), base) == 0.f);
  }
}

TEST(an_f16_kv_cache_stays_near_f32_and_gives_the_same_bits_in_any_chunk) {
  Loaded& m = windowed();  // small: Auto keeps the exact f32 cache
  std::vector<int> tokens = sequence(41, m.spec.vocab, 5);
  std::vector<float> exact = run_logits(*m.model, tokens, opts(64));
  LoadOptions o;
  o.kv_cache = KvCacheType::F32;
  CHECK(max_abs_diff(run_logits(*Model::load(m.dir.path, o), tokens, opts(64)), exact) == 0.f);
  o.kv_cache = KvCacheType::F16;
  auto model = Model::load(m.dir.path, o);
  std::vector<float> whole = run_logits(*model, tokens, opts(64));
  const float err = max_abs_diff(whole, exact);
  CHECK_MSG(err > 0.f && err <= 1e-2f, "f16 against f32: max abs error %g", double(err));
  for (int chunk : {1, 7, 13})
    CHECK_MSG(max_abs_diff(run_logits(*model, tokens, opts(chunk, 3)), whole) == 0.f, "chunk %d", chunk);
}

TEST(sessions_of_one_model_run_from_several_threads) {
  Loaded& m = windowed();
  std::vector<int> a = sequence(35, m.spec.vocab, 21), b = sequence(28, m.spec.vocab, 22);
  std::vector<float> ea = run_logits(*m.model, a, opts(5)), eb = run_logits(*m.model, b, opts(3));
  std::vector<float> ga, gb;
  std::thread ta([&] { ga = run_logits(*m.model, a, opts(5)); });
  std::thread tb([&] { gb = run_logits(*m.model, b, opts(3)); });
  ta.join();
  tb.join();
  CHECK(max_abs_diff(ga, ea) == 0.f);
  CHECK(max_abs_diff(gb, eb) == 0.f);
}

// ---------------------------------------------------------------------------------
// Rollback and reuse.

TEST(rollback_within_the_slack_is_exact) {
  Loaded& m = windowed();
  const int v = m.spec.vocab, slack = 5;
  std::vector<int> tokens = sequence(40, v, 5);
  std::vector<float> fresh = run_logits(*m.model, tokens, opts(64));
  for (int k = 1; k <= slack; ++k) {
    auto session = m.model->new_session(opts(4, slack));
    session->feed(tokens.data(), tokens.size(), nullptr);
    const size_t length = tokens.size() - size_t(k);
    CHECK(session->rollback(length) == 1);  // only the last kept token, for its logits
    CHECK(session->tokens().size() == length);
    CHECK(max_abs_diff(last(*session, v), row(fresh, length - 1, v)) <= 1e-5f);
    // Re-feeding after an exact rollback reads keys that survived in the cache.
    std::vector<float> again(size_t(k) * v);
    session->feed(tokens.data() + length, size_t(k), again.data());
    for (int t = 0; t < k; ++t) {
      float err = max_abs_diff(row(again, size_t(t), v), row(fresh, length + size_t(t), v));
      CHECK_MSG(err <= 1e-5f, "k %d position %zu: %g", k, length + size_t(t), double(err));
    }
  }
}

TEST(rollback_beyond_the_slack_re_prefills) {
  Loaded& m = windowed();
  const int v = m.spec.vocab;
  std::vector<int> tokens = sequence(40, v, 6);
  std::vector<float> fresh = run_logits(*m.model, tokens, opts(64));
  auto session = m.model->new_session(opts(4, 2));
  session->feed(tokens.data(), tokens.size(), nullptr);
  CHECK(session->rollback(30) == 30);  // 10 > slack: recomputed from the start
  CHECK(max_abs_diff(last(*session, v), row(fresh, 29, v)) <= 1e-5f);
  std::vector<float> again(10 * size_t(v));
  session->feed(tokens.data() + 30, 10, again.data());
  CHECK(max_abs_diff(again.data(), fresh.data() + 30 * size_t(v), 10 * size_t(v)) <= 1e-5f);

  // Two small rollbacks that together exceed the slack must not reuse lost keys.
  auto s2 = m.model->new_session(opts(4, 2));
  s2->feed(tokens.data(), tokens.size(), nullptr);
  CHECK(s2->rollback(38) == 1);
  CHECK(s2->rollback(36) == 36);
  CHECK(max_abs_diff(last(*s2, v), row(fresh, 35, v)) <= 1e-5f);

  CHECK(session->rollback(0) == 0);
  CHECK(session->tokens().empty() && session->last_logits() == nullptr);
  EXPECT_ERROR(session->rollback(1), "rollback", "holds only 0");
}

TEST(rollback_without_window_is_always_exact) {
  Loaded& m = windowless();
  const int v = m.spec.vocab;
  std::vector<int> tokens = sequence(30, v, 8);
  std::vector<float> fresh = run_logits(*m.model, tokens, opts(64));
  auto session = m.model->new_session(opts(8, 0));
  session->feed(tokens.data(), tokens.size(), nullptr);
  CHECK(session->rollback(3) == 1);
  std::vector<float> again(27 * size_t(v));
  session->feed(tokens.data() + 3, 27, again.data());
  CHECK(max_abs_diff(again.data(), fresh.data() + 3 * size_t(v), 27 * size_t(v)) <= 1e-5f);
}

TEST(reuse_computes_only_what_changed) {
  Loaded& m = windowed();
  const int v = m.spec.vocab;
  std::vector<int> prompt = sequence(40, v, 10);
  auto session = m.model->new_session(opts(16, 20));
  ReuseStats r = session->reuse(prompt);
  CHECK(r.reused == 0 && r.computed == 40);

  std::vector<int> longer = prompt;
  longer.push_back(11);
  r = session->reuse(longer);
  CHECK(r.reused == 40 && r.computed == 1);
  CHECK(session->tokens() == longer);
  CHECK(max_abs_diff(last(*session, v), row(run_logits(*m.model, longer, opts(64)), 40, v)) <= 1e-5f);

  // The same prompt again: its last token is recomputed for the logits.
  r = session->reuse(longer);
  CHECK(r.reused == 40 && r.computed == 1);

  // A prefix of what is held.
  r = session->reuse(prompt);
  CHECK(r.reused == 39 && r.computed == 1);
  CHECK(session->tokens() == prompt);

  // An edit near the end: within the slack, only the tail is computed.
  std::vector<int> edited(prompt.begin(), prompt.begin() + 30);
  edited.push_back(12);
  edited.push_back(13);
  r = session->reuse(edited);
  CHECK(r.reused == 30 && r.computed == 2);
  CHECK(max_abs_diff(last(*session, v), row(run_logits(*m.model, edited, opts(64)), 31, v)) <= 1e-5f);

  // An edit further back than the slack allows: everything is recomputed.
  std::vector<int> early = edited;
  early[2] = (early[2] + 1) % v;
  r = session->reuse(early);
  CHECK(r.reused == 0 && r.computed == early.size());

  r = session->reuse({});
  CHECK(r.reused == 0 && r.computed == 0 && session->tokens().empty());
}

TEST(cancel_stops_a_feed_between_chunks) {
  Loaded& m = windowed();
  const int v = m.spec.vocab;
  std::vector<int> tokens = sequence(30, v, 12);
  auto session = m.model->new_session(opts(10));
  std::atomic<bool> cancel{true};
  try {
    session->feed(tokens.data(), tokens.size(), nullptr, &cancel);
    CHECK(!"feed ignored the cancel flag");
  } catch (const Cancelled&) {
  }
  // The first chunk ran; the session is consistent.
  CHECK(session->tokens().size() == 10);
  std::vector<float> fresh = run_logits(*m.model, tokens, opts(64));
  CHECK(max_abs_diff(last(*session, v), row(fresh, 9, v)) <= 1e-5f);
}

TEST(cancel_stops_a_prefill_within_64_tokens_whatever_the_chunk) {
  Loaded& m = windowed();
  const int v = m.spec.vocab;
  std::vector<int> prompt = sequence(300, v, 13);
  auto session = m.model->new_session(opts(512));
  std::atomic<bool> cancel{true};  // set while the first step runs
  try {
    session->reuse(prompt, &cancel);
    CHECK(!"a 300-token prefill ignored the cancel flag");
  } catch (const Cancelled&) {
  }
  // One step of 64 tokens ran, not the whole 512-token chunk; the session is consistent
  // and carries on exactly.
  CHECK(session->tokens().size() == 64);
  std::vector<float> fresh = run_logits(*m.model, prompt, opts(512));
  CHECK(max_abs_diff(last(*session, v), row(fresh, 63, v)) <= 1e-5f);
  ReuseStats r = session->reuse(prompt);
  CHECK(r.reused == 64 && r.computed == 236);
  CHECK(max_abs_diff(last(*session, v), row(fresh, 299, v)) <= 1e-5f);
}

TEST(context_without_window_is_bounded) {
  Loaded& m = windowless();
  auto session = m.model->new_session(opts(8, 256, 16));
  CHECK(session->capacity() == 16 && session->window() == 0);
  std::vector<int> tokens = sequence(17, m.spec.vocab);
  EXPECT_ERROR(session->feed(tokens.data(), 17, nullptr), "context full", "16");
  CHECK(session->tokens().empty());  // rejected before any work
  session->feed(tokens.data(), 16, nullptr);
  EXPECT_ERROR(session->feed(tokens.data(), 1, nullptr), "context full");
  // Generation stops at a full context instead of failing.
  auto small = m.model->new_session(opts(8, 256, 10));
  small->feed(tokens.data(), 8, nullptr);
  SamplingParams p;
  p.max_tokens = 5;
  p.stop_tokens = {};
  GenerateResult r = small->generate(p, nullptr);
  CHECK(r.finish == FinishReason::Length && r.tokens.size() == 2);
  CHECK(small->tokens().size() == 10);
  // The default: max_position_embeddings (4096 here), capped at 32768.
  CHECK(m.model->new_session(SessionOptions{})->capacity() == 4096);
  CHECK(windowed().model->new_session(opts(8, 7))->capacity() == windowed().spec.window + 7);
}

TEST(bad_session_input_is_rejected) {
  Loaded& m = windowed();
  auto session = m.model->new_session(SessionOptions{});
  int bad[] = {1, m.spec.vocab};
  EXPECT_ERROR(session->feed(bad, 2, nullptr), "not an id", std::to_string(m.spec.vocab));
  int negative[] = {-1};
  EXPECT_ERROR(session->feed(negative, 1, nullptr), "not an id");
  CHECK(session->tokens().empty());
  EXPECT_ERROR(m.model->new_session(opts(0)), "chunk");
  EXPECT_ERROR(m.model->new_session(opts(8, -1)), "slack");
  EXPECT_ERROR(session->generate(SamplingParams{}, nullptr), "feed a prompt first");
  int one = 3;
  session->feed(&one, 1, nullptr);
  SamplingParams p;
  p.top_p = 0;
  EXPECT_ERROR(session->generate(p, nullptr), "top_p");
  p = SamplingParams{};
  p.stop_strings = {"x"};
  EXPECT_ERROR(session->generate(p, nullptr), "tokenizer");
}

// ---------------------------------------------------------------------------------
// Sampling and generation.

TEST(sampler_respects_temperature_top_k_and_top_p) {
  std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  Sampler sampler(3);
  SamplingParams p;
  p.temperature = 0;
  CHECK(sampler.sample(logits.data(), p) == 0);
  p.temperature = 1;
  sampler.seed(1);
  int counts[3] = {0, 0, 0};
  const int draws = 20000;
  for (int i = 0; i < draws; ++i) counts[sampler.sample(logits.data(), p)]++;
  CHECK(std::fabs(counts[0] / double(draws) - 0.5) < 0.02);
  CHECK(std::fabs(counts[1] / double(draws) - 0.3) < 0.02);
  CHECK(std::fabs(counts[2] / double(draws) - 0.2) < 0.02);

  p.top_k = 2;  // index 2 is cut; the rest renormalized to 5/8, 3/8
  int k_counts[3] = {0, 0, 0};
  for (int i = 0; i < draws; ++i) k_counts[sampler.sample(logits.data(), p)]++;
  CHECK(k_counts[2] == 0);
  CHECK(std::fabs(k_counts[0] / double(draws) - 0.625) < 0.02);

  p.top_k = 0;
  p.top_p = 0.7f;  // 0.5 < 0.7 ≤ 0.5 + 0.3: keeps two
  int p_counts[3] = {0, 0, 0};
  for (int i = 0; i < draws; ++i) p_counts[sampler.sample(logits.data(), p)]++;
  CHECK(p_counts[2] == 0 && p_counts[1] > 0);
  p.top_p = 0.4f;  // the best alone reaches it
  for (int i = 0; i < 100; ++i) CHECK(sampler.sample(logits.data(), p) == 0);

  // Very low temperature approaches greedy.
  p.top_p = 1;
  p.temperature = 1e-3f;
  for (int i = 0; i < 100; ++i) CHECK(sampler.sample(logits.data(), p) == 0);
}

TEST(sampler_is_deterministic_for_a_seed) {
  std::vector<float> logits(50);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = float(std::sin(double(i)));
  SamplingParams p;
  p.temperature = 1.5f;
  auto draw = [&](uint64_t seed) {
    Sampler s(50);
    s.seed(seed);
    std::vector<int> out;
    for (int i = 0; i < 30; ++i) out.push_back(s.sample(logits.data(), p));
    return out;
  };
  CHECK(draw(3) == draw(3));
  CHECK(draw(3) != draw(4));
}

TEST(greedy_generation_feeds_each_token_back) {
  Loaded& m = windowed();
  const int v = m.spec.vocab;
  std::vector<int> prompt = sequence(6, v, 13);
  auto session = m.model->new_session(opts(4, 4));
  session->feed(prompt.data(), prompt.size(), nullptr);
  SamplingParams p;
  p.max_tokens = 20;
  p.stop_tokens = {};
  GenerateResult r = session->generate(p, nullptr);
  // Each token must be the argmax of a fresh run over everything before it (unless
  // generation stopped on EOS, which this check also covers).
  std::vector<int> all = prompt;
  for (int id : r.tokens) {
    std::vector<float> logits = run_logits(*m.model, all, opts(64));
    CHECK(id == argmax(logits.data() + (all.size() - 1) * size_t(v), v));
    all.push_back(id);
  }
  CHECK(session->tokens() == all);
  if (r.finish == FinishReason::Length) CHECK(r.tokens.size() == 20);
  else CHECK(r.finish == FinishReason::StopToken);
  CHECK(r.text.empty());  // no tokenizer in this model directory
}

TEST(sampled_generation_is_deterministic_for_a_seed) {
  Loaded& m = windowed();
  std::vector<int> prompt = sequence(5, m.spec.vocab, 14);
  auto run = [&](uint64_t seed) {
    auto session = m.model->new_session(opts(8));
    session->feed(prompt.data(), prompt.size(), nullptr);
    SamplingParams p;
    p.temperature = 1.2f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.seed = seed;
    p.max_tokens = 16;
    p.stop_tokens = {m.spec.vocab + 1};  // never sampled
    return session->generate(p, nullptr).tokens;
  };
  std::vector<int> a = run(7), b = run(7);
  CHECK(a == b);
  CHECK(!a.empty());
  bool any_differs = false;
  for (uint64_t seed : {8, 9, 10}) any_differs |= run(seed) != a;
  CHECK(any_differs);
}

TEST(generation_stops_on_stop_tokens_max_tokens_and_cancel) {
  Loaded& m = windowed();
  std::vector<int> prompt = sequence(6, m.spec.vocab, 15);
  auto generate = [&](SamplingParams p, const std::atomic<bool>* cancel = nullptr) {
    auto session = m.model->new_session(opts(8));
    session->feed(prompt.data(), prompt.size(), nullptr);
    GenerateResult r = session->generate(p, nullptr, cancel);
    CHECK(session->tokens().size() == prompt.size() + r.tokens.size());
    return r;
  };
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 3;
  p.max_tokens = 12;
  GenerateResult base = generate(p);
  if (base.finish == FinishReason::Length) CHECK(base.tokens.size() == 12);
  CHECK(base.tokens.size() >= 3);
  // Stopping on the third token's id returns what came before its first occurrence.
  const int stop = base.tokens[2];
  p.stop_tokens = {stop};
  GenerateResult stopped = generate(p);
  CHECK(stopped.finish == FinishReason::StopToken);
  size_t first = size_t(std::find(base.tokens.begin(), base.tokens.end(), stop) - base.tokens.begin());
  CHECK(stopped.tokens == std::vector<int>(base.tokens.begin(), base.tokens.begin() + std::ptrdiff_t(first)));

  p.stop_tokens.clear();
  p.max_tokens = 0;
  GenerateResult none = generate(p);
  CHECK(none.tokens.empty() && none.finish == FinishReason::Length);

  p.max_tokens = 50;
  std::atomic<bool> cancel{true};
  GenerateResult cancelled = generate(p, &cancel);
  CHECK(cancelled.finish == FinishReason::Cancelled && cancelled.tokens.empty());
  CHECK(std::string(finish_reason_name(FinishReason::Cancelled)) == "cancelled");
  CHECK(std::string(finish_reason_name(FinishReason::StopString)) == "stop_string");
}

TEST(stop_strings_hold_back_and_cut) {
  StopStrings s({"\n\n", "END"});
  CHECK(s.push("foo\n") == "foo");  // "\n" may begin "\n\n"
  CHECK(s.push("bar") == "\nbar");
  CHECK(s.push("E") == "");          // may begin "END"
  CHECK(s.push("Nx") == "ENx");      // it did not
  CHECK(s.push("ab\n") == "ab");
  CHECK(s.push("\nrest") == "");     // "\n\n": cut before it
  CHECK(s.matched());
  CHECK(s.push("more") == "");

  StopStrings t({"abc"});
  CHECK(t.push("xxab") == "xx");
  CHECK(t.flush() == "ab");  // generation ended: nothing more can complete it
  CHECK(!t.matched());

  // The earliest match wins across stop strings, even split over pieces.
  StopStrings u({"world", "lo w"});
  CHECK(u.push("hel") == "he");
  CHECK(u.push("lo wor") == "l");  // "he" + "l": cut before "lo w"
  CHECK(u.matched());

  StopStrings none({"", ""});
  CHECK(none.push("anything") == "anything");
}

// A tokenizer.json of 98 pieces: the control tokens, "▁" and the printable ASCII
// characters, no merges. Enough to turn a tiny model's tokens into text.
static std::string tiny_tokenizer_json() {
  auto escape = [](char c) {
    if (c == '"' || c == '\\') return std::string("\\") + c;
    return std::string(1, c);
  };
  std::string vocab = "\"\u2581\": 3";
  for (int c = 33; c <= 126; ++c) vocab += ", \"" + escape(char(c)) + "\": " + std::to_string(c - 29);
  return harness::bpe_tokenizer_json(vocab);
}

static Loaded& with_tokenizer() {
  static Loaded m = [] {
    Loaded l;
    l.spec.vocab = 98;
    l.spec.seed = 17;
    l.weights = random_weights(l.spec);
    write_hf_model(l.dir.path, l.spec, l.weights);
    write_file(l.dir.file("tokenizer.json"), tiny_tokenizer_json());
    l.model = Model::load(l.dir.path, LoadOptions{});
    return l;
  }();
  return m;
}

TEST(generated_text_streams_and_stops_at_stop_strings) {
  Loaded& m = with_tokenizer();
  CHECK(m.model->tokenizer() != nullptr);
  std::vector<int> prompt = sequence(6, m.spec.vocab, 18);
  struct Run {
    GenerateResult result;
    std::string streamed;
  };
  auto run = [&](SamplingParams p, int stop_after_pieces = -1) {
    auto session = m.model->new_session(opts(8));
    session->feed(prompt.data(), prompt.size(), nullptr);
    Run r;
    int pieces = 0;
    r.result = session->generate(p, [&](const std::string& piece) {
      CHECK(!piece.empty());
      r.streamed += piece;
      return ++pieces != stop_after_pieces;
    });
    CHECK(session->tokens().size() == prompt.size() + r.result.tokens.size());
    return r;
  };
  SamplingParams p;
  p.temperature = 0.9f;
  p.seed = 5;
  p.max_tokens = 40;
  p.stop_tokens = {0, 1};  // text only (2 is EOS)
  // A seed whose 40 tokens are all text: the model is random, so search a few.
  Run base = run(p);
  for (uint64_t seed = 6; seed < 100 && base.result.finish != FinishReason::Length; ++seed) {
    p.seed = seed;
    base = run(p);
  }
  const std::string text = base.result.text;
  CHECK(base.streamed == text);
  CHECK(base.result.finish == FinishReason::Length && base.result.tokens.size() == 40);
  CHECK_MSG(text.size() >= 20, "text \"%s\"", text.c_str());
  if (text.size() < 20) return;

  // Stop at a string from the middle of that text: cut right before its first match.
  const std::string stop = text.substr(12, 3);
  const size_t cut = text.find(stop);
  p.stop_strings = {stop};
  Run stopped = run(p);
  CHECK(stopped.result.finish == FinishReason::StopString);
  CHECK(stopped.result.text == text.substr(0, cut));
  CHECK(stopped.streamed == stopped.result.text);
  CHECK(stopped.result.tokens.size() < base.result.tokens.size());
  CHECK(std::equal(stopped.result.tokens.begin(), stopped.result.tokens.end(), base.result.tokens.begin()));

  // A stop string that only starts to match is held back, then released in full.
  p.stop_strings = {text.substr(12, 1) + "\x01"};
  Run held = run(p);
  CHECK(held.result.finish == FinishReason::Length);
  CHECK(held.result.text == text && held.streamed == text);

  // The callback returning false stops generation right there.
  p.stop_strings.clear();
  Run quit = run(p, 2);
  CHECK(quit.result.finish == FinishReason::Cancelled);
  CHECK(quit.result.tokens.size() < 40);
  CHECK(text.compare(0, quit.streamed.size(), quit.streamed) == 0);
}

// ---------------------------------------------------------------------------------
// Configuration.

TEST(configs_are_read_from_both_formats) {
  TempDir dir;
  write_file(dir.file("config.json"),
             "{\"vocab_size\": 32000, \"hidden_size\": 4096, \"intermediate_size\": 14336, "
             "\"num_hidden_layers\": 32, \"num_attention_heads\": 32, \"num_key_value_heads\": 8, "
             "\"sliding_window\": null, \"max_position_embeddings\": 32768, \"rms_norm_eps\": 1e-05, "
             "\"rope_parameters\": {\"rope_theta\": 1000000.0, \"rope_type\": \"default\"}, "
             "\"eos_token_id\": [2, 5], \"head_dim\": null}");
  ModelConfig c = load_config(dir.path).config;
  CHECK(c.dim == 4096 && c.n_layers == 32 && c.n_heads == 32 && c.n_kv_heads == 8);
  CHECK(c.head_dim == 128 && c.hidden_dim == 14336 && c.vocab_size == 32000);
  CHECK(c.sliding_window == 0 && c.rope_theta == 1e6f && c.max_position == 32768);
  CHECK(c.eos_id == 2 && c.rope_layout == RopeLayout::RotateHalf && !c.tie_embeddings);

  TempDir params;
  write_file(params.file("params.json"),
             "{\"dim\": 4096, \"n_layers\": 32, \"head_dim\": 128, \"hidden_dim\": 14336, \"n_heads\": 32, "
             "\"n_kv_heads\": 8, \"norm_eps\": 1e-05, \"sliding_window\": 4096, \"vocab_size\": 32000}");
  c = load_config(params.path).config;
  CHECK(c.sliding_window == 4096 && c.rope_theta == 10000.f && c.norm_eps == 1e-5f);
  CHECK(c.rope_layout == RopeLayout::Interleaved);
}

TEST(mixture_of_experts_configs_are_read) {
  // Mixtral 8x7B's config.json.
  TempDir dir;
  write_file(dir.file("config.json"),
             "{\"architectures\": [\"MixtralForCausalLM\"], \"model_type\": \"mixtral\", "
             "\"vocab_size\": 32000, \"hidden_size\": 4096, \"intermediate_size\": 14336, "
             "\"num_hidden_layers\": 32, \"num_attention_heads\": 32, \"num_key_value_heads\": 8, "
             "\"num_local_experts\": 8, \"num_experts_per_tok\": 2, \"sliding_window\": null, "
             "\"max_position_embeddings\": 32768, \"rope_theta\": 1000000.0}");
  ModelConfig c = load_config(dir.path).config;
  CHECK(c.feed_forward == FeedForwardKind::MixtureOfExperts);
  CHECK(c.n_experts == 8 && c.n_experts_per_token == 2 && c.hidden_dim == 14336);
  CHECK(c.sliding_window == 0);  // Mixtral has none: its cache grows with the context

  // Mistral's own format says it under "moe".
  TempDir params;
  write_file(params.file("params.json"),
             "{\"dim\": 4096, \"n_layers\": 32, \"head_dim\": 128, \"hidden_dim\": 14336, "
             "\"n_heads\": 32, \"n_kv_heads\": 8, \"norm_eps\": 1e-05, \"vocab_size\": 32000, "
             "\"rope_theta\": 1e6, \"moe\": {\"num_experts\": 8, \"num_experts_per_tok\": 2}}");
  c = load_config(params.path).config;
  CHECK(c.feed_forward == FeedForwardKind::MixtureOfExperts);
  CHECK(c.n_experts == 8 && c.n_experts_per_token == 2 && c.sliding_window == 0);

  // Dense configs stay dense; an impossible expert count is one clear error.
  Spec s;
  TempDir dense;
  write_file(dense.file("config.json"), hf_config_json(s));
  CHECK(load_config(dense.path).config.feed_forward == FeedForwardKind::Dense);
  write_file(params.file("params.json"),
             "{\"dim\": 64, \"n_layers\": 2, \"hidden_dim\": 128, \"n_heads\": 4, "
             "\"vocab_size\": 100, \"moe\": {\"num_experts\": 2, \"num_experts_per_tok\": 3}}");
  EXPECT_ERROR(load_config(params.path), "params.json", "3 experts per token exceed the 2 experts");
  write_file(params.file("params.json"),
             "{\"dim\": 64, \"n_layers\": 2, \"hidden_dim\": 128, \"n_heads\": 4, "
             "\"vocab_size\": 100, \"moe\": {\"num_experts\": 2}}");
  EXPECT_ERROR(load_config(params.path), "missing", "num_experts_per_tok");
}

TEST(bad_configs_are_one_clear_error) {
  Spec s;
  auto with_config = [&](const std::string& json) {
    TempDir dir;
    write_hf_model(dir.path, s, random_weights(s));
    write_file(dir.file("config.json"), json);
    Model::load(dir.path, LoadOptions{});
  };
  EXPECT_ERROR(with_config("{\"hidden_size\": 64,"), "config.json");
  EXPECT_ERROR(with_config("[1, 2]"), "config.json");
  std::string good = hf_config_json(s);
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string text = good;
    text.replace(text.find(from), from.size(), to);
    return text;
  };
  EXPECT_ERROR(with_config(replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3")),
               "multiple of key/value heads");
  EXPECT_ERROR(with_config(replace("\"hidden_size\": 44", "\"hidden_size\": -44")), "hidden_size");
  EXPECT_ERROR(with_config(replace("\"vocab_size\": 97, ", "")), "missing", "vocab_size");
  EXPECT_ERROR(with_config(replace("\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"")), "gelu");
  EXPECT_ERROR(with_config(replace("\"rope_theta\": 10000.000000",
                                   "\"rope_scaling\": {\"rope_type\": \"yarn\"}, \"rope_theta\": 1e4")),
               "yarn");
}

// ---------------------------------------------------------------------------------
// Malformed checkpoints: each is one clear Error, never a crash.

struct BadCheckpoint {
  Spec spec;
  TempDir dir;
  std::vector<RawTensor> tensors;
  BadCheckpoint() {
    WeightMap w = random_weights(spec);
    write_file(dir.file("config.json"), hf_config_json(spec));
    for (const auto& [name, shape] : hf_shapes(spec)) tensors.push_back(raw(name, shape, w.at(name), Store::F32));
  }
  RawTensor& tensor(const std::string& name) {
    for (auto& t : tensors)
      if (t.name == name) return t;
    throw std::runtime_error("no tensor " + name);
  }
  void write(const std::string& bytes) { write_file(dir.file("model.safetensors"), bytes); }
  void write() { write(encode_safetensors(tensors)); }
  void load() { Model::load(dir.path, LoadOptions{}); }
};

// A file with the given header text and data, length prefix computed or forced.
static std::string with_header(const std::string& header, const std::string& data, uint64_t length) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char((length >> (8 * i)) & 0xff);
  return out + header + data;
}

TEST(malformed_safetensors_are_one_clear_error) {
  {
    BadCheckpoint b;
    std::string bytes = encode_safetensors(b.tensors);
    b.write(bytes.substr(0, bytes.size() - 100));  // truncated data
    EXPECT_ERROR(b.load(), "model.safetensors", "outside");
  }
  {
    BadCheckpoint b;
    b.write("\x01\x02\x03");  // shorter than the length prefix
    EXPECT_ERROR(b.load(), "model.safetensors", "too short");
  }
  {
    BadCheckpoint b;
    b.write("");
    EXPECT_ERROR(b.load(), "model.safetensors");
  }
  {
    BadCheckpoint b;
    std::string bytes = encode_safetensors(b.tensors);
    for (int i = 0; i < 8; ++i) bytes[size_t(i)] = 0;
    bytes[7] = 0x10;  // 2^60
    b.write(bytes);
    EXPECT_ERROR(b.load(), "model.safetensors", "header length");
  }
  {
    BadCheckpoint b;  // header length within the file but past the JSON
    std::string bytes = encode_safetensors(b.tensors);
    bytes[0] = char(bytes[0] + 3);
    b.write(bytes);
    EXPECT_ERROR(b.load(), "model.safetensors");
  }
  {
    BadCheckpoint b;
    b.write(with_header("not json", "", 8));
    EXPECT_ERROR(b.load(), "model.safetensors", "invalid JSON");
  }
  {
    BadCheckpoint b;
    std::string header = "{\"model.norm.weight\": {\"dtype\": \"F32\", \"shape\": [44], \"data_offsets\": [0, 1000176]}}";
    b.write(with_header(header, std::string(176, '\0'), header.size()));
    EXPECT_ERROR(b.load(), "model.norm.weight", "outside");
  }
  {
    BadCheckpoint b;
    std::string header = "{\"model.norm.weight\": {\"dtype\": \"F32\", \"shape\": [44], \"data_offsets\": [8, 4]}}";
    b.write(with_header(header, std::string(176, '\0'), header.size()));
    EXPECT_ERROR(b.load(), "model.norm.weight", "data_offsets");
  }
  {
    BadCheckpoint b;  // offsets in range but not matching the shape
    std::string header = "{\"model.norm.weight\": {\"dtype\": \"F32\", \"shape\": [44], \"data_offsets\": [0, 100]}}";
    b.write(with_header(header, std::string(176, '\0'), header.size()));
    EXPECT_ERROR(b.load(), "model.norm.weight", "needs 176");
  }
  {
    BadCheckpoint b;  // two tensors sharing bytes
    std::string header =
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
        " \"b\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [8, 24]}}";
    b.write(with_header(header, std::string(24, '\0'), header.size()));
    EXPECT_ERROR(b.load(), "model.safetensors", "overlap");
  }
  {
    BadCheckpoint b;  // a shape whose element count overflows
    std::string header =
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 16], \"data_offsets\": [0, 16]}}";
    b.write(with_header(header, std::string(16, '\0'), header.size()));
    EXPECT_ERROR(b.load(), "model.safetensors", "too large");
  }
  {
    BadCheckpoint b;
    b.tensors.erase(std::find_if(b.tensors.begin(), b.tensors.end(),
                                 [](const RawTensor& t) { return t.name == "model.layers.1.mlp.up_proj.weight"; }));
    b.write();
    EXPECT_ERROR(b.load(), "missing tensor model.layers.1.mlp.up_proj.weight", "model.safetensors");
  }
  {
    BadCheckpoint b;  // same byte count, transposed shape
    b.tensor("model.layers.1.mlp.up_proj.weight").shape = {44, 72};
    b.write();
    EXPECT_ERROR(b.load(), "model.layers.1.mlp.up_proj.weight: expected shape [72, 44], found [44, 72] in model.safetensors");
  }
  {
    BadCheckpoint b;
    RawTensor& t = b.tensor("model.norm.weight");
    t.dtype = "I8";
    t.shape = {176};
    b.write();
    EXPECT_ERROR(b.load(), "model.norm.weight", "I8");
  }
  {
    BadCheckpoint b;
    b.tensor("model.norm.weight").dtype = "F8_E4M3";
    b.write();
    EXPECT_ERROR(b.load(), "model.norm.weight", "F8_E4M3");
  }
  {
    BadCheckpoint b;  // no weights at all
    EXPECT_ERROR(b.load(), "no model.safetensors");
  }
}

TEST(broken_model_directories_are_one_clear_error) {
  EXPECT_ERROR(Model::load("/nonexistent/tramontane/model", LoadOptions{}), "not found", "/nonexistent");
  {
    TempDir empty;
    EXPECT_ERROR(Model::load(empty.path, LoadOptions{}), "no config.json or params.json");
  }
  {
    TempDir dir;  // an index naming a shard that is not there
    Spec s;
    write_hf_model(dir.path, s, random_weights(s), Store::F32, 2);
    ::unlink(dir.file("model-00002-of-00002.safetensors").c_str());
    EXPECT_ERROR(Model::load(dir.path, LoadOptions{}), "model-00002-of-00002.safetensors", "missing");
  }
  {
    TempDir dir;  // an index escaping the directory
    Spec s;
    write_hf_model(dir.path, s, random_weights(s));
    write_file(dir.file("model.safetensors.index.json"),
               "{\"weight_map\": {\"model.norm.weight\": \"../model.safetensors\"}}");
    EXPECT_ERROR(Model::load(dir.path, LoadOptions{}), "invalid shard name");
  }
  {
    TempDir dir;  // params.json without its consolidated.safetensors
    Loaded& m = windowed();
    write_consolidated_model(dir.path, m.spec, m.weights);
    ::unlink(dir.file("consolidated.safetensors").c_str());
    EXPECT_ERROR(Model::load(dir.path, LoadOptions{}), "no consolidated.safetensors");
  }
  {
    LoadOptions cuda;
    cuda.backend = BackendKind::Cuda;
    EXPECT_ERROR(Model::load(windowed().dir.path, cuda), "CUDA");
    LoadOptions threads;
    threads.threads = -2;
    EXPECT_ERROR(Model::load(windowed().dir.path, threads), "threads");
  }
}

TEST(load_reports_progress_up_to_one) {
  std::vector<float> seen;
  LoadOptions o;
  o.on_progress = [&](float f) { seen.push_back(f); };
  Model::load(windowed().dir.path, o);
  CHECK(!seen.empty());
  CHECK(seen.back() == 1.f);
  CHECK(std::is_sorted(seen.begin(), seen.end()));
}

// ---------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------
// Speculative greedy decoding: drafts from the context, verified in one forward pass.

// Greedy generation with drafting on and off, from the same prompt and options.
struct Decoded {
  GenerateResult result;
  std::vector<int> held;     // the session's tokens afterwards
  std::vector<float> logits; // its last_logits() afterwards
  std::string streamed;
};

static Decoded decode(Loaded& m, const std::vector<int>& prompt, SessionOptions o,
                      SamplingParams p, int stop_after_pieces = -1) {
  auto session = m.model->new_session(o);
  session->feed(prompt.data(), prompt.size(), nullptr);
  Decoded d;
  int pieces = 0;
  d.result = session->generate(p, [&](const std::string& piece) {
    d.streamed += piece;
    return ++pieces != stop_after_pieces;
  });
  d.held = session->tokens();
  d.logits.assign(session->last_logits(), session->last_logits() + m.spec.vocab);
  return d;
}

static void check_same_output(const Decoded& plain, const Decoded& drafted, const char* what) {
  CHECK_MSG(plain.result.tokens == drafted.result.tokens, "%s: tokens differ", what);
  CHECK_MSG(plain.result.text == drafted.result.text, "%s: text differs", what);
  CHECK_MSG(plain.streamed == drafted.streamed, "%s: streamed text differs", what);
  CHECK_MSG(plain.result.finish == drafted.result.finish, "%s: finish differs", what);
  CHECK_MSG(plain.held == drafted.held, "%s: session tokens differ", what);
  CHECK_MSG(max_abs_diff(plain.logits, drafted.logits) < 1e-4f, "%s: last logits differ", what);
}

// Decodes with drafting off, then on (max_draft 8), and checks the two agree.
static void check_drafting_changes_nothing(Loaded& m, const std::vector<int>& prompt, SessionOptions o,
                                           const SamplingParams& p, const char* what,
                                           int stop_after_pieces = -1) {
  o.max_draft = 0;
  const Decoded plain = decode(m, prompt, o, p, stop_after_pieces);
  o.max_draft = 8;
  check_same_output(plain, decode(m, prompt, o, p, stop_after_pieces), what);
}

TEST(speculative_greedy_decoding_gives_the_plain_tokens) {
  Loaded& m = with_tokenizer();
  // A prompt that repeats itself, so drafts are found; a random model also tends to loop.
  std::vector<int> prompt = sequence(12, m.spec.vocab, 21);
  prompt.insert(prompt.end(), prompt.begin(), prompt.end());
  SamplingParams p;
  p.max_tokens = 48;
  p.stop_tokens = {0, 1};
  int accepted = 0, steps = 0, tokens = 0;
  for (int chunk : {1, 4, 64}) {
    for (int slack : {0, 2, 16}) {
      SessionOptions o = opts(chunk, slack);
      o.max_draft = 0;
      const Decoded plain = decode(m, prompt, o, p);
      CHECK(plain.result.drafted == 0 && plain.result.steps == int(plain.result.tokens.size()));
      o.max_draft = 8;
      const Decoded drafted = decode(m, prompt, o, p);
      check_same_output(plain, drafted, ("chunk " + std::to_string(chunk) + " slack " + std::to_string(slack)).c_str());
      CHECK(drafted.result.accepted <= drafted.result.drafted);
      CHECK(drafted.result.steps + drafted.result.accepted == int(drafted.result.tokens.size()));
      if (slack == 0) CHECK(drafted.result.drafted == 0);  // no exact rollback, no drafts
      accepted += drafted.result.accepted;
      steps += drafted.result.steps;
      tokens += int(drafted.result.tokens.size());
    }
  }
  CHECK_MSG(accepted > 0 && steps < tokens, "accepted %d drafts, %d steps for %d tokens", accepted,
            steps, tokens);
}

TEST(speculative_decoding_stops_where_plain_decoding_stops) {
  Loaded& m = with_tokenizer();
  std::vector<int> prompt = sequence(10, m.spec.vocab, 22);
  prompt.insert(prompt.end(), prompt.begin(), prompt.end());
  SamplingParams p;
  p.max_tokens = 40;
  p.stop_tokens = {0, 1};
  SessionOptions o = opts(16, 16);
  o.max_draft = 0;
  const Decoded base = decode(m, prompt, o, p);
  CHECK(base.result.text.size() >= 12);
  if (base.result.text.size() < 12) return;
  // A stop string, a stop token, a listener that stops, and every max_tokens: each can
  // end the output in the middle of an accepted draft.
  SamplingParams stop_string = p;
  stop_string.stop_strings = {base.result.text.substr(9, 2)};
  SamplingParams stop_token = p;
  stop_token.stop_tokens.push_back(base.result.tokens[7]);
  for (const SamplingParams& q : {stop_string, stop_token}) {
    check_drafting_changes_nothing(m, prompt, o, q, "stop");
  }
  for (int pieces : {1, 3, 7}) {
    check_drafting_changes_nothing(m, prompt, o, p, "listener", pieces);
  }
  for (int max_tokens = 0; max_tokens <= 20; ++max_tokens) {
    SamplingParams q = p;
    q.max_tokens = max_tokens;
    check_drafting_changes_nothing(m, prompt, o, q, "max_tokens");
  }
}

TEST(speculative_decoding_streams_nothing_after_a_cancel) {
  Loaded& m = with_tokenizer();
  std::vector<int> prompt = sequence(12, m.spec.vocab, 21);
  prompt.insert(prompt.end(), prompt.begin(), prompt.end());
  SamplingParams p;
  p.max_tokens = 48;
  p.stop_tokens = {0, 1};
  // Cancelled from the listener (as a newer keystroke does) after each number of pieces:
  // no text after the flag is set, and the same output as plain decoding.
  int accepted = 0;
  for (int pieces = 1; pieces <= 48; ++pieces) {
    GenerateResult results[2];
    std::vector<int> held[2];
    for (int run = 0; run < 2; ++run) {
      SessionOptions o = opts(64, 16);
      o.max_draft = run == 0 ? 0 : 8;
      auto session = m.model->new_session(o);
      session->feed(prompt.data(), prompt.size(), nullptr);
      std::atomic<bool> cancel{false};
      int seen = 0, after_cancel = 0;
      results[run] = session->generate(
          p,
          [&](const std::string&) {
            if (cancel.load()) ++after_cancel;
            if (++seen == pieces) cancel = true;
            return true;
          },
          &cancel);
      held[run] = session->tokens();
      CHECK_MSG(after_cancel == 0, "max_draft %d: %d pieces streamed after the cancel", o.max_draft,
                after_cancel);
    }
    CHECK(results[0].tokens == results[1].tokens && results[0].finish == results[1].finish);
    CHECK(held[0] == held[1]);
    CHECK(results[1].steps + results[1].accepted == int(results[1].tokens.size()));
    accepted += results[1].accepted;
  }
  CHECK(accepted > 0);  // drafts were streamed before some of the cancels
}

TEST(speculative_decoding_respects_a_full_context) {
  Loaded& m = windowless();
  std::vector<int> prompt = sequence(6, m.spec.vocab, 23);
  prompt.insert(prompt.end(), prompt.begin(), prompt.end());
  SamplingParams p;
  p.max_tokens = 40;
  p.stop_tokens = {};
  for (int context : {13, 16, 24}) {
    SessionOptions o = opts(8, 256, context);
    o.max_draft = 0;
    auto plain = m.model->new_session(o);
    plain->feed(prompt.data(), prompt.size(), nullptr);
    const GenerateResult a = plain->generate(p, nullptr);
    o.max_draft = 8;
    auto drafted = m.model->new_session(o);
    drafted->feed(prompt.data(), prompt.size(), nullptr);
    const GenerateResult b = drafted->generate(p, nullptr);
    CHECK(a.tokens == b.tokens && a.finish == b.finish);
    CHECK(drafted->tokens() == plain->tokens());
    CHECK(int(drafted->tokens().size()) <= context);
  }
}

int main() { return harness::run_all(); }
