// Differentiable softmax, log-softmax and the tempered cross-entropy (one fused op). Their
// derivations: docs/derivations/tempered_cross_entropy.md.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/ops.h"

namespace tg {

namespace {

// y = softmax(x) along `axis`: dx = y (dy - sum(dy y)); log_softmax: dx = dy - exp(y) sum(dy).
// reference::softmax_backward (tensor/reference/softmax.cpp)
struct Softmax : Node {
  bool log;
  int64_t axis;
  Tensor saved_y;
  Softmax(bool l, int64_t a, Tensor y) : log(l), axis(a), saved_y(std::move(y)) {}
  const char* name() const override { return log ? "log_softmax" : "softmax"; }
  std::vector<Tensor> backward(const Tensor& dy) override { return {tg::softmax_backward(dy, saved_y, log, axis)}; }
};

// loss_i = CE(z_i / tau, t_i), t = (1 - eps) onehot(y) + eps / C: dz_i = dloss_i (softmax(z_i / tau) - t_i) / tau
// (the paper's Eqs. 4-6). reference::cross_entropy_backward (tensor/reference/softmax.cpp)
struct CrossEntropy : Node {
  double tau, label_smoothing;
  Tensor saved_probs, saved_labels;
  CrossEntropy(double t, double eps, Tensor probs, Tensor labels)
      : tau(t), label_smoothing(eps), saved_probs(std::move(probs)), saved_labels(std::move(labels)) {}
  const char* name() const override { return "cross_entropy"; }
  std::vector<Tensor> backward(const Tensor& dlosses) override {
    return {tg::cross_entropy_backward(dlosses, saved_probs, saved_labels, tau, label_smoothing)};
  }
};

Variable softmax_of(const Variable& x, int64_t axis, bool log) {
  Tensor y = log ? tg::log_softmax(x.data(), axis) : tg::softmax(x.data(), axis);
  if (!needs_graph({&x})) return Variable(std::move(y));
  return attach(std::make_shared<Softmax>(log, axis, y), {x}, y);
}

}  // namespace

Variable softmax(const Variable& x, int64_t axis) { return softmax_of(x, axis, false); }
Variable log_softmax(const Variable& x, int64_t axis) { return softmax_of(x, axis, true); }

Variable cross_entropy_per_sample(const Variable& logits, const Tensor& labels, double tau, double label_smoothing) {
  CrossEntropyOutput out = tg::cross_entropy(logits.data(), labels, tau, label_smoothing);
  if (!needs_graph({&logits})) return Variable(std::move(out.losses));
  return attach(std::make_shared<CrossEntropy>(tau, label_smoothing, std::move(out.probs), labels), {logits},
                std::move(out.losses));
}

Variable cross_entropy(const Variable& logits, const Tensor& labels, double tau, double label_smoothing) {
  return mean(cross_entropy_per_sample(logits, labels, tau, label_smoothing));
}

}  // namespace tg
