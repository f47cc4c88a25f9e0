// tramontane-bench_gguf [--threads N] [--prompt N] [--decode N] [--llama-bench PATH] MODEL...
// CPU speed of each model (a safetensors folder, a .gguf file or a folder holding one):
// prefill of a --prompt-token chunk (default 512) and greedy decode of --decode tokens
// (default 128) after it, in tokens per second, best of 3 runs. Token ids are a fixed
// pseudo-random sequence, so every model sees the same work. With --llama-bench, each
// .gguf file is also run by llama.cpp's llama-bench (same threads and sizes, 3
// repetitions, the best kept), right after ours, and the ratios are printed.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "json.h"
#include "quant_dot.h"
#include "tramontane/engine.h"

using namespace tramontane;
using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct Speed {
  double prefill = 0, decode = 0;
};

// llama-bench's best prefill and decode tok/s for a GGUF file (its JSON output).
static Speed llama_bench(const std::string& binary, const std::string& model, int threads, int prompt, int decode) {
  const std::string command = "'" + binary + "' -m '" + model + "' -t " + std::to_string(threads) + " -p " +
                              std::to_string(prompt) + " -n " + std::to_string(decode) + " -r 3 -o json 2>/dev/null";
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) throw Error("cannot run " + binary);
  std::string text;
  char buffer[4096];
  for (size_t got; (got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) text.append(buffer, got);
  if (pclose(pipe) != 0) throw Error("llama-bench failed on " + model + ": " + command);
  Speed speed;
  const json::Value tests = json::Value::parse(text, "llama-bench output");
  for (const json::Value& test : tests.as_array()) {
    double best = 0;
    for (const json::Value& ts : test.find("samples_ts")->as_array()) best = std::max(best, ts.as_number());
    (test.find("n_gen")->as_int() > 0 ? speed.decode : speed.prefill) = best;
  }
  return speed;
}

int main(int argc, char** argv) {
  int threads = 2, prompt = 512, decode = 128;
  std::string llama;
  std::vector<std::string> models;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--threads" || a == "--prompt" || a == "--decode") && i + 1 < argc) {
      (a == "--threads" ? threads : a == "--prompt" ? prompt : decode) = std::atoi(argv[++i]);
    } else if (a == "--llama-bench" && i + 1 < argc) {
      llama = argv[++i];
    } else {
      models.push_back(a);
    }
  }
  if (models.empty() || threads < 1 || prompt < 1 || decode < 1) {
    std::fprintf(stderr,
                 "usage: tramontane-bench_gguf [--threads N] [--prompt N] [--decode N] [--llama-bench PATH] MODEL...\n");
    return 2;
  }
  std::printf("threads %d, quantized kernels: %s\n", threads, cpu::quant_kernel_name(cpu::quant_kernel()));
  std::printf("%-48s %14s %14s\n", "model", "prefill tok/s", "decode tok/s");
  try {
    for (const std::string& path : models) {
      LoadOptions options;
      options.backend = BackendKind::Cpu;
      options.threads = threads;
      std::shared_ptr<Model> model = Model::load(path, options);
      const int vocab = model->config().vocab_size;
      std::vector<int> tokens(static_cast<size_t>(prompt));
      uint32_t state = 12345;
      for (int& t : tokens) t = 3 + int((state = state * 1664525u + 1013904223u) >> 8) % (vocab - 3);
      double best_prefill = 0, best_decode = 0;
      for (int run = 0; run < 3; ++run) {
        SessionOptions session_options;
        session_options.chunk = prompt;
        session_options.context = prompt + decode + 1;
        std::unique_ptr<Session> session = model->new_session(session_options);
        Clock::time_point t0 = Clock::now();
        session->feed(tokens.data(), tokens.size(), nullptr);
        best_prefill = std::max(best_prefill, prompt / seconds_since(t0));
        int next = tokens.back();
        t0 = Clock::now();
        for (int k = 0; k < decode; ++k) {
          const float* logits = session->last_logits();
          next = int(std::max_element(logits, logits + vocab) - logits);
          session->feed(&next, 1, nullptr);
        }
        best_decode = std::max(best_decode, decode / seconds_since(t0));
      }
      std::printf("%-48s %14.1f %14.1f\n", path.c_str(), best_prefill, best_decode);
      std::fflush(stdout);
      if (!llama.empty() && path.size() > 5 && path.compare(path.size() - 5, 5, ".gguf") == 0) {
        const Speed lc = llama_bench(llama, path, threads, prompt, decode);
        std::printf("%-48s %14.1f %14.1f\n", "  llama.cpp, same file", lc.prefill, lc.decode);
        std::printf("%-48s %13.2fx %13.2fx\n", "  ratio (ours / llama.cpp)", best_prefill / lc.prefill,
                    best_decode / lc.decode);
        std::fflush(stdout);
      }
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
