// What every reference kernel shares: the input check and broadcasting's index map.
#pragma once

#include "util/error.h"
#include "tensor/tensor.h"

namespace tg::reference {

// Reference kernels read float64 tensors on the CPU (tensors are always contiguous).
inline void check_f64(const Tensor& t, const char* kernel) {
  TG_CHECK(t.defined() && t.dtype() == DType::f64 && t.device().is_cpu(), "reference::", kernel,
           ": takes float64 CPU tensors, got ", t.defined() ? t.str() : "an undefined tensor",
           " (convert with .to(DType::f64).cpu())");
}

// The element of `in` that output element i of the broadcast shape `out` reads (numpy rules:
// shapes align on the right, a size-1 dimension repeats).
inline int64_t broadcast_index(int64_t i, const Shape& out, const Shape& in) {
  int64_t j = 0, stride = 1;
  for (int64_t d = static_cast<int64_t>(out.size()) - 1, e = static_cast<int64_t>(in.size()) - 1; e >= 0; --d, --e) {
    const int64_t coord = i % out[d];
    i /= out[d];
    if (in[e] != 1) j += coord * stride;
    stride *= in[e];
  }
  return j;
}

}  // namespace tg::reference
