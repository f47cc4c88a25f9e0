// The tiled attention (cpu/attention_tiled.h) against the reference attention on random
// shapes: windows (none, shorter and longer than a key block, not aligned to it), grouped
// queries, head sizes that are and are not multiples of 16, chunks that cross key
// blocks and the window, and a rolling cache that wraps. And its determinism: the same
// bits for a token whatever the chunking, the thread count or the kernels.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "attention.h"
#include "attention_tiled.h"
#include "cpu_features.h"
#include "convert.h"
#include "harness.h"
#include "kv_buffer.h"
#include "quant_blocks.h"
#include "thread_pool.h"

using namespace tramontane;
using namespace tramontane::cpu;

namespace {

struct Case {
  int heads, kv_heads, head_dim, window, capacity, length, chunk;
  std::string name() const {
    return std::to_string(heads) + "/" + std::to_string(kv_heads) + " heads, hd " +
           std::to_string(head_dim) + ", window " + std::to_string(window) + ", capacity " +
           std::to_string(capacity) + ", " + std::to_string(length) + " tokens";
  }
};

// A demo-model prefill of 512 then more tokens past the window (the cache rolls); no
// window; hd 20 with a window of 17 and GQA 8:1; decode with a window of 5 and no slack;
// hd 8; hd 128 with a window of 40.
const Case kCases[] = {
    {6, 2, 32, 256, 258, 600, 512}, {4, 4, 16, 0, 100, 100, 7},  {8, 1, 20, 17, 20, 90, 13},
    {3, 1, 64, 5, 5, 40, 1},        {2, 2, 8, 16, 19, 70, 33},   {4, 2, 128, 40, 45, 120, 45},
};

uint32_t next_random(uint32_t& state) {
  state ^= state << 13;
  state ^= state >> 17;
  state ^= state << 5;
  return state;
}

std::vector<float> random_values(size_t n, float scale, uint32_t seed) {
  std::vector<float> x(n);
  for (float& v : x) v = float(int32_t(next_random(seed))) / 2147483648.f * scale;
  return x;
}

// Queries, keys and values of every position of a case (keys and values as the cache
// will hold them).
struct Inputs {
  std::vector<float> q, k, v;
};

Inputs inputs(const Case& c, KvCacheType type) {
  const size_t q_dim = size_t(c.heads) * c.head_dim, kv_dim = size_t(c.kv_heads) * c.head_dim;
  Inputs in{random_values(c.length * q_dim, 3.f, 7u), random_values(c.length * kv_dim, 1.f, 11u),
            random_values(c.length * kv_dim, 1.f, 13u)};
  const KvBuffer rounding(1, 1, 1, 1, type);
  rounding.round_to_storage(in.k.data(), in.k.size());
  rounding.round_to_storage(in.v.data(), in.v.size());
  return in;
}

// The attention output of every position, fed `chunk` tokens at a time as the forward
// pass does: attention over the cache and the chunk, then the chunk into the cache.
std::vector<float> run(Isa isa, const Case& c, const Inputs& in, int chunk, int threads,
                       KvCacheType type = KvCacheType::F32) {
  const AttentionShape shape{c.heads, c.kv_heads, c.head_dim, c.window};
  const size_t q_dim = size_t(c.heads) * c.head_dim, kv_dim = size_t(c.kv_heads) * c.head_dim;
  ThreadPool pool(threads);
  AttentionScratch scratch;
  scratch.reserve(threads, c.window > 0 ? c.window : c.capacity, chunk, shape);
  KvBuffer cache(1, c.kv_heads, c.head_dim, c.capacity, type);
  std::vector<float> out(c.length * q_dim, NAN);
  for (int pos0 = 0; pos0 < c.length; pos0 += chunk) {
    const int n = std::min(chunk, c.length - pos0);
    attention_with(isa, out.data() + pos0 * q_dim, in.q.data() + pos0 * q_dim,
                   in.k.data() + pos0 * kv_dim, in.v.data() + pos0 * kv_dim, n, pos0, cache, 0,
                   shape, pool, scratch);
    for (int t = std::max(0, n - c.capacity); t < n; ++t)
      cache.write(0, pos0 + t, in.k.data() + (pos0 + t) * kv_dim, in.v.data() + (pos0 + t) * kv_dim);
  }
  return out;
}

// The x86 kernels this CPU runs, and the portable kernels (named Neon) everywhere.
std::vector<Isa> tile_isas() {
  std::vector<Isa> isas;
  for (Isa isa : {Isa::Avx512, Isa::Avx2})
    if (isa_supported(isa)) isas.push_back(isa);
  isas.push_back(Isa::Neon);
  return isas;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float err = 0;
  for (size_t i = 0; i < a.size(); ++i) err = std::max(err, std::fabs(a[i] - b[i]));
  return std::isnan(err) ? INFINITY : err;
}

}  // namespace

TEST(tiled_attention_matches_the_reference) {
  for (const Case& c : kCases) {
    for (KvCacheType type : {KvCacheType::F32, KvCacheType::F16}) {
      const Inputs in = inputs(c, type);
      const std::vector<float> ref = run(Isa::Reference, c, in, c.chunk, 2, type);
      for (Isa isa : tile_isas()) {
        const float err = max_abs_diff(run(isa, c, in, c.chunk, 2, type), ref);
        // Outputs are averages of values in (−1, 1): fp32 rounding of two orders.
        CHECK_MSG(err <= 2e-6f, "%s, %s cache, %s kernels: max abs error %g", c.name().c_str(),
                  kv_cache_type_name(type), isa_name(isa), double(err));
      }
    }
  }
}

TEST(tiled_attention_gives_a_token_the_same_bits_in_any_chunk_thread_count_and_kernels) {
  for (const Case& c : kCases) {
    const Inputs in = inputs(c, KvCacheType::F32);
    const std::vector<Isa> isas = tile_isas();
    const std::vector<float> base = run(isas[0], c, in, c.chunk, 2);
    for (int chunk : {1, 16, 5, c.length})
      CHECK_MSG(same_bits(run(isas[0], c, in, chunk, 2), base), "%s: chunk %d differs from %d",
                c.name().c_str(), chunk, c.chunk);
    for (int threads : {1, 3})
      CHECK_MSG(same_bits(run(isas[0], c, in, c.chunk, threads), base), "%s: %d threads differ",
                c.name().c_str(), threads);
    for (size_t k = 1; k < isas.size(); ++k)
      CHECK_MSG(same_bits(run(isas[k], c, in, c.chunk, 2), base), "%s: %s differs from %s",
                c.name().c_str(), isa_name(isas[k]), isa_name(isas[0]));
  }
}

TEST(the_window_bounds_what_the_tiled_attention_reads) {
  // Changing a key outside every query's window changes nothing; changing one inside does.
  const Case c{2, 1, 16, 8, 10, 40, 40};
  Inputs in = inputs(c, KvCacheType::F32);
  const std::vector<float> base = run(tile_isas()[0], c, in, c.chunk, 1);
  in.k[0] += 1.f;  // position 0: seen by positions 0..7 only
  const std::vector<float> moved = run(tile_isas()[0], c, in, c.chunk, 1);
  const size_t q_dim = size_t(c.heads) * c.head_dim;
  CHECK(!std::equal(base.begin(), base.begin() + 8 * q_dim, moved.begin()));
  CHECK(std::equal(base.begin() + 8 * q_dim, base.end(), moved.begin() + 8 * q_dim));
}

TEST(an_f16_cache_holds_each_value_rounded_to_nearest_even) {
  // Random values over many binades, halfway cases, subnormals, overflow: the stored
  // value is f32_to_f16's (however the CPU converts), and round_to_storage agrees.
  std::vector<float> x = random_values(4000, 1.f, 5u);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::ldexp(x[i], int(i % 40) - 30);
  for (float e : {1.f + 1.f / 2048, 1.f + 3.f / 2048, 6.1e-5f, 3e-8f, 65519.f, 65520.f, -0.f})
    x.push_back(e);
  x.resize((x.size() + 7) / 8 * 8 + 3, 0.5f);  // a tail past the groups of 8
  const int dim = int(x.size());
  KvBuffer cache(2, 1, dim, 3, KvCacheType::F16);
  cache.write(1, 4, x.data(), x.data());
  std::vector<float> got(x.size()), rounded = x;
  cache.read_value(1, 4, 0, dim, got.data());
  cache.round_to_storage(rounded.data(), rounded.size());
  int wrong = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const float expected = f16_to_f32(f32_to_f16(x[i]));
    wrong += std::memcmp(&got[i], &expected, 4) != 0 || std::memcmp(&rounded[i], &expected, 4) != 0;
  }
  CHECK_MSG(wrong == 0, "%d of %d values rounded differently", wrong, dim);
  std::vector<float> part(5);
  cache.read_key(1, 4 + cache.capacity(), 7, 5, part.data());  // the same slot
  CHECK(part[0] == got[7] && part[4] == got[11]);
}

int main() { return harness::run_all(); }
