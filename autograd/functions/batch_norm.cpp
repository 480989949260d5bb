// Differentiable batch norm 2d (Ioffe & Szegedy 2015), one fused op; derivation in
// docs/derivations/batch_norm.md.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/ops.h"

namespace tg {

namespace {

// y = gamma xhat + beta, xhat = (x - mean) invstd per channel: dgamma = sum dy xhat, dbeta = sum dy,
// dx = gamma invstd (dy - mean(dy) - xhat mean(dy xhat)) with batch statistics (training), gamma invstd dy
// with the running ones (eval).  reference::batch_norm_backward (tensor/reference/batch_norm.cpp)
struct BatchNorm : Node {
  bool training;
  Tensor saved_x, saved_gamma, saved_mean, saved_invstd;
  BatchNorm(bool t, Tensor x, Tensor gamma, BatchNormOutput& out)
      : training(t), saved_x(std::move(x)), saved_gamma(std::move(gamma)), saved_mean(std::move(out.mean)),
        saved_invstd(std::move(out.invstd)) {}
  const char* name() const override { return "batch_norm"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    NormGrads g = tg::batch_norm_backward(dy, saved_x, saved_gamma, saved_mean, saved_invstd, training,
                                          {needs_input_grad(0), needs_input_grad(1), needs_input_grad(2)});
    return {g.dx, g.dgamma, g.dbeta};
  }
};

}  // namespace

// An undefined gamma or beta means no affine part (gamma = 1, beta = 0, no gradient), in the running
// statistics' dtype (float32 for bfloat16 activations).
Variable batch_norm(const Variable& x, const Variable& gamma, const Variable& beta, Tensor& running_mean,
                    Tensor& running_var, bool training, double momentum, double eps) {
  const Tensor& xd = x.data();
  TG_CHECK(xd.dim() == 4, "batch_norm: input must be 4-D [N, C, H, W], got ", shape_str(xd.shape()));
  const Shape c_shape{xd.size(1)};
  const DType stats = running_mean.defined() ? running_mean.dtype() : xd.dtype();
  Tensor g = gamma.defined() ? gamma.data() : Tensor::ones(c_shape, stats, xd.device());
  Tensor b = beta.defined() ? beta.data() : Tensor::zeros(c_shape, stats, xd.device());
  BatchNormOutput out = tg::batch_norm(xd, g, b, running_mean, running_var, training, momentum, eps);
  if (!needs_graph({&x, &gamma, &beta})) return Variable(std::move(out.y));
  Tensor y = std::move(out.y);
  return attach(std::make_shared<BatchNorm>(training, xd, std::move(g), out), {x, gamma, beta}, std::move(y));
}

}  // namespace tg
