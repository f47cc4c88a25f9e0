// tramontane-bench_cpu --model DIR [--threads N] [--decode N] [--prefill N] [--reps N]
//                      [--llama-bench PATH --gguf FILE] [--kv-cache f32|f16|auto]
// tramontane-bench_cpu --attention [--threads N] [--reps N]
// tramontane-bench_cpu --write-model FILE.gguf --vocabulary TOKENIZER.MODEL
// CPU speed of the engine on a model folder, in the shape llama-bench measures:
//   decode:  N tokens fed one at a time to a fresh session (llama-bench tg N)
//   prefill: N tokens fed at once to a fresh session, logits of the last only (pp N)
// Each figure is timed --reps times after one warm-up; the best and the median are
// printed, and the process's CPU time per token (a figure less sensitive than the
// wall clock to other load on the machine; with several threads it counts their spin
// waits too). With --llama-bench and --gguf (the same weights as a GGUF file) it also runs
// llama.cpp's llama-bench on the same thread count and prints the ratios.
// With --attention it times one layer's attention alone, at the demo model's shape and
// at Mistral 7B's (32 heads, 8 KV heads, head_dim 128, window 4096), with a full window
// in the cache: a prefill chunk of 512 and a decode step, for each cache type (f32,
// f16) and path (tiled, reference): milliseconds per call, best of --reps.
// With --write-model it writes the benchmark model: Mistral-shaped, about 100M
// parameters (dim 768, 12 layers, 12 heads / 4 KV heads of 64, MLP 2048, window 4096,
// tied embeddings, the given SentencePiece vocabulary: 32768 pieces for the demo
// model's), random BF16 weights, as a llama-architecture GGUF through the project's
// writer, so that both engines read the same file.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "attention.h"
#include "config.h"
#include "gguf_convert.h"
#include "gguf_writer.h"
#include "sentencepiece_model.h"
#include "attention_tiled.h"
#include "cpu_features.h"
#include "kv_buffer.h"
#include "thread_pool.h"
#include "flags.h"
#include "tramontane/engine.h"

using tramontane::Error;
using tramontane::tools::parse_int;

namespace {

struct Figures {
  double best = 0, median = 0;  // tok/s
  double cpu_ms = -1;           // median CPU milliseconds per token; < 0: not measured
};

Figures summarize(std::vector<double> rates, std::vector<double> cpu_ms = {}) {
  std::sort(rates.begin(), rates.end());
  std::sort(cpu_ms.begin(), cpu_ms.end());
  return {rates.back(), rates[rates.size() / 2], cpu_ms.empty() ? -1 : cpu_ms[cpu_ms.size() / 2]};
}

double cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// A timed run: tok/s by the wall clock and CPU ms per token.
struct Sample {
  double rate, cpu_ms;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Token ids spread over the vocabulary, the same every run.
std::vector<int> bench_tokens(int n, int vocab) {
  std::vector<int> ids(static_cast<size_t>(n));
  uint32_t state = 12345;
  for (int& id : ids) {
    state = state * 1664525u + 1013904223u;
    id = 3 + int(state % uint32_t(vocab - 3));
  }
  return ids;
}

Sample time_decode(tramontane::Model& model, int n) {
  tramontane::SessionOptions options;
  options.chunk = 1;
  auto session = model.new_session(options);
  const std::vector<int> ids = bench_tokens(n, model.config().vocab_size);
  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = cpu_seconds();
  for (int t = 0; t < n; ++t) session->feed(&ids[size_t(t)], 1, nullptr);
  return {n / seconds_since(t0), 1e3 * (cpu_seconds() - c0) / n};
}

Sample time_prefill(tramontane::Model& model, int n) {
  tramontane::SessionOptions options;
  options.chunk = n;
  auto session = model.new_session(options);
  const std::vector<int> ids = bench_tokens(n, model.config().vocab_size);
  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = cpu_seconds();
  session->feed(ids.data(), ids.size(), nullptr);
  return {n / seconds_since(t0), 1e3 * (cpu_seconds() - c0) / n};
}

// Runs llama-bench and returns its tok/s for "pp<prefill>" and "tg<decode>" (CSV output:
// the test name is n_prompt/n_gen, the rate is avg_ts).
std::pair<Figures, Figures> run_llama_bench(const std::string& exe, const std::string& gguf,
                                            int threads, int decode, int prefill, int reps) {
  const std::string cmd = "'" + exe + "' -m '" + gguf + "' -t " + std::to_string(threads) +
                          " -p " + std::to_string(prefill) + " -n " + std::to_string(decode) +
                          " -r 1 -o csv 2>/dev/null";
  std::vector<double> pp, tg;
  for (int r = 0; r < reps; ++r) {
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(cmd.c_str(), "r"), pclose);
    if (!pipe) throw Error("cannot run " + exe);
    std::vector<std::string> header;
    char line[8192];
    while (std::fgets(line, sizeof line, pipe.get())) {
      // Split a CSV line whose fields are all double-quoted.
      std::vector<std::string> fields;
      std::string cur;
      bool quoted = false;
      for (const char* p = line; *p && *p != '\n'; ++p) {
        if (*p == '"') quoted = !quoted;
        else if (*p == ',' && !quoted) fields.push_back(cur), cur.clear();
        else cur += *p;
      }
      fields.push_back(cur);
      if (header.empty()) {
        header = fields;
        continue;
      }
      auto field = [&](const char* name) -> std::string {
        for (size_t i = 0; i < header.size() && i < fields.size(); ++i)
          if (header[i] == name) return fields[i];
        throw Error(std::string("llama-bench output has no ") + name + " column");
      };
      const int n_prompt = std::atoi(field("n_prompt").c_str());
      const int n_gen = std::atoi(field("n_gen").c_str());
      const double rate = std::atof(field("avg_ts").c_str());
      if (n_prompt == prefill && n_gen == 0) pp.push_back(rate);
      if (n_gen == decode && n_prompt == 0) tg.push_back(rate);
    }
  }
  if (pp.empty() || tg.empty()) throw Error("llama-bench gave no figures: run " + cmd);
  return {summarize(tg), summarize(pp)};
}

void print_row(const char* what, const Figures& f) {
  std::printf("%-28s best %9.1f tok/s   median %9.1f tok/s", what, f.best, f.median);
  if (f.cpu_ms >= 0) std::printf("   CPU %.3f ms/token", f.cpu_ms);
  std::printf("\n");
}

void write_bench_model(const std::string& path, const std::string& vocabulary) {
  namespace spm = tramontane::spm;
  const spm::ModelProto vocab = spm::parse_model(tramontane::files::read_text(vocabulary), vocabulary);
  const int dim = 768, layers = 12, heads = 12, kv_heads = 4, head_dim = 64, hidden = 2048;
  const int n_vocab = int(vocab.pieces.size());
  tramontane::gguf::Writer out;
  out.add_string("general.architecture", "llama");
  out.add_string("general.name", "tramontane-bench-100m");
  out.add_u32("llama.context_length", 32768);
  out.add_u32("llama.embedding_length", dim);
  out.add_u32("llama.block_count", layers);
  out.add_u32("llama.feed_forward_length", hidden);
  out.add_u32("llama.attention.head_count", heads);
  out.add_u32("llama.attention.head_count_kv", kv_heads);
  out.add_u32("llama.attention.key_length", head_dim);
  out.add_u32("llama.attention.value_length", head_dim);
  out.add_u32("llama.rope.dimension_count", head_dim);
  out.add_f32("llama.rope.freq_base", 10000.f);
  out.add_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  out.add_u32("llama.attention.sliding_window", 4096);
  out.add_u32("llama.vocab_size", uint32_t(n_vocab));
  tramontane::add_vocabulary(out, vocab);
  uint32_t state = 2024;
  int64_t params = 0;
  // Uniform in ±sqrt(3 / cols): unit-variance outputs for unit-variance inputs.
  auto matrix = [&](const std::string& name, int64_t rows, int64_t cols) {
    const float scale = std::sqrt(3.f / float(cols));
    std::vector<uint16_t> bf16(size_t(rows * cols));
    for (uint16_t& h : bf16) {
      state ^= state << 13, state ^= state >> 17, state ^= state << 5;
      const float f = (float(state >> 8) / 8388608.f - 1.f) * scale;
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      h = uint16_t(bits >> 16);
    }
    out.add_tensor(name, tramontane::StoredType::BF16, {rows, cols}, bf16.data(), bf16.size() * 2);
    params += rows * cols;
  };
  auto ones = [&](const std::string& name, int64_t n) {
    const std::vector<float> v(size_t(n), 1.f);
    out.add_tensor(name, tramontane::StoredType::F32, {n}, v.data(), v.size() * 4);
    params += n;
  };
  matrix("token_embd.weight", n_vocab, dim);
  ones("output_norm.weight", dim);
  for (int i = 0; i < layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    ones(p + "attn_norm.weight", dim);
    matrix(p + "attn_q.weight", heads * head_dim, dim);
    matrix(p + "attn_k.weight", kv_heads * head_dim, dim);
    matrix(p + "attn_v.weight", kv_heads * head_dim, dim);
    matrix(p + "attn_output.weight", dim, heads * head_dim);
    ones(p + "ffn_norm.weight", dim);
    matrix(p + "ffn_gate.weight", hidden, dim);
    matrix(p + "ffn_up.weight", hidden, dim);
    matrix(p + "ffn_down.weight", dim, hidden);
  }
  out.write(path);
  std::printf("wrote %s: %.1fM parameters\n", path.c_str(), double(params) / 1e6);
}

// Keys and values of a full window in the cache, a chunk after it; ms per call.
void bench_attention(int threads, int reps) {
  using namespace tramontane::cpu;
  using tramontane::KvCacheType;
  struct Shape {
    const char* name;
    AttentionShape s;
  };
  const Shape shapes[] = {{"demo", {6, 2, 32, 256}}, {"7B", {32, 8, 128, 4096}}};
  ThreadPool pool(threads);
  std::printf("attention, one layer, %d threads, kernels: %s; ms per call, best of %d\n", threads,
              kernel_name(), reps);
  std::printf("%-5s %-13s %-5s %10s %10s\n", "shape", "queries", "cache", "tiled", "reference");
  for (const Shape& sh : shapes) {
    const AttentionShape& s = sh.s;
    const int chunk = 512, window = s.window;
    const size_t q_dim = size_t(s.n_heads) * s.head_dim, kv_dim = size_t(s.n_kv_heads) * s.head_dim;
    std::vector<float> q(chunk * q_dim), k(chunk * kv_dim), v(chunk * kv_dim), out(chunk * q_dim);
    uint32_t state = 1;
    auto fill = [&](std::vector<float>& x) {
      for (float& e : x) e = float((state = state * 1664525u + 1013904223u) >> 8) / 16777216.f - 0.5f;
    };
    fill(q), fill(k), fill(v);
    AttentionScratch scratch;
    scratch.reserve(threads, window, chunk, s);
    for (KvCacheType type : {KvCacheType::F32, KvCacheType::F16}) {
      KvBuffer cache(1, s.n_kv_heads, s.head_dim, window + chunk, type);
      for (int p = 0; p < window; ++p) cache.write(0, p, k.data() + (p % chunk) * kv_dim, v.data() + (p % chunk) * kv_dim);
      for (int n : {chunk, 1}) {
        double best[2] = {1e30, 1e30};
        for (int path = 0; path < 2; ++path) {
          const Isa isa = path == 0 ? active_isa() : Isa::Reference;
          // The reference's 7B prefill takes seconds: once is enough to see it.
          const int r = path == 1 && n > 1 && s.n_heads > 8 ? 1 : reps;
          for (int i = 0; i < r; ++i) {
            const auto t0 = std::chrono::steady_clock::now();
            attention_with(isa, out.data(), q.data(), k.data(), v.data(), n, window, cache, 0, s, pool, scratch);
            best[path] = std::min(best[path], 1e3 * seconds_since(t0));
          }
        }
        const std::string what = n > 1 ? "prefill 512" : "decode";
        std::printf("%-5s %-13s %-5s %10.3f %10.3f\n", sh.name, what.c_str(), kv_cache_type_name(type),
                    best[0], best[1]);
      }
    }
  }
}

int run(int argc, char** argv) {
  std::string model_dir, llama_bench, gguf;
  tramontane::LoadOptions load;
  int decode = 128, prefill = 512, reps = 5;
  bool attention = false;
  std::string write_model, vocabulary;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--attention") {
      attention = true;
      continue;
    }
    if (i + 1 >= argc) throw Error(flag + " needs a value (usage: --model DIR)");
    std::string value = argv[++i];
    if (flag == "--model") model_dir = value;
    else if (flag == "--threads") load.threads = parse_int(flag, value, 0, 1024);
    else if (flag == "--decode") decode = parse_int(flag, value, 1, 1 << 16);
    else if (flag == "--prefill") prefill = parse_int(flag, value, 1, 1 << 16);
    else if (flag == "--reps") reps = parse_int(flag, value, 1, 1000);
    else if (flag == "--llama-bench") llama_bench = value;
    else if (flag == "--gguf") gguf = value;
    else if (flag == "--write-model") write_model = value;
    else if (flag == "--vocabulary") vocabulary = value;
    else if (flag == "--kv-cache") {
      if (value == "f32") load.kv_cache = tramontane::KvCacheType::F32;
      else if (value == "f16") load.kv_cache = tramontane::KvCacheType::F16;
      else if (value == "auto") load.kv_cache = tramontane::KvCacheType::Auto;
      else throw Error("--kv-cache takes f32, f16 or auto, not " + value);
    }
    else throw Error("unknown option " + flag);
  }
  if (!write_model.empty()) {
    if (vocabulary.empty()) throw Error("--write-model needs --vocabulary TOKENIZER.MODEL");
    write_bench_model(write_model, vocabulary);
    return 0;
  }
  if (attention) {
    bench_attention(load.threads > 0 ? load.threads : int(std::max(1u, std::thread::hardware_concurrency())), reps);
    return 0;
  }
  if (model_dir.empty()) throw Error("--model DIR is required");
  if (llama_bench.empty() != gguf.empty()) throw Error("--llama-bench and --gguf go together");
  if (load.threads == 0) load.threads = int(std::max(1u, std::thread::hardware_concurrency()));

  auto model = tramontane::Model::load(model_dir, load);
  std::printf("model %s, %d threads, kernels: %s, KV cache: %s\n", model_dir.c_str(), load.threads,
              tramontane::cpu::kernel_name(), tramontane::cpu::kv_cache_type_name(load.kv_cache));

  time_decode(*model, std::min(decode, 16));  // warm-up: page in the weights
  time_prefill(*model, prefill);
  std::vector<double> dec, pre, dec_cpu, pre_cpu;
  for (int r = 0; r < reps; ++r) {
    const Sample d = time_decode(*model, decode), p = time_prefill(*model, prefill);
    dec.push_back(d.rate);
    dec_cpu.push_back(d.cpu_ms);
    pre.push_back(p.rate);
    pre_cpu.push_back(p.cpu_ms);
  }
  const Figures ours_tg = summarize(dec, dec_cpu), ours_pp = summarize(pre, pre_cpu);
  const std::string tg = "decode (tg" + std::to_string(decode) + ")";
  const std::string pp = "prefill (pp" + std::to_string(prefill) + ")";
  print_row(("tramontane " + tg).c_str(), ours_tg);
  print_row(("tramontane " + pp).c_str(), ours_pp);
  if (!llama_bench.empty()) {
    auto [their_tg, their_pp] = run_llama_bench(llama_bench, gguf, load.threads, decode, prefill, reps);
    print_row(("llama.cpp  " + tg).c_str(), their_tg);
    print_row(("llama.cpp  " + pp).c_str(), their_pp);
    std::printf("ratio decode  %.2fx (best)  %.2fx (median)\n", ours_tg.best / their_tg.best,
                ours_tg.median / their_tg.median);
    std::printf("ratio prefill %.2fx (best)  %.2fx (median)\n", ours_pp.best / their_pp.best,
                ours_pp.median / their_pp.median);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "tramontane-bench_cpu: out of memory\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tramontane-bench_cpu: %s\n", e.what());
  }
  return 1;
}
