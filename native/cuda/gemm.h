// Prefill matrix products on tensor cores through cuBLASLt (f16 inputs, fp32
// accumulation). This header does not include cuBLAS, so code that only calls Gemm
// compiles without it; gemm.cu needs cuBLASLt.
#pragma once

#include <cuda_runtime.h>

#include <memory>

#include "common.cuh"

namespace tramontane::cuda {

class Gemm {
 public:
  Gemm();
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  // y = x · wᵀ for x: f16 [m][k] row-major and w: f16 [n][k] (nn.Linear layout).
  // y: [m][n] row-major, fp32 when y_f32 else f16. accumulate: y += x · wᵀ.
  void run(cudaStream_t stream, const f16* x, const f16* w, void* y, bool y_f32, int m, int n,
           int k, bool accumulate);

  // Times the candidate algorithms cuBLASLt proposes for this shape on the given
  // buffers (filled with real data) and keeps the fastest for later run() calls.
  // Returns the best time in milliseconds.
  float tune(cudaStream_t stream, const f16* x, const f16* w, void* y, bool y_f32, int m, int n,
             int k, int reps);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tramontane::cuda
