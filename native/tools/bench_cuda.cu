// tramontane-bench-cuda: speed of the CUDA backend on Mistral-7B-shaped random weights
// generated on the GPU: f16, or quantized (random codes and scales in a block format's
// plane form; `--weights q4_k_m` gives each matrix the type llama.cpp's Q4_K_M gives it,
// engine/quant_mix.h: Q4_K and Q6_K, and Q8_0 / Q5_K in Mixtral's attention). Runs without Node. In one run it prints the measured
// ceilings (copy and read bandwidth, f16 GEMM rate), decode tok/s at context 128 and
// 4096 (the decode step captured in a CUDA graph and replayed), prefill tok/s for 512
// and 4096 tokens, the time to take 1, 8 and 32 new tokens onto a cached 4096-token
// prompt and produce the first sampled token, peak GPU memory, and per-kernel times
// against their bandwidth or FLOP floors. The gemv and cuBLASLt tuners and the decode
// step's per-op launches live here: only the bench uses them (a cache starts from the
// gemv plan the tuner picked on an H100, cuda/forward.cu).
//
//   tramontane-bench-cuda [--weights f16|q8_0|q4_k_m|q4_0|q5_k|q6_k] [--reps N] [--decode-only]
//                         [--decode-blocks-per-sm N] [--shape mistral|mixtral]
//
// --shape mixtral: Mixtral 8x7B's shape instead (8 experts of 14336, top 2; f16 does not
// fit one 80 GB card, Q8_0 and the Q4_K_M mix do): the bytes a decode token reads (the
// attention weights, the routers, 2 of 8 experts, lm_head) and the decode limit they
// set, decode tok/s at context 128 and 4096 through the captured graph (the experts'
// products launched with PDL and without), prefill tok/s for 512 and 4096 tokens, the
// decode step's kernels against their floors, GPU memory. The gemv plan is tuned as for
// the dense shape, the experts' products included.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "forward.h"
#include "gemm.h"
#include "ops.h"

using tramontane::ModelConfig;
using tramontane::RopeLayout;
using namespace tramontane::cuda;

namespace {

int g_reps = 10;
bool g_decode_only = false;  // stop after the decode figures (quick A/B runs)
int g_decode_blocks_per_sm = 1;
std::string g_weights = "f16";
std::string g_shape = "mistral";

// The storage types of --weights, and the targets and llama.cpp's figures for them
// (llama.cpp measured on an H100 80GB, same shape, 2026-11-23). Targets: f16 decode and
// prefill from the first CUDA benchmark, appends from speculative decoding's, the
// quantized ones from the GGUF work's.
struct WeightsChoice {
  WeightTypes types;
  double decode128, decode4096, prefill4096, append8_ms, append32_ms;  // targets
  double peer128, peer4096, peer_prefill4096;             // llama.cpp, 0 = not measured
};

WeightsChoice weights_choice(const ModelConfig& c, const std::string& name) {
  using tramontane::StoredType;
  if (name == "f16") return {WeightTypes::uniform(c, StoredType::F16), 190, 180, 30000, 6, 7, 0, 0, 0};
  if (name == "q8_0") return {WeightTypes::uniform(c, StoredType::Q8_0), 330, 300, 20000, 5, 0, 239.0, 222.6, 0};
  if (name == "q4_k_m") return {WeightTypes::llama_q4_k_m(c), 500, 430, 20000, 5, 0, 273.9, 253.2, 9800};
  if (name == "q4_0") return {WeightTypes::uniform(c, StoredType::Q4_0), 0, 0, 0, 0, 0, 0, 0, 0};
  if (name == "q5_k") return {WeightTypes::uniform(c, StoredType::Q5_K), 0, 0, 0, 0, 0, 0, 0, 0};
  if (name == "q6_k") return {WeightTypes::uniform(c, StoredType::Q6_K), 0, 0, 0, 0, 0, 0, 0, 0};
  throw tramontane::Error("--weights: expected f16, q8_0, q4_k_m, q4_0, q5_k or q6_k, got " + name);
}

float median(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Median milliseconds of `body` over reps timed runs after one warm-up, by events.
// Token ids for the benches: a fixed pseudo-random sequence (an LCG), the same every run.
std::vector<int> bench_tokens(size_t n, int vocab) {
  std::vector<int> tokens(n);
  uint64_t z = 12345;
  for (auto& t : tokens) {
    z = z * 6364136223846793005ull + 1442695040888963407ull;
    t = int((z >> 33) % uint64_t(vocab));
  }
  return tokens;
}

float time_ms(cudaStream_t s, int reps, const std::function<void()>& body) {
  cudaEvent_t a, b;
  TR_CUDA_CHECK(cudaEventCreate(&a));
  TR_CUDA_CHECK(cudaEventCreate(&b));
  body();
  TR_CUDA_CHECK(cudaStreamSynchronize(s));
  std::vector<float> t;
  for (int r = 0; r < reps; ++r) {
    TR_CUDA_CHECK(cudaEventRecord(a, s));
    body();
    TR_CUDA_CHECK(cudaEventRecord(b, s));
    TR_CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    TR_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return median(t);
}

// Reads a buffer once with 16-byte loads (the access pattern of decode).
__global__ void read_kernel(const uint4* __restrict__ p, size_t n, unsigned* out) {
  unsigned acc = 0;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x) {
    const uint4 v = __ldcs(p + i);
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x9e3779b9u) out[0] = acc;  // keeps the loads; practically never taken
}

void line(const std::string& what, double value, const std::string& unit, const std::string& note = "") {
  std::printf("  %-52s %12.3f %-8s %s\n", what.c_str(), value, unit.c_str(), note.c_str());
  std::fflush(stdout);
}

std::string pct(double x) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f%%", 100 * x);
  return b;
}

// Feeds n tokens from position pos in chunks of at most `chunk` (the engine's session
// does this in production).
void feed(Forward& fwd, const int* tokens, int n, int64_t pos, int chunk) {
  for (int done = 0; done < n; done += chunk) fwd.run(tokens + done, std::min(chunk, n - done), pos + done);
}

// The decode step's pieces, one launch each on layer `layer`, on the forward's own
// buffers (what the gemv tuner and the per-kernel table time).
// A mixture of experts' feed-forward block is Route, ExpertGateUp, ExpertDown, Combine.
enum class Op {
  Qkv, Attention, OutProj, GateUp, Down, Logits, Argmax, Embed, Norm,
  Route, ExpertGateUp, ExpertDown, Combine
};

bool is_moe(const ModelConfig& c) { return c.feed_forward == tramontane::FeedForwardKind::MixtureOfExperts; }

// Slots (token, choice) of n tokens, and the gemv tiles of an operator for n tokens.
int slots_of(const ModelConfig& c, int n) { return n * (is_moe(c) ? c.n_experts_per_token : 1); }
int tiles_of(const Forward& f, Op op, int n) {
  const ModelConfig& c = f.weights().config();
  const int launch_slots = std::min(kGemvMaxTokens, slots_of(c, n));  // per launch
  switch (op) {
    case Op::Qkv: return gemv_qkv_tiles(f.attn_shape());
    case Op::OutProj: case Op::Down: return gemv_rows_tiles(c.dim);
    case Op::GateUp: return gemv_swiglu_tiles(c.hidden_dim);
    case Op::ExpertGateUp: return launch_slots * gemv_swiglu_tiles(c.hidden_dim);
    case Op::ExpertDown: return launch_slots * gemv_rows_tiles(c.dim);
    default: return gemv_rows_tiles(c.vocab_size);
  }
}

void enqueue_op(Forward& f, Op op, int layer, int n) {
  const Launch l = f.launch_cfg();
  const GemvPlan& p = f.gemv_plan(n == 1);
  const Activations& a = f.activations();
  const ModelConfig& c = f.weights().config();
  const DeviceWeights::Layer& lw = f.weights().layer(layer);
  const AttnShape& attn = f.attn_shape();
  const ExpertScratch& moe = f.expert_scratch();
  const Launch el{l.stream, l.pdl && p.expert_pdl};  // the experts' products (forward_experts.cu)
  const int k = is_moe(c) ? c.n_experts_per_token : 1, slots = n * k;
  // Several tokens read rows normalized beforehand (xn), as the forward arranges.
  auto in = [&](const float* norm_w) {
    return n == 1 ? NormedInput{a.x, norm_w, c.norm_eps, nullptr} : NormedInput{nullptr, nullptr, 0.f, a.xn};
  };
  switch (op) {
    case Op::Qkv:
      return gemv_qkv(l, p.qkv, lw.wqkv, in(lw.attn_norm), n, c.dim, attn, c.rope_layout,
                      f.weights().inv_freq(), a.pos, a.q, f.layer_k(layer), f.layer_v(layer));
    case Op::Attention:
      return attention_decode(l, a.q, f.layer_k(layer), f.layer_v(layer), a.pos, n, attn,
                              f.decode_scratch(), a.ao);
    case Op::OutProj: return gemv_residual(l, p.o, lw.wo, a.ao, n, attn.q_dim(), c.dim, a.x);
    case Op::GateUp:
      return gemv_swiglu(l, p.gate_up, lw.wgu, in(lw.ffn_norm), n, c.dim, c.hidden_dim, a.h);
    case Op::Down: return gemv_residual(l, p.down, lw.wd, a.h, n, c.hidden_dim, c.dim, a.x);
    case Op::Logits:
      return gemv_logits(l, p.logits, f.weights().lm_head(), in(f.weights().final_norm()), n, c.dim,
                         c.vocab_size, a.logits);
    case Op::Argmax: return argmax(l, a.logits, c.vocab_size, a.token, nullptr, 0);
    case Op::Embed: return embed(l, a.x, f.weights().embed(), a.tokens, n);
    case Op::Norm: return rmsnorm(l, a.xn, a.x, lw.attn_norm, n, c.dim, c.norm_eps);
    case Op::Route:
      return route_experts(l, a.x, lw.ffn_norm, c.norm_eps, lw.moe.router, n, c.dim, c.n_experts, k,
                           moe.xe, k, moe.routing);
    case Op::ExpertGateUp:
      for (int s0 = 0; s0 < slots; s0 += kGemvMaxTokens)
        gemv_expert_swiglu(el, p.expert_gate_up, lw.moe.wgu, moe.xe + size_t(s0) * c.dim,
                           moe.routing.chosen + s0, std::min(kGemvMaxTokens, slots - s0), c.dim,
                           c.hidden_dim, a.h + size_t(s0) * c.hidden_dim);
      return;
    case Op::ExpertDown:
      for (int s0 = 0; s0 < slots; s0 += kGemvMaxTokens)
        gemv_expert_down(el, p.expert_down, lw.moe.wd, a.h + size_t(s0) * c.hidden_dim,
                         moe.routing.chosen + s0, std::min(kGemvMaxTokens, slots - s0), c.hidden_dim,
                         c.dim, moe.y + size_t(s0) * c.dim);
      return;
    case Op::Combine: return combine_experts(l, a.x, moe.y, moe.routing, nullptr, n, k, c.dim);
  }
}

// Median microseconds per layer of `ops` enqueued for layers 0 .. layers − 1 in turn, over
// reps runs after one warm-up.
float time_layers_us(Forward& f, std::initializer_list<Op> ops, int layers, int n, int reps) {
  const float ms = time_ms(f.stream(), reps, [&] {
    for (int i = 0; i < layers; ++i)
      for (Op op : ops) enqueue_op(f, op, i, n);
  });
  return ms * 1000.f / float(layers);
}

const char* op_name(Op op) {
  switch (op) {
    case Op::Qkv: return "qkv";
    case Op::OutProj: return "o";
    case Op::GateUp: return "gate_up";
    case Op::Down: return "down";
    case Op::ExpertGateUp: return "expert gate_up";
    case Op::ExpertDown: return "expert down";
    default: return "logits";
  }
}

GemvConfig& config_of(GemvPlan& p, Op op) {
  switch (op) {
    case Op::Qkv: return p.qkv;
    case Op::OutProj: return p.o;
    case Op::GateUp: return p.gate_up;
    case Op::Down: return p.down;
    case Op::ExpertGateUp: return p.expert_gate_up;
    case Op::ExpertDown: return p.expert_down;
    default: return p.logits;
  }
}

std::string config_name(const GemvConfig& c) {
  char b[48];
  std::snprintf(b, sizeof b, "%d/%d/%d%s%s", c.warps, c.grid, c.steps,
                c.k_warps ? ("/kw" + std::to_string(c.k_warps)).c_str() : "", c.one_launch ? "/one" : "");
  return b;
}

// The n = 1 candidates the second stage of the tuner times in the decode graph: per
// operator, the best configuration of each kernel variant.
std::vector<std::pair<Op, std::vector<GemvConfig>>> g_graph_candidates;

// What the tuner found, printed after the plan: per operator and token class the best
// time of each kernel variant (warps, steps, tile groups) and its grid, and the experts'
// PDL choice.
std::vector<std::string> g_tuner_notes;

// Picks each gemv operator's configuration by timing candidates on the forward's
// buffers: warps, steps per batch, tile groups (quantized weights) and grid; for a
// mixture of experts also whether the experts' products use PDL (timed over the whole
// feed-forward block: router, both products, combine). Run before feeding (it writes
// cache slots 0..7).
void tune_gemv(Forward& f, int reps) {
  const Launch l{f.stream(), false};
  const Activations& a = f.activations();
  const ModelConfig& c = f.weights().config();
  const AttnShape& attn = f.attn_shape();
  const int d = c.dim;
  const bool moe = is_moe(c);
  const int max_slots = slots_of(c, kGemvMaxTokens);
  // Real data everywhere the operators read.
  fill_uniform(l, a.x, size_t(kGemvMaxTokens) * d, 11, -1.f, 1.f);
  fill_uniform(l, a.ao, size_t(kGemvMaxTokens) * attn.q_dim(), 12, -1.f, 1.f);
  fill_uniform(l, a.h, size_t(max_slots) * c.hidden_dim, 13, -1.f, 1.f);
  fill_uniform(l, a.xn, size_t(kGemvMaxTokens) * d, 14, -1.f, 1.f);
  fill_int(l, a.tokens, kGemvMaxTokens, 1);
  f.set_pos(0);
  int sms = 0, dev = 0;
  TR_CUDA_CHECK(cudaGetDevice(&dev));
  TR_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));

  const std::vector<Op> ops = moe ? std::vector<Op>{Op::Qkv, Op::OutProj, Op::ExpertGateUp, Op::ExpertDown, Op::Logits}
                                  : std::vector<Op>{Op::Qkv, Op::OutProj, Op::GateUp, Op::Down, Op::Logits};
  // Kernel variants: {warps, steps, k_warps}. Quantized weights: 4 or 8 warps, 4 or 8
  // steps, and the two tile group layouts (what gemv.cuh compiles for them).
  const bool quantized = f.weights().layer(0).wo.quantized();
  const std::vector<GemvConfig> variants =
      quantized ? std::vector<GemvConfig>{{4, 0, 4}, {8, 0, 4}, {4, 0, 8}, {8, 0, 8}, {8, 0, 8, 2}, {4, 0, 8, 1}}
                : std::vector<GemvConfig>{{2, 0, 2}, {4, 0, 2}, {8, 0, 2}, {2, 0, 4}, {4, 0, 4}, {8, 0, 4}};
  g_graph_candidates.clear();
  // Layers whose q/k/v are two row ranges (Q4_K_M's Q6_K v): q/k/v in one launch too.
  bool two_part_qkv = false;
  for (int i = 0; i < c.n_layers; ++i) two_part_qkv |= f.weights().layer(i).wqkv.count == 2;
  std::vector<GemvConfig> qkv_variants = variants;
  if (two_part_qkv && quantized) {
    for (GemvConfig v : {GemvConfig{4, 0, 4}, GemvConfig{8, 0, 4}, GemvConfig{4, 0, 8}, GemvConfig{8, 0, 8}}) {
      v.one_launch = true;
      qkv_variants.push_back(v);
    }
  }
  for (int n : {1, kGemvMaxTokens}) {
    GemvPlan& plan = f.gemv_plan(n == 1);
    if (moe) enqueue_op(f, Op::Route, 0, n);  // a routing for the experts' products to read
    for (Op op : ops) {
      const int tiles = tiles_of(f, op, n);
      GemvConfig best{8, 0, 4};
      float best_us = 1e30f;
      std::vector<GemvConfig> variant_bests;
      std::string note = "  tuner n=" + std::to_string(n) + " " + op_name(op) + ":";
      for (const GemvConfig& v : op == Op::Qkv ? qkv_variants : variants) {
        const int groups = v.k_warps > 0 ? v.warps / v.k_warps : 1;
        const int passes = ceil_div(tiles, groups);
        // Grids: one block per pass (0), whole multiples of the SM count, and grids that
        // give every block the same number of passes.
        std::vector<int> grids = {0};
        for (int mult : {1, 2, 3, 4, 6, 8, 12, 16}) grids.push_back(mult * sms);
        for (int per_block = 2; per_block <= 8; ++per_block) grids.push_back(ceil_div(passes, per_block));
        std::sort(grids.begin(), grids.end());
        grids.erase(std::unique(grids.begin(), grids.end()), grids.end());
        GemvConfig vbest = v;
        float vbest_us = 1e30f;
        for (int grid : grids) {
          if (grid >= passes || grid > 16 * sms) continue;
          GemvConfig cand = v;
          cand.grid = grid;
          config_of(plan, op) = cand;
          const int layers = op == Op::Logits ? 1 : c.n_layers;
          // Fewer repetitions for the several-token plan (appends only; its expert
          // products read up to 8 experts a launch and dominate the tuning time).
          const float us = time_layers_us(f, {op}, layers, n, n == 1 ? reps : std::max(2, reps / 2));
          if (us < vbest_us) {
            vbest_us = us;
            vbest = cand;
          }
        }
        char b[96];
        std::snprintf(b, sizeof b, " w%d s%d%s%s %.1f (g%d)", v.warps, v.steps,
                      v.k_warps ? (" kw" + std::to_string(v.k_warps)).c_str() : "", v.one_launch ? " one" : "",
                      vbest_us, vbest.grid);
        note += b;
        if (vbest_us < 1e30f) variant_bests.push_back(vbest);
        if (vbest_us < best_us) {
          best_us = vbest_us;
          best = vbest;
        }
      }
      config_of(plan, op) = best;
      if (n == 1) g_graph_candidates.emplace_back(op, variant_bests);
      g_tuner_notes.push_back(note + " us");
    }
    if (moe) {
      // The experts' products with and without PDL, timed over the feed-forward block.
      float us[2] = {0, 0};
      for (int pdl : {0, 1}) {
        plan.expert_pdl = pdl != 0;
        us[pdl] = time_layers_us(f, {Op::Route, Op::ExpertGateUp, Op::ExpertDown, Op::Combine}, c.n_layers, n, reps);
      }
      plan.expert_pdl = us[1] < us[0];
      char b[160];
      std::snprintf(b, sizeof b, "  tuner n=%d experts' block (route, gate_up, down, combine): PDL off %.1f us,"
                    " on %.1f us per layer -> %s", n, us[0], us[1], plan.expert_pdl ? "on" : "off");
      g_tuner_notes.push_back(b);
    }
  }
}

// Second stage of the tuner, for the n = 1 plan: each operator's candidates from
// tune_gemv (the best of every kernel variant) timed inside the captured decode step,
// where a kernel's neighbours are the other operators: how it overlaps the previous
// kernel under PDL and how its tail meets the next one, which 32 launches of the same
// kernel do not show. One pass over the operators in order; the experts' PDL choice
// likewise. Needs a context fed up to ctx (the replays write the positions after it).
void refine_in_graph(Forward& f, int ctx, int reps) {
  GemvPlan& plan = f.gemv_plan(true);
  constexpr int kTokens = 16;
  auto step_us = [&] {
    f.capture_decode();
    return time_ms(f.stream(), reps, [&] { f.replay(kTokens, ctx); }) * 1000.f / kTokens;
  };
  auto same = [](const GemvConfig& a, const GemvConfig& b) {
    return a.warps == b.warps && a.grid == b.grid && a.steps == b.steps && a.k_warps == b.k_warps &&
           a.one_launch == b.one_launch;
  };
  const float start_us = step_us();
  float best_us = start_us;
  for (const auto& [op, candidates] : g_graph_candidates) {
    GemvConfig& cfg = config_of(plan, op);
    const GemvConfig kept = cfg;
    GemvConfig best = kept;
    std::string note = "  graph n=1 " + std::string(op_name(op)) + ": " + config_name(kept) + " " +
                       std::to_string(int(best_us)) + " us/token";
    for (const GemvConfig& c : candidates) {
      if (same(c, kept)) continue;
      cfg = c;
      const float us = step_us();
      note += " | " + config_name(c) + " " + std::to_string(int(us));
      if (us < best_us) {
        best_us = us;
        best = c;
      }
    }
    cfg = best;
    g_tuner_notes.push_back(note + " -> " + config_name(best));
  }
  if (is_moe(f.weights().config())) {
    const bool kept = plan.expert_pdl;
    plan.expert_pdl = !kept;
    const float us = step_us();
    char b[128];
    std::snprintf(b, sizeof b, "  graph n=1 experts' PDL: %s %d us/token | %s %d -> %s", kept ? "on" : "off",
                  int(best_us), kept ? "off" : "on", int(us), us < best_us ? (kept ? "off" : "on") : (kept ? "on" : "off"));
    g_tuner_notes.push_back(b);
    if (us < best_us) best_us = us;
    else plan.expert_pdl = kept;
  }
  char b[128];
  std::snprintf(b, sizeof b, "  graph n=1 decode step at context %d: %.1f us/token with the first stage's plan,"
                " %.1f after this one", ctx, start_us, best_us);
  g_tuner_notes.push_back(b);
}

// Decode tok/s through the captured graph at context ctx (fed) with the n = 1 plan p in
// place of the session's (which is restored, and the step captured again).
double decode_with_plan(Forward& f, const GemvPlan& p, int ctx, int reps) {
  const GemvPlan kept = f.gemv_plan(true);
  f.gemv_plan(true) = p;
  f.capture_decode();
  const float ms = time_ms(f.stream(), reps, [&] { f.replay(32, ctx); });
  f.gemv_plan(true) = kept;
  f.capture_decode();
  return 32 / (ms * 1e-3);
}

// p with 4-step batches everywhere: a session's default before quantized operators got 8
// (cuda/forward.cu), timed beside it so the change is measured in the same run.
GemvPlan with_four_steps(GemvPlan p) {
  for (GemvConfig* g : {&p.qkv, &p.o, &p.gate_up, &p.down, &p.logits, &p.expert_gate_up, &p.expert_down}) {
    g->steps = 4;
  }
  return p;
}

// Prints the gemv plan of both token classes and the tuner's notes from the first-th on.
void print_plan(Forward& f, size_t first_note = 0) {
  auto cfg = config_name;
  const bool moe = is_moe(f.weights().config());
  for (int single : {1, 0}) {
    const GemvPlan& p = f.gemv_plan(single);
    std::string line = std::string("  gemv plan (") + (single ? "n=1" : "n<=8") + "): qkv " + cfg(p.qkv) + "  o " +
                       cfg(p.o);
    if (moe) {
      line += "  expert gate_up " + cfg(p.expert_gate_up) + "  expert down " + cfg(p.expert_down) +
              "  experts' PDL " + (p.expert_pdl ? "on" : "off");
    } else {
      line += "  gate_up " + cfg(p.gate_up) + "  down " + cfg(p.down);
    }
    line += "  logits " + cfg(p.logits) + " (warps/grid/steps[/k_warps][/one: q/k/v in one launch])";
    std::printf("%s\n", line.c_str());
  }
  for (size_t i = first_note; i < g_tuner_notes.size(); ++i) std::printf("%s\n", g_tuner_notes[i].c_str());
  std::fflush(stdout);
}

// Mean bytes over the layers of one of each layer's matrices (the Q4_K_M mix stores some
// layers' v and down in Q6_K), for the per-kernel floors.
template <class F>
double mean_layer_bytes(const DeviceWeights& w, F&& bytes_of) {
  double sum = 0;
  const int L = w.config().n_layers;
  for (int i = 0; i < L; ++i) sum += double(bytes_of(w.layer(i)));
  return sum / L;
}

// Tunes cuBLASLt's algorithm choice for the prefill products of an m-token chunk.
void tune_gemm(Forward& f, Gemm& gemm, int m) {
  const Launch l{f.stream(), false};
  const Activations& a = f.activations();
  const ModelConfig& c = f.weights().config();
  const int d = c.dim, qd = f.attn_shape().q_dim(), hid = c.hidden_dim;
  fill_uniform(l, a.xn, size_t(m) * d, 21, -1.f, 1.f);
  fill_uniform(l, a.ao, size_t(m) * qd, 22, -1.f, 1.f);
  fill_uniform(l, a.h, size_t(m) * hid, 23, -1.f, 1.f);
  const DeviceWeights::Layer& lw = f.weights().layer(0);
  const DeviceWeights& w = f.weights();
  gemm.tune(f.stream(), a.xn, w.as_f16(l, lw.wqkv), a.qkv, true, m, qkv_rows(c), d, 5);
  gemm.tune(f.stream(), a.ao, w.as_f16(l, lw.wo), a.x, true, m, d, qd, 5);
  gemm.tune(f.stream(), a.xn, w.as_f16(l, lw.wgu), a.gu, false, m, 2 * hid, d, 5);
  gemm.tune(f.stream(), a.h, w.as_f16(l, lw.wd), a.x, true, m, d, hid, 5);
}

// The --shape mixtral run (see the top of this file). Targets from the Mixtral issue:
// decode at context 128 ≥ 250 tok/s (Q4_K_M mix) and ≥ 160 (Q8_0), prefill 4096 ≥ 8K tok/s.
void bench_mixtral(cudaStream_t st, double copy_bw) {
  const ModelConfig shape = mixtral_8x7b_config();
  const WeightsChoice choice = weights_choice(shape, g_weights);
  auto t0 = std::chrono::steady_clock::now();
  auto weights = DeviceWeights::random(shape, choice.types, 42, st);
  const double gen_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // A decode token reads the attention weights and the router of every layer, the k
  // chosen experts' rows (k / n_experts of the stacked matrices), and lm_head.
  const double share = double(shape.n_experts_per_token) / shape.n_experts;
  double decode_bytes = weights->lm_head().bytes();
  for (int i = 0; i < shape.n_layers; ++i) {
    const DeviceWeights::Layer& L = weights->layer(i);
    decode_bytes += double(L.wqkv.bytes() + L.wo.bytes()) + share * double(L.moe.wgu.bytes() + L.moe.wd.bytes()) +
                    double(shape.n_experts) * shape.dim * 4;
  }
  std::printf("\nmodel: Mixtral 8x7B shape, %s weights, %.3f B parameters, %.2f GB on the GPU; decode reads %.2f GB/token\n",
              g_weights.c_str(), parameter_count(shape) / 1e9, weights->bytes() / 1e9, decode_bytes / 1e9);
  const double decode_limit = copy_bw / decode_bytes;
  line("decode limit = copy bandwidth / bytes per token", decode_limit, "tok/s");
  const double kv_token_bytes = 2.0 * shape.n_layers * shape.n_kv_heads * shape.head_dim * 2;
  line("decode limit at context 4096 (+ KV reads)", copy_bw / (decode_bytes + 4096 * kv_token_bytes), "tok/s");
  std::printf("  random weights generated on the GPU in %.2f s\n", gen_s);

  Gemm gemm;
  ForwardConfig cfg;
  cfg.capacity = 4096 + 256;  // no window: the context bound
  cfg.max_chunk = 4096;
  Forward sess(*weights, gemm, cfg, st);
  const GemvPlan default_plan = sess.gemv_plan(true);  // what a session starts from
  t0 = std::chrono::steady_clock::now();
  tune_gemv(sess, 8);
  std::printf("  gemv choices tuned in %.2f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  print_plan(sess);
  const std::vector<int> tokens = bench_tokens(4096 + 64, shape.vocab_size);

  std::printf("\nprefill (fresh session, all tokens in one chunk)\n");
  double prefill_tps[2] = {0, 0};
  for (int n : {512, 4096}) {
    if (g_decode_only) break;
    const float ms = time_ms(st, std::max(3, g_reps / 2), [&] { feed(sess, tokens.data(), n, 0, cfg.max_chunk); });
    prefill_tps[n == 4096] = n / (ms * 1e-3);
    line("prefill " + std::to_string(n) + " tokens", prefill_tps[n == 4096], "tok/s", std::to_string(ms) + " ms");
  }

  // Decode through the captured graph with the experts' products launched both ways (the
  // tuner's choice is what the summary reports).
  std::printf("\ndecode (32 tokens per timed batch, the step captured in a graph and replayed, PDL %s)\n",
              ForwardConfig().pdl ? "on" : "off");
  bool tuned_expert_pdl = false;
  double decode_tps[2] = {0, 0};
  for (int ctxi = 0; ctxi < 2; ++ctxi) {
    const int ctx = ctxi ? 4096 : 128;
    feed(sess, tokens.data(), ctx, 0, cfg.max_chunk);
    sess.argmax_token();
    if (ctxi == 0) {
      const size_t first = g_tuner_notes.size();
      refine_in_graph(sess, ctx, 3);
      std::printf("  tuner, second stage (n = 1 candidates in the decode graph):\n");
      print_plan(sess, first);
      tuned_expert_pdl = sess.gemv_plan(true).expert_pdl;
      line("decode at context 128, the untuned plan", decode_with_plan(sess, default_plan, ctx, g_reps), "tok/s",
           "(a session's default plan: cuda/forward.cu)");
      line("decode at context 128, the untuned plan with 4-step batches",
           decode_with_plan(sess, with_four_steps(default_plan), ctx, g_reps), "tok/s",
           "(the default before quantized operators got 8)");
    }
    for (int expert_pdl : {0, 1}) {
      sess.gemv_plan(true).expert_pdl = expert_pdl != 0;
      sess.capture_decode();
      const float ms = time_ms(st, g_reps, [&] { sess.replay(32, ctx); });
      const double tps = 32 / (ms * 1e-3);
      if ((expert_pdl != 0) == tuned_expert_pdl) decode_tps[ctxi] = tps;
      line("decode at context " + std::to_string(ctx) + ", experts' PDL " + (expert_pdl ? "on" : "off"), tps,
           "tok/s", std::to_string(ms / 32 * 1000) + " us/token, " + pct(tps / decode_limit) + " of the copy limit");
    }
  }
  sess.gemv_plan(true).expert_pdl = tuned_expert_pdl;
  sess.capture_decode();

  // Where a decode token's time goes: each kernel of the step timed alone, 32 layers back
  // to back, at context 4096, n = 1, against the bytes it must read.
  std::printf("\ndecode kernels, n = 1, 32 layers back to back, context 4096, PDL on"
              " (experts' products: PDL as tuned, then the other way)\n");
  std::printf("  %-16s %4s %10s %10s %10s %9s\n", "kernel", "PDL", "us/launch", "floor us", "GB/s", "of copy");
  {
    using Layer = DeviceWeights::Layer;
    const double d = shape.dim;
    struct K {
      Op op;
      const char* name;
      double bytes;
    };
    const K kernels[] = {
        {Op::Qkv, "qkv+rope", mean_layer_bytes(*weights, [](const Layer& L) { return L.wqkv.bytes(); })},
        {Op::Attention, "attention", 4096 * 2.0 * shape.n_kv_heads * shape.head_dim * 2},
        {Op::OutProj, "o+residual", mean_layer_bytes(*weights, [](const Layer& L) { return L.wo.bytes(); })},
        {Op::Route, "route", double(shape.n_experts) * d * 4},
        {Op::ExpertGateUp, "expert gate_up", share * mean_layer_bytes(*weights, [](const Layer& L) { return L.moe.wgu.bytes(); })},
        {Op::ExpertDown, "expert down", share * mean_layer_bytes(*weights, [](const Layer& L) { return L.moe.wd.bytes(); })},
        {Op::Combine, "combine", (shape.n_experts_per_token + 2) * d * 4},
        {Op::Logits, "norm+lm_head", double(weights->lm_head().bytes())},
        {Op::Argmax, "argmax", double(shape.vocab_size) * 4},
    };
    double sum_us = 0;
    auto row = [&](const K& k, bool expert_pdl) {
      sess.gemv_plan(true).expert_pdl = expert_pdl;
      const int layers = (k.op == Op::Logits || k.op == Op::Argmax) ? 1 : shape.n_layers;
      sess.set_pos(4096);
      const double us = time_layers_us(sess, {k.op}, layers, 1, g_reps);
      const double floor_us = k.bytes / copy_bw * 1e6;
      const bool expert = k.op == Op::ExpertGateUp || k.op == Op::ExpertDown;
      std::printf("  %-16s %4s %10.2f %10.2f %10.0f %9s\n", k.name, !expert || expert_pdl ? "on" : "off", us, floor_us,
                  k.bytes / (us * 1e-6) / 1e9, pct(floor_us / us).c_str());
      return us * layers;
    };
    for (const K& k : kernels) sum_us += row(k, tuned_expert_pdl);
    for (const K& k : kernels)
      if (k.op == Op::ExpertGateUp || k.op == Op::ExpertDown) row(k, !tuned_expert_pdl);
    sess.gemv_plan(true).expert_pdl = tuned_expert_pdl;
    std::printf("  sum of kernel times per token %.1f us (32 layers + head); graph step %.1f us;"
                " the difference is launch gaps and tails\n", sum_us, 1e6 / decode_tps[1]);
  }

  size_t free_b = 0, total_b = 0;
  TR_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  std::printf("\nGPU memory\n");
  line("weights", weights->bytes() / 1073741824.0, "GiB");
  line("KV cache (C = 4096 + 256 slots)", sess.cache_bytes() / 1073741824.0, "GiB");
  line("session activations (chunk 4096) + decode scratch", sess.scratch_bytes() / 1073741824.0, "GiB");
  line("in use on the device now", (total_b - free_b) / 1073741824.0, "GiB");

  const double target128 = g_weights == "q4_k_m" ? 250 : g_weights == "q8_0" ? 160 : 0;
  std::printf("\nsummary (Mixtral 8x7B shape, %s weights; targets from the Mixtral issue)\n", g_weights.c_str());
  std::printf("  %-44s %12s %12s %4s\n", "metric", "measured", "target", "ok");
  auto sum = [](const char* m, double v, double target) {
    std::printf("  %-44s %12.1f %12.1f %4s\n", m, v, target, target <= 0 ? "-" : v >= target ? "yes" : "NO");
  };
  sum("decode tok/s, context 128", decode_tps[0], target128);
  sum("decode tok/s, context 4096", decode_tps[1], 0);
  sum("prefill tok/s, 512", prefill_tps[0], 0);
  sum("prefill tok/s, 4096", prefill_tps[1], 8000);
  std::printf("  decode limit %.1f tok/s (%.2f GB/token at %.0f GB/s); decode 128 at %s of it\n", decode_limit,
              decode_bytes / 1e9, copy_bw / 1e9, pct(decode_tps[0] / decode_limit).c_str());
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) g_reps = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--decode-only")) g_decode_only = true;
    else if (!std::strcmp(argv[i], "--decode-blocks-per-sm") && i + 1 < argc)
      g_decode_blocks_per_sm = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--weights") && i + 1 < argc)
      g_weights = argv[++i];
    else if (!std::strcmp(argv[i], "--shape") && i + 1 < argc)
      g_shape = argv[++i];
  if (g_shape != "mistral" && g_shape != "mixtral") {
    std::printf("error: --shape: expected mistral or mixtral, got %s\n", g_shape.c_str());
    return 1;
  }
  try {
    cudaDeviceProp prop;
    TR_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    int clock_khz = 0, mem_clock_khz = 0;
    cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0);
    cudaDeviceGetAttribute(&mem_clock_khz, cudaDevAttrMemoryClockRate, 0);
    std::printf("device: %s, %d SMs, %.1f GiB, L2 %d MiB, SM clock %d MHz, memory clock %d MHz\n",
                prop.name, prop.multiProcessorCount, prop.totalGlobalMem / 1073741824.0,
                prop.l2CacheSize >> 20, clock_khz / 1000, mem_clock_khz / 1000);
    cudaStream_t st;
    TR_CUDA_CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    const Launch lst{st, false};

    // --- ceilings -------------------------------------------------------------------------
    std::printf("\nceilings (measured in this run)\n");
    double copy_bw = 0, read_bw = 0, gemm_tflops = 0;
    {
      const size_t bytes = size_t(2) << 30;
      DeviceBuffer a(bytes), b(bytes);
      DeviceBuffer out(256);
      fill_uniform(lst, a.as<f16>(), bytes / 2, 1, -1.f, 1.f);
      fill_uniform(lst, b.as<f16>(), bytes / 2, 2, -1.f, 1.f);
      const float ms = time_ms(st, g_reps, [&] {
        TR_CUDA_CHECK(cudaMemcpyAsync(b.as<void>(), a.as<void>(), bytes, cudaMemcpyDeviceToDevice, st));
      });
      copy_bw = 2.0 * bytes / (ms * 1e-3);
      line("device-to-device copy (read + write counted)", copy_bw / 1e9, "GB/s");
      const float rms = time_ms(st, g_reps, [&] {
        read_kernel<<<prop.multiProcessorCount * 8, 512, 0, st>>>(a.as<uint4>(), bytes / 16,
                                                                  out.as<unsigned>());
        TR_CUDA_CHECK(cudaGetLastError());
      });
      read_bw = bytes / (rms * 1e-3);
      line("read-only stream, 16-byte loads", read_bw / 1e9, "GB/s");
    }
    {
      const int m = 8192;
      DeviceBuffer x(size_t(m) * m * 2), w(size_t(m) * m * 2), y(size_t(m) * m * 2);
      fill_uniform(lst, x.as<f16>(), size_t(m) * m, 3, -1.f, 1.f);
      fill_uniform(lst, w.as<f16>(), size_t(m) * m, 4, -1.f, 1.f);
      Gemm g;
      const float ms = g.tune(st, x.as<f16>(), w.as<f16>(), y.as<void>(), false, m, m, m, g_reps);
      gemm_tflops = 2.0 * m * m * double(m) / (ms * 1e-3) / 1e12;
      line("f16 GEMM 8192^3 (cuBLASLt, fp32 accumulate)", gemm_tflops, "TFLOP/s");
    }

    if (g_shape == "mixtral") {
      bench_mixtral(st, copy_bw);
      TR_CUDA_CHECK(cudaStreamDestroy(st));
      return 0;
    }

    // --- model ----------------------------------------------------------------------------
    const ModelConfig shape = mistral_7b_config();
    const WeightsChoice choice = weights_choice(shape, g_weights);
    auto t0 = std::chrono::steady_clock::now();
    auto weights = DeviceWeights::random(shape, choice.types, 42, st);
    const double gen_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // Bytes one decode step must read: every weight matrix except the embedding table
    // (one row), as stored on the device.
    double decode_bytes = weights->lm_head().bytes();
    for (int i = 0; i < shape.n_layers; ++i) {
      const DeviceWeights::Layer& L = weights->layer(i);
      decode_bytes += double(L.wqkv.bytes() + L.wo.bytes() + L.wgu.bytes() + L.wd.bytes());
    }
    const double weight_bytes = decode_bytes + weights->embed().bytes();
    std::printf("\nmodel: Mistral 7B shape, %s weights, %.3f B parameters, %.2f GB; decode reads %.2f GB/token\n",
                g_weights.c_str(), parameter_count(shape) / 1e9, weight_bytes / 1e9, decode_bytes / 1e9);
    const double decode_limit = copy_bw / decode_bytes;
    line("decode limit = copy bandwidth / bytes per token", decode_limit, "tok/s");
    const double kv_token_bytes = 2.0 * shape.n_layers * shape.n_kv_heads * shape.head_dim * 2;
    line("decode limit at context 4096 (+ KV reads)", copy_bw / (decode_bytes + 4096 * kv_token_bytes),
         "tok/s");
    std::printf("  random weights generated on the GPU in %.2f s\n", gen_s);
    Gemm gemm;
    ForwardConfig cfg;
    cfg.capacity = shape.sliding_window + 256;
    cfg.max_chunk = 4096;
    cfg.decode_blocks_per_sm = g_decode_blocks_per_sm;
    Forward sess(*weights, gemm, cfg, st);
    const GemvPlan default_plan = sess.gemv_plan(true);  // what a session starts from
    t0 = std::chrono::steady_clock::now();
    tune_gemv(sess, 8);
    for (int m : {4096, 2048, 1024, 512, 32}) tune_gemm(sess, gemm, m);
    std::printf("  kernel choices tuned in %.2f s\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    print_plan(sess);

    const std::vector<int> tokens = bench_tokens(8192, shape.vocab_size);

    // --- prefill --------------------------------------------------------------------------
    std::printf("\nprefill (fresh session, all tokens in one chunk unless noted)\n");
    double prefill_tps[2] = {0, 0};
    for (int n : {512, 4096}) {
      if (g_decode_only) break;
      const float ms = time_ms(st, std::max(3, g_reps / 2), [&] {
        feed(sess, tokens.data(), n, 0, cfg.max_chunk);
      });
      const double tps = n / (ms * 1e-3);
      prefill_tps[n == 4096] = tps;
      line("prefill " + std::to_string(n) + " tokens", tps, "tok/s", std::to_string(ms) + " ms");
    }
    for (int chunk : {2048, 1024}) {
      if (g_decode_only) break;
      const float ms = time_ms(st, 3, [&] {
        feed(sess, tokens.data(), 4096, 0, chunk);
      });
      line("prefill 4096 tokens in chunks of " + std::to_string(chunk), 4096 / (ms * 1e-3), "tok/s",
           std::to_string(ms) + " ms");
    }

    // --- decode ---------------------------------------------------------------------------
    std::printf("\ndecode (32 tokens per timed batch, median of batches; graph = the step captured and replayed)\n");
    double decode_tps[2][2][2] = {};  // [ctx 4096][graph][pdl]
    for (int ctxi = 0; ctxi < 2; ++ctxi) {
      const int ctx = ctxi ? 4096 : 128;
      feed(sess, tokens.data(), ctx, 0, cfg.max_chunk);
      sess.argmax_token();
      if (ctxi == 0) {
        const size_t first = g_tuner_notes.size();
        refine_in_graph(sess, ctx, 3);
        std::printf("  tuner, second stage (n = 1 candidates in the decode graph, PDL on):\n");
        print_plan(sess, first);
        const double untuned = decode_with_plan(sess, default_plan, ctx, g_reps);
        line("decode at context 128, graph, PDL on, the untuned plan", untuned, "tok/s",
             "(a session's default plan: cuda/forward.cu)");
        line("decode at context 128, graph, PDL on, the untuned plan with 4-step batches",
             decode_with_plan(sess, with_four_steps(default_plan), ctx, g_reps), "tok/s",
             "(the default before quantized operators got 8)");
      }
      for (int pdl : {1, 0}) {
        sess.set_pdl(pdl);
        sess.capture_decode();
        for (int graph : {1, 0}) {
          const float ms = time_ms(st, g_reps, [&] {
            if (graph) {
              sess.replay(32, ctx);
            } else {
              sess.set_pos(ctx);
              for (int i = 0; i < 32; ++i) sess.enqueue_decode_step();
            }
          });
          const double tps = 32 / (ms * 1e-3);
          decode_tps[ctxi][graph][pdl] = tps;
          line("decode at context " + std::to_string(ctx) + (graph ? ", graph" : ", stream") +
                   (pdl ? ", PDL on" : ", PDL off"),
               tps, "tok/s",
               std::to_string(ms / 32 * 1000) + " us/token, " + pct(tps / decode_limit) + " of the copy limit");
        }
      }
    }
    // The configuration the session uses by default, for the rest of the run.
    const bool pdl_default = ForwardConfig().pdl;
    sess.set_pdl(pdl_default);
    sess.capture_decode();
    const double dec128 = decode_tps[0][1][pdl_default], dec4096 = decode_tps[1][1][pdl_default];
    if (g_decode_only) return 0;

    // --- append onto a cached prompt ------------------------------------------------------
    std::printf("\nnew tokens onto a cached 4096-token prompt -> first sampled token (host clock, incl. sync)\n");
    feed(sess, tokens.data(), 4096, 0, cfg.max_chunk);
    TR_CUDA_CHECK(cudaStreamSynchronize(st));
    // N = 1 .. 64: a keystroke, a pasted line, and the verification step of N − 1 drafts.
    // Median host time of n new tokens at position 4096 and the argmax after them.
    auto time_append = [&](int n) {
      std::vector<float> t;
      for (int r = 0; r < g_reps + 1; ++r) {
        const auto a = std::chrono::steady_clock::now();
        feed(sess, tokens.data() + 4096, n, 4096, cfg.max_chunk);
        const int tok = sess.argmax_token();
        const auto b = std::chrono::steady_clock::now();
        if (tok < 0 || tok >= shape.vocab_size) throw tramontane::Error("bad sampled token");
        if (r > 0) t.push_back(float(std::chrono::duration<double, std::milli>(b - a).count()));
      }
      return median(t);
    };
    const int append_n[] = {1, 2, 4, 8, 16, 32, 64};
    double append_ms[7] = {};
    int ai = 0;
    for (int n : append_n) {
      append_ms[ai] = time_append(n);
      line(std::to_string(n) + " new token" + (n > 1 ? "s" : ""), append_ms[ai++], "ms");
    }
    // The same appends with every product by cuBLASLt (on f16 rows: quantized matrices
    // expanded first): what the chunk_gemv_max choice is measured against.
    sess.set_chunk_gemv_max(0);
    for (int n : {16, 32, 64}) line(std::to_string(n) + " new tokens, products by cuBLASLt", time_append(n), "ms");
    sess.set_chunk_gemv_max(kChunkGemvMaxTokens);

    // --- per-kernel ---------------------------------------------------------------------------
    std::printf("\ndecode kernels, n tokens, 32 layers back to back, context 4096 (attention: one kernel, splits merged)\n");
    std::printf("  %-14s %3s %4s %10s %10s %10s %9s\n", "kernel", "n", "PDL", "us/launch", "floor us", "GB/s", "of copy");
    struct K {
      Op op;
      const char* name;
      double weight_bytes;
    };
    const double d = shape.dim, qd = shape.n_heads * shape.head_dim, hid = shape.hidden_dim;
    // Floors from each matrix's mean size over the layers (the timings cycle through them).
    using Layer = DeviceWeights::Layer;
    const K kernels[] = {
        {Op::Qkv, "qkv+rope", mean_layer_bytes(*weights, [](const Layer& L) { return L.wqkv.bytes(); })},
        {Op::Attention, "attention", 4096 * 2.0 * shape.n_kv_heads * shape.head_dim * 2},
        {Op::OutProj, "o+residual", mean_layer_bytes(*weights, [](const Layer& L) { return L.wo.bytes(); })},
        {Op::GateUp, "gate_up+silu", mean_layer_bytes(*weights, [](const Layer& L) { return L.wgu.bytes(); })},
        {Op::Down, "down+residual", mean_layer_bytes(*weights, [](const Layer& L) { return L.wd.bytes(); })},
        {Op::Logits, "norm+lm_head", double(weights->lm_head().bytes())},
        {Op::Argmax, "argmax", double(shape.vocab_size) * 4},
        {Op::Norm, "rmsnorm(n>1)", 8.0 * d * 6},
    };
    double sum_layer_us = 0, sum_other_us = 0;
    const std::pair<int, bool> variants[] = {{1, true}, {1, false}, {8, true}};
    for (const auto& variant : variants) {
      const int n = variant.first;
      const bool pdl = variant.second;
      sess.set_pdl(pdl);
      for (const K& k : kernels) {
        if ((k.op == Op::Argmax && n > 1) || (k.op == Op::Norm && n == 1)) continue;
        const int layers = (k.op == Op::Logits || k.op == Op::Argmax) ? 1 : shape.n_layers;
        sess.set_pos(4096);
        const float ms = time_ms(st, g_reps, [&] {
          for (int l = 0; l < layers; ++l) enqueue_op(sess, k.op, l, n);
        });
        const double us = ms * 1000 / layers;
        const double floor_us = k.weight_bytes / copy_bw * 1e6;
        std::printf("  %-14s %3d %4s %10.2f %10.2f %10.0f %9s\n", k.name, n, pdl ? "on" : "off", us, floor_us,
                    k.weight_bytes / (us * 1e-6) / 1e9, pct(floor_us / us).c_str());
        if (n == 1 && pdl == pdl_default) (layers > 1 ? sum_layer_us : sum_other_us) += us * layers;
      }
    }
    sess.set_pdl(pdl_default);
    const double step_us = 1e6 / dec4096;
    std::printf("  sum of kernel times per token %.1f us (32 layers + head); graph step %.1f us;"
                " the difference is launch gaps and tails\n",
                sum_layer_us + sum_other_us, step_us);

    // Why the small products lose (n = 1, PDL on, the tuned plan): the q/k/v product with
    // one piece of its work taken away at a time, per layer kind, and the cost of a launch.
    std::printf("\nqkv at n = 1, one piece at a time (us per layer, 32 layers back to back, PDL on)\n");
    {
      const Launch l = sess.launch_cfg();
      const GemvPlan& p = sess.gemv_plan(true);
      const Activations& a = sess.activations();
      const AttnShape& attn = sess.attn_shape();
      rmsnorm(l, a.xn, a.x, weights->layer(0).attn_norm, 1, shape.dim, shape.norm_eps);
      sess.set_pos(4096);
      const NormedInput fused{a.x, weights->layer(0).attn_norm, shape.norm_eps, nullptr};
      const NormedInput prenormed{nullptr, nullptr, 0.f, a.xn};
      std::vector<int> one_range, two_ranges;
      for (int i = 0; i < shape.n_layers; ++i) (weights->layer(i).wqkv.count == 1 ? one_range : two_ranges).push_back(i);
      auto per_layer = [&](const std::vector<int>& layers, const std::function<void(int)>& body) {
        if (layers.empty()) return 0.0;
        const float ms = time_ms(st, g_reps, [&] {
          for (int i : layers) body(i);
        });
        return ms * 1000.0 / layers.size();
      };
      auto qkv = [&](const NormedInput& in, int i) {
        gemv_qkv(l, p.qkv, weights->layer(i).wqkv, in, 1, shape.dim, attn, shape.rope_layout, weights->inv_freq(),
                 a.pos, a.q, sess.layer_k(i), sess.layer_v(i));
      };
      // The same rows as plain fp32 outputs (no RoPE, no cache writes), one launch per range.
      auto plain = [&](int i) {
        const RowParts& m = weights->layer(i).wqkv;
        for (int r = 0; r < m.count; ++r)
          gemv_logits(l, p.qkv, m.part[r], fused, 1, shape.dim, m.part[r].rows, a.logits + m.first_row[r]);
      };
      DeviceBuffer flag(256);
      const double launch_us = time_ms(st, g_reps, [&] {
        for (int i = 0; i < shape.n_layers; ++i) fill_int(l, flag.as<int>(), 1, i);
      }) * 1000.0 / shape.n_layers;
      std::printf("  %-58s %9s %9s\n", "", "1 range", "2 ranges");
      auto row = [&](const char* what, const std::function<void(int)>& body) {
        std::printf("  %-58s %9.2f %9.2f\n", what, per_layer(one_range, body), per_layer(two_ranges, body));
      };
      row("as in the decode step (fused RMSNorm, RoPE, cache writes)", [&](int i) { qkv(fused, i); });
      row("input normalized beforehand (no RMSNorm prologue)", [&](int i) { qkv(prenormed, i); });
      row("plain fp32 rows (no RoPE, no cache writes)", plain);
      std::printf("  layers: %zu with one range, %zu with two (q/k and a Q6_K v); floors %.2f / %.2f us;"
                  " a one-block kernel back to back: %.2f us per launch\n",
                  one_range.size(), two_ranges.size(),
                  one_range.empty() ? 0.0 : weights->layer(one_range[0]).wqkv.bytes() / copy_bw * 1e6,
                  two_ranges.empty() ? 0.0 : weights->layer(two_ranges[0]).wqkv.bytes() / copy_bw * 1e6, launch_us);
    }

    std::printf("\nprefill kernels at 4096 tokens (layer 0..31 weights in turn)\n");
    {
      const int m = 4096;
      DeviceBuffer xn(size_t(m) * d * 2), qkv(size_t(m) * qkv_rows(shape) * 4), x(size_t(m) * d * 4),
          ao(size_t(m) * qd * 2), gu(size_t(m) * 2 * hid * 2), h(size_t(m) * hid * 2),
          q(size_t(m) * qd * 2), kn(size_t(m) * shape.n_kv_heads * shape.head_dim * 2),
          vn(size_t(m) * shape.n_kv_heads * shape.head_dim * 2),
          kc(size_t(4352) * shape.n_kv_heads * shape.head_dim * 2),
          vc(size_t(4352) * shape.n_kv_heads * shape.head_dim * 2);
      fill_uniform(lst, xn.as<f16>(), size_t(m) * d, 5, -1.f, 1.f);
      fill_uniform(lst, x.as<float>(), size_t(m) * d, 6, -1.f, 1.f);
      fill_uniform(lst, qkv.as<float>(), size_t(m) * qkv_rows(shape), 7, -1.f, 1.f);
      fill_uniform(lst, ao.as<f16>(), size_t(m) * qd, 8, -1.f, 1.f);
      fill_uniform(lst, gu.as<f16>(), size_t(m) * 2 * hid, 9, -1.f, 1.f);
      fill_uniform(lst, h.as<f16>(), size_t(m) * hid, 10, -1.f, 1.f);
      fill_uniform(lst, q.as<f16>(), size_t(m) * qd, 11, -1.f, 1.f);
      fill_uniform(lst, kn.as<f16>(), kn.bytes() / 2, 12, -1.f, 1.f);
      fill_uniform(lst, vn.as<f16>(), vn.bytes() / 2, 13, -1.f, 1.f);
      fill_uniform(lst, kc.as<f16>(), kc.bytes() / 2, 14, -1.f, 1.f);
      fill_uniform(lst, vc.as<f16>(), vc.bytes() / 2, 15, -1.f, 1.f);
      AttnShape a{shape.n_heads, shape.n_kv_heads, shape.head_dim, shape.sliding_window, 4352};
      const Launch L{st, true};
      std::printf("  %-34s %10s %12s %10s\n", "kernel", "ms", "rate", "of ceiling");
      // Quantized weights are expanded to f16 first, inside the timing (as prefill does).
      auto gemm_row = [&](const char* name, int n, int k, const f16* in, void* out, bool f32, bool acc,
                          const f16* (*wsel)(const DeviceWeights&, const Launch&, const DeviceWeights::Layer&)) {
        int li = 0;
        const float ms = time_ms(st, g_reps, [&] {
          gemm.run(st, in, wsel(*weights, lst, weights->layer(li++ % shape.n_layers)), out, f32, m, n, k, acc);
        });
        const double tf = 2.0 * m * n * double(k) / (ms * 1e-3) / 1e12;
        std::printf("  %-34s %10.3f %8.1f TF/s %10s\n", name, ms, tf, pct(tf / gemm_tflops).c_str());
        return ms;
      };
      double layer_ms = 0;
      layer_ms += gemm_row("gemm qkv 4096x6144x4096 -> fp32", qkv_rows(shape), shape.dim, xn.as<f16>(),
                           qkv.as<void>(), true, false, [](const DeviceWeights& w, const Launch& l, const DeviceWeights::Layer& L) { return w.as_f16(l, L.wqkv); });
      layer_ms += gemm_row("gemm o 4096x4096x4096 += fp32", shape.dim, int(qd), ao.as<f16>(), x.as<void>(),
                           true, true, [](const DeviceWeights& w, const Launch& l, const DeviceWeights::Layer& L) { return w.as_f16(l, L.wo); });
      layer_ms += gemm_row("gemm gate_up 4096x28672x4096 -> f16", 2 * shape.hidden_dim, shape.dim,
                           xn.as<f16>(), gu.as<void>(), false, false, [](const DeviceWeights& w, const Launch& l, const DeviceWeights::Layer& L) { return w.as_f16(l, L.wgu); });
      layer_ms += gemm_row("gemm down 4096x4096x14336 += fp32", shape.dim, shape.hidden_dim, h.as<f16>(),
                           x.as<void>(), true, true, [](const DeviceWeights& w, const Launch& l, const DeviceWeights::Layer& L) { return w.as_f16(l, L.wd); });
      auto bw_row = [&](const char* name, double bytes, const std::function<void()>& fn) {
        const float ms = time_ms(st, g_reps, fn);
        const double bw = bytes / (ms * 1e-3);
        std::printf("  %-34s %10.3f %8.0f GB/s %10s\n", name, ms, bw / 1e9, pct(bw / copy_bw).c_str());
        return ms;
      };
      const float* nw = weights->layer(0).attn_norm;
      layer_ms += 2 * bw_row("rmsnorm (x2 per layer)", double(m) * d * 6,
                             [&] { rmsnorm(L, xn.as<f16>(), x.as<float>(), nw, m, shape.dim, 1e-5f); });
      layer_ms += bw_row("rope_qkv", double(m) * qkv_rows(shape) * 6, [&] {
        rope_qkv(L, qkv.as<float>(), m, 0, a, RopeLayout::RotateHalf, weights->inv_freq(), q.as<f16>(),
                 kn.as<f16>(), vn.as<f16>());
      });
      layer_ms += bw_row("swiglu", double(m) * hid * 6,
                         [&] { swiglu(L, gu.as<f16>(), m, shape.hidden_dim, h.as<f16>()); });
      layer_ms += bw_row("kv_commit", double(m) * shape.n_kv_heads * shape.head_dim * 8, [&] {
        kv_commit(L, kn.as<f16>(), vn.as<f16>(), m, 0, a, kc.as<f16>(), vc.as<f16>());
      });
      {
        const float ms = time_ms(st, g_reps, [&] {
          attention_prefill(L, q.as<f16>(), kn.as<f16>(), vn.as<f16>(), kc.as<f16>(), vc.as<f16>(), m, 0,
                            a, ao.as<f16>());
        });
        const double flops = 4.0 * shape.head_dim * shape.n_heads * (double(m) * (m + 1) / 2);
        const double tf = flops / (ms * 1e-3) / 1e12;
        std::printf("  %-34s %10.3f %8.1f TF/s %10s\n", "attention (causal, 4096 keys)", ms, tf,
                    pct(tf / gemm_tflops).c_str());
        layer_ms += ms;
        const float sms = time_ms(st, 1, [&] {
          attention_prefill_simple(L, q.as<f16>(), kn.as<f16>(), vn.as<f16>(), kc.as<f16>(),
                                   vc.as<f16>(), m, 0, a, ao.as<f16>());
        });
        std::printf("  %-34s %10.3f %8.1f TF/s %10s\n", "attention, simple kernel", sms,
                    flops / (sms * 1e-3) / 1e12, "(first version)");
      }
      const double flops_layer = 2.0 * m * (double(qkv_rows(shape)) * d + d * qd + 3 * hid * d);
      std::printf("  one layer, sum of the above: %.2f ms -> %.0f tok/s for 32 layers (measured prefill: %.0f)\n",
                  layer_ms, m / (layer_ms * 32 * 1e-3), prefill_tps[1]);
      std::printf("  linear-layer FLOP floor at the measured GEMM rate: %.2f ms per layer\n",
                  flops_layer / (gemm_tflops * 1e12) * 1e3);
    }

    // --- chunk products --------------------------------------------------------------------
    std::printf("\nchunk of n tokens on a cached 4096 prompt, per layer (layer 0..31 weights in turn):"
                " products by the gemv kernel and by cuBLASLt, attention\n");
    std::printf("  %-12s %3s %10s %10s %9s\n", "piece", "n", "us", "floor us", "of copy");
    {
      const int m = kChunkGemvMaxTokens;
      DeviceBuffer xin(size_t(m) * std::max(shape.hidden_dim, int(qd)) * 2),
          yout(size_t(m) * 2 * hid * 4);
      fill_uniform(lst, xin.as<f16>(), xin.bytes() / 2, 21, -1.f, 1.f);
      const Launch L{st, true};
      struct P {
        const char* name;
        int rows, k;
        ProductOut out;
      };
      const P products[] = {{"qkv", qkv_rows(shape), shape.dim, ProductOut::F32},
                            {"o", shape.dim, int(qd), ProductOut::F32Add},
                            {"gate_up", 2 * shape.hidden_dim, shape.dim, ProductOut::F16},
                            {"down", shape.dim, shape.hidden_dim, ProductOut::F32Add}};
      auto bytes_of = [&](int which, const DeviceWeights::Layer& Lw) {
        return which == 0 ? double(Lw.wqkv.bytes()) : which == 1 ? double(Lw.wo.bytes())
               : which == 2 ? double(Lw.wgu.bytes()) : double(Lw.wd.bytes());
      };
      for (int n : {16, 32, 64}) {
        double gemv_sum = 0, gemm_sum = 0, floor_sum = 0;
        for (int which = 0; which < 4; ++which) {
          const P& p = products[which];
          int li = 0;
          const float g_ms = time_ms(st, g_reps, [&] {
            const DeviceWeights::Layer& Lw = weights->layer(li++ % shape.n_layers);
            if (which == 0) gemv_chunk(L, 0, Lw.wqkv, xin.as<f16>(), n, yout.as<void>(), p.rows, p.out);
            else gemv_chunk(L, 0, which == 1 ? Lw.wo : which == 2 ? Lw.wgu : Lw.wd, xin.as<f16>(), n,
                            yout.as<void>(), p.rows, 0, p.out);
          });
          li = 0;
          const float c_ms = time_ms(st, g_reps, [&] {
            const DeviceWeights::Layer& Lw = weights->layer(li++ % shape.n_layers);
            const f16* w16 = which == 0 ? weights->as_f16(lst, Lw.wqkv)
                             : weights->as_f16(lst, which == 1 ? Lw.wo : which == 2 ? Lw.wgu : Lw.wd);
            gemm.run(st, xin.as<f16>(), w16, yout.as<void>(), p.out != ProductOut::F16, n, p.rows, p.k,
                     p.out == ProductOut::F32Add);
          });
          const double floor_us = mean_layer_bytes(*weights, [&](const Layer& Lw) { return bytes_of(which, Lw); }) / copy_bw * 1e6;
          std::printf("  %-12s %3d %10.1f %10.1f %9s   cuBLASLt %8.1f us\n", p.name, n, g_ms * 1e3,
                      floor_us, pct(floor_us / (g_ms * 1e3)).c_str(), c_ms * 1e3);
          gemv_sum += g_ms * 1e3;
          gemm_sum += c_ms * 1e3;
          floor_sum += floor_us;
        }
        // Attention of the n queries over the cached 4096 positions and themselves.
        DeviceBuffer q(size_t(n) * qd * 2), kn(size_t(n) * shape.n_kv_heads * shape.head_dim * 2),
            vn(size_t(n) * shape.n_kv_heads * shape.head_dim * 2), ao(size_t(n) * qd * 2);
        fill_uniform(lst, q.as<f16>(), q.bytes() / 2, 22, -1.f, 1.f);
        fill_uniform(lst, kn.as<f16>(), kn.bytes() / 2, 23, -1.f, 1.f);
        fill_uniform(lst, vn.as<f16>(), vn.bytes() / 2, 24, -1.f, 1.f);
        const AttnShape a = sess.attn_shape();
        auto attention_ms = [&](const PrefillSplits& splits) {
          int li = 0;
          return time_ms(st, g_reps, [&] {
            const int layer = li++ % shape.n_layers;
            attention_prefill(L, q.as<f16>(), kn.as<f16>(), vn.as<f16>(), sess.layer_k(layer),
                              sess.layer_v(layer), n, 4096, a, ao.as<f16>(), splits);
          });
        };
        const float at_ms = attention_ms(sess.prefill_splits());
        const float unsplit_ms = attention_ms(PrefillSplits{});
        std::printf("  %-12s %3d %10.1f   keys split over up to %d blocks; unsplit %.1f us; K and V of 4096"
                    " positions: %.1f us at the copy rate\n",
                    "attention", n, at_ms * 1e3, sess.prefill_splits().max_splits, unsplit_ms * 1e3,
                    4096 * 2.0 * shape.n_kv_heads * shape.head_dim * 2 / copy_bw * 1e6);
        std::printf("  per layer, n = %d: products %.1f us by gemv (floor %.1f), %.1f by cuBLASLt; x32 layers:"
                    " %.2f / %.2f ms; attention x32: %.2f ms\n",
                    n, gemv_sum, floor_sum, gemm_sum, gemv_sum * 32e-3, gemm_sum * 32e-3, at_ms * 32);
      }
    }

    // --- memory ---------------------------------------------------------------------------
    size_t free_b = 0, total_b = 0;
    TR_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    std::printf("\nGPU memory\n");
    line("weights", weights->bytes() / 1073741824.0, "GiB");
    line("KV cache (C = 4096 + 256 slots)", sess.cache_bytes() / 1073741824.0, "GiB",
         std::to_string(sess.cache_bytes() / sess.capacity() / 1024) + " KiB per slot");
    line("session activations (chunk 4096) + decode scratch", sess.scratch_bytes() / 1073741824.0, "GiB");
    line("in use on the device now (includes the bench's own buffers)", (total_b - free_b) / 1073741824.0,
         "GiB");

    // --- summary --------------------------------------------------------------------------
    std::printf("\nsummary (%s weights; targets from the issues; llama.cpp on an H100 80GB, 2026-11-23)\n",
                g_weights.c_str());
    std::printf("  %-44s %12s %12s %4s %12s\n", "metric", "measured", "target", "ok", "llama.cpp");
    auto sum = [](const char* m, double v, double target, bool higher, double peer) {
      const bool ok = target <= 0 || (higher ? v >= target : v <= target);
      char peer_s[32] = "-";
      if (peer > 0) std::snprintf(peer_s, sizeof peer_s, "%.1f (%.2fx)", peer, higher ? v / peer : peer / v);
      std::printf("  %-44s %12.1f %12.1f %4s %12s\n", m, v, target, target <= 0 ? "-" : ok ? "yes" : "NO", peer_s);
    };
    sum("decode tok/s, context 128", dec128, choice.decode128, true, choice.peer128);
    sum("decode tok/s, context 4096", dec4096, choice.decode4096, true, choice.peer4096);
    sum("prefill tok/s, 512", prefill_tps[0], 0, true, 0);
    sum("prefill tok/s, 4096", prefill_tps[1], choice.prefill4096, true, choice.peer_prefill4096);
    sum("8 new tokens on cached 4096 -> token (ms)", append_ms[3], choice.append8_ms, false, 0);
    sum("32 new tokens on cached 4096 -> token (ms)", append_ms[5], choice.append32_ms, false, 0);
    // Verifying 8 drafts is one forward of 9 tokens; the gemv path takes at most 8, so
    // the 8-token step (7 drafts) is what one verification of a full draft costs today.
    sum("8-token step / one decode step (x)", append_ms[3] * 1e-3 * dec4096, 1.3, false, 0);
    std::printf("  copy %.0f GB/s, read %.0f GB/s, GEMM %.0f TFLOP/s; decode limit %.1f tok/s;"
                " decode 128 at %s, 4096 at %s of it\n",
                copy_bw / 1e9, read_bw / 1e9, gemm_tflops, decode_limit, pct(dec128 / decode_limit).c_str(),
                pct(dec4096 / decode_limit).c_str());
    std::printf("  decode configuration: CUDA graph, PDL %s\n", pdl_default ? "on" : "off");
    std::printf("  new tokens on a cached 4096 prompt -> first token (ms):");
    for (int i = 0; i < 7; ++i) std::printf(" N=%d %.2f", append_n[i], append_ms[i]);
    std::printf("\n");
    TR_CUDA_CHECK(cudaStreamDestroy(st));
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
    return 1;
  }
  return 0;
}
