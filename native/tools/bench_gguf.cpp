// tramontane-bench_gguf [--threads N] [--prompt N] [--decode N] [--llama-bench PATH] MODEL...
// CPU speed of each model (a safetensors folder, a .gguf file or a folder holding one):
// prefill of a --prompt-token chunk (default 512) and greedy decode of --decode tokens
// (default 128) after it, in tokens per second, best of 3 runs. Token ids are a fixed
// pseudo-random sequence, so every model sees the same work. With --llama-bench, each
// .gguf file is also run by llama.cpp's llama-bench (same threads and sizes, 3
// repetitions, the best kept), right after ours, and the ratios are printed.
//
// tramontane-bench_gguf --kernels [TYPE...]: the quantized matrix product alone, one
// thread, a 1024 × 1024 matrix of each type (default Q8_0 Q4_0 Q4_K Q5_K Q6_K) times 512
// tokens (prefill) and 1 (decode), in billions of multiply-adds per second for each
// kernel this CPU has, best of 15 (3 for the scalar kernel; the best run is the one least disturbed by other
// processes on a shared machine).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "json.h"
#include "quant_blocks.h"
#include "quant_dot.h"
#include "quant_matmul.h"
#include "thread_pool.h"
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

static void bench_kernels(std::vector<StoredType> types) {
  if (types.empty()) types = {StoredType::Q8_0, StoredType::Q4_0, StoredType::Q4_K, StoredType::Q5_K, StoredType::Q6_K};
  const int64_t rows = 1024, cols = 1024;
  std::vector<float> values(size_t(rows * cols)), x(size_t(512 * cols));
  uint32_t state = 7;
  auto next = [&] { return float(int((state = state * 1664525u + 1013904223u) >> 9) % 2001 - 1000) / 1000.f; };
  for (float& v : values) v = 0.05f * next();
  for (float& v : x) v = next();
  cpu::ThreadPool pool(1);
  std::printf("quantized matmul, one thread, %lld x %lld, GMAC/s (best of 15)\n", (long long)rows, (long long)cols);
  std::printf("%-8s %-10s %12s %12s\n", "type", "kernel", "prefill 512", "decode");
  for (StoredType t : types) {
    std::vector<uint8_t> bytes(size_t(rows) * row_bytes(t, cols));
    for (int64_t r = 0; r < rows; ++r) cpu::quantize_row(t, &values[size_t(r * cols)], &bytes[size_t(r) * row_bytes(t, cols)], cols);
    const Matrix m{bytes.data(), t, rows, cols};
    for (cpu::QuantKernel k : {cpu::QuantKernel::Scalar, cpu::QuantKernel::Avx2, cpu::QuantKernel::Vnni}) {
      if (!cpu::quant_kernel_available(k)) continue;
      double rate[2] = {0, 0};
      const int tokens[2] = {512, 1};
      for (int i = 0; i < 2; ++i) {
        std::vector<float> out(size_t(tokens[i] * rows));
        std::vector<uint8_t> scratch;
        const int reps = tokens[i] == 1 ? 200 : 1;
        for (int run = 0; run < (k == cpu::QuantKernel::Scalar ? 3 : 15); ++run) {
          const Clock::time_point t0 = Clock::now();
          for (int r = 0; r < reps; ++r) cpu::quant_matmul(out.data(), x.data(), tokens[i], m, pool, scratch, k);
          rate[i] = std::max(rate[i], double(reps) * tokens[i] * rows * cols / seconds_since(t0) / 1e9);
        }
      }
      std::printf("%-8s %-10s %12.2f %12.2f\n", stored_type_name(t), cpu::quant_kernel_name(k), rate[0], rate[1]);
      std::fflush(stdout);
    }
  }
}

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "--kernels") {
    std::vector<StoredType> types;
    for (int i = 2; i < argc; ++i) {
      const size_t before = types.size();
      for (int t = int(StoredType::Q8_0); t <= int(StoredType::Q3_K); ++t) {
        if (std::string(argv[i]) == stored_type_name(StoredType(t))) types.push_back(StoredType(t));
      }
      if (types.size() == before) {
        std::fprintf(stderr, "error: not a quantized type: %s\n", argv[i]);
        return 2;
      }
    }
    bench_kernels(types);
    return 0;
  }
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
