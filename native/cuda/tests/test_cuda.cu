// Correctness of the CUDA backend on the device: every operator against a CPU
// reference on fresh random inputs (outputs poisoned with NaN first, so unwritten
// elements show, and untouched ones are checked to stay poisoned), then whole forward
// passes against the engine's CPU forward pass (cpu/forward.cpp, on the same f16
// weights downloaded), and the GPU paths against each other.
//
//   tramontane-test-cuda [--seed N] [--skip-7b]
//
// Prints one line per check and "N passed, M failed" last; exits non-zero on failure.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cpu/experts.h"
#include "cpu/forward.h"
#include "cpu/kv_buffer.h"
#include "cpu/quant_blocks.h"
#include "cuda/expert_route.h"
#include "cuda/forward.h"
#include "gemm.h"
#include "ops.h"
#include "reference.h"
#include "weight_planes.h"
#include "weights.h"

using tramontane::ModelConfig;
using tramontane::RopeLayout;
using namespace tramontane::cuda;
namespace R = tramontane::cuda::ref;

namespace {

int g_passed = 0, g_failed = 0;
uint64_t g_seed = 0;

void report(const std::string& name, double err, double tol, bool extra_ok = true,
            const std::string& note = "") {
  const bool ok = err <= tol && extra_ok;
  (ok ? g_passed : g_failed)++;
  std::printf("%s %-58s rel_err %.3e (tol %.0e)%s%s\n", ok ? "PASS" : "FAIL", name.c_str(), err,
              tol, note.empty() ? "" : "  ", note.c_str());
  std::fflush(stdout);
}

template <typename T>
struct Dev {
  DeviceBuffer buf;
  size_t n;
  explicit Dev(size_t count) : buf(count * sizeof(T)), n(count) {}
  T* p() const { return buf.as<T>(); }
  void up(const std::vector<T>& v) {
    TR_CUDA_CHECK(cudaMemcpy(p(), v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  std::vector<T> down() const {
    std::vector<T> v(n);
    TR_CUDA_CHECK(cudaDeviceSynchronize());
    TR_CUDA_CHECK(cudaMemcpy(v.data(), p(), n * sizeof(T), cudaMemcpyDeviceToHost));
    return v;
  }
};

const Launch kL{nullptr, false};

void poison_f16(void* p, size_t n) { fill_u16(kL, p, n, 0xffff); }
void poison_f32(void* p, size_t n) { fill_u32(kL, p, n, 0xffffffffu); }
bool is_poison16(uint16_t v) { return v == 0xffff; }

std::vector<float> widen(const std::vector<uint16_t>& v) {
  std::vector<float> f(v.size());
  for (size_t i = 0; i < v.size(); ++i) f[i] = R::from_f16(v[i]);
  return f;
}


// Random weights [rows][cols] uniform in ±amp, held on the device as `type` (F16 or a
// block type in its plane form), and the f16 values the kernels must multiply by: the
// rounded weights, or for a block type what its planes expand to (planes_row_to_f16).
struct TestWeights {
  std::vector<uint16_t> values;  // host, [rows][cols] f16
  DeviceBuffer data, codes, high, scales;
  DeviceMatrix m;
};

TestWeights test_weights(R::Rng& rng, tramontane::StoredType type, int rows, int cols, float amp) {
  TestWeights w;
  w.m.type = type;
  w.m.rows = rows;
  w.m.cols = cols;
  if (type == tramontane::StoredType::F16) {
    w.values = rng.f16s(size_t(rows) * cols, -amp, amp);
    w.data = DeviceBuffer(w.values.size() * 2);
    TR_CUDA_CHECK(cudaMemcpy(w.data.as<void>(), w.values.data(), w.values.size() * 2, cudaMemcpyHostToDevice));
    w.m.data = w.data.as<f16>();
    return w;
  }
  const auto x = rng.floats(size_t(rows) * cols, -amp, amp);
  const size_t rb = tramontane::row_bytes(type, cols);
  std::vector<uint8_t> blocks(size_t(rows) * rb);
  for (int r = 0; r < rows; ++r)
    tramontane::cpu::quantize_row(type, x.data() + size_t(r) * cols, blocks.data() + size_t(r) * rb, cols);
  const tramontane::PlaneFormat f = tramontane::plane_format(type);
  const tramontane::PlaneRowBytes pb = tramontane::plane_row_bytes(f, cols);
  std::vector<uint8_t> codes(size_t(rows) * pb.codes), high(size_t(rows) * pb.high);
  std::vector<uint16_t> scales(size_t(rows) * pb.scales / 2);
  tramontane::to_planes(type, blocks.data(), rows, cols, codes.data(), pb.high ? high.data() : nullptr,
                        scales.data());
  w.values.resize(size_t(rows) * cols);
  for (int r = 0; r < rows; ++r)
    tramontane::planes_row_to_f16(f, codes.data() + size_t(r) * pb.codes,
                                  pb.high ? high.data() + size_t(r) * pb.high : nullptr,
                                  scales.data() + size_t(r) * pb.scales / 2, cols,
                                  w.values.data() + size_t(r) * cols);
  auto put = [](DeviceBuffer& b, const void* src, size_t bytes) {
    b = DeviceBuffer(bytes);
    TR_CUDA_CHECK(cudaMemcpy(b.as<void>(), src, bytes, cudaMemcpyHostToDevice));
  };
  put(w.codes, codes.data(), codes.size());
  if (pb.high) put(w.high, high.data(), high.size());
  put(w.scales, scales.data(), scales.size() * 2);
  w.m.codes = w.codes.as<uint8_t>();
  w.m.high = pb.high ? w.high.as<uint8_t>() : nullptr;
  w.m.scales = w.scales.as<uint16_t>();
  return w;
}

RowParts one_part(const DeviceMatrix& m) {
  RowParts p;
  p.part[0] = m;
  p.count = 1;
  return p;
}

std::string type_tag(tramontane::StoredType t) {
  return t == tramontane::StoredType::F16 ? "" : std::string(" ") + tramontane::stored_type_name(t);
}

// " kwN" for a configuration with tile groups (GemvConfig::k_warps), "" otherwise.
std::string kw_tag(const GemvConfig& c) { return c.k_warps > 0 ? " kw" + std::to_string(c.k_warps) : ""; }

// --- gemv operators -----------------------------------------------------------------------

// The normalized input either fused (prenorm false) or from rmsnorm() (prenorm true).
NormedInput normed_input(const float* x, const float* w, int n, int dim, bool prenorm, f16* xn) {
  if (!prenorm) return NormedInput{x, w, 1e-5f, nullptr};
  rmsnorm(kL, xn, x, w, n, dim, 1e-5f);
  return NormedInput{nullptr, nullptr, 0.f, xn};
}

// v_type: the v rows in another format than the q/k rows (a second row range, as the
// K-quant mixes store some layers), F16 meaning the same as wt.
void test_gemv_qkv(int dim, int heads, int kvh, int hd, int n, RopeLayout layout, int C, int pos,
                   GemvConfig cfg, bool prenorm = false,
                   tramontane::StoredType wt = tramontane::StoredType::F16,
                   tramontane::StoredType v_type = tramontane::StoredType::F16) {
  R::Rng rng(g_seed++);
  AttnShape a{heads, kvh, hd, 0, C};
  const int rows = (heads + 2 * kvh) * hd, qd = heads * hd;
  const bool two = v_type != tramontane::StoredType::F16 && v_type != wt;
  const int qk_rows = (heads + kvh) * hd;
  const TestWeights tw = test_weights(rng, wt, two ? qk_rows : rows, dim, std::sqrt(3.f / dim));
  const TestWeights tv = two ? test_weights(rng, v_type, rows - qk_rows, dim, std::sqrt(3.f / dim)) : TestWeights{};
  std::vector<uint16_t> w = tw.values;
  if (two) w.insert(w.end(), tv.values.begin(), tv.values.end());
  RowParts parts = one_part(tw.m);
  if (two) {
    parts.part[1] = tv.m;
    parts.first_row[1] = qk_rows;
    parts.count = 2;
  }
  auto x = rng.floats(size_t(n) * dim, -2.f, 2.f);
  auto nw = rng.floats(size_t(dim), 0.8f, 1.2f);
  auto freq = R::inv_freq(hd, 10000.f);
  Dev<float> dx(x.size()), dn(nw.size()), df(freq.size());
  Dev<uint16_t> dq(size_t(n) * qd), dk(size_t(kvh) * C * hd), dv(size_t(kvh) * C * hd);
  Dev<int> dpos(1);
  Dev<uint16_t> dxn(x.size());
  dx.up(x); dn.up(nw); df.up(freq); dpos.up({pos});
  poison_f16(dq.p(), dq.n); poison_f16(dk.p(), dk.n); poison_f16(dv.p(), dv.n);
  const NormedInput in = normed_input(dx.p(), dn.p(), n, dim, prenorm, reinterpret_cast<f16*>(dxn.p()));
  gemv_qkv(kL, cfg, parts, in, n, dim, a, layout,
           df.p(), dpos.p(), reinterpret_cast<f16*>(dq.p()), reinterpret_cast<f16*>(dk.p()),
           reinterpret_cast<f16*>(dv.p()));
  TR_CUDA_CHECK(cudaDeviceSynchronize());
  // Reference.
  std::vector<float> xn(x.size()), y(size_t(n) * rows);
  R::rmsnorm(xn.data(), x.data(), nw.data(), n, dim, 1e-5f);
  R::matmul(y.data(), xn.data(), n, w.data(), rows, dim);
  const bool inter = layout == RopeLayout::Interleaved;
  for (int t = 0; t < n; ++t)
    for (int h = 0; h < heads + kvh; ++h)
      R::rope_head(y.data() + size_t(t) * rows + size_t(h) * hd, hd, pos + t, freq.data(), inter);
  auto gq = dq.down(), gk = dk.down(), gv = dv.down();
  std::vector<float> out, ref;
  bool stray = false;
  for (int t = 0; t < n; ++t)
    for (int e = 0; e < qd; ++e) {
      out.push_back(R::from_f16(gq[size_t(t) * qd + e]));
      ref.push_back(y[size_t(t) * rows + e]);
    }
  std::vector<char> written(size_t(C), 0);
  for (int t = 0; t < n; ++t) {
    const int slot = (pos + t) % C;
    written[size_t(slot)] = 1;
    for (int h = 0; h < kvh; ++h)
      for (int d = 0; d < hd; ++d) {
        out.push_back(R::from_f16(gk[(size_t(h) * C + slot) * hd + d]));
        ref.push_back(y[size_t(t) * rows + qd + h * hd + d]);
        out.push_back(R::from_f16(gv[(size_t(h) * C + slot) * hd + d]));
        ref.push_back(y[size_t(t) * rows + qd + kvh * hd + h * hd + d]);
      }
  }
  for (int h = 0; h < kvh; ++h)
    for (int s = 0; s < C; ++s)
      if (!written[size_t(s)])
        for (int d = 0; d < hd; ++d)
          if (!is_poison16(gk[(size_t(h) * C + s) * hd + d]) || !is_poison16(gv[(size_t(h) * C + s) * hd + d]))
            stray = true;
  char name[160];
  std::snprintf(name, sizeof name, "gemv_qkv dim=%d h=%d/%d n=%d %s pos=%d C=%d w%d g%d s%d%s", dim,
                heads, kvh, n, inter ? "interleaved" : "rotate-half", pos, C, cfg.warps, cfg.grid, cfg.steps,
                (kw_tag(cfg) + (cfg.one_launch ? " one launch" : "") + (prenorm ? " prenorm" : "") + type_tag(wt) +
                 (two ? ", v" + type_tag(v_type) : ""))
                    .c_str());
  report(name, R::rel_err(out.data(), ref.data(), out.size()), 1e-2, !stray,
         stray ? "stray cache writes" : "");
}

void test_gemv_swiglu(int dim, int hidden, int n, GemvConfig cfg, bool prenorm = false,
                      tramontane::StoredType wt = tramontane::StoredType::F16) {
  R::Rng rng(g_seed++);
  const TestWeights tw = test_weights(rng, wt, 2 * hidden, dim, std::sqrt(3.f / dim));
  const std::vector<uint16_t>& w = tw.values;
  auto x = rng.floats(size_t(n) * dim, -2.f, 2.f);
  auto nw = rng.floats(size_t(dim), 0.8f, 1.2f);
  Dev<uint16_t> dh(size_t(n) * hidden);
  Dev<float> dx(x.size()), dn(nw.size());
  Dev<uint16_t> dxn(x.size());
  dx.up(x); dn.up(nw);
  poison_f16(dh.p(), dh.n);
  const NormedInput in = normed_input(dx.p(), dn.p(), n, dim, prenorm, reinterpret_cast<f16*>(dxn.p()));
  gemv_swiglu(kL, cfg, tw.m, in, n, dim, hidden,
              reinterpret_cast<f16*>(dh.p()));
  std::vector<float> xn(x.size()), gu(size_t(n) * 2 * hidden), ref(size_t(n) * hidden);
  R::rmsnorm(xn.data(), x.data(), nw.data(), n, dim, 1e-5f);
  R::matmul(gu.data(), xn.data(), n, w.data(), 2 * hidden, dim);
  for (int t = 0; t < n; ++t)
    for (int i = 0; i < hidden; ++i)
      ref[size_t(t) * hidden + i] =
          R::silu(gu[size_t(t) * 2 * hidden + i]) * gu[size_t(t) * 2 * hidden + hidden + i];
  auto out = widen(dh.down());
  char name[160];
  std::snprintf(name, sizeof name, "gemv_swiglu dim=%d hidden=%d n=%d w%d g%d s%d%s", dim, hidden, n,
                cfg.warps, cfg.grid, cfg.steps, (kw_tag(cfg) + (prenorm ? " prenorm" : "") + type_tag(wt)).c_str());
  report(name, R::rel_err(out.data(), ref.data(), ref.size()), 1e-2);
}

void test_gemv_residual(int in, int outd, int n, GemvConfig cfg,
                        tramontane::StoredType wt = tramontane::StoredType::F16) {
  R::Rng rng(g_seed++);
  const TestWeights tw = test_weights(rng, wt, outd, in, std::sqrt(3.f / in));
  const std::vector<uint16_t>& w = tw.values;
  auto v = rng.f16s(size_t(n) * in, -1.f, 1.f);
  auto x = rng.floats(size_t(n) * outd, -1.f, 1.f);
  Dev<uint16_t> dvv(v.size());
  Dev<float> dx(x.size());
  dvv.up(v); dx.up(x);
  gemv_residual(kL, cfg, tw.m, reinterpret_cast<const f16*>(dvv.p()),
                n, in, outd, dx.p());
  auto vf = widen(v);
  std::vector<float> y(size_t(n) * outd);
  R::matmul(y.data(), vf.data(), n, w.data(), outd, in);
  std::vector<float> ref(x.size()), delta(x.size());
  auto out = dx.down();
  for (size_t i = 0; i < x.size(); ++i) {
    ref[i] = y[i];
    delta[i] = out[i] - x[i];  // the added part, compared on its own scale
  }
  char name[160];
  std::snprintf(name, sizeof name, "gemv_residual in=%d out=%d n=%d w%d g%d s%d%s", in, outd, n, cfg.warps,
                cfg.grid, cfg.steps, (kw_tag(cfg) + type_tag(wt)).c_str());
  report(name, R::rel_err(delta.data(), ref.data(), ref.size()), 1e-2);
}

// The prefill path's chunk products (gemv_chunk): y = x · Wᵀ written as fp32, added to
// fp32, or written as f16, into columns row0.. of a wider output; the columns outside
// stay as they were.
void test_gemv_chunk(int in, int outd, int n, ProductOut out,
                     tramontane::StoredType wt = tramontane::StoredType::F16) {
  R::Rng rng(g_seed++);
  const TestWeights tw = test_weights(rng, wt, outd, in, std::sqrt(3.f / in));
  const int row0 = 16, ld = outd + 48;
  auto v = rng.f16s(size_t(n) * in, -1.f, 1.f);
  Dev<uint16_t> dv(v.size());
  dv.up(v);
  std::vector<float> y(size_t(n) * outd);
  R::matmul(y.data(), widen(v).data(), n, tw.values.data(), outd, in);
  std::vector<float> got(size_t(n) * outd), ref(size_t(n) * outd);
  size_t outside = 0;
  const f16* x = reinterpret_cast<const f16*>(dv.p());
  if (out == ProductOut::F16) {
    Dev<uint16_t> dy(size_t(n) * ld);
    poison_f16(dy.p(), dy.n);
    gemv_chunk(kL, 0, tw.m, x, n, dy.p(), ld, row0, out);
    const auto o = dy.down();
    for (int t = 0; t < n; ++t)
      for (int c = 0; c < ld; ++c) {
        const uint16_t h = o[size_t(t) * ld + c];
        if (c < row0 || c >= row0 + outd) outside += !is_poison16(h);
        else got[size_t(t) * outd + c - row0] = R::from_f16(h);
      }
    ref = y;
  } else {
    const auto before = rng.floats(size_t(n) * ld, -1.f, 1.f);
    Dev<float> dy(before.size());
    dy.up(before);
    gemv_chunk(kL, 0, tw.m, x, n, dy.p(), ld, row0, out);
    const auto o = dy.down();
    for (int t = 0; t < n; ++t)
      for (int c = 0; c < ld; ++c) {
        const size_t i = size_t(t) * ld + c;
        if (c < row0 || c >= row0 + outd) {
          outside += o[i] != before[i];
          continue;
        }
        const size_t j = size_t(t) * outd + c - row0;
        // Added: the added part, compared on its own scale.
        got[j] = out == ProductOut::F32Add ? o[i] - before[i] : o[i];
        ref[j] = y[j];
      }
  }
  const char* mode = out == ProductOut::F32 ? "f32" : out == ProductOut::F32Add ? "f32 add" : "f16";
  char name[160];
  std::snprintf(name, sizeof name, "gemv_chunk in=%d out=%d n=%d %s%s", in, outd, n, mode,
                type_tag(wt).c_str());
  report(name, R::rel_err(got.data(), ref.data(), ref.size()), 1e-2, outside == 0,
         std::to_string(outside) + " values outside the product's columns changed");
}

void test_gemv_logits(int dim, int vocab, int n, GemvConfig cfg, bool prenorm = false,
                      tramontane::StoredType wt = tramontane::StoredType::F16) {
  R::Rng rng(g_seed++);
  const TestWeights tw = test_weights(rng, wt, vocab, dim, std::sqrt(3.f / dim));
  const std::vector<uint16_t>& w = tw.values;
  auto x = rng.floats(size_t(n) * dim, -3.f, 3.f);
  auto nw = rng.floats(size_t(dim), 0.8f, 1.2f);
  Dev<float> dx(x.size()), dn(nw.size()), dl(size_t(n) * vocab + 64);
  Dev<uint16_t> dxn(x.size());
  dx.up(x); dn.up(nw);
  poison_f32(dl.p(), dl.n);
  const NormedInput in = normed_input(dx.p(), dn.p(), n, dim, prenorm, reinterpret_cast<f16*>(dxn.p()));
  gemv_logits(kL, cfg, tw.m, in, n, dim, vocab, dl.p());
  std::vector<float> xn(x.size()), ref(size_t(n) * vocab);
  R::rmsnorm(xn.data(), x.data(), nw.data(), n, dim, 1e-5f);
  R::matmul(ref.data(), xn.data(), n, w.data(), vocab, dim);
  auto out = dl.down();
  bool tail_ok = true;  // nothing written past n × vocab
  for (size_t i = size_t(n) * vocab; i < out.size(); ++i) tail_ok &= std::isnan(out[i]);
  char name[160];
  std::snprintf(name, sizeof name, "gemv_logits dim=%d vocab=%d n=%d w%d g%d%s", dim, vocab, n,
                cfg.warps, cfg.grid, (kw_tag(cfg) + (prenorm ? " prenorm" : "") + type_tag(wt)).c_str());
  report(name, R::rel_err(out.data(), ref.data(), ref.size()), 1e-2, tail_ok,
         tail_ok ? "" : "wrote past the end");
}

// --- elementwise operators ----------------------------------------------------------------

void test_small_ops() {
  R::Rng rng(g_seed++);
  {  // rmsnorm
    const int n = 37, dim = 1032;
    auto x = rng.floats(size_t(n) * dim, -3.f, 3.f), w = rng.floats(size_t(dim), 0.5f, 1.5f);
    Dev<float> dx(x.size()), dw(w.size());
    Dev<uint16_t> dout(x.size());
    dx.up(x); dw.up(w); poison_f16(dout.p(), dout.n);
    rmsnorm(kL, reinterpret_cast<f16*>(dout.p()), dx.p(), dw.p(), n, dim, 1e-5f);
    std::vector<float> ref(x.size());
    R::rmsnorm(ref.data(), x.data(), w.data(), n, dim, 1e-5f);
    auto out = widen(dout.down());
    report("rmsnorm n=37 dim=1032", R::rel_err(out.data(), ref.data(), ref.size()), 5e-3);
  }
  {  // swiglu
    const int n = 19, hidden = 1416;
    auto gu = rng.f16s(size_t(n) * 2 * hidden, -4.f, 4.f);
    Dev<uint16_t> dgu(gu.size()), dh(size_t(n) * hidden);
    dgu.up(gu); poison_f16(dh.p(), dh.n);
    swiglu(kL, reinterpret_cast<const f16*>(dgu.p()), n, hidden, reinterpret_cast<f16*>(dh.p()));
    std::vector<float> ref(size_t(n) * hidden);
    for (int t = 0; t < n; ++t)
      for (int i = 0; i < hidden; ++i)
        ref[size_t(t) * hidden + i] = R::silu(R::from_f16(gu[size_t(t) * 2 * hidden + i])) *
                                      R::from_f16(gu[size_t(t) * 2 * hidden + hidden + i]);
    auto out = widen(dh.down());
    report("swiglu n=19 hidden=1416", R::rel_err(out.data(), ref.data(), ref.size()), 5e-3);
  }
  {  // embed
    const int vocab = 500, dim = 264, n = 11;
    auto table = rng.f16s(size_t(vocab) * dim, -1.f, 1.f);
    std::vector<int> tok(static_cast<size_t>(n));
    for (auto& t : tok) t = int(rng.gen() % vocab);
    Dev<uint16_t> dt(table.size());
    Dev<int> dtok(tok.size());
    Dev<float> dx(size_t(n) * dim);
    dt.up(table); dtok.up(tok); poison_f32(dx.p(), dx.n);
    DeviceMatrix tm;
    tm.rows = vocab;
    tm.cols = dim;
    tm.data = reinterpret_cast<f16*>(dt.p());
    embed(kL, dx.p(), tm, dtok.p(), n);
    std::vector<float> ref(size_t(n) * dim);
    for (int t = 0; t < n; ++t)
      for (int k = 0; k < dim; ++k) ref[size_t(t) * dim + k] = R::from_f16(table[size_t(tok[size_t(t)]) * dim + k]);
    auto out = dx.down();
    report("embed n=11 dim=264", R::rel_err(out.data(), ref.data(), ref.size()), 0.0);
  }
  {  // argmax, with a tie resolved to the lower index, and the position advance
    const int vocab = 32000;
    auto l = rng.floats(size_t(vocab), -5.f, 5.f);
    l[777] = 9.f;
    l[31000] = 9.f;
    Dev<float> dl(l.size());
    Dev<int> dtok(1), dpos(1);
    dl.up(l); dtok.up({-1}); dpos.up({41});
    argmax(kL, dl.p(), vocab, dtok.p(), dpos.p(), 1);
    const int tok = dtok.down()[0], pos = dpos.down()[0];
    report("argmax vocab=32000 (tie -> lower index)", tok == 777 && pos == 42 ? 0.0 : 1.0, 0.0, true,
           "got " + std::to_string(tok) + ", pos " + std::to_string(pos));
  }
}

void test_rope_qkv(RopeLayout layout) {
  R::Rng rng(g_seed++);
  const int n = 23, heads = 8, kvh = 2, hd = 128, pos0 = 1000;
  AttnShape a{heads, kvh, hd, 0, 64};
  const int rows = (heads + 2 * kvh) * hd, qd = heads * hd;
  auto qkv = rng.floats(size_t(n) * rows, -2.f, 2.f);
  auto freq = R::inv_freq(hd, 1e6f);
  Dev<float> dqkv(qkv.size()), df(freq.size());
  Dev<uint16_t> dq(size_t(n) * qd), dk(size_t(kvh) * n * hd), dv(size_t(kvh) * n * hd);
  dqkv.up(qkv); df.up(freq);
  poison_f16(dq.p(), dq.n); poison_f16(dk.p(), dk.n); poison_f16(dv.p(), dv.n);
  rope_qkv(kL, dqkv.p(), n, pos0, a, layout, df.p(), reinterpret_cast<f16*>(dq.p()),
           reinterpret_cast<f16*>(dk.p()), reinterpret_cast<f16*>(dv.p()));
  const bool inter = layout == RopeLayout::Interleaved;
  std::vector<float> y = qkv;
  for (int t = 0; t < n; ++t)
    for (int h = 0; h < heads + kvh; ++h)
      R::rope_head(y.data() + size_t(t) * rows + size_t(h) * hd, hd, pos0 + t, freq.data(), inter);
  auto gq = widen(dq.down()), gk = widen(dk.down()), gv = widen(dv.down());
  std::vector<float> out, ref;
  for (int t = 0; t < n; ++t) {
    for (int e = 0; e < qd; ++e) {
      out.push_back(gq[size_t(t) * qd + e]);
      ref.push_back(y[size_t(t) * rows + e]);
    }
    for (int h = 0; h < kvh; ++h)
      for (int d = 0; d < hd; ++d) {
        out.push_back(gk[(size_t(h) * n + t) * hd + d]);
        ref.push_back(y[size_t(t) * rows + qd + h * hd + d]);
        out.push_back(gv[(size_t(h) * n + t) * hd + d]);
        ref.push_back(y[size_t(t) * rows + qd + kvh * hd + h * hd + d]);
      }
  }
  report(std::string("rope_qkv n=23 pos0=1000 theta=1e6 ") + (inter ? "interleaved" : "rotate-half"),
         R::rel_err(out.data(), ref.data(), ref.size()), 5e-3);
}

void test_kv_commit() {
  R::Rng rng(g_seed++);
  const int n = 150, kvh = 2, hd = 128, C = 100, pos0 = 437;
  AttnShape a{8, kvh, hd, 90, C};
  auto kn = rng.f16s(size_t(kvh) * n * hd, -1.f, 1.f), vn = rng.f16s(size_t(kvh) * n * hd, -1.f, 1.f);
  Dev<uint16_t> dkn(kn.size()), dvn(vn.size()), dk(size_t(kvh) * C * hd), dv(size_t(kvh) * C * hd);
  dkn.up(kn); dvn.up(vn); poison_f16(dk.p(), dk.n); poison_f16(dv.p(), dv.n);
  kv_commit(kL, reinterpret_cast<const f16*>(dkn.p()), reinterpret_cast<const f16*>(dvn.p()), n, pos0,
            a, reinterpret_cast<f16*>(dk.p()), reinterpret_cast<f16*>(dv.p()));
  auto gk = dk.down(), gv = dv.down();
  size_t bad = 0;
  for (int t = n - C; t < n; ++t) {  // the last C positions own every slot
    const int slot = (pos0 + t) % C;
    for (int h = 0; h < kvh; ++h)
      for (int d = 0; d < hd; ++d) {
        bad += gk[(size_t(h) * C + slot) * hd + d] != kn[(size_t(h) * n + t) * hd + d];
        bad += gv[(size_t(h) * C + slot) * hd + d] != vn[(size_t(h) * n + t) * hd + d];
      }
  }
  report("kv_commit n=150 > C=100 (last C positions own the slots)", double(bad), 0.0);
}

// --- convert ------------------------------------------------------------------------------

// Weights to f16 on the device: every value as the host rounds it (bit for bit), values
// below f16's normal range as subnormals, and the ones beyond ±65504 counted (in bf16,
// 65504 itself rounds to 65536: three of them).
void test_convert() {
  R::Rng rng(g_seed++);
  const size_t n = 100003;
  std::vector<float> f(n);
  for (size_t i = 0; i < n; ++i) f[i] = rng.uniform(-4.f, 4.f) * (i % 7 == 0 ? 1e-6f : 1.f);
  f[10] = 70000.f;  // beyond the f16 range
  f[20] = -1e6f;
  f[30] = 65504.f;  // the largest f16: in range
  auto to_bf16 = [](float x) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
  };
  auto from_bf16 = [](uint16_t b) {
    const uint32_t u = uint32_t(b) << 16;
    float x;
    std::memcpy(&x, &u, 4);
    return x;
  };
  std::vector<uint16_t> b(n);
  for (size_t i = 0; i < n; ++i) b[i] = to_bf16(f[i]);
  Dev<float> df(n);
  Dev<uint16_t> db(n), dout(n);
  Dev<unsigned> dover(1);
  df.up(f);
  db.up(b);
  for (int from_f32 = 0; from_f32 < 2; ++from_f32) {
    poison_f16(dout.p(), dout.n);
    dover.up({0u});
    convert_to_f16(kL, from_f32 ? static_cast<const void*>(df.p()) : db.p(),
                   from_f32 ? tramontane::StoredType::F32 : tramontane::StoredType::BF16, n,
                   reinterpret_cast<f16*>(dout.p()), dover.p());
    const auto got = dout.down();
    size_t bad = 0;
    unsigned beyond = 0;
    for (size_t i = 0; i < n; ++i) {
      const float x = from_f32 ? f[i] : from_bf16(b[i]);
      bad += got[i] != R::to_f16(x);
      beyond += std::fabs(x) > 65504.f;
    }
    const unsigned over = dover.down()[0];
    const unsigned expected = from_f32 ? 2u : 3u;
    report(std::string("convert_to_f16 from ") + (from_f32 ? "f32" : "bf16") +
               " (bit-exact; values beyond the range counted)",
           double(bad), 0.0, over == beyond && beyond == expected,
           "counted " + std::to_string(over) + " of " + std::to_string(beyond));
  }
}

// --- attention ----------------------------------------------------------------------------

void test_attention_decode(int heads, int kvh, int hd, int W, int C, int pos, int nq) {
  R::Rng rng(g_seed++);
  AttnShape a{heads, kvh, hd, W, C};
  auto kc = rng.f16s(size_t(kvh) * C * hd, -1.f, 1.f), vc = rng.f16s(size_t(kvh) * C * hd, -1.f, 1.f);
  auto q = rng.f16s(size_t(nq) * heads * hd, -2.f, 2.f);
  DecodeScratch s;
  int dev = 0, sms = 0;
  TR_CUDA_CHECK(cudaGetDevice(&dev));
  TR_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  s.max_splits = decode_splits_for(a, sms);
  s.max_queries = kGemvMaxTokens;
  Dev<float> po(DecodeScratch::part_o_floats(a, s.max_splits, s.max_queries)),
      pml(size_t(s.max_queries) * heads * s.max_splits * 2);
  Dev<int> dpos(1), done(static_cast<size_t>(kvh));
  done.up(std::vector<int>(size_t(kvh), 0));
  s.part_o = po.p(); s.part_ml = pml.p(); s.done_count = done.p();
  Dev<uint16_t> dk(kc.size()), dv(vc.size()), dq(q.size()), dout(q.size());
  dk.up(kc); dv.up(vc); dq.up(q); dpos.up({pos});
  std::vector<float> outs[2];
  for (int run = 0; run < 2; ++run) {  // twice: the same result again (no state left behind)
    poison_f16(dout.p(), dout.n);
    attention_decode(kL, reinterpret_cast<const f16*>(dq.p()), reinterpret_cast<const f16*>(dk.p()),
                     reinterpret_cast<const f16*>(dv.p()), dpos.p(), nq, a, s,
                     reinterpret_cast<f16*>(dout.p()));
    outs[run] = widen(dout.down());
  }
  auto kf = widen(kc), vf = widen(vc), qf = widen(q);
  std::vector<float> ref(q.size());
  const int group = heads / kvh;
  for (int i = 0; i < nq; ++i)
    for (int h = 0; h < heads; ++h) {
      const int p = pos + i, kv = h / group;
      const int64_t lo = W > 0 ? std::max(0, p - W + 1) : 0;
      R::attend(ref.data() + (size_t(i) * heads + h) * hd, qf.data() + (size_t(i) * heads + h) * hd, hd,
                lo, p, [&](int64_t pp) { return kf.data() + (size_t(kv) * C + pp % C) * hd; },
                [&](int64_t pp) { return vf.data() + (size_t(kv) * C + pp % C) * hd; });
    }
  const bool same = outs[0] == outs[1];
  char name[160];
  std::snprintf(name, sizeof name, "attention_decode h=%d/%d hd=%d W=%d C=%d pos=%d nq=%d splits=%d",
                heads, kvh, hd, W, C, pos, nq, s.max_splits);
  report(name, R::rel_err(outs[0].data(), ref.data(), ref.size()), 1e-2, same,
         same ? "" : "second run differs");
}

// max_splits > 0: the tiled kernel also with its keys split over up to that many blocks
// (a chunk of at most PrefillSplits::kMaxQueries queries over enough keys).
void test_attention_prefill(int heads, int kvh, int hd, int W, int C, int pos0, int n, int max_splits = 0) {
  R::Rng rng(g_seed++);
  AttnShape a{heads, kvh, hd, W, C};
  auto kc = rng.f16s(size_t(kvh) * C * hd, -1.f, 1.f), vc = rng.f16s(size_t(kvh) * C * hd, -1.f, 1.f);
  auto kn = rng.f16s(size_t(kvh) * n * hd, -1.f, 1.f), vn = rng.f16s(size_t(kvh) * n * hd, -1.f, 1.f);
  auto q = rng.f16s(size_t(n) * heads * hd, -2.f, 2.f);
  Dev<uint16_t> dkc(kc.size()), dvc(vc.size()), dkn(kn.size()), dvn(vn.size()), dq(q.size()),
      dout(q.size());
  dkc.up(kc); dvc.up(vc); dkn.up(kn); dvn.up(vn); dq.up(q);
  auto kcf = widen(kc), vcf = widen(vc), knf = widen(kn), vnf = widen(vn), qf = widen(q);
  std::vector<float> ref(q.size());
  const int group = heads / kvh;
  R::parallel_for(int64_t(n) * heads, [&](int64_t b, int64_t e) {
    for (int64_t idx = b; idx < e; ++idx) {
      const int i = int(idx / heads), h = int(idx % heads), kv = h / group, p = pos0 + i;
      const int64_t lo = W > 0 ? std::max(0, p - W + 1) : 0;
      auto key = [&](int64_t pp) {
        return pp >= pos0 ? knf.data() + (size_t(kv) * n + (pp - pos0)) * hd
                          : kcf.data() + (size_t(kv) * C + pp % C) * hd;
      };
      auto val = [&](int64_t pp) {
        return pp >= pos0 ? vnf.data() + (size_t(kv) * n + (pp - pos0)) * hd
                          : vcf.data() + (size_t(kv) * C + pp % C) * hd;
      };
      R::attend(ref.data() + (size_t(i) * heads + h) * hd, qf.data() + (size_t(i) * heads + h) * hd, hd,
                lo, p, key, val);
    }
  });
  const size_t split_rows = size_t(std::max(max_splits, 1)) * PrefillSplits::kMaxQueries * heads;
  Dev<float> part_o(split_rows * hd), part_ml(split_rows * 2);
  for (int variant = 0; variant < (max_splits > 0 ? 3 : 2); ++variant) {
    poison_f16(dout.p(), dout.n);
    const auto* qp = reinterpret_cast<const f16*>(dq.p());
    const auto* knp = reinterpret_cast<const f16*>(dkn.p());
    const auto* vnp = reinterpret_cast<const f16*>(dvn.p());
    const auto* kcp = reinterpret_cast<const f16*>(dkc.p());
    const auto* vcp = reinterpret_cast<const f16*>(dvc.p());
    auto* op = reinterpret_cast<f16*>(dout.p());
    if (variant == 0) attention_prefill_simple(kL, qp, knp, vnp, kcp, vcp, n, pos0, a, op);
    if (variant == 1) attention_prefill(kL, qp, knp, vnp, kcp, vcp, n, pos0, a, op);
    if (variant == 2) {
      poison_f32(part_o.p(), part_o.n);
      attention_prefill(kL, qp, knp, vnp, kcp, vcp, n, pos0, a, op,
                        PrefillSplits{part_o.p(), part_ml.p(), max_splits});
    }
    auto out = widen(dout.down());
    char name[160];
    std::snprintf(name, sizeof name, "attention_prefill%s h=%d/%d hd=%d W=%d C=%d pos0=%d n=%d",
                  variant == 0 ? "_simple" : variant == 2 ? (" keys split " + std::to_string(max_splits)).c_str() : "",
                  heads, kvh, hd, W, C, pos0, n);
    report(name, R::rel_err(out.data(), ref.data(), ref.size()), 1e-2);
  }
}

// --- cuBLASLt -----------------------------------------------------------------------------

void test_gemm(Gemm& gemm, int m, int n, int k) {
  R::Rng rng(g_seed++);
  auto x = rng.f16s(size_t(m) * k, -1.f, 1.f), w = rng.f16s(size_t(n) * k, -0.1f, 0.1f);
  auto y0 = rng.floats(size_t(m) * n, -1.f, 1.f);
  Dev<uint16_t> dx(x.size()), dw(w.size()), dyb(size_t(m) * n);
  Dev<float> dy(y0.size());
  dx.up(x); dw.up(w); dy.up(y0); poison_f16(dyb.p(), dyb.n);
  gemm.run(nullptr, reinterpret_cast<const f16*>(dx.p()), reinterpret_cast<const f16*>(dw.p()), dy.p(),
           true, m, n, k, true);
  gemm.run(nullptr, reinterpret_cast<const f16*>(dx.p()), reinterpret_cast<const f16*>(dw.p()), dyb.p(),
           false, m, n, k, false);
  auto xf = widen(x);
  std::vector<float> ref(size_t(m) * n);
  R::matmul(ref.data(), xf.data(), m, w.data(), n, k);
  auto out = dy.down();
  for (size_t i = 0; i < out.size(); ++i) out[i] -= y0[i];
  auto outb = widen(dyb.down());
  char name[160];
  std::snprintf(name, sizeof name, "gemm m=%d n=%d k=%d fp32 out, accumulate", m, n, k);
  report(name, R::rel_err(out.data(), ref.data(), ref.size()), 1e-3);
  std::snprintf(name, sizeof name, "gemm m=%d n=%d k=%d f16 out", m, n, k);
  report(name, R::rel_err(outb.data(), ref.data(), ref.size()), 5e-3);
}

// --- quantized weights ----------------------------------------------------------------------

// dequantize() and embed() on a quantized matrix give exactly the f16 values its planes
// stand for (the host's planes_row_to_f16: one rounding of s·code + m).
void test_expand(tramontane::StoredType t) {
  R::Rng rng(g_seed++);
  const int rows = 37, cols = 512;
  const TestWeights tw = test_weights(rng, t, rows, cols, 0.5f);
  Dev<uint16_t> out(size_t(rows) * cols);
  poison_f16(out.p(), out.n);
  dequantize(kL, tw.m, reinterpret_cast<f16*>(out.p()));
  const auto got = out.down();
  size_t diff = 0;
  for (size_t i = 0; i < got.size(); ++i) diff += got[i] != tw.values[i];
  report("dequantize 37x512" + type_tag(t) + " (bit-exact)", double(diff), 0.0, true,
         std::to_string(diff) + " values differ");
  const std::vector<int> tok{0, 36, 5, 5, 17};
  Dev<int> dtok(tok.size());
  Dev<float> dx(tok.size() * cols);
  dtok.up(tok);
  poison_f32(dx.p(), dx.n);
  embed(kL, dx.p(), tw.m, dtok.p(), int(tok.size()));
  const auto x = dx.down();
  size_t bad = 0;
  for (size_t t = 0; t < tok.size(); ++t)
    for (int k = 0; k < cols; ++k)
      bad += x[t * cols + k] != R::from_f16(tw.values[size_t(tok[t]) * cols + k]);
  report("embed 5 rows of 512" + type_tag(t) + " (bit-exact)", double(bad), 0.0);
}

// --- mixture of experts ------------------------------------------------------------------

// route::choose (the device router's selection, compiled here for the host) against
// cpu::route on random probabilities drawn from a few levels (ties everywhere), NaN now
// and then: the same experts in the same order and bit-identical weights.
void test_route_host() {
  std::mt19937_64 gen(g_seed++);
  int differ = 0;
  const int cases = 200000;
  for (int i = 0; i < cases; ++i) {
    const int experts = 1 + int(gen() % route::kMaxExperts);
    const int k = 1 + int(gen() % uint64_t(std::min(experts, route::kMaxChosen)));
    const int levels = 1 + int(gen() % 4);
    std::vector<float> a(static_cast<size_t>(experts));
    for (auto& v : a) v = 0.5f * float(gen() % uint64_t(levels));
    if (gen() % 50 == 0) a[size_t(gen() % uint64_t(experts))] = NAN;
    std::vector<float> b = a;
    std::vector<int> c1(static_cast<size_t>(k)), c2(static_cast<size_t>(k));
    std::vector<float> w1(static_cast<size_t>(k)), w2(static_cast<size_t>(k));
    std::vector<tramontane::cpu::RouteEntry> q1(static_cast<size_t>(experts));
    std::vector<route::Entry> q2(static_cast<size_t>(experts));
    tramontane::cpu::route(a.data(), experts, k, c1.data(), w1.data(), q1.data());
    route::choose(b.data(), experts, k, c2.data(), w2.data(), q2.data());
    const bool same = c1 == c2 && std::memcmp(w1.data(), w2.data(), w1.size() * sizeof(float)) == 0;
    differ += !same;
  }
  report("route::choose == cpu::route (host, " + std::to_string(cases) + " tie-heavy cases)", double(differ),
         0.0, true, std::to_string(differ) + " differ");
}

// The GPU router picks what cpu::route picks, exact ties included. Router rows have one
// nonzero entry, in column 0, from {±1, ±½, ±¼}: every logit is that entry times the
// token's normalized x[0], exactly, in any summation order, so the host knows the ties
// and the ranking; experts with equal entries tie exactly on both sides.
void test_route(int experts, int k) {
  R::Rng rng(g_seed++);
  const int dim = 64, n = 24;
  std::vector<float> router(size_t(experts) * dim, 0.f);
  const float levels[3] = {1.f, 0.5f, 0.25f};
  for (int e = 0; e < experts; ++e)
    router[size_t(e) * dim] = levels[rng.gen() % 3] * (rng.gen() % 2 ? 1.f : -1.f);
  const auto x = rng.floats(size_t(n) * dim, -1.f, 1.f);
  const std::vector<float> nw(size_t(dim), 1.f);
  Dev<float> dx(x.size()), dn(nw.size()), dr(router.size()), dw(size_t(n) * k);
  Dev<int> dc(size_t(n) * k);
  Dev<uint16_t> dxn(x.size());
  dx.up(x); dn.up(nw); dr.up(router);
  route_experts(kL, dx.p(), dn.p(), 1e-5f, dr.p(), n, dim, experts, k,
                reinterpret_cast<f16*>(dxn.p()), 1, ExpertRouting{dc.p(), dw.p()});
  const auto chosen = dc.down();
  const auto weight = dw.down();
  std::vector<float> xn(x.size()), logits(static_cast<size_t>(experts));
  R::rmsnorm(xn.data(), x.data(), nw.data(), n, dim, 1e-5f);
  std::vector<tramontane::cpu::RouteEntry> queue(static_cast<size_t>(experts));
  std::vector<int> c(static_cast<size_t>(k));
  std::vector<float> w(static_cast<size_t>(k));
  int wrong = 0;
  double werr = 0;
  for (int t = 0; t < n; ++t) {
    for (int e = 0; e < experts; ++e) logits[size_t(e)] = router[size_t(e) * dim] * xn[size_t(t) * dim];
    tramontane::cpu::route(logits.data(), experts, k, c.data(), w.data(), queue.data());
    for (int j = 0; j < k; ++j) {
      wrong += c[size_t(j)] != chosen[size_t(t) * k + j];
      werr = std::max(werr, double(std::fabs(w[size_t(j)] - weight[size_t(t) * k + j])));
    }
  }
  char name[160];
  std::snprintf(name, sizeof name, "route_experts %d of %d (ties as cpu::route)", k, experts);
  report(name, werr, 1e-5, wrong == 0, std::to_string(wrong) + " choices differ");
}

// The decode path's expert products against the reference, on stacked experts: each slot
// multiplies its own input by its expert's rows only; then combine_experts.
void test_gemv_experts(int experts, int dim, int hidden, int m, int k, GemvConfig cfg,
                       tramontane::StoredType wt = tramontane::StoredType::F16) {
  R::Rng rng(g_seed++);
  const TestWeights gu = test_weights(rng, wt, experts * 2 * hidden, dim, std::sqrt(3.f / dim));
  const TestWeights dn = test_weights(rng, wt, experts * dim, hidden, std::sqrt(3.f / hidden));
  const auto xe = rng.f16s(size_t(m) * dim, -1.f, 1.f);
  std::vector<int> chosen(static_cast<size_t>(m));
  for (auto& e : chosen) e = int(rng.gen() % uint64_t(experts));
  Dev<uint16_t> dxe(xe.size()), dh(size_t(m) * hidden);
  Dev<int> dc(chosen.size());
  Dev<float> dy(size_t(m) * dim);
  dxe.up(xe); dc.up(chosen);
  poison_f16(dh.p(), dh.n);
  poison_f32(dy.p(), dy.n);
  gemv_expert_swiglu(kL, cfg, gu.m, reinterpret_cast<const f16*>(dxe.p()), dc.p(), m, dim, hidden,
                     reinterpret_cast<f16*>(dh.p()));
  const auto h16 = dh.down();
  gemv_expert_down(kL, cfg, dn.m, reinterpret_cast<const f16*>(dh.p()), dc.p(), m, hidden, dim, dy.p());
  const auto y = dy.down();
  const auto xf = widen(xe), hf = widen(h16);
  std::vector<float> ref_h(size_t(m) * hidden), ref_y(size_t(m) * dim), g(size_t(2) * hidden);
  for (int s = 0; s < m; ++s) {
    const size_t e = size_t(chosen[size_t(s)]);
    R::matmul(g.data(), xf.data() + size_t(s) * dim, 1, gu.values.data() + e * 2 * hidden * dim,
              2 * hidden, dim);
    for (int i = 0; i < hidden; ++i) ref_h[size_t(s) * hidden + i] = R::silu(g[size_t(i)]) * g[size_t(hidden + i)];
    R::matmul(ref_y.data() + size_t(s) * dim, hf.data() + size_t(s) * hidden, 1,
              dn.values.data() + e * dim * hidden, dim, hidden);
  }
  char name[160];
  std::snprintf(name, sizeof name, "gemv_expert_swiglu E=%d dim=%d hidden=%d slots=%d w%d g%d%s", experts, dim,
                hidden, m, cfg.warps, cfg.grid, (kw_tag(cfg) + type_tag(wt)).c_str());
  report(name, R::rel_err(hf.data(), ref_h.data(), ref_h.size()), 1e-2);
  std::snprintf(name, sizeof name, "gemv_expert_down E=%d dim=%d hidden=%d slots=%d w%d g%d%s", experts, dim,
                hidden, m, cfg.warps, cfg.grid, (kw_tag(cfg) + type_tag(wt)).c_str());
  report(name, R::rel_err(y.data(), ref_y.data(), ref_y.size()), 1e-2);

  // combine: the m slots as m / k tokens of k choices each.
  const int n = m / k;
  if (n == 0) return;
  std::vector<float> weight(size_t(n) * k), x = rng.floats(size_t(n) * dim, -1.f, 1.f);
  for (auto& w : weight) w = rng.uniform(0.f, 1.f);
  Dev<float> dw(weight.size()), dx(x.size());
  dw.up(weight); dx.up(x);
  combine_experts(kL, dx.p(), dy.p(), ExpertRouting{dc.p(), dw.p()}, nullptr, n, k, dim);
  const auto out = dx.down();
  std::vector<float> delta(x.size()), ref(x.size(), 0.f);
  for (int t = 0; t < n; ++t) {
    for (int j = 0; j < k; ++j) {
      const size_t s = size_t(t) * k + j;
      for (int i = 0; i < dim; ++i) ref[size_t(t) * dim + i] += weight[s] * y[s * dim + i];
    }
  }
  for (size_t i = 0; i < x.size(); ++i) delta[i] = out[i] - x[i];
  std::snprintf(name, sizeof name, "combine_experts tokens=%d k=%d dim=%d", n, k, dim);
  report(name, R::rel_err(delta.data(), ref.data(), ref.size()), 1e-5);
}

// --- whole model --------------------------------------------------------------------------

// The engine's CPU forward pass over a model's f16 weights downloaded from the GPU.
class CpuReference {
 public:
  explicit CpuReference(const DeviceWeights& w) : config_(w.config()) {
    const ModelConfig& c = config_;
    const int64_t d = c.dim, q = int64_t(c.n_heads) * c.head_dim, kv = int64_t(c.n_kv_heads) * c.head_dim;
    const int64_t h = c.hidden_dim;
    auto matrix = [&](const f16* p, int64_t rows, int64_t cols) {
      host16_.emplace_back(size_t(rows * cols));
      TR_CUDA_CHECK(cudaMemcpy(host16_.back().data(), p, size_t(rows * cols) * 2, cudaMemcpyDeviceToHost));
      return tramontane::Matrix{host16_.back().data(), tramontane::StoredType::F16, rows, cols};
    };
    auto values = [](const float* p, int64_t n) {
      std::vector<float> v(static_cast<size_t>(n));
      TR_CUDA_CHECK(cudaMemcpy(v.data(), p, static_cast<size_t>(n) * 4, cudaMemcpyDeviceToHost));
      return v;
    };
    // Quantized matrices come down as the f16 values the kernels expand them to.
    const Launch l0{nullptr, false};
    for (int i = 0; i < c.n_layers; ++i) {
      const DeviceWeights::Layer& L = w.layer(i);
      tramontane::LayerWeights l;
      const tramontane::Matrix qkv = matrix(w.as_f16(l0, L.wqkv), q + 2 * kv, d);
      const auto* rows = static_cast<const uint16_t*>(qkv.data);
      l.wq = {rows, tramontane::StoredType::F16, q, d};
      l.wk = {rows + q * d, tramontane::StoredType::F16, kv, d};
      l.wv = {rows + (q + kv) * d, tramontane::StoredType::F16, kv, d};
      l.wo = matrix(w.as_f16(l0, L.wo), d, q);
      auto swiglu_mlp = [&](const DeviceMatrix& wgu, const DeviceMatrix& wd) {
        const tramontane::Matrix gu = matrix(w.as_f16(l0, wgu), 2 * h, d);
        const auto* gu_rows = static_cast<const uint16_t*>(gu.data);
        return tramontane::FeedForwardWeights{{gu_rows, tramontane::StoredType::F16, h, d},
                                              {gu_rows + h * d, tramontane::StoredType::F16, h, d},
                                              matrix(w.as_f16(l0, wd), d, h)};
      };
      if (c.feed_forward == tramontane::FeedForwardKind::MixtureOfExperts) {
        const int64_t experts = c.n_experts;
        host32_.push_back(values(L.moe.router, experts * d));
        l.moe.router = {host32_.back().data(), tramontane::StoredType::F32, experts, d};
        for (int e = 0; e < c.n_experts; ++e) {
          l.moe.experts.push_back(swiglu_mlp(DeviceWeights::row_range(L.moe.wgu, int(2 * h * e), int(2 * h)),
                                             DeviceWeights::row_range(L.moe.wd, int(d * e), int(d))));
        }
      } else {
        l.ffn = swiglu_mlp(L.wgu, L.wd);
      }
      l.attn_norm = values(L.attn_norm, d);
      l.ffn_norm = values(L.ffn_norm, d);
      weights_.layers.push_back(std::move(l));
    }
    weights_.embed = matrix(w.as_f16(l0, w.embed()), c.vocab_size, d);
    weights_.lm_head = matrix(w.as_f16(l0, w.lm_head()), c.vocab_size, d);
    weights_.final_norm = values(w.final_norm(), d);
  }

  // Logits for every position of `tokens`, all in one chunk from position 0.
  std::vector<float> forward(const std::vector<int>& tokens) const {
    const int n = int(tokens.size());
    tramontane::cpu::Forward f(config_, weights_, int(std::max(1u, std::thread::hardware_concurrency())));
    f.reserve(n, n);
    tramontane::cpu::KvBuffer kv(config_.n_layers, config_.n_kv_heads, config_.head_dim, n);
    std::vector<float> logits(size_t(n) * size_t(config_.vocab_size));
    f.run(kv, tramontane::Batch{tokens.data(), n, 0}, logits.data(), true);
    return logits;
  }

 private:
  ModelConfig config_;
  std::vector<std::vector<uint16_t>> host16_;  // the downloaded f16 matrices
  std::vector<std::vector<float>> host32_;     // the downloaded routers
  tramontane::Weights weights_;
};

// Feeds n tokens from position pos in chunks of at most `chunk`, with the logits of
// every row when `logits` is given (the engine's session does this in production).
void feed(Forward& f, const int* tokens, int n, int64_t pos, int chunk, float* logits = nullptr) {
  const size_t vocab = size_t(f.weights().config().vocab_size);
  for (int done = 0; done < n; done += chunk) {
    f.run(tokens + done, std::min(chunk, n - done), pos + done,
          logits ? logits + size_t(done) * vocab : nullptr);
  }
}

// Compares two [n][vocab] logit sets: relative error, argmax agreement, and the
// disagreements that are not near-ties. Random weights give flat distributions whose top
// two logits are often closer than f16 rounding moves them, so a disagreement fails
// the check only where the reference's top-1 leads its top-2 by more than 5× the rms
// logit error (a real error, not rounding).
void compare_logits(const std::string& name, const std::vector<float>& got,
                    const std::vector<float>& ref, int n, int vocab, double tol,
                    bool extra_ok = true, const std::string& extra_note = "") {
  double sq = 0;
  for (size_t i = 0; i < ref.size(); ++i) sq += (double(got[i]) - ref[i]) * (double(got[i]) - ref[i]);
  const double rms = std::sqrt(sq / double(ref.size()));
  int same = 0, decisive = 0;
  for (int t = 0; t < n; ++t) {
    const float* x = got.data() + size_t(t) * vocab;
    const float* y = ref.data() + size_t(t) * vocab;
    const long gi = std::max_element(x, x + vocab) - x, ri = std::max_element(y, y + vocab) - y;
    if (gi == ri) {
      ++same;
      continue;
    }
    float second = -INFINITY;
    for (int v = 0; v < vocab; ++v)
      if (v != ri) second = std::max(second, y[v]);
    if (double(y[ri]) - second > 5 * rms) ++decisive;
  }
  char note[96];
  std::snprintf(note, sizeof note, "argmax agreement %.1f%% (%d/%d), decisive mismatches %d", 100.0 * same / n,
                same, n, decisive);
  report(name, R::rel_err(got.data(), ref.data(), ref.size()), tol, decisive == 0 && extra_ok,
         note + extra_note);
}

// The same for a mixture of experts on random weights. Where a token's k-th and
// (k+1)-th router probabilities nearly tie, f16 rounding elsewhere in the model may send
// it to another expert in one layer, which moves that position's logits by far more
// than rounding does. Such positions are rare: at most 1 in 20 (and at least one
// allowed) may be off by more than tol; the others are compared as above.
void compare_routed_logits(const std::string& name, const std::vector<float>& got,
                           const std::vector<float>& ref, int n, int vocab, double tol) {
  std::vector<float> kept_got, kept_ref;
  int off = 0;
  for (int t = 0; t < n; ++t) {
    const float* a = got.data() + size_t(t) * vocab;
    const float* b = ref.data() + size_t(t) * vocab;
    if (R::rel_err(a, b, size_t(vocab)) > tol) {
      ++off;
      continue;
    }
    kept_got.insert(kept_got.end(), a, a + vocab);
    kept_ref.insert(kept_ref.end(), b, b + vocab);
  }
  const int allowed = std::max(1, n / 20);
  const int kept = n - off;
  const std::string note = ", positions off (routing near-ties) " + std::to_string(off) + "/" + std::to_string(n);
  if (kept == 0) {
    report(name, INFINITY, tol, false, note);
    return;
  }
  compare_logits(name, kept_got, kept_ref, kept, vocab, tol, off <= allowed, note);
}

void test_model(const ModelConfig& shape, int seq, int slack, RopeLayout layout, uint64_t seed,
                const WeightTypes* types = nullptr, const std::string& types_name = "") {
  ModelConfig s = shape;
  s.rope_layout = layout;
  auto w = types ? DeviceWeights::random(s, *types, seed, nullptr) : DeviceWeights::random(s, seed, nullptr);
  const bool routed = s.feed_forward == tramontane::FeedForwardKind::MixtureOfExperts;
  auto cmp = [routed](const std::string& name, const std::vector<float>& got, const std::vector<float>& ref,
                      int n, int vocab, double tol) {
    if (routed) compare_routed_logits(name, got, ref, n, vocab, tol);
    else compare_logits(name, got, ref, n, vocab, tol);
  };
  const CpuReference host(*w);
  R::Rng rng(g_seed++);
  std::vector<int> tokens(static_cast<size_t>(seq));
  for (auto& t : tokens) t = int(rng.gen() % uint64_t(s.vocab_size));
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<float> ref = host.forward(tokens);
  const double cpu_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("     (CPU forward of %d tokens: %.1f s)\n", seq, cpu_s);

  Gemm gemm;
  cudaStream_t stream = nullptr;
  TR_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  const std::string tag = std::string(" L=") + std::to_string(s.n_layers) + " d=" + std::to_string(s.dim) +
                          " W=" + std::to_string(s.sliding_window) + " slack=" + std::to_string(slack) +
                          (layout == RopeLayout::Interleaved ? " interleaved" : "") +
                          (routed ? " experts " + std::to_string(s.n_experts_per_token) + "/" +
                                        std::to_string(s.n_experts)
                                  : std::string()) +
                          types_name;
  ForwardConfig cfg;
  cfg.capacity = s.sliding_window > 0 ? s.sliding_window + slack : seq + 64;
  cfg.max_chunk = std::max(seq, 64);
  const size_t V = size_t(s.vocab_size);
  auto run = [&](int chunk, bool simple, const char* what, int chunk_gemv_max = kChunkGemvMaxTokens) {
    ForwardConfig c = cfg;
    c.simple_attention = simple;
    c.chunk_gemv_max = chunk_gemv_max;
    Forward f(*w, gemm, c, stream);
    std::vector<float> logits(size_t(seq) * V);
    feed(f, tokens.data(), seq, 0, chunk, logits.data());
    cmp(std::string("model vs CPU: ") + what + tag, logits, ref, seq, int(V), 2e-2);
    return logits;
  };
  auto all = run(seq, false, "all at once (tiled attention)");
  run(seq, true, "all at once (simple attention)");
  auto chunked = run(37, false, "chunks of 37");
  run(37, false, "chunks of 37 (every product by cuBLASLt)", 0);
  run(64, false, "chunks of 64");
  auto small = run(5, false, "chunks of 5 (gemv path)");
  auto single = run(1, false, "token by token (gemv path)");
  cmp("GPU all-at-once vs token-by-token" + tag, all, single, seq, int(V), 2e-2);
  cmp("GPU all-at-once vs chunks of 37" + tag, all, chunked, seq, int(V), 1e-2);

  // Roll back within the slack (feed again from an earlier position) and the refed rows
  // are right again.
  {
    Forward f(*w, gemm, cfg, stream);
    std::vector<float> first(size_t(seq) * V), again;
    feed(f, tokens.data(), seq, 0, 16, first.data());
    const int back = std::min(slack, 12);
    again.resize(size_t(back) * V);
    feed(f, tokens.data() + seq - back, back, seq - back, 3, again.data());
    std::vector<float> tail(ref.end() - long(back) * long(V), ref.end());
    cmp("rollback " + std::to_string(back) + " then refeed vs CPU" + tag, again, tail, back,
                   int(V), 2e-2);
  }
  // The captured decode step, replayed, generates what token-by-token feeding does.
  {
    const int prompt = seq / 2, steps = 24;
    Forward a(*w, gemm, cfg, stream), b(*w, gemm, cfg, stream);
    feed(a, tokens.data(), prompt, 0, 64);
    std::vector<int> ga{a.argmax_token()};
    a.capture_decode();
    for (int i = 0; i < steps; ++i) {
      a.replay(1, prompt + i);
      ga.push_back(a.token());
    }
    feed(b, tokens.data(), prompt, 0, 64);
    std::vector<int> gb{b.argmax_token()};
    for (int i = 0; i < steps; ++i) {
      const int t = gb.back();
      b.run(&t, 1, prompt + i);
      gb.push_back(b.argmax_token());
    }
    report("decode graph replay == token-by-token feed (" + std::to_string(steps) + " greedy tokens)" + tag,
           ga == gb ? 0.0 : 1.0, 0.0);
    if (types) {
      // q/k/v in one launch where a layer keeps them as two row ranges: every tile is
      // computed as in the launch per range, so the logits are the same bits.
      std::vector<float> logits[2];
      for (int one : {0, 1}) {
        Forward f(*w, gemm, cfg, stream);
        f.gemv_plan(true).qkv.one_launch = f.gemv_plan(false).qkv.one_launch = one != 0;
        logits[one].resize(size_t(prompt) * V);
        feed(f, tokens.data(), prompt, 0, 1, logits[one].data());
      }
      report("q/k/v in one launch == a launch per row range (bit-identical logits)" + tag,
             std::memcmp(logits[0].data(), logits[1].data(), logits[0].size() * sizeof(float)) == 0 ? 0.0 : 1.0,
             0.0);
    }
    if (routed) {
      // The experts' products launched with PDL (their kernel waits on the router before
      // its first weight loads): the same bits as without, fed token by token with every
      // logit row, and the same greedy tokens from the decode graph.
      std::vector<float> logits[2];
      std::vector<int> tokens_of[2];
      for (int expert_pdl : {0, 1}) {
        Forward f(*w, gemm, cfg, stream);
        f.gemv_plan(true).expert_pdl = f.gemv_plan(false).expert_pdl = expert_pdl != 0;
        logits[expert_pdl].resize(size_t(prompt) * V);
        feed(f, tokens.data(), prompt, 0, 1, logits[expert_pdl].data());
        std::vector<int>& g = tokens_of[expert_pdl];
        g.push_back(f.argmax_token());
        f.capture_decode();
        for (int i = 0; i < steps; ++i) {
          f.replay(1, prompt + i);
          g.push_back(f.token());
        }
      }
      const bool same = std::memcmp(logits[0].data(), logits[1].data(), logits[0].size() * sizeof(float)) == 0;
      report("experts with PDL == without (bit-identical logits, graph tokens)" + tag,
             same && tokens_of[1] == tokens_of[0] ? 0.0 : 1.0, 0.0);
    }
  }
  TR_CUDA_CHECK(cudaStreamDestroy(stream));
}

// Full-size random weights (Mistral 7B's shape; Mixtral 8x7B's with fewer layers): the GPU
// paths against each other over 64 positions and the first 8 positions against the CPU
// forward.
void test_7b(const WeightTypes* types = nullptr, const std::string& types_name = "",
             const ModelConfig& s = mistral_7b_config(), const std::string& shape_name = "7B shape") {
  auto w = types ? DeviceWeights::random(s, *types, 7, nullptr) : DeviceWeights::random(s, 7, nullptr);
  const std::string tag = shape_name + types_name;
  const bool routed = s.feed_forward == tramontane::FeedForwardKind::MixtureOfExperts;
  auto compare_logits = [routed](const std::string& name, const std::vector<float>& got,
                                 const std::vector<float>& ref, int n, int vocab, double tol) {
    if (routed) compare_routed_logits(name, got, ref, n, vocab, tol);
    else ::compare_logits(name, got, ref, n, vocab, tol);
  };
  Gemm gemm;
  cudaStream_t stream = nullptr;
  TR_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  R::Rng rng(g_seed++);
  const int seq = 64;
  std::vector<int> tokens(static_cast<size_t>(seq));
  for (auto& t : tokens) t = int(rng.gen() % uint64_t(s.vocab_size));
  const size_t V = size_t(s.vocab_size);
  ForwardConfig cfg;
  cfg.capacity = s.sliding_window + 256;  // no window: 256 slots for the 64 positions
  cfg.max_chunk = seq;
  std::vector<float> all(size_t(seq) * V), single(all.size()), eight(all.size());
  {
    Forward f(*w, gemm, cfg, stream);
    feed(f, tokens.data(), seq, 0, seq, all.data());
  }
  {
    Forward f(*w, gemm, cfg, stream);
    feed(f, tokens.data(), seq, 0, 1, single.data());
  }
  {
    Forward f(*w, gemm, cfg, stream);
    feed(f, tokens.data(), seq, 0, 8, eight.data());
  }
  compare_logits(tag + ": GPU all-at-once vs token-by-token (64 positions)", all, single, seq, int(V), 2e-2);
  compare_logits(tag + ": GPU all-at-once vs chunks of 8 (64 positions)", all, eight, seq, int(V), 2e-2);
  const CpuReference host(*w);
  const int nref = 8;
  std::vector<int> head(tokens.begin(), tokens.begin() + nref);
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<float> ref = host.forward(head);
  const double cpu_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("     (CPU forward of the %s, %d tokens: %.1f s)\n", tag.c_str(), nref, cpu_s);
  std::vector<float> got(all.begin(), all.begin() + long(nref) * long(V));
  compare_logits(tag + ": GPU all-at-once vs CPU (8 positions)", got, ref, nref, int(V), 2e-2);
  std::vector<float> got1(single.begin(), single.begin() + long(nref) * long(V));
  compare_logits(tag + ": GPU token-by-token vs CPU (8 positions)", got1, ref, nref, int(V), 2e-2);
  TR_CUDA_CHECK(cudaStreamDestroy(stream));
}

}  // namespace

int main(int argc, char** argv) {
  bool skip_7b = false;
  g_seed = std::random_device{}() ^ uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) g_seed = std::strtoull(argv[++i], nullptr, 10);
    else if (!std::strcmp(argv[i], "--skip-7b")) skip_7b = true;
  }
  try {
    cudaDeviceProp prop;
    TR_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    std::printf("device: %s, %d SMs; seed %llu\n", prop.name, prop.multiProcessorCount,
                (unsigned long long)g_seed);
    const int sms = prop.multiProcessorCount;

    test_convert();

    // gemv: the real 7B widths, a width with a partial last step, few/many blocks.
    for (int n : {1, 5, 8}) {
      test_gemv_qkv(4096, 32, 8, 128, n, RopeLayout::RotateHalf, 4352, 4350, {8, 0}, n > 1);
      test_gemv_swiglu(4096, 14336, n, {8, 2 * sms}, n > 1);
      test_gemv_residual(14336, 4096, n, {8, 0});
      test_gemv_residual(4096, 4096, n, {4, sms});
      test_gemv_logits(4096, 32000, n, {8, 3 * sms}, n == 8);
    }
    test_gemv_qkv(4096, 32, 8, 128, 8, RopeLayout::RotateHalf, 4352, 100, {8, 2 * sms});
    test_gemv_qkv(4096, 32, 8, 128, 1, RopeLayout::Interleaved, 4352, 77, {8, 3 * sms, 2});
    test_gemv_residual(14336, 4096, 3, {2, 0, 2});
    test_gemv_swiglu(4096, 14336, 1, {4, 0, 2});
    test_gemv_swiglu(4096, 14336, 8, {8, 3 * sms});
    test_gemv_qkv(520, 8, 2, 128, 3, RopeLayout::Interleaved, 300, 299, {4, 7});
    test_gemv_qkv(1024, 16, 4, 64, 2, RopeLayout::RotateHalf, 50, 0, {8, 0});
    test_gemv_swiglu(520, 1000, 7, {4, 5});
    test_gemv_residual(1000, 1000, 4, {8, 3});
    test_gemv_logits(520, 1001, 2, {4, 0});
    // Chunk products: every token-tile count (1, 2, 4, 8 products of 8 tokens), partial
    // tiles of tokens and rows, a partial last step, the 7B widths.
    for (int n : {3, 9, 16, 33, 64}) test_gemv_chunk(4096, 1000, n, ProductOut::F32);
    test_gemv_chunk(14336, 4096, 40, ProductOut::F32Add);
    test_gemv_chunk(4096, 28672, 17, ProductOut::F16);
    test_gemv_chunk(1000, 1000, 64, ProductOut::F32Add);

    test_small_ops();
    test_rope_qkv(RopeLayout::RotateHalf);
    test_rope_qkv(RopeLayout::Interleaved);
    test_kv_commit();

    test_attention_decode(32, 8, 128, 4096, 4352, 4351 + 5000, 1);  // wrapped, full window
    test_attention_decode(32, 8, 128, 4096, 4352, 127, 1);
    test_attention_decode(32, 8, 128, 4096, 4352, 9000, 8);
    test_attention_decode(32, 8, 128, 256, 288, 700, 3);
    test_attention_decode(32, 8, 128, 0, 3000, 2900, 5);
    test_attention_decode(16, 16, 64, 100, 120, 0, 1);
    test_attention_decode(16, 2, 64, 100, 120, 333, 8);
    test_attention_decode(64, 8, 128, 4096, 4352, 6000, 8);  // 8 query heads per KV head
    test_attention_decode(32, 8, 128, 0, 32768, 32000, 2);   // no window: many splits

    test_attention_prefill(32, 8, 128, 4096, 4352, 0, 300);
    test_attention_prefill(8, 2, 128, 256, 288, 500, 200);
    test_attention_prefill(8, 2, 128, 256, 288, 50, 600);
    test_attention_prefill(8, 2, 128, 0, 1024, 100, 333);
    test_attention_prefill(8, 8, 64, 64, 80, 77, 129);
    // Short chunks over long windows, their keys split over several blocks (and too few
    // keys to split: the unsplit kernel).
    test_attention_prefill(32, 8, 128, 4096, 4352, 9000, 16, 4);
    test_attention_prefill(32, 8, 128, 4096, 4352, 4096, 64, 4);
    test_attention_prefill(8, 2, 128, 0, 1100, 1000, 33, 8);
    test_attention_prefill(8, 8, 64, 256, 300, 2000, 9, 3);
    test_attention_prefill(32, 8, 128, 4096, 4352, 100, 40, 4);
    // Several heads of a KV group per block (≤ 16 queries: 4, ≤ 32: 2), split or not.
    test_attention_prefill(32, 8, 128, 4096, 4352, 6000, 5, 12);
    test_attention_prefill(32, 8, 128, 4096, 4352, 6000, 24, 12);
    test_attention_prefill(32, 8, 128, 4096, 4352, 30, 12, 12);
    test_attention_prefill(16, 8, 64, 0, 700, 600, 32, 6);

    Gemm gemm;
    test_gemm(gemm, 77, 1536, 512);
    test_gemm(gemm, 512, 4096, 4096);

    ModelConfig small;
    small.vocab_size = 1000; small.dim = 512; small.n_layers = 3; small.n_heads = 8; small.n_kv_heads = 2;
    small.head_dim = 128; small.hidden_dim = 1408; small.sliding_window = 64;
    test_model(small, 200, 16, RopeLayout::RotateHalf, 1);
    test_model(small, 150, 8, RopeLayout::Interleaved, 2);
    ModelConfig full = small;
    full.sliding_window = 0;
    full.rope_theta = 1e6f;
    test_model(full, 120, 16, RopeLayout::RotateHalf, 3);

    // Quantized weights: each plane format expanded bit-exactly, through every gemv
    // operator, and whole models (the CPU forward runs on the expanded f16 values).
    using tramontane::StoredType;
    for (StoredType t : {StoredType::Q8_0, StoredType::Q4_0, StoredType::Q4_1, StoredType::Q5_0,
                         StoredType::Q5_1, StoredType::Q4_K, StoredType::Q5_K, StoredType::Q6_K}) {
      test_expand(t);
      test_gemv_residual(4096, 1024, 1, {8, 0}, t);
      test_gemv_residual(2048, 4096, 8, {4, sms}, t);
      test_gemv_qkv(4096, 32, 8, 128, 3, RopeLayout::RotateHalf, 4352, 100, {8, 0}, false, t);
      test_gemv_swiglu(4096, 2048, 5, {8, 2 * sms}, true, t);
      test_gemv_logits(4096, 1000, 1, {8, 3 * sms}, false, t);
      test_gemv_chunk(4096, 1024, 12, ProductOut::F32, t);
      test_gemv_chunk(2048, 2048, 64, ProductOut::F32Add, t);
      test_gemv_chunk(4096, 512, 30, ProductOut::F16, t);
    }
    // Tile groups (k_warps): 8 warps in pairs and 4 single warps, 4 tiles per pass; tile
    // counts that leave the last pass partly empty, one pass or several per block.
    // (Narrower than the 7B: the host quantizes every test matrix.)
    for (StoredType t : {StoredType::Q8_0, StoredType::Q4_K, StoredType::Q5_K, StoredType::Q6_K}) {
      test_gemv_residual(4096, 1000, 3, {8, 0, 8, 2}, t);
      test_gemv_residual(2048, 1000, 1, {4, 5, 8, 1}, t);
      test_gemv_qkv(1024, 8, 2, 128, 1, RopeLayout::RotateHalf, 300, 299, {8, 0, 8, 2}, false, t);
      test_gemv_qkv(1024, 8, 2, 128, 2, RopeLayout::Interleaved, 300, 7, {4, 3, 8, 1}, true, t);
      test_gemv_swiglu(1024, 1024, 1, {4, 0, 8, 1}, false, t);
      test_gemv_swiglu(1024, 1000, 6, {8, sms, 8, 2}, true, t);
      test_gemv_logits(4096, 1000, 1, {8, 7, 8, 2}, false, t);
      test_gemv_experts(4, 1024, 512, 2, 2, {8, 0, 8, 2}, t);
      test_gemv_experts(4, 512, 768, 7, 1, {4, 5, 8, 1}, t);
    }
    // q/k and v in two formats (the K-quant mixes' layers with Q6_K v): one launch per row
    // range, and both in one launch (grid split between them, or one block per tile).
    for (StoredType t : {StoredType::Q4_K, StoredType::Q5_K}) {
      for (bool one : {false, true}) {
        GemvConfig c{8, 0, 8};
        c.one_launch = one;
        test_gemv_qkv(1024, 8, 2, 128, 1, RopeLayout::RotateHalf, 300, 299, c, false, t, StoredType::Q6_K);
        GemvConfig c4{4, 17, 4};
        c4.one_launch = one;
        test_gemv_qkv(1024, 8, 2, 128, 5, RopeLayout::Interleaved, 300, 30, c4, true, t, StoredType::Q6_K);
      }
    }
    {  // a pair with no one-launch kernel (Q8_0 and Q6_K) falls back to a launch per range
      GemvConfig c{8, 0, 8};
      c.one_launch = true;
      test_gemv_qkv(1024, 8, 2, 128, 2, RopeLayout::RotateHalf, 300, 9, c, false, StoredType::Q8_0, StoredType::Q6_K);
    }
    ModelConfig quant = small;
    quant.hidden_dim = 1536;  // the K formats need widths in multiples of 256
    const WeightTypes q4km = WeightTypes::llama_q4_k_m(quant);
    test_model(quant, 200, 16, RopeLayout::RotateHalf, 4, &q4km, " Q4_K_M mix");
    const WeightTypes q8 = WeightTypes::uniform(quant, StoredType::Q8_0);
    test_model(quant, 150, 8, RopeLayout::Interleaved, 5, &q8, " Q8_0");

    // A mixture of experts: the router's choice on ties, the expert products of the
    // decode path (1 to 8 slots per launch), and whole models on both paths and through
    // the decode graph, in f16, Q8_0 and the Q4_K_M mix.
    test_route_host();
    for (auto [experts, k] : {std::pair{4, 2}, std::pair{8, 2}, std::pair{8, 3}, std::pair{32, 2},
                              std::pair{32, 8}, std::pair{5, 1}}) {
      test_route(experts, k);
    }
    test_gemv_experts(4, 4096, 14336, 2, 2, {8, 2 * sms});
    test_gemv_experts(8, 4096, 2048, 8, 2, {8, 12 * sms});
    test_gemv_experts(4, 512, 1408, 3, 3, {4, 0});
    for (StoredType t : {StoredType::Q8_0, StoredType::Q4_K, StoredType::Q6_K}) {
      test_gemv_experts(8, 4096, 2048, 2, 2, {8, 2 * sms}, t);
      test_gemv_experts(8, 2048, 1536, 7, 1, {4, 0, 8}, t);
    }
    ModelConfig moe = quant;  // hidden 1536: the K formats fit
    moe.n_layers = 2;
    moe.feed_forward = tramontane::FeedForwardKind::MixtureOfExperts;
    moe.n_experts = 8;
    moe.n_experts_per_token = 2;
    test_model(moe, 160, 16, RopeLayout::RotateHalf, 6);
    ModelConfig moe3 = moe;
    moe3.n_experts = 4;
    moe3.n_experts_per_token = 3;
    moe3.sliding_window = 0;
    test_model(moe3, 120, 16, RopeLayout::Interleaved, 7);
    const WeightTypes moe_q4km = WeightTypes::llama_q4_k_m(moe);
    test_model(moe, 160, 16, RopeLayout::RotateHalf, 8, &moe_q4km, " Q4_K_M mix");
    const WeightTypes moe_q8 = WeightTypes::uniform(moe, StoredType::Q8_0);
    test_model(moe, 120, 8, RopeLayout::RotateHalf, 9, &moe_q8, " Q8_0");
    // Mixtral 8x7B's own widths (8 experts of 14336), 2 of its 32 layers, Q4_K_M mix.
    ModelConfig mixtral = mixtral_8x7b_config();
    mixtral.n_layers = 2;
    const WeightTypes mixtral_q4km = WeightTypes::llama_q4_k_m(mixtral);
    test_7b(&mixtral_q4km, " Q4_K_M mix, 2 layers", mixtral, "Mixtral 8x7B shape");

    if (!skip_7b) {
      test_7b();
      const WeightTypes big = WeightTypes::llama_q4_k_m(mistral_7b_config());
      test_7b(&big, " Q4_K_M mix");
    }
  } catch (const std::exception& e) {
    std::printf("FAIL exception: %s\n", e.what());
    ++g_failed;
  }
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}
