// Differentiable softmax, log-softmax and the tempered cross-entropy (one fused op). Their
// backward kernels have no tensor-level op of their own: these nodes dispatch to them directly.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/dispatch.h"
#include "tensor/ops.h"

namespace tg {

namespace {

// y = softmax(x) or log_softmax(x) along `axis`.
// With L = <dy, y> (docs/derivations/tempered_cross_entropy.md, Sec. 1):
//   softmax:      dx = y * (dy - sum_axis(dy * y))
//   log_softmax:  dx = dy - softmax(x) * sum_axis(dy)
// The kernel works on the last axis; another axis is permuted there and back.
struct Softmax : Node {
  bool log;
  int64_t axis = -1;
  Tensor saved_y;
  explicit Softmax(bool l) : log(l) {}
  const char* name() const override { return log ? "log_softmax" : "softmax"; }
  Tensor forward(const Tensor& x, int64_t ax) {
    axis = x.dim() ? wrap_axis(ax, x.dim(), name()) : 0;
    saved_y = log ? tg::log_softmax(x, axis) : tg::softmax(x, axis);
    return saved_y;
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    const bool last = saved_y.dim() == 0 || axis == saved_y.dim() - 1;
    std::vector<int64_t> perm;
    if (!last) {
      for (int64_t i = 0; i < saved_y.dim(); ++i) perm.push_back(i);
      std::swap(perm[axis], perm.back());
    }
    Tensor y = last ? saved_y : tg::permute(saved_y, perm), g = last ? dy : tg::permute(dy, perm);
    Tensor dx = Tensor::zeros_like(y);
    TG_DISPATCH(y.device(), softmax_backward, g, y, dx, log);
    return {last ? dx : tg::permute(dx, perm)};
  }
};

// loss_i = CE(z_i / tau, y_i) with target t = (1 - eps) onehot(y_i) + eps / C, one fused op.
// With L = sum_i dloss_i loss_i, the paper's Eqs. 4-6 (derived, with label smoothing, in
// docs/derivations/tempered_cross_entropy.md, Sec. 2):
//   dL/dz_i = dloss_i * (softmax(z_i / tau) - t) / tau.
// tests/autograd/test_grad_math.cpp compares it with the same loss built from log_softmax and gather.
struct CrossEntropy : Node {
  double tau, label_smoothing;
  Tensor saved_probs, saved_labels;
  CrossEntropy(double t, double eps) : tau(t), label_smoothing(eps) {}
  const char* name() const override { return "cross_entropy"; }
  Tensor forward(const Tensor& logits, const Tensor& labels) {
    CrossEntropyOutput out = tg::cross_entropy(logits, labels, tau, label_smoothing);
    saved_probs = out.probs;
    saved_labels = labels;
    return out.losses;
  }
  std::vector<Tensor> backward(const Tensor& dlosses) override {
    Tensor dlogits = Tensor::zeros_like(saved_probs);
    TG_DISPATCH(saved_probs.device(), cross_entropy_backward, dlosses, saved_probs, saved_labels, tau,
                label_smoothing, dlogits);
    return {dlogits};
  }
};

}  // namespace

Variable softmax(const Variable& x, int64_t axis) {
  auto fn = std::make_shared<Softmax>(false);
  Tensor y = fn->forward(x.data(), axis);
  return attach(std::move(fn), {x}, std::move(y));
}

Variable log_softmax(const Variable& x, int64_t axis) {
  auto fn = std::make_shared<Softmax>(true);
  Tensor y = fn->forward(x.data(), axis);
  return attach(std::move(fn), {x}, std::move(y));
}

Variable cross_entropy_per_sample(const Variable& logits, const Tensor& labels, double tau, double label_smoothing) {
  auto fn = std::make_shared<CrossEntropy>(tau, label_smoothing);
  Tensor losses = fn->forward(logits.data(), labels);
  return attach(std::move(fn), {logits}, std::move(losses));
}

Variable cross_entropy(const Variable& logits, const Tensor& labels, double tau, double label_smoothing) {
  return mean(cross_entropy_per_sample(logits, labels, tau, label_smoothing));
}

}  // namespace tg
