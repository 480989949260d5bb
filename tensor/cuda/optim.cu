// CUDA fused optimizer updates, in place, with torch.optim semantics as the CPU (tensor/cpu/optim.cpp).
// SGD:  g = grad + wd p; with momentum: buf = first_step ? g : m buf + (1 - dampening) g,
//       g = nesterov ? g + m buf : buf; p -= lr g.
// Adam: decoupled (AdamW): p *= 1 - lr wd, else g = grad + wd p; m = b1 m + (1 - b1) g;
//       v = b2 v + (1 - b2) g^2; p -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
//       (Kingma & Ba 2015, Alg. 1; Loshchilov & Hutter 2019 for the decoupled weight decay).
// One thread per parameter; the bias corrections are computed once on the host.
#include <cmath>

#include "tensor/cuda/common.cuh"

namespace tg::cuda {

// kernels

namespace {

template <class T>
struct SgdFn {
  T* p;
  const T* grad;
  T* buf;  // nullptr without momentum
  T lr, momentum, damp, wd;  // damp = 1 - dampening
  bool nesterov, first_step;
  __device__ void operator()(int64_t i) const {
    T g = grad[i] + wd * p[i];
    if (buf) {
      const T b = first_step ? g : momentum * buf[i] + damp * g;
      buf[i] = b;
      g = nesterov ? g + momentum * b : b;
    }
    p[i] -= lr * g;
  }
};

// The CPU's arithmetic: w = decay w - step_size m / (sqrt(v) inv_sqrt_bc2 + eps), with
// step_size = lr / (1 - b1^t), inv_sqrt_bc2 = 1 / sqrt(1 - b2^t), and either decay = 1 - lr wd
// (decoupled) or the weight decay added to the gradient (coupled_wd).
template <class T>
struct AdamFn {
  T *w, *m, *v;
  const T* grad;
  T beta1, beta2, eps, step_size, inv_sqrt_bc2, coupled_wd, decay;
  __device__ void operator()(int64_t i) const {
    const T d = grad[i] + coupled_wd * w[i];
    const T mi = beta1 * m[i] + (T(1) - beta1) * d;
    const T vi = beta2 * v[i] + (T(1) - beta2) * d * d;
    m[i] = mi;
    v[i] = vi;
    w[i] = decay * w[i] - step_size * mi / (sqrt(vi) * inv_sqrt_bc2 + eps);
  }
};

}  // namespace

// launchers

void sgd_step(const Tensor& grad, Tensor& param, Tensor& momentum_buf, const SgdParams& p) {
  visit_floating(param.dtype(), "sgd_step", [&](auto zero) {
    using T = decltype(zero);
    T* buf = p.momentum != 0.0 ? momentum_buf.data<T>() : nullptr;
    launch_map(param.numel(),
               SgdFn<T>{param.data<T>(), grad.data<T>(), buf, static_cast<T>(p.lr), static_cast<T>(p.momentum),
                        static_cast<T>(1.0 - p.dampening), static_cast<T>(p.weight_decay), p.nesterov, p.first_step},
               "sgd_step", param.shape());
  });
}

void adam_step(const Tensor& grad, Tensor& param, Tensor& exp_avg, Tensor& exp_avg_sq, const AdamParams& p) {
  const double t = static_cast<double>(p.step);
  const double step_size = p.lr / (1.0 - std::pow(p.beta1, t));
  const double inv_sqrt_bc2 = 1.0 / std::sqrt(1.0 - std::pow(p.beta2, t));
  const double coupled_wd = p.decoupled ? 0.0 : p.weight_decay, decay = p.decoupled ? 1.0 - p.lr * p.weight_decay : 1.0;
  visit_floating(param.dtype(), "adam_step", [&](auto zero) {
    using T = decltype(zero);
    launch_map(param.numel(),
               AdamFn<T>{param.data<T>(), exp_avg.data<T>(), exp_avg_sq.data<T>(), grad.data<T>(),
                         static_cast<T>(p.beta1), static_cast<T>(p.beta2), static_cast<T>(p.eps),
                         static_cast<T>(step_size), static_cast<T>(inv_sqrt_bc2), static_cast<T>(coupled_wd),
                         static_cast<T>(decay)},
               "adam_step", param.shape());
  });
}

}  // namespace tg::cuda
