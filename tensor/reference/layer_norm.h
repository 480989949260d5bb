// Reference layer norm (float64, plain loops) over the last axis of x [rows, cols]: the oracle for
// tensor/cpu/layer_norm.cpp and tensor/cuda/layer_norm.cu. gamma and beta [cols] may be undefined
// (1 and 0).
#pragma once

#include "tensor/tensor.h"

namespace tg::reference {

struct LayerNormOutput {
  Tensor y, saved_mean, saved_invstd;  // statistics [rows]
};
struct LayerNormGrads {
  Tensor dx, dgamma, dbeta;
};
LayerNormOutput layer_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps);
LayerNormGrads layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& saved_mean,
                                   const Tensor& saved_invstd);

}  // namespace tg::reference
