// cuBLASLt behind Gemm. Row-major y[m][n] = x[m][k] · w[n][k]ᵀ is, in cuBLAS's
// column-major terms, yᵀ (n × m) = op(W) · X with W stored as a k × n matrix (ld k)
// and transposed, X stored as k × m (ld k): the "TN" layout.
#include <cublasLt.h>

#include <algorithm>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "gemm.h"

namespace tramontane::cuda {
namespace {

void check(cublasStatus_t st, const char* what) {
  if (st != CUBLAS_STATUS_SUCCESS)
    throw Error(std::string("cuBLASLt error ") + std::to_string(int(st)) + " in " + what);
}
#define TR_LT_CHECK(expr) check((expr), #expr)

constexpr size_t kWorkspaceBytes = size_t(32) << 20;

struct Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  std::vector<cublasLtMatmulAlgo_t> algos;  // candidates, best first
  ~Plan() {
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

}  // namespace

struct Gemm::Impl {
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
  std::map<std::tuple<int, int, int, bool>, std::unique_ptr<Plan>> plans;

  Plan& plan(int m, int n, int k, bool y_f32) {
    auto key = std::make_tuple(m, n, k, y_f32);
    auto it = plans.find(key);
    if (it != plans.end()) return *it->second;
    auto p = std::make_unique<Plan>();
    TR_LT_CHECK(cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    TR_LT_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
    TR_LT_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
    TR_LT_CHECK(cublasLtMatrixLayoutCreate(&p->a, CUDA_R_16F, uint64_t(k), uint64_t(n), int64_t(k)));
    TR_LT_CHECK(cublasLtMatrixLayoutCreate(&p->b, CUDA_R_16F, uint64_t(k), uint64_t(m), int64_t(k)));
    TR_LT_CHECK(cublasLtMatrixLayoutCreate(&p->c, y_f32 ? CUDA_R_32F : CUDA_R_16F, uint64_t(n),
                                           uint64_t(m), int64_t(n)));
    cublasLtMatmulPreference_t pref = nullptr;
    TR_LT_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    size_t ws = kWorkspaceBytes;
    TR_LT_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                     &ws, sizeof(ws)));
    cublasLtMatmulHeuristicResult_t results[8];
    int found = 0;
    const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(handle, p->op, p->a, p->b, p->c, p->c,
                                                             pref, 8, results, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    check(st, "cublasLtMatmulAlgoGetHeuristic");
    for (int i = 0; i < found; ++i)
      if (results[i].state == CUBLAS_STATUS_SUCCESS) p->algos.push_back(results[i].algo);
    if (p->algos.empty())
      throw Error("cuBLASLt has no algorithm for a " + std::to_string(m) + "x" + std::to_string(n) +
                  "x" + std::to_string(k) + " f16 product");
    Plan& ref = *p;
    plans.emplace(key, std::move(p));
    return ref;
  }

  void matmul(cudaStream_t stream, Plan& p, const cublasLtMatmulAlgo_t& algo, const f16* x,
              const f16* w, void* y, bool accumulate) {
    const float alpha = 1.f, beta = accumulate ? 1.f : 0.f;
    TR_LT_CHECK(cublasLtMatmul(handle, p.op, &alpha, w, p.a, x, p.b, &beta, y, p.c, y, p.c, &algo,
                               workspace, kWorkspaceBytes, stream));
  }
};

Gemm::Gemm() : impl_(new Impl) {
  TR_LT_CHECK(cublasLtCreate(&impl_->handle));
  TR_CUDA_CHECK(cudaMalloc(&impl_->workspace, kWorkspaceBytes));
}

Gemm::~Gemm() {
  impl_->plans.clear();
  if (impl_->workspace) cudaFree(impl_->workspace);
  if (impl_->handle) cublasLtDestroy(impl_->handle);
}

void Gemm::run(cudaStream_t stream, const f16* x, const f16* w, void* y, bool y_f32, int m,
               int n, int k, bool accumulate) {
  if (m <= 0) return;
  Plan& p = impl_->plan(m, n, k, y_f32);
  impl_->matmul(stream, p, p.algos.front(), x, w, y, accumulate);
  TR_CUDA_CHECK(cudaGetLastError());
}

float Gemm::tune(cudaStream_t stream, const f16* x, const f16* w, void* y, bool y_f32, int m,
                 int n, int k, int reps) {
  Plan& p = impl_->plan(m, n, k, y_f32);
  cudaEvent_t start, stop;
  TR_CUDA_CHECK(cudaEventCreate(&start));
  TR_CUDA_CHECK(cudaEventCreate(&stop));
  float best = 1e30f;
  size_t best_i = 0;
  for (size_t i = 0; i < p.algos.size(); ++i) {
    impl_->matmul(stream, p, p.algos[i], x, w, y, false);  // warm-up
    std::vector<float> times;
    for (int r = 0; r < reps; ++r) {
      TR_CUDA_CHECK(cudaEventRecord(start, stream));
      impl_->matmul(stream, p, p.algos[i], x, w, y, false);
      TR_CUDA_CHECK(cudaEventRecord(stop, stream));
      TR_CUDA_CHECK(cudaEventSynchronize(stop));
      float ms = 0.f;
      TR_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
      times.push_back(ms);
    }
    std::sort(times.begin(), times.end());
    const float med = times[times.size() / 2];
    if (med < best) {
      best = med;
      best_i = i;
    }
  }
  std::swap(p.algos[0], p.algos[best_i]);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return best;
}

}  // namespace tramontane::cuda
