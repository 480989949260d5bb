// Differentiable batch norm 2d (Ioffe & Szegedy 2015), one fused op whose backward kernel has no
// tensor-level op of its own: the node dispatches to it directly.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/dispatch.h"
#include "tensor/ops.h"

namespace tg {

namespace {

// Per channel c of x [N, C, H, W]: y = gamma_c (x - mean_c) invstd_c + beta_c. Training uses the
// batch's mean and invstd = 1 / sqrt(biased var + eps) and updates the running statistics; eval uses
// the running ones. With L = <dy, y>, xhat = (x - mean) invstd, M = N*H*W:
//   dgamma_c = sum dy xhat,   dbeta_c = sum dy,
//   training: dx = gamma invstd (dy - dbeta_c / M - xhat dgamma_c / M)
//             (the statistics depend on x; Ioffe & Szegedy 2015, Sec. 3; docs/derivations/batch_norm.md)
//   eval:     dx = gamma invstd dy   (constant statistics: what attacks on eval-mode models need)
struct BatchNorm : Node {
  bool training;
  Tensor saved_x, saved_gamma, saved_mean, saved_invstd;
  explicit BatchNorm(bool t) : training(t) {}
  const char* name() const override { return "batch_norm"; }
  Tensor forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                 Tensor& running_var, double momentum, double eps) {
    BatchNormOutput out = tg::batch_norm(x, gamma, beta, running_mean, running_var, training, momentum, eps);
    saved_x = x;
    saved_gamma = gamma;
    saved_mean = out.mean;
    saved_invstd = out.invstd;
    return out.y;
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dx, dgamma, dbeta;
    if (needs_input_grad(0)) dx = Tensor::zeros_like(saved_x);
    if (needs_input_grad(1)) dgamma = Tensor::zeros_like(saved_gamma);
    if (needs_input_grad(2)) dbeta = Tensor::zeros_like(saved_gamma);
    TG_DISPATCH(dy.device(), batch_norm_backward, dy, saved_x, saved_gamma, saved_mean, saved_invstd, training, dx,
                dgamma, dbeta);
    return {dx, dgamma, dbeta};
  }
};

}  // namespace

// An undefined gamma or beta means no affine part (gamma = 1, beta = 0, no gradient).
Variable batch_norm(const Variable& x, const Variable& gamma, const Variable& beta, Tensor& running_mean,
                    Tensor& running_var, bool training, double momentum, double eps) {
  const Tensor& xd = x.data();
  TG_CHECK(xd.dim() == 4, "batch_norm: input must be 4-D [N, C, H, W], got ", shape_str(xd.shape()));
  const Shape c_shape{xd.size(1)};
  Tensor g = gamma.defined() ? gamma.data() : Tensor::ones(c_shape, xd.dtype(), xd.device());
  Tensor b = beta.defined() ? beta.data() : Tensor::zeros(c_shape, xd.dtype(), xd.device());
  auto fn = std::make_shared<BatchNorm>(training);
  Tensor y = fn->forward(xd, g, b, running_mean, running_var, momentum, eps);
  return attach(std::move(fn), {x, gamma, beta}, std::move(y));
}

}  // namespace tg
