// tramontane-test-cuda-engine DIR...: the engine with --backend cuda, end to end, on
// model folders (the HF fixtures of test/fixtures/models, models/default, ...).
//
// Per folder, on the GPU:
//   - the whole sequence in one chunk against the HF reference logits (reference.json +
//     reference_logits.f32, when the folder has them) and against the CPU engine;
//   - chunked (several chunk sizes and slacks, so the rolling buffer wraps),
//     token by token, and rollback + refeed (within the slack: exact; beyond it: the
//     session re-prefills) against the one-chunk GPU result.
// Folders without reference files use a seeded token sequence and the CPU engine as the
// reference (the CPU engine itself is checked against HF by the repo's tests).
//
// Greedy generation (64 tokens after a 16-token prompt): the decode fast path (captured
// graph, argmax on the device; head_dim 64/128) against the plain path (logits to the
// host, host argmax): identical tokens, identical logits after the last token, and a
// rollback into the output followed by generate again gives the same continuation. The
// CPU engine's greedy tokens are compared and printed (f16 rounding may flip near-ties).
// Speculative decoding (tests/drafting_check.h): greedy with drafting on and off give the
// same tokens across chunk sizes and slacks, after a rollback, and up to a full context.
//
// --bench-7b DIR: writes a Mistral-7B-shaped random bf16 model to DIR (when DIR has no
// model.safetensors; a .gguf file is used as it is, of whatever shape: the Mixtral 8x7B
// files of tramontane-gguf_random too), loads it with --backend cuda, and times greedy
// generate (256 tokens after a 16-token prompt) through the fast and the plain path; same
// tokens. Then what llama-bench's pp4096 and tg128 at depth 4096 time on the same file:
// a 4096-token prompt fed (in the session's default chunks), then 128 greedy tokens
// after it. Then opens sessions until the GPU is full (test_sessions), and checks
// speculation at that shape (tests/drafting_check.h).
//
// Every comparison: relative L2 error of the logits ≤ 2e-2 (f16 weights and
// activations), and no decisive argmax mismatch: positions where the two disagree count
// only where the reference's top-1 leads its top-2 by more than 5× the rms logit error
// (random weights make near-ties that f16 rounding may flip). Agreement is printed.
// A mixture of experts: where a token's k-th and (k+1)-th router probabilities nearly
// tie, f16 rounding may send it to another expert in one layer, which moves that
// position by far more than rounding; up to 1 position in 20 (at least one) may be off
// by more than 2e-2 on its own, and the rest are compared as above. (The HF fixtures are
// made with router margins that f16 does not cross: they show none.)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config.h"
#include "json.h"
#include "tramontane/engine.h"
#include "../../tests/drafting_check.h"

using namespace tramontane;
using drafting_check::Logits;
using drafting_check::run;

namespace {

constexpr double kTol = 2e-2;
int g_failed = 0, g_passed = 0;
bool g_routed = false;  // the folder's model is a mixture of experts

void compare(const std::string& what, const Logits& got, const Logits& ref, int first = 0) {
  const int n = got.n;
  const size_t vocab = size_t(ref.vocab);
  // Positions off on their own (a mixture's routing near-ties), left out of the rest.
  std::vector<bool> off(size_t(n), false);
  int n_off = 0;
  if (g_routed) {
    for (int t = 0; t < n; ++t) {
      double e = 0, r = 0;
      for (size_t v = 0; v < vocab; ++v) {
        const double a = got.row(t)[v], b = ref.row(first + t)[v];
        e += std::isfinite(a) ? (a - b) * (a - b) : INFINITY;
        r += b * b;
      }
      if (!(std::sqrt(e) <= kTol * std::sqrt(r))) off[size_t(t)] = true, ++n_off;
    }
  }
  double num = 0, den = 0;
  for (int t = 0; t < n; ++t) {
    if (off[size_t(t)]) continue;
    for (size_t v = 0; v < vocab; ++v) {
      const double a = got.row(t)[v], b = ref.row(first + t)[v];
      if (!std::isfinite(a)) num = INFINITY;
      num += (a - b) * (a - b);
      den += b * b;
    }
  }
  const double rel = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  const double rms = std::sqrt(num / double(size_t(std::max(1, n - n_off)) * vocab));
  int same = 0, decisive = 0;
  for (int t = 0; t < n; ++t) {
    if (off[size_t(t)]) continue;
    const float* x = got.row(t);
    const float* y = ref.row(first + t);
    const long gi = std::max_element(x, x + vocab) - x, ri = std::max_element(y, y + vocab) - y;
    if (gi == ri) {
      ++same;
      continue;
    }
    float second = -INFINITY;
    for (size_t v = 0; v < vocab; ++v)
      if (long(v) != ri) second = std::max(second, y[v]);
    if (double(y[ri]) - second > 5 * rms) ++decisive;
  }
  const bool ok = rel <= kTol && decisive == 0 && n_off <= std::max(1, n / 20) && n_off < n;
  (ok ? g_passed : g_failed)++;
  std::printf("  %-4s %-44s rel %.2e  argmax %d/%d  decisive mismatches %d", ok ? "ok" : "FAIL",
              what.c_str(), rel, same, n - n_off, decisive);
  if (g_routed) std::printf("  positions off (routing near-ties) %d/%d", n_off, n);
  std::printf("\n");
}

// Feeds everything, rolls back to `keep` tokens, feeds the rest again with logits.
Logits rollback_refeed(Model& model, const std::vector<int>& tokens, int keep, int chunk,
                       int slack, size_t* recomputed) {
  SessionOptions o;
  o.chunk = chunk;
  o.slack = slack;
  auto s = model.new_session(o);
  s->feed(tokens.data(), tokens.size(), nullptr);
  *recomputed = s->rollback(size_t(keep));
  Logits out;
  out.n = int(tokens.size()) - keep;
  out.vocab = model.config().vocab_size;
  out.v.resize(size_t(out.n) * out.vocab);
  s->feed(tokens.data() + keep, size_t(out.n), out.v.data());
  return out;
}

bool read_reference(const std::string& dir, std::vector<int>* tokens, Logits* ref) {
  const std::string json_path = files::join(dir, "reference.json");
  if (!files::is_file(json_path)) return false;
  const json::Value root = json::Value::parse(files::read_text(json_path), json_path);
  for (const json::Value& t : root.find("tokens")->as_array("tokens"))
    tokens->push_back(int(t.as_int("token")));
  const auto& shape = root.find("shape")->as_array("shape");
  ref->n = int(shape[0].as_int());
  ref->vocab = int(shape[1].as_int());
  ref->v.resize(size_t(ref->n) * ref->vocab);
  std::ifstream f(files::join(dir, root.find("logits_file")->as_string("logits_file")),
                  std::ios::binary);
  f.read(reinterpret_cast<char*>(ref->v.data()), std::streamsize(ref->v.size() * sizeof(float)));
  if (!f) throw Error("cannot read the reference logits of " + dir);
  return true;
}

void check(bool ok, const std::string& what);
void test_greedy(Model& cpu, Model& gpu, const std::vector<int>& tokens);
bool is_mixture(const Model& m) { return m.config().feed_forward == FeedForwardKind::MixtureOfExperts; }

void test_folder(const std::string& dir) {
  std::printf("== %s\n", dir.c_str());
  LoadOptions cpu_options, gpu_options;
  cpu_options.kv_cache = KvCacheType::F32;  // the exact reference, whatever the model's size
  gpu_options.backend = BackendKind::Cuda;
  auto cpu = Model::load(dir, cpu_options);
  g_routed = is_mixture(*cpu);
  std::shared_ptr<Model> gpu;
  try {
    gpu = Model::load(dir, gpu_options);
  } catch (const Error& e) {
    std::printf("  not run on the GPU: %s\n", e.what());
    if (is_mixture(*cpu)) {
      // Mixtures run on the GPU (cuda/forward_experts.cu): a refusal is a failure.
      ++g_failed;
      std::printf("  FAIL mixture of experts refused by --backend cuda\n");
    }
    return;
  }
  if (is_mixture(*cpu)) {
    LoadOptions auto_options;
    auto_options.backend = BackendKind::Auto;
    const bool ok = Model::load(dir, auto_options)->backend() == BackendKind::Cuda;
    (ok ? g_passed : g_failed)++;
    std::printf("  %-4s mixture of experts: --backend auto runs it on the GPU\n", ok ? "ok" : "FAIL");
  }
  const ModelConfig& c = gpu->config();
  std::printf("  dim %d, head_dim %d, heads %d/%d, window %d, vocab %d\n", c.dim, c.head_dim,
              c.n_heads, c.n_kv_heads, c.sliding_window, c.vocab_size);

  std::vector<int> tokens;
  Logits hf;
  const bool has_ref = read_reference(dir, &tokens, &hf);
  if (!has_ref) {
    uint64_t x = 0x9e3779b97f4a7c15ull;
    const int n = c.sliding_window > 0 ? c.sliding_window + 44 : 300;
    tokens.push_back(c.bos_id);
    for (int i = 1; i < n; ++i) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      tokens.push_back(3 + int(x % uint64_t(std::min(c.vocab_size, 32000) - 3)));
    }
  }
  const int n = int(tokens.size());
  const int slack = 256;
  const Logits whole = run(*gpu, tokens, n, slack);
  const Logits cpu_whole = run(*cpu, tokens, n, slack);
  if (has_ref) compare("one chunk vs HF reference", whole, hf);
  compare("one chunk vs CPU engine", whole, cpu_whole);
  for (auto [chunk, sl] : {std::pair{7, 3}, std::pair{16, 0}, std::pair{5, 8}, std::pair{64, 256}}) {
    compare("chunk " + std::to_string(chunk) + ", slack " + std::to_string(sl) + " vs one chunk",
            run(*gpu, tokens, chunk, sl), whole);
  }
  compare("token by token vs one chunk", run(*gpu, tokens, 1, 4), whole);
  size_t recomputed = 0;
  const int near = n - 6;
  Logits r = rollback_refeed(*gpu, tokens, near, 16, 8, &recomputed);
  compare("rollback 6 (slack 8, recomputed " + std::to_string(recomputed) + ") + refeed",
          r, whole, near);
  const int far = n / 2;
  r = rollback_refeed(*gpu, tokens, far, 16, 8, &recomputed);
  compare("rollback to n/2 (recomputed " + std::to_string(recomputed) + ") + refeed", r, whole,
          far);
  test_greedy(*cpu, *gpu, tokens);
  drafting_check::check_drafting(*gpu, tokens, check);
}

struct Greedy {
  std::vector<int> tokens;
  std::vector<float> last;  // last_logits() afterwards
  size_t held = 0;          // session tokens afterwards
  double seconds = 0;       // generate only
  int steps = 0;            // forward steps (fewer than tokens where drafts were accepted)
  std::vector<int> again;   // after rollback to prompt + half: generate the rest again
};

Greedy greedy(Model& m, const std::vector<int>& prompt, int n, bool fast, bool again) {
  SessionOptions o;
  o.fast_greedy = fast;
  auto s = m.new_session(o);
  s->feed(prompt.data(), prompt.size(), nullptr);
  SamplingParams p;
  p.max_tokens = n;
  Greedy g;
  const auto t0 = std::chrono::steady_clock::now();
  const GenerateResult r = s->generate(p, nullptr);
  g.tokens = r.tokens;
  g.steps = r.steps;
  g.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  g.held = s->tokens().size();
  const int vocab = m.config().vocab_size;
  g.last.assign(s->last_logits(), s->last_logits() + vocab);
  if (again) {
    const size_t half = g.tokens.size() / 2;
    s->rollback(prompt.size() + half);
    p.max_tokens = int(g.tokens.size() - half);
    g.again = s->generate(p, nullptr).tokens;
    g.again.insert(g.again.begin(), g.tokens.begin(), g.tokens.begin() + std::ptrdiff_t(half));
  }
  return g;
}

void check(bool ok, const std::string& what) {
  (ok ? g_passed : g_failed)++;
  std::printf("  %-4s %s\n", ok ? "ok" : "FAIL", what.c_str());
}

void test_greedy(Model& cpu, Model& gpu, const std::vector<int>& tokens) {
  const std::vector<int> prompt(tokens.begin(), tokens.begin() + std::min<size_t>(16, tokens.size()));
  const int n = 64;
  const Greedy fast = greedy(gpu, prompt, n, true, true);
  const Greedy plain = greedy(gpu, prompt, n, false, true);
  const Greedy ref = greedy(cpu, prompt, n, false, false);
  double num = 0, den = 0;
  for (size_t v = 0; v < plain.last.size(); ++v) {
    num += double(fast.last[v] - plain.last[v]) * (fast.last[v] - plain.last[v]);
    den += double(plain.last[v]) * plain.last[v];
  }
  size_t agree = 0;
  while (agree < std::min(ref.tokens.size(), fast.tokens.size()) && ref.tokens[agree] == fast.tokens[agree]) ++agree;
  check(fast.tokens == plain.tokens,
        "greedy " + std::to_string(fast.tokens.size()) + " tokens: fast path == plain path");
  check(fast.held == prompt.size() + fast.tokens.size() && plain.held == fast.held,
        "session holds prompt + output after generate (" + std::to_string(fast.held) + ")");
  check(num == 0 || std::sqrt(num / std::max(den, 1e-30)) <= 1e-6,
        "last_logits after generate: fast vs plain rel " + std::to_string(std::sqrt(num / std::max(den, 1e-30))));
  check(fast.again == fast.tokens && plain.again == plain.tokens,
        "rollback to prompt + half, generate again: same tokens (fast and plain)");
  std::printf("       CPU engine greedy: first %zu of %zu tokens identical to the GPU's%s\n", agree,
              fast.tokens.size(), ref.tokens == fast.tokens ? " (all)" : "");
  std::printf("       gpu:");
  for (int t : fast.tokens) std::printf(" %d", t);
  std::printf("\n       cpu:");
  for (int t : ref.tokens) std::printf(" %d", t);
  std::printf("\n");
}

// A Mistral-7B-shaped model with random bf16 weights (uniform, ±sqrt(3/fan_in); norms 1).
void write_7b(const std::string& dir) {
  const int vocab = 32000, dim = 4096, hidden = 14336, layers = 32, heads = 32, kv = 8, hd = 128;
  struct T { std::string name; int64_t rows, cols; float scale; };
  std::vector<T> ts;
  ts.push_back({"model.embed_tokens.weight", vocab, dim, std::sqrt(3.f)});
  for (int l = 0; l < layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    const float sd = std::sqrt(3.f / dim), sh = std::sqrt(3.f / hidden), so = std::sqrt(3.f / (heads * hd));
    ts.push_back({p + "self_attn.q_proj.weight", heads * hd, dim, sd});
    ts.push_back({p + "self_attn.k_proj.weight", kv * hd, dim, sd});
    ts.push_back({p + "self_attn.v_proj.weight", kv * hd, dim, sd});
    ts.push_back({p + "self_attn.o_proj.weight", dim, heads * hd, so});
    ts.push_back({p + "mlp.gate_proj.weight", hidden, dim, sd});
    ts.push_back({p + "mlp.up_proj.weight", hidden, dim, sd});
    ts.push_back({p + "mlp.down_proj.weight", dim, hidden, sh});
    ts.push_back({p + "input_layernorm.weight", 1, dim, 0});
    ts.push_back({p + "post_attention_layernorm.weight", 1, dim, 0});
  }
  ts.push_back({"model.norm.weight", 1, dim, 0});
  ts.push_back({"lm_head.weight", vocab, dim, std::sqrt(3.f / dim)});
  std::string header = "{";
  int64_t off = 0;
  for (const T& t : ts) {
    const int64_t bytes = t.rows * t.cols * 2;
    if (header.size() > 1) header += ",";
    header += "\"" + t.name + "\":{\"dtype\":\"BF16\",\"shape\":[";
    header += t.rows == 1 ? std::to_string(t.cols) : std::to_string(t.rows) + "," + std::to_string(t.cols);
    header += "],\"data_offsets\":[" + std::to_string(off) + "," + std::to_string(off + bytes) + "]}";
    off += bytes;
  }
  header += "}";
  while (header.size() % 8) header += " ";
  std::ofstream f(files::join(dir, "model.safetensors"), std::ios::binary);
  const uint64_t hlen = header.size();
  f.write(reinterpret_cast<const char*>(&hlen), 8);
  f.write(header.data(), std::streamsize(header.size()));
  std::vector<uint16_t> buf;
  uint64_t seed = 1;
  for (const T& t : ts) {
    const int64_t count = t.rows * t.cols;
    buf.resize(size_t(count));
    if (t.scale == 0) {
      std::fill(buf.begin(), buf.end(), uint16_t(0x3f80));  // 1.0
    } else {
      const int nt = 16;
      std::vector<std::thread> th;
      for (int k = 0; k < nt; ++k) {
        th.emplace_back([&, k] {
          uint64_t x = (seed * 0x9e3779b97f4a7c15ull) ^ (uint64_t(k + 1) * 0xbf58476d1ce4e5b9ull);
          for (int64_t i = count * k / nt; i < count * (k + 1) / nt; ++i) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            const float u = float(int32_t(x >> 32)) * (1.f / 2147483648.f) * t.scale;
            uint32_t bits;
            std::memcpy(&bits, &u, 4);
            buf[size_t(i)] = uint16_t(bits >> 16);
          }
        });
      }
      for (auto& h : th) h.join();
    }
    ++seed;
    f.write(reinterpret_cast<const char*>(buf.data()), std::streamsize(count * 2));
  }
  if (!f) throw Error("cannot write " + dir + "/model.safetensors");
  std::ofstream c(files::join(dir, "config.json"));
  c << R"({"architectures":["MistralForCausalLM"],"model_type":"mistral","vocab_size":32000,)"
       R"("hidden_size":4096,"intermediate_size":14336,"num_hidden_layers":32,)"
       R"("num_attention_heads":32,"num_key_value_heads":8,"head_dim":128,"hidden_act":"silu",)"
       R"("max_position_embeddings":32768,"rms_norm_eps":1e-05,"rope_theta":10000.0,)"
       R"("sliding_window":4096,"tie_word_embeddings":false,"bos_token_id":1,"eos_token_id":2,)"
       R"("dtype":"bfloat16"})";
}

// Several sessions on one GPU, each with its own cache: sessions are opened (each fed
// its own short text, which allocates its cache and scratch) until the GPU is full. The
// shortage must be one Error that says so; afterwards the open sessions must still be
// independent and intact: continuing one gives exactly the logits of a fresh session fed
// the same tokens.
void test_sessions(Model& gpu, const std::vector<int>& prompt) {
  const size_t vocab = size_t(gpu.config().vocab_size);
  auto text_of = [&](size_t k) {
    std::vector<int> t = prompt;
    t.push_back(3 + int(k));
    return t;
  };
  std::vector<std::unique_ptr<Session>> open;
  std::string error;
  while (error.empty() && open.size() < 500) {
    try {
      auto s = gpu.new_session(SessionOptions{});
      const std::vector<int> t = text_of(open.size());
      s->feed(t.data(), t.size(), nullptr);
      open.push_back(std::move(s));
    } catch (const Error& e) {
      error = e.what();
    }
  }
  check(open.size() >= 2 && error.find("GPU memory") != std::string::npos,
        std::to_string(open.size()) + " sessions open on the GPU, then: " + error);
  if (open.size() < 2) return;
  open.pop_back();  // room for the fresh sessions below
  for (size_t k : {size_t(0), open.size() / 2, open.size() - 1}) {
    const int next = 7;
    std::vector<float> continued(vocab), fresh(vocab);
    open[k]->feed(&next, 1, continued.data());
    auto s = gpu.new_session(SessionOptions{});
    std::vector<int> t = text_of(k);
    t.push_back(next);
    s->feed(t.data(), t.size() - 1, nullptr);
    s->feed(t.data() + t.size() - 1, 1, fresh.data());
    check(continued == fresh, "session " + std::to_string(k) + " of " + std::to_string(open.size()) +
                                  ": its next logits equal a fresh session's on the same text");
  }
}

void bench_7b(const std::string& dir) {
  std::printf("== random weights: %s\n", dir.c_str());
  const auto t0 = std::chrono::steady_clock::now();
  const bool gguf = dir.size() > 5 && dir.compare(dir.size() - 5, 5, ".gguf") == 0;
  if (!gguf && !files::is_file(files::join(dir, "model.safetensors"))) {
    write_7b(dir);
    std::printf("  wrote the model in %.1f s\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  LoadOptions o;
  o.backend = BackendKind::Cuda;
  auto t1 = std::chrono::steady_clock::now();
  auto gpu = Model::load(dir, o);
  const ModelConfig& c = gpu->config();
  std::printf("  loaded in %.1f s: %s, %d layers, dim %d, %d experts (%d per token), vocab %d\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count(),
              c.feed_forward == FeedForwardKind::MixtureOfExperts ? "mixture of experts" : "dense", c.n_layers,
              c.dim, c.n_experts, c.n_experts_per_token, c.vocab_size);
  uint64_t x = 0x9e3779b97f4a7c15ull;
  auto random_tokens = [&](size_t n) {
    std::vector<int> t{1};
    while (t.size() < n) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      t.push_back(3 + int(x % uint64_t(c.vocab_size - 3)));
    }
    return t;
  };
  const std::vector<int> prompt = random_tokens(16);
  greedy(*gpu, prompt, 16, true, false);  // warm-up (both paths)
  greedy(*gpu, prompt, 16, false, false);
  const int n = 256;
  for (int rep = 0; rep < 2; ++rep) {
    const Greedy plain = greedy(*gpu, prompt, n, false, false);
    const Greedy fast = greedy(*gpu, prompt, n, true, false);
    const double tp = double(plain.tokens.size()) / plain.seconds;
    const double tf = double(fast.tokens.size()) / fast.seconds;
    std::printf("  run %d: plain path %zu tokens (%d steps) in %.3f s: %.1f tokens/s (%.2f ms/token)\n", rep + 1,
                plain.tokens.size(), plain.steps, plain.seconds, tp, 1e3 / tp);
    std::printf("  run %d: fast path  %zu tokens (%d steps) in %.3f s: %.1f tokens/s (%.2f ms/token)\n", rep + 1,
                fast.tokens.size(), fast.steps, fast.seconds, tf, 1e3 / tf);
    check(fast.tokens == plain.tokens, "greedy " + std::to_string(fast.tokens.size()) +
                                           " tokens: fast path == plain path");
    check(fast.held == plain.held && fast.held == prompt.size() + fast.tokens.size(),
          "session holds prompt + output");
  }
  // No drafting here (llama-bench has none): one forward step per token.
  const std::vector<int> long_prompt = random_tokens(4096);
  for (int rep = 0; rep < 2; ++rep) {
    SessionOptions plain_steps;
    plain_steps.max_draft = 0;
    auto s = gpu->new_session(plain_steps);
    std::vector<float> logits(size_t(c.vocab_size));
    const auto p0 = std::chrono::steady_clock::now();
    s->feed(long_prompt.data(), long_prompt.size() - 1, nullptr);
    s->feed(&long_prompt.back(), 1, logits.data());  // the logits wait for the whole prompt
    const double prefill_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - p0).count();
    SamplingParams p;
    p.max_tokens = 128;
    const auto g0 = std::chrono::steady_clock::now();
    const size_t n_out = s->generate(p, nullptr).tokens.size();  // fewer if it drew the EOS
    const double decode_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - g0).count();
    std::printf("  run %d: prefill %zu tokens in %.3f s: %.1f tokens/s; then decode %zu tokens at depth %zu in "
                "%.3f s: %.1f tokens/s\n",
                rep + 1, long_prompt.size(), prefill_s, double(long_prompt.size()) / prefill_s, n_out,
                long_prompt.size(), decode_s, double(n_out) / decode_s);
    check(n_out >= 1 && s->tokens().size() == long_prompt.size() + n_out,
          "session holds the 4096-token prompt + its output");
  }
  test_sessions(*gpu, prompt);
  // Speculation at this shape: greedy with and without drafts, same tokens (a mixture
  // drafts nothing on the GPU).
  drafting_check::check_drafting(*gpu, random_tokens(256), check);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: tramontane-test-cuda-engine MODEL_DIR...\n");
    return 2;
  }
  for (int i = 1; i < argc; ++i) {
    try {
      if (std::string(argv[i]) == "--bench-7b" && i + 1 < argc) {
        bench_7b(argv[++i]);
        continue;
      }
      test_folder(argv[i]);
    } catch (const std::exception& e) {
      ++g_failed;
      std::printf("  FAIL %s\n", e.what());
    }
  }
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
