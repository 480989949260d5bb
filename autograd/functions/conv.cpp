// Differentiable 2-D convolution (cross-correlation, as torch) with an optional bias.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/ops.h"

namespace tg {

namespace {

// y[n, k, p, q] = sum_{c, r, s} w[k, c, r, s] x[n, c, p*sh - ph + r, q*sw - pw + s] + b[k].
// y is linear in x and in w, so with L = <dy, y> each gradient is the adjoint map applied to dy
// (Dumoulin & Visin 2016, "A guide to convolution arithmetic", Sec. 4: the transposed convolution):
//   dx = conv_transpose(dy, w)    (tensor/cpu/conv2d.cpp: col2im(W^T dY))
//   dw = sum_n dy[n] (*) x[n]     (dW = dY col^T)
//   db[k] = sum_{n, p, q} dy[n, k, p, q]
struct Conv2d : Node {
  Conv2dParams params;
  Tensor saved_x, saved_w;
  explicit Conv2d(const Conv2dParams& p) : params(p) {}
  const char* name() const override { return "conv2d"; }
  Tensor forward(const Tensor& x, const Tensor& w, const Tensor& b) {
    saved_x = x;
    saved_w = w;
    Tensor y = tg::conv2d(x, w, params);
    if (b.defined()) {
      TG_CHECK(b.shape() == Shape{w.size(0)}, "conv2d: bias ", shape_str(b.shape()), " must be [", w.size(0),
               "] for weight ", shape_str(w.shape()));
      tg::add_(y, b.reshape({1, w.size(0), 1, 1}));
    }
    return y;
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dx, dw, db;
    if (needs_input_grad(0)) dx = tg::conv2d_backward_data(dy, saved_w, saved_x.shape(), params);
    if (needs_input_grad(1)) dw = tg::conv2d_backward_filter(dy, saved_x, saved_w.shape(), params);
    if (needs_input_grad(2)) db = tg::sum(dy, {0, 2, 3});
    return {dx, dw, db};
  }
};

}  // namespace

Variable conv2d(const Variable& x, const Variable& w, const Variable& b, const Conv2dParams& p) {
  auto fn = std::make_shared<Conv2d>(p);
  Tensor y = fn->forward(x.data(), w.data(), b.defined() ? b.data() : Tensor());
  return attach(std::move(fn), {x, w, b}, std::move(y));
}

}  // namespace tg
