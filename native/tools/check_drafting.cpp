// tramontane-check_drafting [--backend auto|cpu|cuda] [--threads N] [--sliding-window N] MODEL...
// Speculative decoding against plain decoding on real model files, at their own shape
// (a 7B GGUF on the CPU, say, where the unit tests use tiny models): greedy output with
// drafting on equals drafting off across chunk sizes and slacks and after a rollback
// (tests/drafting_check.h, the checks the GPU engine test runs). The prompt is built from
// seeded random tokens, so random weights serve as well as trained ones. --sliding-window
// gives a GGUF file that carries none a window (tramontane-gguf_random's 7B shape), so
// that drafts are also capped by the slack. Prints one line per check, then "N passed,
// M failed"; exits 1 if any failed.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "../tests/drafting_check.h"
#include "flags.h"
#include "tramontane/engine.h"

using namespace tramontane;

namespace {

// 256 tokens: BOS, then xorshift draws over the vocabulary above the control ids.
std::vector<int> seeded_tokens(int vocab) {
  uint64_t x = 0x9e3779b97f4a7c15ull;
  std::vector<int> t{1};
  while (t.size() < 256) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    t.push_back(3 + int(x % uint64_t(vocab - 3)));
  }
  return t;
}

int run(int argc, char** argv) {
  LoadOptions load;
  std::vector<std::string> models;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--backend" || a == "--threads" || a == "--sliding-window") {
      if (i + 1 >= argc) throw Error(a + " expects a value");
      const std::string value = argv[++i];
      if (a == "--backend") load.backend = tools::parse_backend(value);
      else if (a == "--threads") load.threads = tools::parse_int(a, value, 0, 1024);
      else load.sliding_window = tools::parse_int(a, value, 1, 1 << 24);
    } else if (a.rfind("--", 0) == 0) {
      throw Error("unknown flag " + a);
    } else {
      models.push_back(a);
    }
  }
  if (models.empty()) {
    throw Error("usage: tramontane-check_drafting [--backend auto|cpu|cuda] [--threads N] "
                "[--sliding-window N] MODEL...");
  }
  int passed = 0, failed = 0;
  const drafting_check::Check check = [&](bool ok, const std::string& what) {
    (ok ? passed : failed)++;
    std::printf("  %-4s %s\n", ok ? "ok" : "FAIL", what.c_str());
    std::fflush(stdout);
  };
  for (const std::string& path : models) {
    const auto t0 = std::chrono::steady_clock::now();
    auto model = Model::load(path, load);
    const ModelConfig& c = model->config();
    std::printf("== %s: %s backend, %d layers, dim %d, window %d\n", path.c_str(),
                model->backend() == BackendKind::Cuda ? "cuda" : "cpu", c.n_layers, c.dim, c.sliding_window);
    drafting_check::check_drafting(*model, seeded_tokens(c.vocab_size), check);
    std::printf("       %.0f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
}
