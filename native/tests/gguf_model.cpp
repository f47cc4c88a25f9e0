// GGUF models end to end on the CPU: llama.cpp's own files (test/fixtures/gguf, written
// and quantized by llama.cpp) against an exact-dequantization float64 forward and
// against llama.cpp's logits; the fast 8-bit activation path against the band llama.cpp
// itself lands in; determinism of the fast path; and files this engine writes (the
// writer) giving exactly the logits of the same weights read from safetensors.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gguf.h"
#include "gguf_writer.h"
#include "harness.h"
#include "json.h"
#include "quant_blocks.h"
#include "quant_dot.h"
#include "safetensors.h"
#include "sentencepiece_model.h"
#include "tramontane/engine.h"
#include "tramontane/tokenizer.h"

using namespace tramontane;
using harness::TempDir;

namespace {

const std::string kDir = "test/fixtures/gguf/";

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Expected {
  std::vector<int> tokens;
  std::vector<int> positions;
  // file → rows (one per position)
  std::vector<std::pair<std::string, std::vector<std::vector<float>>>> exact, llama_cpp;
};

const Expected& expected() {
  static const Expected e = [] {
    Expected e;
    const json::Value root = json::Value::parse(read_all(kDir + "tiny-llama-logits.json"), "logits");
    for (const json::Value& t : root.find("tokens")->as_array()) e.tokens.push_back(int(t.as_int()));
    for (const json::Value& p : root.find("positions")->as_array()) e.positions.push_back(int(p.as_int()));
    for (auto [key, out] : {std::pair{"exact", &e.exact}, std::pair{"llama_cpp", &e.llama_cpp}}) {
      for (const auto& [file, rows] : root.find(key)->as_object()) {
        std::vector<std::vector<float>> r;
        for (const json::Value& row : rows.as_array()) {
          std::vector<float> v;
          for (const json::Value& x : row.as_array()) v.push_back(float(x.as_number()));
          r.push_back(std::move(v));
        }
        out->emplace_back(file, std::move(r));
      }
    }
    return e;
  }();
  return e;
}

// llama.cpp's own distance from the exact logits, max |d| / rms (fixtures README).
double band(const std::string& file) {
  if (file.find("Q8_0") != std::string::npos) return 6.8e-2;
  if (file.find("Q4_0") != std::string::npos) return 7.4e-2;
  if (file.find("Q5_0") != std::string::npos) return 8.2e-2;
  if (file.find("Q4_K_M") != std::string::npos) return 9.9e-2;
  return 1.0e-1;  // Q5_K_M
}

// Logits of every position of the fixture sequence.
std::vector<float> run(const std::string& path, int threads, bool one_by_one = false) {
  LoadOptions options;
  options.backend = BackendKind::Cpu;
  options.threads = threads;
  std::shared_ptr<Model> model = Model::load(path, options);
  std::unique_ptr<Session> session = model->new_session(SessionOptions{});
  const std::vector<int>& tokens = expected().tokens;
  const int vocab = model->config().vocab_size;
  std::vector<float> logits(tokens.size() * size_t(vocab));
  if (one_by_one) {
    for (size_t t = 0; t < tokens.size(); ++t) session->feed(&tokens[t], 1, logits.data() + t * size_t(vocab));
  } else {
    session->feed(tokens.data(), tokens.size(), logits.data());
  }
  return logits;
}

struct Distance {
  double max_abs = 0, rms = 0;
  int argmax_checked = 0, argmax_wrong = 0;
};

// Distance of our rows at the kept positions from `rows`; argmax compared where the
// reference's top-1 leads by more than `lead` (a fraction of the rms).
Distance distance(const std::vector<float>& ours, const std::vector<std::vector<float>>& rows, double lead) {
  const std::vector<int>& positions = expected().positions;
  const size_t vocab = rows[0].size();
  Distance d;
  double square = 0;
  size_t count = 0;
  for (size_t k = 0; k < positions.size(); ++k) {
    for (size_t i = 0; i < vocab; ++i) square += double(rows[k][i]) * rows[k][i], ++count;
  }
  d.rms = std::sqrt(square / double(count));
  for (size_t k = 0; k < positions.size(); ++k) {
    const float* mine = ours.data() + size_t(positions[k]) * vocab;
    const std::vector<float>& ref = rows[k];
    size_t best = 0, mine_best = 0;
    for (size_t i = 0; i < vocab; ++i) {
      d.max_abs = std::max(d.max_abs, double(std::fabs(mine[i] - ref[i])));
      if (ref[i] > ref[best]) best = i;
      if (mine[i] > mine[mine_best]) mine_best = i;
    }
    float second = -INFINITY;
    for (size_t i = 0; i < vocab; ++i) if (i != best) second = std::max(second, ref[i]);
    if (ref[best] - second > lead * d.rms) {
      ++d.argmax_checked;
      if (mine_best != best) ++d.argmax_wrong;
    }
  }
  return d;
}

struct KernelScope {
  cpu::QuantKernel saved = cpu::quant_kernel();
  explicit KernelScope(cpu::QuantKernel k) { cpu::set_quant_kernel(k); }
  ~KernelScope() { cpu::set_quant_kernel(saved); }
};

}  // namespace

TEST(reference_path_matches_exact_dequantization) {
  KernelScope scope(cpu::QuantKernel::Reference);
  for (const auto& [file, rows] : expected().exact) {
    const Distance d = distance(run(kDir + file, 2), rows, 0);
    std::printf("  %-24s reference  max |d| %.2e\n", file.c_str(), d.max_abs);
    CHECK_MSG(d.max_abs <= 1e-3, "%s: %.3e", file.c_str(), d.max_abs);
  }
}

TEST(fast_path_within_llama_cpp_band) {
  for (cpu::QuantKernel kernel : {cpu::QuantKernel::Scalar, cpu::QuantKernel::Avx2}) {
    if (kernel == cpu::QuantKernel::Avx2 && !cpu::avx2_available()) continue;
    KernelScope scope(kernel);
    for (size_t f = 0; f < expected().exact.size(); ++f) {
      const auto& [file, rows] = expected().exact[f];
      const std::vector<float> ours = run(kDir + file, 2);
      const Distance d = distance(ours, rows, band(file));
      const Distance lc = distance(ours, expected().llama_cpp[f].second, band(file));
      std::printf("  %-24s %-6s max |d| / rms %.2e (band %.1e), argmax %d/%d; vs llama.cpp %.2e\n",
                  file.c_str(), cpu::quant_kernel_name(kernel), d.max_abs / d.rms, band(file),
                  d.argmax_checked - d.argmax_wrong, d.argmax_checked, lc.max_abs / lc.rms);
      CHECK_MSG(d.max_abs / d.rms <= band(file), "%s %s: %.3e", file.c_str(), cpu::quant_kernel_name(kernel),
                d.max_abs / d.rms);
      CHECK_MSG(d.argmax_wrong == 0, "%s: %d argmax differ", file.c_str(), d.argmax_wrong);
      CHECK(d.argmax_checked > 0);
    }
  }
}

TEST(fast_path_same_bits_for_any_kernel_threads_and_chunking) {
  if (!cpu::avx2_available()) return;
  for (const char* file : {"tiny-llama-Q4_K_M.gguf", "tiny-llama-Q5_0.gguf"}) {
    std::vector<float> scalar, avx2, avx2_one_thread, avx2_one_by_one;
    {
      KernelScope scope(cpu::QuantKernel::Scalar);
      scalar = run(kDir + file, 2);
    }
    KernelScope scope(cpu::QuantKernel::Avx2);
    avx2 = run(kDir + file, 2);
    avx2_one_thread = run(kDir + file, 1);
    avx2_one_by_one = run(kDir + file, 2, true);
    CHECK_MSG(scalar == avx2, "%s: scalar and AVX2 differ", file);
    CHECK_MSG(avx2 == avx2_one_thread, "%s: 1 and 2 threads differ", file);
    CHECK_MSG(avx2 == avx2_one_by_one, "%s: a chunk and token by token differ", file);
  }
}
int main() { return harness::run_all(); }
