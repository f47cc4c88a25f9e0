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
// Every comparison: relative L2 error of the logits ≤ 2e-2 (bf16 weights and
// activations), and no decisive argmax mismatch: positions where the two disagree count
// only where the reference's top-1 leads its top-2 by more than 5× the rms logit error
// (random weights make near-ties that bf16 rounding may flip). Agreement is printed.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "config.h"
#include "json.h"
#include "tramontane/engine.h"

using namespace tramontane;

namespace {

constexpr double kTol = 2e-2;
int g_failed = 0, g_passed = 0;

struct Logits {
  std::vector<float> v;
  int n = 0, vocab = 0;
  const float* row(int t) const { return v.data() + size_t(t) * vocab; }
};

void compare(const std::string& what, const Logits& got, const Logits& ref, int first = 0) {
  const int n = got.n;
  const size_t vocab = size_t(ref.vocab);
  double num = 0, den = 0;
  for (int t = 0; t < n; ++t) {
    for (size_t v = 0; v < vocab; ++v) {
      const double a = got.row(t)[v], b = ref.row(first + t)[v];
      if (!std::isfinite(a)) num = INFINITY;
      num += (a - b) * (a - b);
      den += b * b;
    }
  }
  const double rel = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  const double rms = std::sqrt(num / double(size_t(n) * vocab));
  int same = 0, decisive = 0;
  for (int t = 0; t < n; ++t) {
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
  const bool ok = rel <= kTol && decisive == 0;
  (ok ? g_passed : g_failed)++;
  std::printf("  %-4s %-44s rel %.2e  argmax %d/%d  decisive mismatches %d\n", ok ? "ok" : "FAIL",
              what.c_str(), rel, same, n, decisive);
}

Logits run(Model& model, const std::vector<int>& tokens, int chunk, int slack) {
  SessionOptions o;
  o.chunk = chunk;
  o.slack = slack;
  auto s = model.new_session(o);
  Logits out;
  out.n = int(tokens.size());
  out.vocab = model.config().vocab_size;
  out.v.resize(size_t(out.n) * out.vocab);
  s->feed(tokens.data(), tokens.size(), out.v.data());
  return out;
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

void test_folder(const std::string& dir) {
  std::printf("== %s\n", dir.c_str());
  LoadOptions cpu_options, gpu_options;
  gpu_options.backend = BackendKind::Cuda;
  auto cpu = Model::load(dir, cpu_options);
  std::shared_ptr<Model> gpu;
  try {
    gpu = Model::load(dir, gpu_options);
  } catch (const Error& e) {
    std::printf("  not run on the GPU: %s\n", e.what());
    return;
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
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: tramontane-test-cuda-engine MODEL_DIR...\n");
    return 2;
  }
  for (int i = 1; i < argc; ++i) {
    try {
      test_folder(argv[i]);
    } catch (const std::exception& e) {
      ++g_failed;
      std::printf("  FAIL %s\n", e.what());
    }
  }
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
