// Reference reductions (float64, plain loops) over the middle axis of an [outer, n, inner] view of x:
// the oracle for tensor/cpu/reduce.cpp and tensor/cuda/reduce.cu. Outputs are [outer, inner].
#pragma once

#include "tensor/kernel_types.h"
#include "tensor/tensor.h"

namespace tg::reference {

// argmax/argmin give int64 (the first index of the extreme); the rest float64.
Tensor reduce(const Tensor& x, int64_t outer, int64_t n, int64_t inner, ReduceOp op);
Tensor reduce_backward(const Tensor& dy, const Tensor& x, int64_t outer, int64_t n, int64_t inner, ReduceOp op);
Tensor variance(const Tensor& x, int64_t outer, int64_t n, int64_t inner, int64_t correction);
Tensor variance_backward(const Tensor& dy, const Tensor& x, int64_t outer, int64_t n, int64_t inner,
                         int64_t correction);

}  // namespace tg::reference
