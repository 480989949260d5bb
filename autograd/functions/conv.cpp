// Differentiable 2-D convolution (cross-correlation, as torch) with an optional bias.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/ops.h"

namespace tg {

namespace {

// y = conv(x, w) + b (linear in x and in w): dx = conv_transpose(dy, w), dw = sum_n dy[n] (*) x[n],
// db = sum_{n,p,q} dy.  reference::conv2d_backward_data, reference::conv2d_backward_filter
// (tensor/reference/conv2d.cpp)
struct Conv2d : Node {
  Conv2dParams params;
  Shape x_shape, w_shape;
  Tensor saved_x, saved_w;  // x only when w's gradient can be asked for, w only when x's can
  Conv2d(const Conv2dParams& p, const Variable& x, const Variable& w)
      : params(p), x_shape(x.shape()), w_shape(w.shape()) {
    if (w.requires_grad()) saved_x = x.data();
    if (x.requires_grad()) saved_w = w.data();
  }
  const char* name() const override { return "conv2d"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dx, dw, db;
    if (needs_input_grad(0)) dx = tg::conv2d_backward_data(dy, saved_w, x_shape, params);
    if (needs_input_grad(1)) dw = tg::conv2d_backward_filter(dy, saved_x, w_shape, params);
    if (needs_input_grad(2)) db = tg::sum(dy, {0, 2, 3});
    return {dx, dw, db};
  }
};

}  // namespace

Variable conv2d(const Variable& x, const Variable& w, const Variable& b, const Conv2dParams& p) {
  Tensor y = tg::conv2d(x.data(), w.data(), p);
  if (b.defined()) {
    TG_CHECK(b.shape() == Shape{w.size(0)}, "conv2d: bias ", shape_str(b.shape()), " must be [", w.size(0),
             "] for weight ", shape_str(w.shape()));
    tg::add_(y, b.data().reshape({1, w.size(0), 1, 1}));
  }
  if (!needs_graph({&x, &w, &b})) return Variable(std::move(y));
  return attach(std::make_shared<Conv2d>(p, x, w), {x, w, b}, std::move(y));
}

}  // namespace tg
