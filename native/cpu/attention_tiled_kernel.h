// The tile walk of attention_tiled.h, written once over a 16-lane vector type V that
// each kernel file defines for its instruction set (attention_avx512.cpp: one zmm;
// attention_avx2.cpp: two ymm; attention_portable.cpp: plain floats). Included by those
// files only, after their target pragmas and their V.
//
// V provides: kRows (query rows per step), zero(), load(p) (p: fp32, or f16 widened exactly), store(p, a), set1(x), add, sub, mul, div, fma(a, b, c) =
// a·b + c rounded once, max, round (to nearest even), hmax, hsum (the lane tree of
// attention_tiled.h), and exp2i(n): 2^n for integral n in [−126, 127], and
// zero_below(x, limit, a): a with 0 where x < limit.
//
// exp(x) for x ≤ 0: x clamped at −87; n = round(x · log2 e); r = x − n·ln2 (ln2 in two
// parts, two fused steps); the degree-6 Taylor polynomial of e^r by Horner (fused);
// times 2^n; 0 where x < −87 (so exp(−∞) = 0). Relative error about 2e-7.
#pragma once

namespace tramontane::cpu::tiled {

template <class V>
inline V exp_nonpositive(V x) {
  const V lim = V::set1(-87.f);
  const V xc = V::max(x, lim);
  const V n = V::round(V::mul(xc, V::set1(1.44269504088896341f)));
  V r = V::fma(n, V::set1(-0.693359375f), xc);
  r = V::fma(n, V::set1(2.12194440e-4f), r);
  V p = V::set1(1.f / 720);
  p = V::fma(p, r, V::set1(1.f / 120));
  p = V::fma(p, r, V::set1(1.f / 24));
  p = V::fma(p, r, V::set1(1.f / 6));
  p = V::fma(p, r, V::set1(0.5f));
  p = V::fma(p, r, V::set1(1.f));
  p = V::fma(p, r, V::set1(1.f));
  return V::zero_below(x, lim, V::mul(p, V::exp2i(n)));
}

template <class V>
inline float exp_scalar(float x) {
  float out[16];
  V::store(out, exp_nonpositive(V::set1(x)));
  return out[0];
}

// Where query row a of a tile starts: rows are (query head of the group, query) pairs,
// a = head · rows + query.
struct QueryRows {
  const float* first;  // head 0 of the group, query 0 of the tile
  size_t q_stride;     // floats from one query to the next
  int hd, rows;
  const float* operator()(int a) const {
    return first + size_t(a % rows) * q_stride + size_t(a / rows) * size_t(hd);
  }
};

// s[r][0..15] = (q_{a0+r} · keys of the block) · scale for NR query rows.
template <class V, int NR, class E>
inline void scores(const QueryRows& qs, int a0, const E* kt, int hd, float scale, float* s) {
  const float* q[NR];
  for (int r = 0; r < NR; ++r) q[r] = qs(a0 + r);
  V a[NR];
  for (int r = 0; r < NR; ++r) a[r] = V::zero();
  for (int d = 0; d < hd; ++d) {
    const V k = V::load(kt + d * kKeyBlock);
    for (int r = 0; r < NR; ++r) a[r] = V::fma(V::set1(q[r][d]), k, a[r]);
  }
  for (int r = 0; r < NR; ++r) V::store(s + r * kKeyBlock, V::mul(a[r], V::set1(scale)));
}

// acc[r] = acc[r] · c[r] + Σ_k p[r][k] · v[k] for NR rows, keys in ascending order.
template <class V, int NR, class E>
inline void accumulate(float* acc, const float* p, const float* c, const E* v, int hd16) {
  for (int d = 0; d < hd16; d += 16) {
    V a[NR];
    for (int r = 0; r < NR; ++r) a[r] = V::mul(V::load(acc + r * hd16 + d), V::set1(c[r]));
    for (int k = 0; k < kKeyBlock; ++k) {
      const V vk = V::load(v + k * hd16 + d);
      for (int r = 0; r < NR; ++r) a[r] = V::fma(V::set1(p[r * kKeyBlock + k]), vk, a[r]);
    }
    for (int r = 0; r < NR; ++r) V::store(acc + r * hd16 + d, a[r]);
  }
}

// rows query rows, NR at a time (V::kRows: as many accumulators as keep the multiply-add
// units busy), the rest by halves. Each row's arithmetic is the same however it is
// grouped.
template <class V, int NR, class E>
inline void score_rows(const QueryRows& qs, int a0, const E* kt, int hd, float scale, float* s, int rows) {
  int r = 0;
  for (; r + NR <= rows; r += NR) scores<V, NR>(qs, a0 + r, kt, hd, scale, s + r * kKeyBlock);
  if constexpr (NR > 1) {
    if (r < rows) score_rows<V, NR / 2>(qs, a0 + r, kt, hd, scale, s + r * kKeyBlock, rows - r);
  }
}

template <class V, int NR, class E>
inline void accumulate_rows(float* acc, const float* p, const float* c, const E* v, int hd16, int rows) {
  int r = 0;
  for (; r + NR <= rows; r += NR) accumulate<V, NR>(acc + r * hd16, p + r * kKeyBlock, c + r, v, hd16);
  if constexpr (NR > 1) {
    if (r < rows) accumulate_rows<V, NR / 2>(acc + r * hd16, p + r * kKeyBlock, c + r, v, hd16, rows - r);
  }
}

// The state of one work item: the query heads of key/value head g (the group) over one
// tile of queries t0 .. t0 + rows − 1, as count = group · rows query rows (QueryRows),
// so each key block is read once for the group, and a decode step still has a row per
// head to keep the vector units busy.
struct Tile {
  int g, t0, rows, count;
  int64_t i0;   // position of query t0
  QueryRows q;
  float* s;     // [count][16] scores, then probabilities
  float* m;     // [count] running max
  float* l;     // [count] running sum
  float* c;     // [count] this block's correction
  float* acc;   // [count][hd16]
};

// One key block (positions jb .. jb + 15) for every query row of the tile.
template <class V, class E>
void block(const TiledJob& j, const Tile& t, int64_t jb, const E* kt, const E* vb) {
  constexpr float kNegInf = -__builtin_inff();
  const AttentionShape& sh = j.shape;
  score_rows<V, V::kRows>(t.q, 0, kt, sh.head_dim, j.scale, t.s, t.count);
  for (int a = 0; a < t.count; ++a) {
    float* sr = t.s + a * kKeyBlock;
    const int64_t i = t.i0 + a % t.rows;
    const int64_t lo = KvPositions::first_visible(i, sh.window) - jb, hi = i - jb + 1;
    if (hi <= 0 || lo >= kKeyBlock) {  // sees none of this block
      t.c[a] = 1.f;
      for (int k = 0; k < kKeyBlock; ++k) sr[k] = 0.f;
      continue;
    }
    for (int64_t k = 0; k < lo; ++k) sr[k] = kNegInf;
    for (int64_t k = hi; k < kKeyBlock; ++k) sr[k] = kNegInf;
    const V sv = V::load(sr);
    const float mb = V::hmax(sv);
    const float mn = t.m[a] > mb ? t.m[a] : mb;
    t.c[a] = exp_scalar<V>(t.m[a] - mn);
    const V p = exp_nonpositive(V::sub(sv, V::set1(mn)));
    t.l[a] = __builtin_fmaf(t.l[a], t.c[a], V::hsum(p));
    t.m[a] = mn;
    V::store(sr, p);
  }
  accumulate_rows<V, V::kRows>(t.acc, t.s, t.c, vb, j.hd16, t.count);
}

template <class V>
void tiles(const TiledJob& j, int64_t begin, int64_t end, float* work) {
  const AttentionShape& sh = j.shape;
  const int hd = sh.head_dim, hd16 = j.hd16, group = sh.n_heads / sh.n_kv_heads;
  const size_t q_stride = size_t(sh.n_heads) * hd;
  constexpr int T = kQueryTile;
  Tile t;
  t.s = work;
  t.m = t.s + group * T * kKeyBlock;
  t.l = t.m + group * T;
  t.c = t.l + group * T;
  t.acc = t.c + group * T;

  for (int64_t item = begin; item < end; ++item) {
    t.g = int(item / j.tiles());
    t.t0 = int(item % j.tiles()) * T;
    t.rows = j.n - t.t0 < T ? j.n - t.t0 : T;
    t.count = group * t.rows;
    t.i0 = j.pos0 + t.t0;
    t.q = {j.q + size_t(t.t0) * q_stride + size_t(t.g) * group * hd, q_stride, hd, t.rows};
    for (int a = 0; a < t.count; ++a) t.m[a] = -__builtin_inff(), t.l[a] = 0;
    for (int a = 0; a < t.count * hd16; ++a) t.acc[a] = 0;
    const int64_t first_block = KvPositions::first_visible(t.i0, sh.window) / kKeyBlock * kKeyBlock;
    const int64_t last = t.i0 + t.rows - 1;
    for (int64_t jb = first_block; jb <= last; jb += kKeyBlock) {
      if (jb >= j.base) {  // packed: the chunk's blocks
        const size_t b = size_t(t.g) * j.blocks + size_t((jb - j.base) / kKeyBlock);
        block<V>(j, t, jb, j.keys + b * hd * kKeyBlock, j.values + b * kKeyBlock * hd16);
      } else if (j.cache->type() == KvCacheType::F32) {
        block<V>(j, t, jb, static_cast<const float*>(j.cache->key_block(j.layer, t.g, jb)),
                 static_cast<const float*>(j.cache->value_block(j.layer, t.g, jb)));
      } else {
        block<V>(j, t, jb, static_cast<const uint16_t*>(j.cache->key_block(j.layer, t.g, jb)),
                 static_cast<const uint16_t*>(j.cache->value_block(j.layer, t.g, jb)));
      }
    }
    for (int a = 0; a < t.count; ++a) {
      float* o = j.out + (t.q(a) - j.q);  // the output row has the query row's place
      const float* acc = t.acc + size_t(a) * hd16;
      for (int d = 0; d < hd; ++d) o[d] = acc[d] / t.l[a];
    }
  }
}

}  // namespace tramontane::cpu::tiled
