// Reference batch norm 2d (float64, plain loops): the oracle for tensor/cpu/batch_norm.cpp and
// tensor/cuda/batch_norm.cu. x [N, C, H, W]; gamma, beta and the statistics [C].
#pragma once

#include "tensor/tensor.h"

namespace tg::reference {

struct BatchNormTrainOutput {
  Tensor y, saved_mean, saved_invstd, running_mean, running_var;  // running_*: the updated copies
};
struct BatchNormGrads {
  Tensor dx, dgamma, dbeta;
};
BatchNormTrainOutput batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                              const Tensor& running_mean, const Tensor& running_var,
                                              double momentum, double eps);
Tensor batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                               const Tensor& running_var, double eps);
// batch_stats: mean and invstd were the batch's (training); otherwise they are constants (eval).
BatchNormGrads batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                                   const Tensor& invstd, bool batch_stats);

}  // namespace tg::reference
