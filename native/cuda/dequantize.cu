// A device matrix back to f16 rows, for the prefill path's cuBLASLt products: each
// thread expands one run of 8 values with the same reader the gemv kernels use, so both
// paths multiply by the same f16 weights.
#include "ops.h"
#include "weight_formats.cuh"

namespace tramontane::cuda {
namespace {

template <class W>
__global__ void dequantize_kernel(W w, int rows, int cols, f16* __restrict__ out) {
  pdl_enter();
  const int runs = cols / 8;
  const size_t total = size_t(rows) * runs;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += size_t(gridDim.x) * blockDim.x) {
    const int r = int(i / runs), run = int(i % runs);
    *reinterpret_cast<uint4*>(out + size_t(r) * cols + 8 * run) = read_run(w, r, run);
  }
}

}  // namespace

void dequantize(const Launch& l, const DeviceMatrix& m, f16* out) {
  if (m.cols % 32 != 0) throw Error("dequantize: width must be a multiple of 32");
  const size_t runs = size_t(m.rows) * (m.cols / 8);
  // A grid-stride loop: 16 blocks of 256 threads per SM keep this card's SMs busy.
  int dev = 0, sms = 0;
  TR_CUDA_CHECK(cudaGetDevice(&dev));
  TR_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  const int blocks = int(std::min<size_t>((runs + 255) / 256, size_t(sms) * 16));
  visit_rows(m, [&](const auto& w) {
    launch(l, dequantize_kernel<std::decay_t<decltype(w)>>, dim3(blocks), dim3(256), 0, w, m.rows,
           m.cols, out);
  });
}

}  // namespace tramontane::cuda
