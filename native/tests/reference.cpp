// The engine against HF transformers: every fixture in test/fixtures/models (a tiny
// model plus the logits MistralForCausalLM computes for it, fp32 eager) must match
// within 1e-4 at every position, for every chunk size and slack, fed at once, token by
// token, and after rollbacks (exact and re-prefill).
//
// Usage: test-reference [FIXTURES_DIR]. Without an argument: $TRAMONTANE_FIXTURES, or
// test/fixtures/models found upwards from the executable or the working directory.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "json.h"
#include "tramontane/engine.h"

using namespace tramontane;

static constexpr float kTolerance = 1e-4f;

static bool is_dir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

static std::string parent(const std::string& p) {
  size_t slash = p.find_last_of('/');
  return slash == 0 || slash == std::string::npos ? "/" : p.substr(0, slash);
}

static std::string find_fixtures(int argc, char** argv) {
  if (argc > 1) return argv[1];
  if (const char* env = std::getenv("TRAMONTANE_FIXTURES")) return env;
  std::vector<std::string> starts;
  char buf[PATH_MAX];
  ssize_t len = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (len > 0) starts.push_back(parent(std::string(buf, size_t(len))));
  if (::getcwd(buf, sizeof buf)) starts.emplace_back(buf);
  for (std::string dir : starts) {
    for (;;) {
      std::string candidate = dir + "/test/fixtures/models";
      if (is_dir(candidate)) return candidate;
      if (dir == "/") break;
      dir = parent(dir);
    }
  }
  return "";
}

static std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Fixture {
  std::string name, dir;
  std::vector<int> tokens;
  size_t vocab = 0;
  std::vector<float> logits;  // [n][vocab]
};

static Fixture read_fixture(const std::string& dir, const std::string& name) {
  Fixture f;
  f.name = name;
  f.dir = dir;
  json::Value ref = json::Value::parse(read_all(dir + "/reference.json"), name + "/reference.json");
  for (const json::Value& t : ref.find("tokens")->as_array("tokens")) f.tokens.push_back(int(t.as_int("token")));
  const auto& shape = ref.find("shape")->as_array("shape");
  if (shape.size() != 2 || size_t(shape[0].as_int()) != f.tokens.size()) throw Error(name + ": bad shape");
  f.vocab = size_t(shape[1].as_int());
  std::string raw = read_all(dir + "/" + ref.find("logits_file")->as_string("logits_file"));
  if (raw.size() != f.tokens.size() * f.vocab * sizeof(float)) throw Error(name + ": logits file size");
  f.logits.resize(f.tokens.size() * f.vocab);
  std::copy(raw.data(), raw.data() + raw.size(), reinterpret_cast<char*>(f.logits.data()));
  return f;
}

static int g_failures = 0;
static int g_checks = 0;
static float g_worst = 0;  // of the fixture being checked

// Max abs error of rows [first, first + count) against the reference.
static void expect_close(const Fixture& f, const float* got, size_t first, size_t count,
                         const std::string& what) {
  float worst = 0;
  size_t worst_at = first;
  for (size_t t = 0; t < count; ++t) {
    for (size_t v = 0; v < f.vocab; ++v) {
      float d = std::fabs(got[t * f.vocab + v] - f.logits[(first + t) * f.vocab + v]);
      if (!(d <= worst)) {
        worst = d;
        worst_at = first + t;
      }
    }
  }
  ++g_checks;
  g_worst = std::max(g_worst, worst);
  if (!(worst <= kTolerance)) {
    ++g_failures;
    std::fprintf(stderr, "FAIL %s %s: max abs error %g at position %zu\n", f.name.c_str(), what.c_str(),
                 double(worst), worst_at);
  }
}

static void check_fixture(const Fixture& f) {
  g_worst = 0;
  auto model = Model::load(f.dir, LoadOptions{});
  if (size_t(model->config().vocab_size) != f.vocab) throw Error(f.name + ": vocab mismatch");
  const int n = int(f.tokens.size());
  const int W = model->config().sliding_window;
  std::vector<int> chunks = {1, 7, n};
  if (W > 0) chunks.insert(chunks.end(), {W - 1, W, W + 1, 2 * W + 5});
  std::vector<float> got(f.tokens.size() * f.vocab);

  // Whole sequence, by chunks, with several slacks (0: the cache is exactly W).
  for (int slack : {0, 3, 256}) {
    for (int chunk : chunks) {
      SessionOptions o;
      o.chunk = chunk;
      o.slack = slack;
      auto session = model->new_session(o);
      session->feed(f.tokens.data(), f.tokens.size(), got.data());
      expect_close(f, got.data(), 0, f.tokens.size(),
                   "chunk " + std::to_string(chunk) + " slack " + std::to_string(slack));
    }
  }

  // Token by token, one feed call each.
  {
    SessionOptions o;
    o.slack = 2;
    auto session = model->new_session(o);
    for (int t = 0; t < n; ++t) {
      session->feed(&f.tokens[size_t(t)], 1, nullptr);
      std::copy(session->last_logits(), session->last_logits() + f.vocab, got.begin() + std::ptrdiff_t(size_t(t) * f.vocab));
    }
    expect_close(f, got.data(), 0, f.tokens.size(), "token by token");
  }

  // Roll back within the slack (exact) and beyond it (re-prefill), then re-feed.
  for (int k : {5, 40}) {
    if (k >= n) continue;
    SessionOptions o;
    o.chunk = 6;
    o.slack = 8;
    auto session = model->new_session(o);
    session->feed(f.tokens.data(), f.tokens.size(), nullptr);
    const size_t keep = size_t(n - k);
    session->rollback(keep);
    expect_close(f, session->last_logits(), keep - 1, 1, "last logits after rollback by " + std::to_string(k));
    session->feed(f.tokens.data() + keep, size_t(k), got.data());
    expect_close(f, got.data(), keep, size_t(k), "re-fed after rollback by " + std::to_string(k));
  }

  // reuse: a prompt that extends a held prefix.
  {
    SessionOptions o;
    o.chunk = 5;
    auto session = model->new_session(o);
    std::vector<int> head(f.tokens.begin(), f.tokens.begin() + n / 2);
    session->reuse(head);
    ReuseStats r = session->reuse(f.tokens);
    ++g_checks;
    if (r.reused != head.size() || r.computed != f.tokens.size() - head.size()) {
      ++g_failures;
      std::fprintf(stderr, "FAIL %s reuse: reused %zu computed %zu\n", f.name.c_str(), r.reused, r.computed);
    }
    expect_close(f, session->last_logits(), size_t(n - 1), 1, "after reuse");
  }
  std::printf("%-22s n %3d  window %3d  max abs error %.2g\n", f.name.c_str(), n, W, double(g_worst));
}

int main(int argc, char** argv) {
  std::string root = find_fixtures(argc, argv);
  if (root.empty() || !is_dir(root)) {
    std::fprintf(stderr, "test-reference: fixtures not found (pass the directory or set TRAMONTANE_FIXTURES)\n");
    return 1;
  }
  std::vector<std::string> names;
  if (DIR* d = ::opendir(root.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name[0] != '.' && is_dir(root + "/" + name)) names.push_back(name);
    }
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());
  int fixtures = 0;
  for (const auto& name : names) {
    std::string dir = root + "/" + name;
    if (::access((dir + "/reference.json").c_str(), R_OK) != 0) continue;
    ++fixtures;
    try {
      check_fixture(read_fixture(dir, name));
    } catch (const std::exception& e) {
      ++g_failures;
      std::fprintf(stderr, "FAIL %s: %s\n", name.c_str(), e.what());
    }
  }
  if (fixtures == 0) {
    std::fprintf(stderr, "test-reference: no fixtures in %s\n", root.c_str());
    return 1;
  }
  std::printf("%d passed, %d failed (%d fixtures)\n", g_checks - g_failures, g_failures, fixtures);
  return g_failures == 0 ? 0 : 1;
}
