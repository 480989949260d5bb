// Reference optimizer updates, one element at a time, written as their sources write them.
#include "tensor/reference/optim.h"

#include <cmath>

#include "tensor/reference/common.h"

namespace tg::reference {

// SGD with momentum, dampening, Nesterov and weight decay: the algorithm box of torch.optim.SGD
// (momentum as Sutskever et al. 2013):
//   g = grad + weight_decay param
//   if momentum != 0:  b = g (first step) or momentum b + (1 - dampening) g
//                      g = g + momentum b (nesterov) or b
//   param = param - lr g
SgdState sgd_step(const Tensor& grad, const Tensor& param, const Tensor& momentum_buf, const SgdParams& p) {
  check_f64(param, "sgd_step");
  check_f64(grad, "sgd_step");
  SgdState s{param.clone(), p.momentum != 0 ? momentum_buf.clone() : Tensor()};
  for (int64_t i = 0; i < param.numel(); ++i) {
    double& w = s.param.data<double>()[i];
    double g = grad.data<double>()[i] + p.weight_decay * w;
    if (p.momentum != 0) {
      double& b = s.momentum_buf.data<double>()[i];
      b = p.first_step ? g : p.momentum * b + (1 - p.dampening) * g;
      g = p.nesterov ? g + p.momentum * b : b;
    }
    w -= p.lr * g;
  }
  return s;
}

// Adam (Kingma & Ba 2015, Algorithm 1, with eps added to the bias-corrected sqrt(v) as
// torch.optim.Adam does) and AdamW (Loshchilov & Hutter 2019, Algorithm 2; torch.optim.AdamW), step t:
//   Adam:  g = grad + weight_decay param           AdamW:  param = param (1 - lr weight_decay), g = grad
//   m = beta1 m + (1 - beta1) g,   v = beta2 v + (1 - beta2) g^2
//   mhat = m / (1 - beta1^t),   vhat = v / (1 - beta2^t),   param = param - lr mhat / (sqrt(vhat) + eps)
AdamState adam_step(const Tensor& grad, const Tensor& param, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                    const AdamParams& p) {
  for (const Tensor* t : {&param, &grad, &exp_avg, &exp_avg_sq}) check_f64(*t, "adam_step");
  AdamState s{param.clone(), exp_avg.clone(), exp_avg_sq.clone()};
  const double t = static_cast<double>(p.step);
  for (int64_t i = 0; i < param.numel(); ++i) {
    double &w = s.param.data<double>()[i], &m = s.exp_avg.data<double>()[i], &v = s.exp_avg_sq.data<double>()[i];
    double g = grad.data<double>()[i];
    if (p.decoupled)
      w *= 1 - p.lr * p.weight_decay;
    else
      g += p.weight_decay * w;
    m = p.beta1 * m + (1 - p.beta1) * g;
    v = p.beta2 * v + (1 - p.beta2) * g * g;
    const double mhat = m / (1 - std::pow(p.beta1, t)), vhat = v / (1 - std::pow(p.beta2, t));
    w -= p.lr * mhat / (std::sqrt(vhat) + p.eps);
  }
  return s;
}

}  // namespace tg::reference
