// The fast CPU matrix products (matmul_fast.h) against the reference, and their
// determinism: every kernel this CPU runs must give exactly the bits of a scalar
// model of the summation order matmul_fast.h defines, whatever the chunk size, the
// row count or the thread count; and agree with the reference loops within the
// rounding bound of two summation orders. Also the hot thread pool: every index once,
// across both its spinning and its sleeping waits.
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "convert.h"
#include "cpu_features.h"
#include "harness.h"
#include "matmul_fast.h"
#include "ops.h"
#include "thread_pool.h"

using namespace tramontane;
using namespace tramontane::cpu;

namespace {

uint32_t next_random(uint32_t& state) {
  state ^= state << 13;
  state ^= state >> 17;
  state ^= state << 5;
  return state;
}

float random_float(uint32_t& state) {  // in (-1, 1)
  return float(int32_t(next_random(state))) / 2147483648.f;
}

// A random matrix in type, with its values as fp32.
struct TestMatrix {
  std::vector<uint8_t> bytes;
  std::vector<float> values;
  Matrix view;
};

TestMatrix random_matrix(StoredType type, int64_t rows, int cols, uint32_t seed) {
  TestMatrix m;
  const size_t count = size_t(rows) * size_t(cols);
  m.bytes.resize(count * block_bytes(type));
  m.values.resize(count);
  uint32_t state = seed;
  for (size_t i = 0; i < count; ++i) {
    const float f = random_float(state) * 0.5f;
    uint16_t h = 0;
    switch (type) {
      case StoredType::F32:
        std::memcpy(m.bytes.data() + 4 * i, &f, 4);
        m.values[i] = f;
        continue;
      case StoredType::BF16: {
        uint32_t bits;
        std::memcpy(&bits, &f, 4);
        h = uint16_t(bits >> 16);
        m.values[i] = bf16_to_f32(h);
        break;
      }
      case StoredType::F16: {
        // Sign, an exponent around 2^-1 .. 2^-14 (subnormals too), random mantissa.
        const uint32_t r = next_random(state);
        h = uint16_t(((r & 1) << 15) | ((r >> 1) % 15) << 10 | ((r >> 8) & 0x3ff));
        m.values[i] = f16_to_f32(h);
        break;
      }
    }
    std::memcpy(m.bytes.data() + 2 * i, &h, 2);
  }
  m.view = Matrix{m.bytes.data(), type, rows, int64_t(cols)};
  return m;
}

std::vector<float> random_activations(int n, int cols, uint32_t seed) {
  std::vector<float> x(size_t(n) * size_t(cols));
  uint32_t state = seed;
  for (float& v : x) v = random_float(state) * 2.f;
  return x;
}

// matmul_fast.h's summation order, one scalar step at a time.
float model_dot(const float* w, const float* x, int cols) {
  float lane[16] = {};
  const int padded = (cols + 15) / 16 * 16;
  for (int i = 0; i < padded; ++i) {
    const float wi = i < cols ? w[i] : 0.f, xi = i < cols ? x[i] : 0.f;
    lane[i % 16] = std::fma(wi, xi, lane[i % 16]);
  }
  for (int width = 8; width >= 1; width /= 2)
    for (int k = 0; k < width; ++k) lane[k] = lane[k] + lane[k + width];
  return lane[0];
}

std::vector<float> run(Isa isa, const TestMatrix& w, const std::vector<float>& x, int n,
                       int threads) {
  ThreadPool pool(threads);
  MatmulScratch scratch;
  scratch.reserve(pool.size(), w.view.cols);
  std::vector<float> out(size_t(n) * size_t(w.view.rows), NAN);
  matmul_with(isa, out.data(), x.data(), n, w.view, pool, scratch);
  return out;
}

std::vector<Isa> fast_isas() {
  std::vector<Isa> isas;
  for (Isa isa : {Isa::Avx2, Isa::Avx512, Isa::Neon})
    if (isa_supported(isa)) isas.push_back(isa);
  return isas;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

struct Shape {
  int64_t rows;
  int cols;
};
// Row counts around the 4- and 16-row blocks and the 64-row tile; column counts with
// and without a partial group of 16; the demo model's 192 and 512.
const Shape kShapes[] = {{1, 16}, {5, 7}, {17, 37}, {33, 192}, {70, 512}, {130, 100}, {64, 15}};
const StoredType kDtypes[] = {StoredType::F32, StoredType::BF16, StoredType::F16};

}  // namespace

TEST(the_machine_runs_a_fast_kernel_where_it_can) {
  std::printf("  kernels: %s (fast kernels here:", kernel_name());
  for (Isa isa : fast_isas()) std::printf(" %s", isa_name(isa));
  std::printf(")\n");
#if defined(__x86_64__) || defined(__aarch64__)
  CHECK(!fast_isas().empty() || !isa_supported(Isa::Avx2));
#endif
  CHECK(isa_supported(active_isa()));
}

TEST(fast_kernels_give_the_bits_of_the_summation_order) {
  for (Isa isa : fast_isas()) {
    for (StoredType type : kDtypes) {
      for (const Shape& s : kShapes) {
        const TestMatrix w = random_matrix(type, s.rows, s.cols, 7u + uint32_t(s.rows));
        for (int n : {1, 2, 3, 4, 5, 9}) {
          const std::vector<float> x = random_activations(n, s.cols, 99u + uint32_t(n));
          const std::vector<float> got = run(isa, w, x, n, 2);
          int wrong = 0;
          for (int t = 0; t < n; ++t) {
            for (int64_t r = 0; r < s.rows; ++r) {
              const float want = model_dot(&w.values[size_t(r) * s.cols], &x[size_t(t) * s.cols], s.cols);
              const float g = got[size_t(t) * size_t(s.rows) + size_t(r)];
              if (std::memcmp(&want, &g, 4) != 0) ++wrong;
            }
          }
          CHECK_MSG(wrong == 0, "%s %s %lldx%d n %d: %d outputs differ from the order's bits",
                    isa_name(isa), stored_type_name(type), (long long)s.rows, s.cols, n, wrong);
        }
      }
    }
  }
}

TEST(fast_kernels_agree_with_the_reference_within_rounding) {
  for (Isa isa : fast_isas()) {
    for (StoredType type : kDtypes) {
      for (const Shape& s : kShapes) {
        const TestMatrix w = random_matrix(type, s.rows, s.cols, 3u + uint32_t(s.cols));
        const int n = 6;
        const std::vector<float> x = random_activations(n, s.cols, 5u);
        const std::vector<float> fast = run(isa, w, x, n, 2);
        const std::vector<float> ref = run(Isa::Reference, w, x, n, 2);
        double worst = 0;
        for (int t = 0; t < n; ++t) {
          for (int64_t r = 0; r < s.rows; ++r) {
            // Two summation orders each err by at most cols · 2^-24 · Σ|w x| (first order).
            double magnitude = 0;
            for (int i = 0; i < s.cols; ++i)
              magnitude += std::fabs(double(w.values[size_t(r) * s.cols + i]) * x[size_t(t) * s.cols + i]);
            const size_t o = size_t(t) * size_t(s.rows) + size_t(r);
            const double bound = 2.0 * s.cols * std::ldexp(1.0, -24) * magnitude + 1e-30;
            worst = std::max(worst, std::fabs(double(fast[o]) - double(ref[o])) / bound);
          }
        }
        CHECK_MSG(worst <= 1.0, "%s %s %lldx%d: difference %.2f× the rounding bound",
                  isa_name(isa), stored_type_name(type), (long long)s.rows, s.cols, worst);
      }
    }
  }
}

TEST(a_token_gets_the_same_bits_alone_in_any_chunk_and_on_any_thread_count) {
  for (Isa isa : fast_isas()) {
    for (StoredType type : kDtypes) {
      const Shape s{130, 192};
      const TestMatrix w = random_matrix(type, s.rows, s.cols, 11u);
      const int n = 11;
      const std::vector<float> x = random_activations(n, s.cols, 13u);
      const std::vector<float> whole = run(isa, w, x, n, 2);
      CHECK_MSG(same_bits(whole, run(isa, w, x, n, 2)), "%s %s: two runs differ", isa_name(isa),
                stored_type_name(type));
      for (int threads : {1, 3, 4})
        CHECK_MSG(same_bits(whole, run(isa, w, x, n, threads)), "%s %s: %d threads differ",
                  isa_name(isa), stored_type_name(type), threads);
      for (int t = 0; t < n; ++t) {
        const std::vector<float> one(x.begin() + t * s.cols, x.begin() + (t + 1) * s.cols);
        const std::vector<float> alone = run(isa, w, one, 1, 2);
        const std::vector<float> row(whole.begin() + t * s.rows, whole.begin() + (t + 1) * s.rows);
        CHECK_MSG(same_bits(alone, row), "%s %s: token %d alone differs from inside the chunk",
                  isa_name(isa), stored_type_name(type), t);
      }
    }
  }
}

TEST(all_fast_kernels_give_the_same_bits) {
  const std::vector<Isa> isas = fast_isas();
  for (size_t k = 1; k < isas.size(); ++k) {
    for (StoredType type : kDtypes) {
      const TestMatrix w = random_matrix(type, 70, 100, 17u);
      const std::vector<float> x = random_activations(5, 100, 19u);
      CHECK_MSG(same_bits(run(isas[0], w, x, 5, 2), run(isas[k], w, x, 5, 2)), "%s vs %s, %s",
                isa_name(isas[0]), isa_name(isas[k]), stored_type_name(type));
    }
  }
}

TEST(the_pool_runs_every_index_once_whether_its_threads_spin_or_sleep) {
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    std::vector<std::atomic<int>> hits(1000);
    auto one_job = [&](int64_t n) {
      for (auto& h : hits) h.store(0);
      pool.parallel_for(n, [&](int64_t b, int64_t e, int worker) {
        CHECK(worker >= 0 && worker < threads);
        for (int64_t i = b; i < e; ++i) hits[size_t(i)].fetch_add(1);
      });
      int wrong = 0;
      for (int64_t i = 0; i < int64_t(hits.size()); ++i) wrong += hits[size_t(i)].load() != (i < n ? 1 : 0);
      return wrong;
    };
    int wrong = 0;
    for (int k = 0; k < 5000; ++k) wrong += one_job(1 + k % 997);  // back to back: spinning
    for (int k = 0; k < 4; ++k) {  // idle longer than the spin: the workers sleep
      std::this_thread::sleep_for(ThreadPool::kSpin * 5);
      wrong += one_job(999);
    }
    CHECK_MSG(wrong == 0, "%d threads: %d indices not run exactly once", threads, wrong);
  }
}

int main() { return harness::run_all(); }
