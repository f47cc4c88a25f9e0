// Sets the quantized dot-product kernel for one scope and restores the one in use after,
// for tests that must run a model on a given kernel (the exact one, Reference, where two
// computations that are equal in arithmetic must agree to float rounding).
#pragma once

#include "quant_dot.h"

namespace harness {

struct KernelScope {
  tramontane::cpu::QuantKernel saved = tramontane::cpu::quant_kernel();
  explicit KernelScope(tramontane::cpu::QuantKernel k) { tramontane::cpu::set_quant_kernel(k); }
  ~KernelScope() { tramontane::cpu::set_quant_kernel(saved); }
  KernelScope(const KernelScope&) = delete;
  KernelScope& operator=(const KernelScope&) = delete;
};

}  // namespace harness
