// Differentiable layer norm over the last axis (Ba, Kiros & Hinton 2016), one fused op whose
// backward kernel has no tensor-level op of its own: the node dispatches to it directly.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/dispatch.h"
#include "tensor/ops.h"

namespace tg {

namespace {

// y = (x - mean) * invstd * gamma + beta over the last axis, invstd = 1 / sqrt(var + eps) (biased var).
// With L = <dy, y>, xhat = (x - mean) invstd, g = dy * gamma, means over the last axis
// (docs/derivations/layer_norm.md, Eqs. 3-5):
//   dx = invstd * (g - mean(g) - xhat * mean(g * xhat)),
//   dgamma = sum over rows of dy * xhat,   dbeta = sum over rows of dy.
struct LayerNorm : Node {
  Tensor saved_x, saved_gamma, saved_mean, saved_invstd;
  bool has_gamma = false, has_beta = false;
  const char* name() const override { return "layer_norm"; }
  Tensor forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps) {
    LayerNormOutput out = tg::layer_norm(x, gamma, beta, eps);
    saved_x = x;
    saved_gamma = gamma;
    saved_mean = out.mean;
    saved_invstd = out.invstd;
    has_gamma = gamma.defined();
    has_beta = beta.defined();
    return out.y;
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    // Inputs are (x, gamma, beta) with the undefined ones left out; find each one's slot.
    const size_t gamma_slot = 1, beta_slot = has_gamma ? 2 : 1;
    Tensor dx, dgamma, dbeta;
    if (needs_input_grad(0)) dx = Tensor::zeros_like(saved_x);
    if (has_gamma && needs_input_grad(gamma_slot)) dgamma = Tensor::zeros_like(saved_gamma);
    if (has_beta && needs_input_grad(beta_slot)) dbeta = Tensor::zeros({saved_x.size(-1)}, dy.dtype(), dy.device());
    TG_DISPATCH(dy.device(), layer_norm_backward, dy, saved_x, saved_gamma, saved_mean, saved_invstd, dx, dgamma,
                dbeta);
    std::vector<Tensor> grads{dx};
    if (has_gamma) grads.push_back(dgamma);
    if (has_beta) grads.push_back(dbeta);
    return grads;
  }
};

}  // namespace

Variable layer_norm(const Variable& x, const Variable& gamma, const Variable& beta, double eps) {
  auto fn = std::make_shared<LayerNorm>();
  Tensor y = fn->forward(x.data(), gamma.defined() ? gamma.data() : Tensor(), beta.defined() ? beta.data() : Tensor(),
                         eps);
  std::vector<Variable> inputs{x};
  if (gamma.defined()) inputs.push_back(gamma);
  if (beta.defined()) inputs.push_back(beta);
  return attach(std::move(fn), inputs, std::move(y));
}

}  // namespace tg
