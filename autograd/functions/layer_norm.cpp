// Differentiable layer norm over the last axis (Ba, Kiros & Hinton 2016), one fused op; derivation
// in docs/derivations/layer_norm.md.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/ops.h"

namespace tg {

namespace {

// y = gamma xhat + beta, xhat = (x - mean) invstd over the last axis, g = dy gamma:
// dx = invstd (g - mean(g) - xhat mean(g xhat)), dgamma = sum_rows dy xhat, dbeta = sum_rows dy.
// reference::layer_norm_backward (tensor/reference/layer_norm.cpp)
struct LayerNorm : Node {
  Tensor saved_x, saved_gamma, saved_mean, saved_invstd;
  bool has_beta;
  LayerNorm(Tensor x, Tensor gamma, LayerNormOutput& out, bool beta)
      : saved_x(std::move(x)), saved_gamma(std::move(gamma)), saved_mean(std::move(out.mean)),
        saved_invstd(std::move(out.invstd)), has_beta(beta) {}
  const char* name() const override { return "layer_norm"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    // Inputs are (x, gamma, beta) with the undefined ones left out; find each one's slot.
    const bool has_gamma = saved_gamma.defined();
    const size_t beta_slot = has_gamma ? 2 : 1;
    NormGrads g = tg::layer_norm_backward(
        dy, saved_x, saved_gamma, saved_mean, saved_invstd,
        {needs_input_grad(0), has_gamma && needs_input_grad(1), has_beta && needs_input_grad(beta_slot)});
    std::vector<Tensor> grads{g.dx};
    if (has_gamma) grads.push_back(g.dgamma);
    if (has_beta) grads.push_back(g.dbeta);
    return grads;
  }
};

}  // namespace

Variable layer_norm(const Variable& x, const Variable& gamma, const Variable& beta, double eps) {
  return layer_norm(x, gamma, beta, eps, x.dtype());
}

// y in `out`; the backward gets dy in y's dtype and gives dx in x's (the kernels mix float32 and
// bfloat16 activations around float32 parameters and statistics).
Variable layer_norm(const Variable& x, const Variable& gamma, const Variable& beta, double eps, DType out_dtype) {
  const Tensor g = gamma.defined() ? gamma.data() : Tensor();
  LayerNormOutput out = tg::layer_norm(x.data(), g, beta.defined() ? beta.data() : Tensor(), eps, out_dtype);
  if (!needs_graph({&x, &gamma, &beta})) return Variable(std::move(out.y));
  std::vector<Variable> inputs{x};
  if (gamma.defined()) inputs.push_back(gamma);
  if (beta.defined()) inputs.push_back(beta);
  Tensor y = std::move(out.y);
  return attach(std::make_shared<LayerNorm>(x.data(), g, out, beta.defined()), inputs, std::move(y));
}

}  // namespace tg
