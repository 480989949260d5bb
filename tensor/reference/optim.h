// Reference optimizer updates (float64, plain loops): the oracle for tensor/cpu/optim.cpp and
// tensor/cuda/optim.cu. Each returns the updated tensors; its inputs are left as they were.
#pragma once

#include "tensor/kernel_types.h"
#include "tensor/tensor.h"

namespace tg::reference {

struct SgdState {
  Tensor param, momentum_buf;  // momentum_buf undefined when momentum is 0
};
struct AdamState {
  Tensor param, exp_avg, exp_avg_sq;
};
SgdState sgd_step(const Tensor& grad, const Tensor& param, const Tensor& momentum_buf, const SgdParams& p);
AdamState adam_step(const Tensor& grad, const Tensor& param, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                    const AdamParams& p);

}  // namespace tg::reference
