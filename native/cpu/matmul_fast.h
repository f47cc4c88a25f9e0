// The fast matrix products behind matmul (ops.h): the weights are read in their stored
// format (bf16, f16 or fp32) and widened in registers, never a whole row at a time.
//
// Summation order, the same for every kernel (AVX2, AVX-512, NEON) and every blocking,
// so a given input gives the same bits on any of them, for any chunk size or thread
// count: the dot product of a weight row w and an activation row x over `cols` values
// runs in 16 lanes; lane k accumulates w[i]·x[i] for i ≡ k (mod 16) in ascending i with
// fused multiply-adds (the last partial group of 16 padded with zeros); the lanes are
// then combined pairwise as a tree: k + (k+8), then k + (k+4), k + (k+2), k + (k+1).
// This differs from the reference order (simd.h: 4 lanes, unfused), so fast and
// reference agree to rounding, not to the bit.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cpu_features.h"
#include "tensor.h"
#include "thread_pool.h"

namespace tramontane::cpu {

// One product y = W x for n tokens: out[t · out_stride + r] = W[r] · x[t · cols ...].
struct MatmulJob {
  float* out;
  size_t out_stride;
  const float* x;  // [n][cols]
  int n;
  const void* w;  // [rows][cols] in type
  StoredType type;
  int64_t rows;
  int cols;
};

// Output rows [r0, r1) of the job for every token. r0 is a multiple of kFastRowGroup.
using RowsKernel = void (*)(const MatmulJob& job, int64_t r0, int64_t r1);
void rows_avx2(const MatmulJob& job, int64_t r0, int64_t r1);
void rows_avx512(const MatmulJob& job, int64_t r0, int64_t r1);
void rows_neon(const MatmulJob& job, int64_t r0, int64_t r1);

// Rows handed to a thread at a time: a tile whose weights stay in cache while every
// token of the chunk passes over them.
constexpr int64_t kFastRowGroup = 16;

// The reference product (matmul.cpp): fp32 loops in simd.h's summation order.
struct MatmulScratch;
void matmul_reference(float* out, const float* x, int n, const Matrix& w, ThreadPool& pool,
                      MatmulScratch& scratch);

// The product with isa's kernels (Reference: matmul_reference). isa must be supported.
void matmul_with(Isa isa, float* out, const float* x, int n, const Matrix& w, ThreadPool& pool,
                 MatmulScratch& scratch);

}  // namespace tramontane::cpu
