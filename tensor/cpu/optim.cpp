// CPU optimizer updates, in place, with torch.optim semantics (one fused pass per parameter).
#include <cmath>

#include "tensor/cpu/parallel.h"
#include "tensor/kernels.h"

namespace tg::cpu {

// SGD (torch.optim.SGD):
//   g = grad + weight_decay * param
//   buf = g on the first step, else momentum * buf + (1 - dampening) * g     (momentum != 0)
//   g = g + momentum * buf (Nesterov) or g = buf                            (momentum != 0)
//   param -= lr * g
// momentum_buf may be undefined when momentum is 0.
void sgd_step(const Tensor& grad, Tensor& param, Tensor& momentum_buf, const SgdParams& p) {
  visit_floating(param.dtype(), "sgd_step", [&](auto zero) {
    using T = decltype(zero);
    T* w = param.data<T>();
    const T* g = grad.data<T>();
    T* buf = p.momentum != 0.0 ? momentum_buf.data<T>() : nullptr;
    const T lr = static_cast<T>(p.lr), mom = static_cast<T>(p.momentum), damp = static_cast<T>(1.0 - p.dampening),
            wd = static_cast<T>(p.weight_decay);
    parallel_for(param.numel(), 4, [&](int64_t i) {
      T d = g[i] + wd * w[i];
      if (buf) {
        buf[i] = p.first_step ? d : mom * buf[i] + damp * d;
        d = p.nesterov ? d + mom * buf[i] : buf[i];
      }
      w[i] -= lr * d;
    });
  });
}

// Adam (torch.optim.Adam) and AdamW (decoupled, torch.optim.AdamW), step t = p.step (1-based):
//   Adam:  g = grad + weight_decay * param          AdamW: param *= 1 - lr * weight_decay
//   m = beta1 * m + (1 - beta1) * g,   v = beta2 * v + (1 - beta2) * g^2
//   param -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
void adam_step(const Tensor& grad, Tensor& param, Tensor& exp_avg, Tensor& exp_avg_sq, const AdamParams& p) {
  visit_floating(param.dtype(), "adam_step", [&](auto zero) {
    using T = decltype(zero);
    T* w = param.data<T>();
    const T* g = grad.data<T>();
    T* m = exp_avg.data<T>();
    T* v = exp_avg_sq.data<T>();
    const double t = static_cast<double>(p.step);
    const T b1 = static_cast<T>(p.beta1), b2 = static_cast<T>(p.beta2), eps = static_cast<T>(p.eps);
    const T step_size = static_cast<T>(p.lr / (1.0 - std::pow(p.beta1, t)));
    const T inv_sqrt_bc2 = static_cast<T>(1.0 / std::sqrt(1.0 - std::pow(p.beta2, t)));
    const T coupled_wd = static_cast<T>(p.decoupled ? 0.0 : p.weight_decay);
    const T decay = static_cast<T>(p.decoupled ? 1.0 - p.lr * p.weight_decay : 1.0);
    parallel_for(param.numel(), 8, [&](int64_t i) {
      const T d = g[i] + coupled_wd * w[i];
      m[i] = b1 * m[i] + (1 - b1) * d;
      v[i] = b2 * v[i] + (1 - b2) * d * d;
      w[i] = decay * w[i] - step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
    });
  });
}

}  // namespace tg::cpu
