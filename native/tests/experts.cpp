// The sparse mixture of experts (Mixtral) on the CPU, on cases small enough to work out
// by hand, and the Mixtral files of every layout.
//
// What is checked: the router's choice and weights on a worked example, and its choice
// on exact ties (torch.topk's, not the lower index); a tiny Mixtral written as GGUF
// (llama.cpp's stacked experts, its older one tensor per expert, f32 or Q8_0 experts)
// against a plain double-precision computation of the same model, by chunks and token
// by token; the GGUF copy of an HF reference fixture; the demo model upcycled into
// identical experts, which must give the demo's logits and greedy text through its real
// tokenizer; a Mixtral GGUF not taken for Mistral 7B v0.1; and one clear error for each kind
// of bad Mixtral file (expert counts that do not match the tensors, a missing expert,
// k above the expert count or below 1). The HF reference fixtures themselves (every
// position, chunk size, slack and rollback) are test-reference's.
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "experts.h"
#include "gguf.h"
#include "gguf_convert.h"
#include "gguf_model.h"
#include "gguf_writer.h"
#include "harness.h"
#include "kernel_scope.h"
#include "quant_blocks.h"
#include "tramontane/engine.h"
#include "tramontane/tokenizer.h"

using namespace tramontane;
using harness::KernelScope;
using harness::read_file;
using harness::repo_path;
using harness::TempDir;
using harness::write_file;

// A reference fixture (test/fixtures/models).
static std::string fixture(const std::string& name) { return repo_path("test/fixtures/models/" + name); }

static void copy_dir(const std::string& from, const TempDir& to, const std::vector<std::string>& names) {
  for (const std::string& n : names) write_file(to.file(n), read_file(from + "/" + n));
}

static std::string replace_once(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  if (at == std::string::npos) throw std::runtime_error("\"" + from + "\" not found");
  return text.replace(at, from.size(), to);
}

// ---------------------------------------------------------------------------------
// The router.

struct Routed {
  std::vector<int> chosen;
  std::vector<float> weights;
};

static Routed route_of(std::vector<float> logits, int k) {
  Routed r{std::vector<int>(size_t(k)), std::vector<float>(size_t(k))};
  std::vector<cpu::RouteEntry> queue(logits.size());
  cpu::route(logits.data(), int(logits.size()), k, r.chosen.data(), r.weights.data(), queue.data());
  return r;
}

TEST(router_picks_the_top_k_and_renormalises_their_weights) {
  // logits 1, 2, 0.5, 3: the two largest are experts 3 and 1, whose softmax
  // probabilities e³/S and e²/S become e³/(e³ + e²) = 1/(1 + e⁻¹) and 1/(1 + e).
  Routed r = route_of({1.f, 2.f, 0.5f, 3.f}, 2);
  CHECK(r.chosen == std::vector<int>({3, 1}));
  CHECK(std::fabs(r.weights[0] - 0.7310586f) < 1e-6f && std::fabs(r.weights[1] - 0.2689414f) < 1e-6f);

  r = route_of({1.f, 2.f, 0.5f, 3.f}, 1);  // one expert: weight 1, whatever its probability
  CHECK(r.chosen == std::vector<int>({3}) && r.weights[0] == 1.f);

  r = route_of({1.f, 2.f, 0.5f, 3.f}, 4);  // all of them: the softmax itself, largest first
  CHECK(r.chosen == std::vector<int>({3, 1, 0, 2}));
  const double s = std::exp(1.0) + std::exp(2.0) + std::exp(0.5) + std::exp(3.0);
  CHECK(std::fabs(r.weights[3] - float(std::exp(0.5) / s)) < 1e-6f);

  // 128 experts, top 2: the partial-sort branch (64·k ≤ n).
  std::vector<float> many(128);
  for (size_t i = 0; i < many.size(); ++i) many[i] = float((i * 37) % 128) / 16.f;  // a permutation
  r = route_of(many, 2);
  CHECK(many[size_t(r.chosen[0])] == 127.f / 16 && many[size_t(r.chosen[1])] == 126.f / 16);
  CHECK(std::fabs(r.weights[0] - 1.f / (1.f + std::exp(-1.f / 16))) < 1e-6f);
}

TEST(router_breaks_exact_ties_as_torch_topk) {
  // What torch.topk (CPU) returned for these inputs when the reference fixtures were made
  // (reference.json, checks.torch_topk_tie_indices): not the lower index first.
  CHECK(route_of(std::vector<float>(4, 0.f), 2).chosen == std::vector<int>({2, 3}));
  CHECK(route_of(std::vector<float>(8, 0.f), 2).chosen == std::vector<int>({6, 5}));
  CHECK(route_of(std::vector<float>(8, 0.f), 3).chosen == std::vector<int>({6, 5, 4}));
  const std::vector<float> two_ties = {0.1f, 0.3f, 0.2f, 0.3f, 0.1f};
  CHECK(route_of(two_ties, 2).chosen == std::vector<int>({1, 3}));
  CHECK(route_of(two_ties, 3).chosen == std::vector<int>({1, 3, 2}));
  const Routed r = route_of(std::vector<float>(4, 0.f), 2);
  CHECK(r.weights[0] == 0.5f && r.weights[1] == 0.5f);
}

// ---------------------------------------------------------------------------------
// A tiny Mixtral whose attention is zero (its projections are all 0, so each layer adds
// only the mixture's output): every token's logits follow from its embedding alone, by
// the computation below, while the engine runs the whole model, cache and chunks.

struct Tiny {
  int vocab = 40, dim = 32, hidden = 64, layers = 2, experts = 4, k = 2;
  std::vector<float> embed, out, out_norm;  // [vocab][dim], [vocab][dim], [dim]
  struct Layer {
    std::vector<float> attn_norm, ffn_norm, router;   // [dim], [dim], [experts][dim]
    std::vector<std::vector<float>> gate, up, down;  // per expert: [hidden][dim] ×2, [dim][hidden]
  };
  std::vector<Layer> l;
};

static Tiny make_tiny(int experts, int k, uint32_t seed) {
  Tiny m;
  m.experts = experts;
  m.k = k;
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  auto fill = [&](size_t n, float scale, float offset = 0.f) {
    std::vector<float> v(n);
    for (float& x : v) x = offset + scale * normal(rng);
    return v;
  };
  const size_t d = size_t(m.dim), h = size_t(m.hidden);
  m.embed = fill(size_t(m.vocab) * d, 1.f);
  m.out = fill(size_t(m.vocab) * d, 1.f / std::sqrt(float(d)));
  m.out_norm = fill(d, 0.1f, 1.f);
  m.l.resize(size_t(m.layers));
  for (Tiny::Layer& L : m.l) {
    L.attn_norm = fill(d, 0.1f, 1.f);
    L.ffn_norm = fill(d, 0.1f, 1.f);
    L.router = fill(size_t(experts) * d, 1.2f / std::sqrt(float(d)));  // logits of O(1)
    for (int e = 0; e < experts; ++e) {
      L.gate.push_back(fill(h * d, 1.2f / std::sqrt(float(d))));
      L.up.push_back(fill(h * d, 1.2f / std::sqrt(float(d))));
      L.down.push_back(fill(d * h, 1.2f / std::sqrt(float(h))));
    }
  }
  return m;
}

// Weights as the engine reads them: Q8_0 experts are rounded the same way here.
static std::vector<float> stored(const std::vector<float>& v, int64_t cols, StoredType type) {
  std::vector<uint8_t> bytes(size_t(row_bytes(type, cols)));
  std::vector<float> out(v.size());
  for (size_t r = 0; r < v.size() / size_t(cols); ++r) {
    cpu::quantize_row(type, &v[r * size_t(cols)], bytes.data(), cols);
    cpu::dequantize_row(type, bytes.data(), &out[r * size_t(cols)], cols);
  }
  return out;
}

// The model's logits for each token, in double precision. renormalise = false leaves
// the top-k probabilities as they are (a wrong router, to show the check can tell).
static std::vector<float> hand_logits(const Tiny& m, const std::vector<int>& tokens, StoredType experts_type,
                                      bool renormalise = true, std::set<int>* used = nullptr) {
  const int d = m.dim, h = m.hidden;
  auto rmsnorm = [&](const std::vector<double>& x, const std::vector<float>& g) {
    double ss = 0;
    for (double v : x) ss += v * v;
    const double inv = 1.0 / std::sqrt(ss / d + 1e-5);
    std::vector<double> y(static_cast<size_t>(d));
    for (int i = 0; i < d; ++i) y[size_t(i)] = g[size_t(i)] * x[size_t(i)] * inv;
    return y;
  };
  auto linear = [&](const std::vector<float>& w, const std::vector<double>& x, int rows) {
    const size_t cols = x.size();
    std::vector<double> y(static_cast<size_t>(rows));
    for (int r = 0; r < rows; ++r)
      for (size_t c = 0; c < cols; ++c) y[size_t(r)] += double(w[size_t(r) * cols + c]) * x[c];
    return y;
  };
  std::vector<float> logits;
  for (int token : tokens) {
    std::vector<double> x(m.embed.begin() + std::ptrdiff_t(size_t(token) * d),
                          m.embed.begin() + std::ptrdiff_t(size_t(token + 1) * d));
    for (const Tiny::Layer& L : m.l) {
      const std::vector<double> xn = rmsnorm(x, L.ffn_norm);
      // Router: softmax over the experts, the k largest, renormalised.
      std::vector<double> p = linear(L.router, xn, m.experts);
      const double mx = *std::max_element(p.begin(), p.end());
      double sum = 0;
      for (double& v : p) sum += (v = std::exp(v - mx));
      for (double& v : p) v /= sum;
      std::vector<int> order(size_t(m.experts));
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[size_t(a)] > p[size_t(b)]; });
      double top = 0;
      for (int j = 0; j < m.k; ++j) top += p[size_t(order[size_t(j)])];
      std::vector<double> y(static_cast<size_t>(d));
      for (int j = 0; j < m.k; ++j) {
        const int e = order[size_t(j)];
        if (used) used->insert(e);
        const double weight = renormalise ? p[size_t(e)] / top : p[size_t(e)];
        std::vector<double> g = linear(stored(L.gate[size_t(e)], d, experts_type), xn, h);
        const std::vector<double> u = linear(stored(L.up[size_t(e)], d, experts_type), xn, h);
        for (int i = 0; i < h; ++i) g[size_t(i)] = g[size_t(i)] / (1 + std::exp(-g[size_t(i)])) * u[size_t(i)];
        const std::vector<double> o = linear(stored(L.down[size_t(e)], h, experts_type), g, d);
        for (int i = 0; i < d; ++i) y[size_t(i)] += weight * o[size_t(i)];
      }
      for (int i = 0; i < d; ++i) x[size_t(i)] += y[size_t(i)];
    }
    const std::vector<double> out = linear(m.out, rmsnorm(x, m.out_norm), m.vocab);
    logits.insert(logits.end(), out.begin(), out.end());
  }
  return logits;
}

enum class ExpertTensors { Stacked, OnePerExpert };

// What a broken file changes (defaults: a consistent file).
struct Flaw {
  std::optional<int> meta_experts;    // llama.expert_count written instead of the model's
  std::optional<int> meta_used;       // llama.expert_used_count written instead of the model's
  bool omit_used = false;             // no llama.expert_used_count at all
  std::optional<int> tensor_experts;  // experts in the gate/up/down tensors
  std::string drop;                   // a tensor left out
};

static std::string write_gguf(const TempDir& dir, const std::string& name, const Tiny& m, ExpertTensors layout,
                              StoredType experts_type = StoredType::F32, const Flaw& flaw = {}) {
  gguf::Writer w;
  w.add_string("general.architecture", "llama");
  w.add_u32("llama.embedding_length", uint32_t(m.dim));
  w.add_u32("llama.block_count", uint32_t(m.layers));
  w.add_u32("llama.feed_forward_length", uint32_t(m.hidden));
  w.add_u32("llama.attention.head_count", 4);
  w.add_u32("llama.attention.head_count_kv", 2);
  w.add_u32("llama.expert_count", uint32_t(flaw.meta_experts.value_or(m.experts)));
  if (!flaw.omit_used) w.add_u32("llama.expert_used_count", uint32_t(flaw.meta_used.value_or(m.k)));
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  for (int i = 3; i < m.vocab; ++i) tokens.push_back("t" + std::to_string(i));
  w.add_string("tokenizer.ggml.model", "llama");
  w.add_strings("tokenizer.ggml.tokens", tokens);
  std::vector<int32_t> types(tokens.size(), 1);  // normal, but <unk> and the controls
  types[0] = 2, types[1] = 3, types[2] = 3;
  w.add_i32s("tokenizer.ggml.token_type", types);
  auto add = [&](const std::string& n, std::vector<int64_t> shape, const std::vector<float>& v,
                 StoredType t = StoredType::F32) {
    if (n == flaw.drop) return;
    const int64_t cols = shape.back();
    std::vector<uint8_t> bytes(v.size() / size_t(cols) * row_bytes(t, cols));
    for (size_t r = 0; r < v.size() / size_t(cols); ++r) {
      cpu::quantize_row(t, &v[r * size_t(cols)], &bytes[r * row_bytes(t, cols)], cols);
    }
    w.add_tensor(n, t, shape, bytes.data(), bytes.size());
  };
  const int64_t d = m.dim, h = m.hidden, E = flaw.tensor_experts.value_or(m.experts);
  add("token_embd.weight", {m.vocab, d}, m.embed);
  add("output.weight", {m.vocab, d}, m.out);
  add("output_norm.weight", {d}, m.out_norm);
  for (int i = 0; i < m.layers; ++i) {
    const Tiny::Layer& L = m.l[size_t(i)];
    const std::string p = "blk." + std::to_string(i) + ".";
    add(p + "attn_norm.weight", {d}, L.attn_norm);
    add(p + "attn_q.weight", {32, d}, std::vector<float>(size_t(32 * d)));
    add(p + "attn_k.weight", {16, d}, std::vector<float>(size_t(16 * d)));
    add(p + "attn_v.weight", {16, d}, std::vector<float>(size_t(16 * d)));
    add(p + "attn_output.weight", {d, 32}, std::vector<float>(size_t(32 * d)));
    add(p + "ffn_norm.weight", {d}, L.ffn_norm);
    add(p + "ffn_gate_inp.weight", {m.experts, d}, L.router);
    const std::vector<std::vector<float>>* mats[] = {&L.gate, &L.up, &L.down};
    const char* names[] = {"gate", "up", "down"};
    for (int which = 0; which < 3; ++which) {
      const int64_t rows = which == 2 ? d : h, cols = which == 2 ? h : d;
      if (layout == ExpertTensors::Stacked) {
        std::vector<float> all;
        for (int64_t e = 0; e < E; ++e) {
          const std::vector<float>& one = (*mats[which])[size_t(e % m.experts)];
          all.insert(all.end(), one.begin(), one.end());
        }
        add(p + "ffn_" + names[which] + "_exps.weight", {E, rows, cols}, all, experts_type);
      } else {
        for (int64_t e = 0; e < E; ++e) {
          add(p + "ffn_" + names[which] + "." + std::to_string(e) + ".weight", {rows, cols},
              (*mats[which])[size_t(e % m.experts)], experts_type);
        }
      }
    }
  }
  const std::string path = dir.file(name);
  w.write(path);
  return path;
}

static std::vector<int> some_tokens(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int> t(static_cast<size_t>(n));
  for (int& x : t) x = int(3 + rng() % uint32_t(vocab - 3));
  return t;
}

static float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  float worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const float d = std::fabs(a[i] - b[i]);
    worst = std::isnan(d) ? INFINITY : std::max(worst, d);
  }
  return worst;
}

// The logits of every token: fed in chunks of `chunk`, or one feed per token (chunk 0).
static std::vector<float> engine_logits(Model& model, const std::vector<int>& tokens, int chunk) {
  SessionOptions o;
  o.chunk = chunk > 0 ? chunk : 4;
  auto session = model.new_session(o);
  const size_t vocab = size_t(model.config().vocab_size);
  std::vector<float> out(tokens.size() * vocab);
  if (chunk > 0) {
    session->feed(tokens.data(), tokens.size(), out.data());
    return out;
  }
  for (size_t t = 0; t < tokens.size(); ++t) {
    session->feed(&tokens[t], 1, nullptr);
    std::copy(session->last_logits(), session->last_logits() + vocab, out.begin() + std::ptrdiff_t(t * vocab));
  }
  return out;
}

TEST(expert_step_matches_the_hand_computation_by_chunks_and_token_by_token) {
  struct Case {
    int experts, k;
  };
  for (Case c : {Case{4, 2}, Case{8, 2}, Case{8, 3}, Case{3, 1}}) {
    const Tiny m = make_tiny(c.experts, c.k, uint32_t(100 + c.experts * 10 + c.k));
    TempDir dir;
    auto model = Model::load(write_gguf(dir, "tiny.gguf", m, ExpertTensors::Stacked), LoadOptions{});
    CHECK(model->config().feed_forward == FeedForwardKind::MixtureOfExperts);
    CHECK(model->config().n_experts == c.experts && model->config().n_experts_per_token == c.k);
    const std::vector<int> tokens = some_tokens(24, m.vocab, 3);
    std::set<int> used;
    const std::vector<float> expected = hand_logits(m, tokens, StoredType::F32, true, &used);
    // The case exercises the router: several experts are chosen, and without the
    // renormalisation the logits would be far off.
    CHECK_MSG(int(used.size()) == c.experts, "%d of %d experts used", int(used.size()), c.experts);
    if (c.k < c.experts) {
      CHECK(max_abs_diff(hand_logits(m, tokens, StoredType::F32, false), expected) > 1e-2f);
    }
    for (int chunk : {24, 5, 1, 0}) {
      const float err = max_abs_diff(engine_logits(*model, tokens, chunk), expected);
      CHECK_MSG(err <= 1e-4f, "top %d of %d, chunk %d: max abs error %g", c.k, c.experts, chunk, double(err));
    }
  }
}

TEST(one_tensor_per_expert_gguf_reads_as_the_stacked_one) {
  const Tiny m = make_tiny(4, 2, 7);
  TempDir dir;
  auto stacked = Model::load(write_gguf(dir, "stacked.gguf", m, ExpertTensors::Stacked), LoadOptions{});
  auto split = Model::load(write_gguf(dir, "split.gguf", m, ExpertTensors::OnePerExpert), LoadOptions{});
  const std::vector<int> tokens = some_tokens(16, m.vocab, 5);
  CHECK(max_abs_diff(engine_logits(*stacked, tokens, 16), engine_logits(*split, tokens, 16)) == 0.f);
}

TEST(quantized_experts_run_through_the_quantized_matmul) {
  // Q8_0 experts: the hand computation on the same rounded weights, within the error of
  // the 8-bit activations the quantized matmul uses; and not the f32 model's logits.
  const Tiny m = make_tiny(4, 2, 9);
  TempDir dir;
  auto model = Model::load(write_gguf(dir, "q8.gguf", m, ExpertTensors::Stacked, StoredType::Q8_0), LoadOptions{});
  const std::vector<int> tokens = some_tokens(16, m.vocab, 11);
  const std::vector<float> got = engine_logits(*model, tokens, 16);
  const float err = max_abs_diff(got, hand_logits(m, tokens, StoredType::Q8_0));
  CHECK_MSG(err <= 0.05f, "max abs error %g", double(err));
  CHECK(max_abs_diff(got, hand_logits(m, tokens, StoredType::F32)) > 0.f);
  CHECK(max_abs_diff(engine_logits(*model, tokens, 0), got) <= 1e-5f);
}

TEST(a_mixtral_gguf_is_not_taken_for_mistral_7b_without_its_window) {
  // Mixtral 8x7B has Mistral 7B's shape (dim 4096, 32 layers, 32/8 heads, 14336, 32000)
  // and no window; only the dense v0.1 file lacks one it should have.
  const Tiny m = make_tiny(4, 2, 17);
  TempDir dir;
  const gguf::File file(write_gguf(dir, "shape.gguf", m, ExpertTensors::Stacked));
  ModelConfig c;
  c.dim = 4096, c.n_layers = 32, c.n_heads = 32, c.n_kv_heads = 8, c.hidden_dim = 14336;
  c.vocab_size = 32000, c.rope_theta = 10000.f;
  CHECK(gguf_window_missing(file, c));
  c.feed_forward = FeedForwardKind::MixtureOfExperts, c.n_experts = 8, c.n_experts_per_token = 2;
  CHECK(!gguf_window_missing(file, c));
}

// ---------------------------------------------------------------------------------
// The reference fixtures' files.

static std::vector<float> fixture_logits(const std::string& dir, size_t n, size_t vocab) {
  const std::string raw = read_file(dir + "/reference_logits.f32");
  std::vector<float> out(n * vocab);
  if (raw.size() != out.size() * sizeof(float)) throw std::runtime_error(dir + ": logits file size");
  std::copy(raw.begin(), raw.end(), reinterpret_cast<char*>(out.data()));
  return out;
}

TEST(gguf_copy_of_a_mixtral_fixture_gives_its_logits) {
  // HF's mixtral_8x2 (bf16) converted to an F32 GGUF (stacked experts): HF's logits
  // within the reference tolerance. (A quantized copy is no such check: its rounding
  // moves the hidden state enough to flip a close routing choice, as it would HF's.)
  const std::string src = fixture("mixtral_8x2");
  TempDir dir;
  const std::vector<int> tokens = [&] {
    std::vector<int> t;
    const std::string ref = read_file(src + "/reference.json");
    const size_t open = ref.find('[', ref.find("\"tokens\""));
    std::istringstream in(ref.substr(open + 1, ref.find(']', open) - open - 1));
    for (std::string item; std::getline(in, item, ',');) t.push_back(std::stoi(item));
    return t;
  }();
  CHECK(tokens.size() == 64);
  const std::vector<float> expected = fixture_logits(src, tokens.size(), 128);
  const std::string path = dir.file("mixtral_8x2.gguf");
  convert_to_gguf(src, path, StoredType::F32);
  auto model = Model::load(path, LoadOptions{});
  CHECK(model->config().n_experts == 8 && model->config().n_experts_per_token == 2);
  for (int chunk : {64, 7, 0}) {
    const float err = max_abs_diff(engine_logits(*model, tokens, chunk), expected);
    CHECK_MSG(err <= 1e-4f, "chunk %d: max abs error %g", chunk, double(err));
  }
}

// models/default with each layer's MLP copied into every expert and a random router:
// whatever the routing, the weights sum to 1 over identical experts, so the mixture is
// the dense model. The demo's own Q8_0 tensors, copied byte for byte; a GGUF file (no
// tokenizer inside) beside the demo's tokenizer.model.
static std::string upcycled_demo(const TempDir& dir, int experts, int k) {
  const std::string demo = repo_path("models/default");
  const gguf::File dense(demo + "/model.gguf");
  const ModelConfig c = Model::load(demo, LoadOptions{})->config();
  gguf::Writer w;
  w.add_string("general.architecture", "llama");
  w.add_u32("llama.embedding_length", uint32_t(c.dim));
  w.add_u32("llama.block_count", uint32_t(c.n_layers));
  w.add_u32("llama.feed_forward_length", uint32_t(c.hidden_dim));
  w.add_u32("llama.attention.head_count", uint32_t(c.n_heads));
  w.add_u32("llama.attention.head_count_kv", uint32_t(c.n_kv_heads));
  w.add_u32("llama.attention.key_length", uint32_t(c.head_dim));
  w.add_u32("llama.attention.sliding_window", uint32_t(c.sliding_window));
  w.add_f32("llama.rope.freq_base", c.rope_theta);
  w.add_f32("llama.attention.layer_norm_rms_epsilon", c.norm_eps);
  w.add_u32("llama.expert_count", uint32_t(experts));
  w.add_u32("llama.expert_used_count", uint32_t(k));
  std::mt19937 rng(21);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<std::string> keep;  // the stacked copies live until the file is written
  for (const gguf::Tensor& t : dense.tensors()) {
    const StoredType type = *gguf::engine_type(t.type);
    const std::string& n = t.name;
    const size_t dot = n.find(".ffn_");
    const bool mlp = dot != std::string::npos && n.find("_norm") == std::string::npos;
    if (!mlp) {
      w.add_tensor(n, type, t.shape(), t.data, size_t(t.nbytes));
      continue;
    }
    const std::string which = n.substr(dot + 5, n.size() - dot - 5 - 7);  // gate, up, down
    std::string all;
    for (int e = 0; e < experts; ++e) all.append(reinterpret_cast<const char*>(t.data), size_t(t.nbytes));
    keep.push_back(std::move(all));
    std::vector<int64_t> shape = t.shape();
    shape.insert(shape.begin(), experts);
    w.add_tensor(n.substr(0, dot) + ".ffn_" + which + "_exps.weight", type, shape, keep.back().data(), keep.back().size());
    if (which == "gate") {
      std::vector<float> router(size_t(experts) * size_t(c.dim));
      for (float& x : router) x = normal(rng) / std::sqrt(float(c.dim));
      w.add_tensor(n.substr(0, dot) + ".ffn_gate_inp.weight", StoredType::F32, {experts, c.dim}, router.data(),
                   router.size() * sizeof(float));
    }
  }
  const std::string folder = dir.file("mixtral");
  ::mkdir(folder.c_str(), 0755);
  w.write(folder + "/mixtral.gguf");
  write_file(folder + "/tokenizer.model", read_file(demo + "/tokenizer.model"));
  return folder;
}

TEST(the_demo_model_upcycled_into_experts_gives_the_demo_logits_and_text) {
  // On the exact kernel: the mixture adds w1·y + w2·y, which is y only to float rounding,
  // and the fast kernels' 8-bit activations can round that last-bit difference the other
  // way and carry it through every later layer (0.27 apart on the default model).
  KernelScope exact(cpu::QuantKernel::Reference);
  TempDir dir;
  const std::string mixtral = upcycled_demo(dir, 4, 2);
  auto moe = Model::load(mixtral, LoadOptions{});
  auto demo = Model::load(repo_path("models/default"), LoadOptions{});
  CHECK(moe->config().feed_forward == FeedForwardKind::MixtureOfExperts && moe->config().n_experts == 4);
  CHECK(moe->config().sliding_window == demo->config().sliding_window);
  const Tokenizer* tokenizer = moe->tokenizer();
  CHECK(tokenizer != nullptr);
  if (!tokenizer) return;
  std::vector<int> prompt = {tokenizer->bos_id()};
  for (int id : tokenizer->encode("def fibonacci(n):\n    ")) prompt.push_back(id);
  for (int chunk : {64, 3}) {
    const float err = max_abs_diff(engine_logits(*moe, prompt, chunk), engine_logits(*demo, prompt, chunk));
    CHECK_MSG(err <= 1e-4f, "chunk %d: max abs difference %g", chunk, double(err));
  }
  auto greedy = [&](Model& m) {
    auto session = m.new_session(SessionOptions{});
    session->feed(prompt.data(), prompt.size(), nullptr);
    SamplingParams p;
    p.max_tokens = 24;
    p.text_start = false;
    return session->generate(p, nullptr).text;
  };
  const std::string text = greedy(*moe);
  std::printf("  upcycled demo, greedy: \"%s\"\n", text.c_str());
  CHECK(!text.empty() && text == greedy(*demo));
}

// ---------------------------------------------------------------------------------
// Bad Mixtral files: one clear error each.

TEST(bad_gguf_mixtures_are_one_clear_error) {
  const Tiny m = make_tiny(4, 2, 13);
  TempDir dir;
  auto load = [&](ExpertTensors layout, auto set) {
    Flaw flaw;
    set(flaw);
    Model::load(write_gguf(dir, "bad.gguf", m, layout, StoredType::F32, flaw), LoadOptions{});
  };
  EXPECT_ERROR(load(ExpertTensors::Stacked, [](Flaw& f) { f.meta_experts = 8; }),
               "blk.0.ffn_gate_inp.weight routes to 4 experts", "the config says 8");
  EXPECT_ERROR(load(ExpertTensors::Stacked, [](Flaw& f) { f.tensor_experts = 3; }),
               "blk.0.ffn_gate_exps.weight holds 3 experts", "the config says 4");
  EXPECT_ERROR(load(ExpertTensors::OnePerExpert, [](Flaw& f) { f.tensor_experts = 3; }),
               "missing tensor blk.0.ffn_gate.3.weight", "bad.gguf");
  EXPECT_ERROR(load(ExpertTensors::OnePerExpert, [](Flaw& f) { f.drop = "blk.1.ffn_down.2.weight"; }),
               "missing tensor blk.1.ffn_down.2.weight");
  EXPECT_ERROR(load(ExpertTensors::Stacked, [](Flaw& f) { f.drop = "blk.1.ffn_up_exps.weight"; }),
               "missing tensor blk.1.ffn_up_exps.weight");
  EXPECT_ERROR(load(ExpertTensors::Stacked, [](Flaw& f) { f.meta_used = 5; }),
               "5 experts per token exceed the 4 experts");
  EXPECT_ERROR(load(ExpertTensors::Stacked, [](Flaw& f) { f.meta_used = 0; }),
               "llama.expert_used_count must be between 1 and");
  EXPECT_ERROR(load(ExpertTensors::Stacked, [](Flaw& f) { f.omit_used = true; }),
               "llama.expert_used_count is missing");
}

TEST(bad_safetensors_mixtures_are_one_clear_error) {
  const std::string hf = fixture("mixtral_4x2_window");
  const std::vector<std::string> files = {"config.json", "model.safetensors"};
  const std::string config = read_file(hf + "/config.json");
  auto with_config = [&](const std::string& from, const std::string& to) {
    TempDir dir;
    copy_dir(hf, dir, files);
    write_file(dir.file("config.json"), replace_once(config, from, to));
    Model::load(dir.path, LoadOptions{});
  };
  EXPECT_ERROR(with_config("\"num_local_experts\": 4", "\"num_local_experts\": 8"),
               "model.layers.0.block_sparse_moe.gate.weight routes to 4 experts", "the config says 8");
  EXPECT_ERROR(with_config("\"num_experts_per_tok\": 2", "\"num_experts_per_tok\": 5"),
               "config.json", "5 experts per token exceed the 4 experts");
  EXPECT_ERROR(with_config("\"num_experts_per_tok\": 2", "\"num_experts_per_tok\": 0"),
               "config.json", "num_experts_per_tok");
  EXPECT_ERROR(with_config("\"num_experts_per_tok\": 2,", ""), "config.json", "num_experts_per_tok");

  {  // A missing expert: its name in the file's header changed (same length).
    TempDir dir;
    copy_dir(hf, dir, files);
    write_file(dir.file("model.safetensors"),
               replace_once(read_file(hf + "/model.safetensors"), "layers.1.block_sparse_moe.experts.3.w2.weight",
                            "layers.1.block_sparse_moe.experts.3.w9.weight"));
    EXPECT_ERROR(Model::load(dir.path, LoadOptions{}),
                 "missing tensor model.layers.1.block_sparse_moe.experts.3.w2.weight");
  }

  const std::string cons = fixture("mixtral_consolidated");
  const std::string params = read_file(cons + "/params.json");
  auto with_params = [&](const std::string& from, const std::string& to) {
    TempDir dir;
    copy_dir(cons, dir, {"consolidated.safetensors"});
    write_file(dir.file("params.json"), replace_once(params, from, to));
    Model::load(dir.path, LoadOptions{});
  };
  EXPECT_ERROR(with_params("\"num_experts\": 4", "\"num_experts\": 3"),
               "layers.0.feed_forward.gate.weight routes to 4 experts", "the config says 3");
  EXPECT_ERROR(with_params("\"num_experts_per_tok\": 2", "\"num_experts_per_tok\": 0"), "params.json moe",
               "num_experts_per_tok");
}

TEST(a_mixtral_fixture_loads_in_each_safetensors_layout) {
  // The HF, sharded and consolidated fixtures load as mixtures with the config's counts.
  struct Expect {
    const char* name;
    int experts, k, window;
  };
  for (Expect e : {Expect{"mixtral_4x2_window", 4, 2, 16}, Expect{"mixtral_8x2", 8, 2, 0},
                   Expect{"mixtral_sharded", 8, 3, 8}, Expect{"mixtral_consolidated", 4, 2, 0}}) {
    auto model = Model::load(fixture(e.name), LoadOptions{});
    const ModelConfig& c = model->config();
    CHECK_MSG(c.feed_forward == FeedForwardKind::MixtureOfExperts && c.n_experts == e.experts &&
                  c.n_experts_per_token == e.k && c.sliding_window == e.window,
              "%s: %d experts, top %d, window %d", e.name, c.n_experts, c.n_experts_per_token, c.sliding_window);
  }
}

int main() { return harness::run_all(); }
