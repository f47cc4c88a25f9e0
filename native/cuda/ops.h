// The CUDA operators, one per .cu file in this folder: host-side launchers that check
// their arguments, pick a kernel and launch it on the given stream. Everything here
// enqueues work and returns; nothing synchronizes.
//
// Shapes: n tokens at positions pos0 .. pos0 + n − 1; dim = model width; the attention
// layout is described by AttnShape. See common.cuh for the data layouts.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common.cuh"
#include "device_matrix.h"
#include "tensor.h"
#include "tramontane/engine.h"

namespace tramontane::cuda {

// Attention layout of one layer, and its rolling-buffer cache.
struct AttnShape {
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;   // 128 is the compiled fast path (see attention_*.cu)
  int window = 0;     // W; 0 = full causal attention
  int capacity = 0;   // C cache slots; position p lives in slot p mod C
  int q_dim() const { return n_heads * head_dim; }
  int kv_dim() const { return n_kv_heads * head_dim; }
  int group() const { return n_heads / n_kv_heads; }
};

// --- embed.cu ---------------------------------------------------------------------------
// x[t] = fp32(table[tokens[t]]), tokens on the device, the table in any device format.
// x: [n][dim].
void embed(const Launch& l, float* x, const DeviceMatrix& table, const int* tokens, int n);

// --- dequantize.cu ----------------------------------------------------------------------
// out = the matrix's values as f16 [rows][cols] (a quantized matrix before a cuBLASLt
// product), exactly as the gemv kernels compute them.
void dequantize(const Launch& l, const DeviceMatrix& m, f16* out);

// --- rmsnorm.cu -------------------------------------------------------------------------
// out = f16(w ⊙ x / sqrt(mean(x²) + eps)), the input of a matrix product. [n][dim].
void rmsnorm(const Launch& l, f16* out, const float* x, const float* w, int n, int dim,
             float eps);

// --- gemv_*.cu: matrix × few vectors (decode and short appends), on tensor cores -------
// Each weight byte is read once for all n ≤ kGemvMaxTokens tokens. Tiles of 16 output
// rows; a block's warps split the input dimension; a block may loop over tiles.
constexpr int kGemvMaxTokens = 8;
// The same kernel multiplies chunks of up to this many tokens on the prefill path.
constexpr int kChunkGemvMaxTokens = 64;
// The input of a normalized product: fp32 rows normalized inside the kernel (x, norm_w,
// eps; best for one token), or rows already normalized to f16 by rmsnorm() (xn; best
// for several tokens, which would otherwise normalize every row in every block).
struct NormedInput {
  const float* x = nullptr;       // [n][dim]
  const float* norm_w = nullptr;  // [dim]
  float eps = 0.f;
  const f16* xn = nullptr;        // [n][dim]; when set, x and norm_w are not used
};
struct GemvConfig {
  int warps = 8;  // 2, 4 or 8 warps per block (splitting K)
  int grid = 0;   // blocks; 0 = one per tile (per tile group)
  int steps = 4;  // 2 or 4 steps of 32 elements per batch of loads (2 batches in flight);
                  // quantized weights: 4 or 8
  int k_warps = 0;  // warps splitting K per tile; 0 = all of the block's. Fewer: the block
                    // takes warps / k_warps tiles side by side (quantized weights, 8 steps:
                    // 8 warps in pairs, or 4 single warps; see gemv.cuh)
  bool one_launch = false;  // q/k/v stored as two row ranges (Q4_K or Q5_K, then Q6_K, as
                            // the K-quant mixes keep some layers' v): both in one launch, the
                            // blocks split between them (no tile groups); other pairs, or
                            // off: one launch per range
};

// RMSNorm(x) → [q | k | v] = Wqkv · xn → RoPE on q and k → q_out (f16 [n][q_dim]),
// k and v into the cache slots (pos + t) mod C, where pos = *d_pos.
// wqkv: [(n_heads + 2 n_kv_heads) · head_dim][dim], q rows, then k rows, then v rows
// (one launch per part of the row ranges).
void gemv_qkv(const Launch& l, const GemvConfig& c, const RowParts& wqkv, const NormedInput& x,
              int n, int dim, const AttnShape& a,
              RopeLayout layout, const float* inv_freq, const int* d_pos, f16* q_out,
              f16* k_cache, f16* v_cache);

// RMSNorm(x) → h = silu(Wg xn) ⊙ (Wu xn), f16 [n][hidden].
// wgu: [2 · hidden][dim], the gate rows then the up rows.
void gemv_swiglu(const Launch& l, const GemvConfig& c, const DeviceMatrix& wgu, const NormedInput& x,
                 int n, int dim, int hidden, f16* h);

// x += W v: the output and down projections with the residual add in the epilogue.
// w: [out_dim][in_dim], v: f16 [n][in_dim], x: fp32 [n][out_dim].
void gemv_residual(const Launch& l, const GemvConfig& c, const DeviceMatrix& w, const f16* v, int n,
                   int in_dim, int out_dim, float* x);

// logits = W · RMSNorm(x): final norm and lm_head. logits: fp32 [n][vocab].
void gemv_logits(const Launch& l, const GemvConfig& c, const DeviceMatrix& w, const NormedInput& x,
                 int n, int dim, int vocab, float* logits);

// How a product's result lands in its output: written as fp32, added to fp32 (the
// residual stream) or written as f16.
enum class ProductOut { F32, F32Add, F16 };

// y = x · Wᵀ for a chunk of up to kChunkGemvMaxTokens tokens on the prefill path,
// reading each weight once in its stored format (quantized matrices are not expanded).
// x: f16 [n][w.cols]. y: [n][ld]; the product fills columns row0 .. row0 + w.rows − 1
// (RowParts: its parts' rows from column 0). grid: blocks, 0 = one per 16-row tile.
void gemv_chunk(const Launch& l, int grid, const DeviceMatrix& w, const f16* x, int n, void* y,
                int ld, int row0, ProductOut out);
void gemv_chunk(const Launch& l, int grid, const RowParts& w, const f16* x, int n, void* y, int ld,
                ProductOut out);

// Tiles of 16 output rows each op has (for choosing GemvConfig::grid).
int gemv_qkv_tiles(const AttnShape& a);
int gemv_swiglu_tiles(int hidden);
int gemv_rows_tiles(int out_dim);

// --- experts.cu: a sparse mixture of experts (Mixtral) --------------------------------
// Slot s = t·k + j is token t's j-th choice among the layer's experts. The router runs on
// the device (decode: inside the captured graph); the expert products read only the
// chosen experts' rows. Expert e's gate rows sit at rows 2e·hidden of the layer's
// stacked gate/up matrix, its up rows right after; its down rows at rows e·dim.
struct ExpertRouting {
  int* chosen = nullptr;    // [n·k] the expert of each slot
  float* weight = nullptr;  // [n·k] its weight (a token's k weights sum to 1)
};
// Per token: xn = f16(RMSNorm(x)) into rows t·copies .. t·copies + copies − 1 of xn_out
// (one copy per slot on the decode path); the router logits in fp32 from the fp32
// normalized row; softmax, the top k and their weights divided by their sum exactly as
// cpu::route (expert_route.h). router: fp32 [n_experts][dim]; n_experts ≤ 32, k ≤ 8.
void route_experts(const Launch& l, const float* x, const float* norm_w, float eps,
                   const float* router, int n, int dim, int n_experts, int k, f16* xn_out,
                   int copies, const ExpertRouting& r);
// Decode: h[s] = silu(Wg_e xe[s]) ⊙ (Wu_e xe[s]) and y[s] = Wd_e h[s] for the m ≤
// kGemvMaxTokens slots s (e = chosen[s]), reading only the chosen experts' rows. With PDL
// or without (l.pdl): the kernel waits on the router before its first weight loads, as
// the rows it loads depend on `chosen`.
// wgu: [n_experts · 2 · hidden][dim]; wd: [n_experts · dim][hidden]; y: fp32 [m][dim].
void gemv_expert_swiglu(const Launch& l, const GemvConfig& c, const DeviceMatrix& wgu,
                        const f16* xe, const int* chosen, int m, int dim, int hidden, f16* h);
void gemv_expert_down(const Launch& l, const GemvConfig& c, const DeviceMatrix& wd, const f16* h,
                      const int* chosen, int m, int hidden, int dim, float* y);
// Prefill: xg[slot_row[s]] = xn[s / k] for the slots s < n·k (the chunk's normalized
// rows laid out grouped by expert).
void gather_expert_rows(const Launch& l, const f16* xn, const int* slot_row, int slots, int k,
                        int dim, f16* xg);
// x[t] += Σ_j weight[s] · y[row(s)] over token t's slots s = t·k + j, added up in expert
// index order as the CPU does; row(s) = slot_row[s], or s when slot_row is null.
void combine_experts(const Launch& l, float* x, const float* y, const ExpertRouting& r,
                     const int* slot_row, int n, int k, int dim);

// --- rope_qkv.cu (prefill) ------------------------------------------------------------
// qkv: fp32 [n][q_dim + 2 kv_dim] from the QKV product. Writes RoPE'd q (f16
// [n][q_dim]) and this chunk's keys/values, f16 [kv_head][n][head_dim] (k after RoPE).
// inv_freq: head_dim / 2 floats, θ^(−2i/d).
void rope_qkv(const Launch& l, const float* qkv, int n, int pos0, const AttnShape& a,
              RopeLayout layout, const float* inv_freq, f16* q, f16* k_new, f16* v_new);

// --- kv_commit.cu ---------------------------------------------------------------------
// Writes a chunk's keys/values into their cache slots, after the chunk's attention has
// read the old ones. Only the last C positions are written when n > C.
void kv_commit(const Launch& l, const f16* k_new, const f16* v_new, int n, int pos0,
               const AttnShape& a, f16* k_cache, f16* v_cache);

// --- attention_decode.cu --------------------------------------------------------------
// Flash-decoding over the rolling buffer for nq ≤ kGemvMaxTokens queries at positions
// *d_pos + i, whose keys are already in the cache. Each block reads one KV head's keys
// and values over one split of the window once, for every query and its whole query
// group; the last block of each KV head merges the splits (one launch).
struct DecodeScratch {
  float* part_o = nullptr;    // [max_queries][n_heads][max_splits][head_dim]
  float* part_ml = nullptr;   // [max_queries][n_heads][max_splits][2]
  int* done_count = nullptr;  // [n_kv_heads], zero between launches (the kernel resets it)
  int max_splits = 0;
  int max_queries = 0;
  static size_t part_o_floats(const AttnShape& a, int splits, int queries) {
    return size_t(queries) * a.n_heads * splits * a.head_dim;
  }
};
// Splits the window is divided into at most (grid x); each split is a multiple of 16
// keys, at least 32 and at most kDecodeMaxChunk (its keys and values sit in shared
// memory; 272 puts a 4096 window plus 7 appended queries in 16 splits, one block per
// SM for 8 KV heads on a 132-SM card). At least one block per SM (sms) across the KV
// heads.
constexpr int kDecodeMaxChunk = 272;
int decode_splits_for(const AttnShape& a, int sms);
void attention_decode(const Launch& l, const f16* q, const f16* k_cache, const f16* v_cache,
                      const int* d_pos, int nq, const AttnShape& a, const DecodeScratch& s,
                      f16* out);

// --- attention_prefill.cu -------------------------------------------------------------
// Causal sliding-window attention for a chunk of n queries at positions pos0.., with
// GQA. Keys at positions ≥ pos0 come from k_new/v_new ([kv_head][n][head_dim]), older
// ones from the cache (slot p mod C, read before kv_commit overwrites them).
// q: f16 [n][q_dim]; out: f16 [n][q_dim].
// Chunks of up to PrefillSplits::kMaxQueries queries split their keys over several
// blocks when given the scratch (splits: max_splits of them).
struct PrefillSplits {
  static constexpr int kMaxQueries = 64;
  float* part_o = nullptr;   // [max_splits][kMaxQueries][n_heads][head_dim]
  float* part_ml = nullptr;  // [max_splits][kMaxQueries][n_heads][2]
  int max_splits = 0;
};
void attention_prefill(const Launch& l, const f16* q, const f16* k_new, const f16* v_new,
                       const f16* k_cache, const f16* v_cache, int n, int pos0,
                       const AttnShape& a, f16* out, const PrefillSplits& splits = {});
// The same function computed simply (one block per query and head, fp32 throughout):
// the first correct version, kept to check the tiled one on the device.
void attention_prefill_simple(const Launch& l, const f16* q, const f16* k_new,
                              const f16* v_new, const f16* k_cache, const f16* v_cache,
                              int n, int pos0, const AttnShape& a, f16* out);

// --- swiglu.cu ------------------------------------------------------------------------
// h = silu(gate) ⊙ up for gu = [n][gate (hidden) | up (hidden)] f16.
void swiglu(const Launch& l, const f16* gu, int n, int hidden, f16* h);

// --- argmax.cu ------------------------------------------------------------------------
// token_out[0] = argmax(logits[0 .. vocab)) (lowest index on ties). If advance_pos is
// given, *advance_pos += advance_by (one decode step done).
void argmax(const Launch& l, const float* logits, int vocab, int* token_out, int* advance_pos,
            int advance_by);

// --- convert.cu -----------------------------------------------------------------------
// dst = f16(src) for n weights of a plain stored type (F32, BF16, F16) copied raw to the
// device (round to nearest even); *overflow += the number of finite values beyond the
// f16 range (±65504).
void convert_to_f16(const Launch& l, const void* src, StoredType type, size_t n, f16* dst,
                    unsigned* overflow);

// --- fill.cu --------------------------------------------------------------------------
// Deterministic pseudo-random values uniform in [lo, hi), from (seed, index).
void fill_uniform(const Launch& l, f16* p, size_t n, uint64_t seed, float lo, float hi);
void fill_uniform(const Launch& l, float* p, size_t n, uint64_t seed, float lo, float hi);
void fill_int(const Launch& l, int* p, size_t n, int value);
// p[i] = value for i < n, as raw 16-bit or 32-bit patterns (NaN poisoning in tests).
void fill_u16(const Launch& l, void* p, size_t n, uint16_t value);
void fill_u32(const Launch& l, void* p, size_t n, uint32_t value);
// Random quantized weights for benchmarks: uniformly random codes, and per group a
// scale in ±10% of `scale` (with m = −2^(bits−1)·s for the affine formats, so values
// stay centred).
void fill_random_planes(const Launch& l, const DeviceMatrix& m, uint64_t seed, float scale);

}  // namespace tramontane::cuda
