// Differentiable 2-D pooling: max, average and adaptive average. Their backward kernels have no
// tensor-level ops of their own: the nodes dispatch to them directly.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/dispatch.h"
#include "tensor/ops.h"

namespace tg {

namespace {

// y[p, q] = max over window (p, q) of x; indices holds the position of the (first) maximum.
// With L = <dy, y>: dx[i] = sum of dy[p, q] over the windows whose maximum is i (a subgradient where
// values tie).
struct MaxPool2d : Node {
  Shape x_shape;
  Tensor saved_indices;  // int64, into each plane's H*W
  const char* name() const override { return "max_pool2d"; }
  Tensor forward(const Tensor& x, const Pool2dParams& p) {
    x_shape = x.shape();
    auto [y, indices] = tg::max_pool2d(x, p);
    saved_indices = indices;
    return y;
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dx = Tensor::zeros(x_shape, dy.dtype(), dy.device());
    TG_DISPATCH(dy.device(), max_pool2d_backward, dy, saved_indices, dx);
    return {dx};
  }
};

// y[p, q] = sum over window (p, q) of x / (kh * kw) (padding counts, as torch's default).
// dx[i] = sum over the windows that contain i of dy[p, q] / (kh * kw).
struct AvgPool2d : Node {
  Pool2dParams params;
  Shape x_shape;
  explicit AvgPool2d(const Pool2dParams& p) : params(p) {}
  const char* name() const override { return "avg_pool2d"; }
  Tensor forward(const Tensor& x) {
    x_shape = x.shape();
    return tg::avg_pool2d(x, params);
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dx = Tensor::zeros(x_shape, dy.dtype(), dy.device());
    TG_DISPATCH(dy.device(), avg_pool2d_backward, dy, dx, params);
    return {dx};
  }
};

// y[p, q] = mean of x over rows [floor(p H / P), ceil((p + 1) H / P)) and the like columns (torch's
// windows, which overlap when the sizes do not divide). dx[i] = sum over the windows that contain i
// of dy[p, q] / (window size).
struct AdaptiveAvgPool2d : Node {
  Shape x_shape;
  const char* name() const override { return "adaptive_avg_pool2d"; }
  Tensor forward(const Tensor& x, int64_t out_h, int64_t out_w) {
    x_shape = x.shape();
    return tg::adaptive_avg_pool2d(x, out_h, out_w);
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dx = Tensor::zeros(x_shape, dy.dtype(), dy.device());
    TG_DISPATCH(dy.device(), adaptive_avg_pool2d_backward, dy, dx);
    return {dx};
  }
};

}  // namespace

Variable max_pool2d(const Variable& x, const Pool2dParams& p) {
  auto fn = std::make_shared<MaxPool2d>();
  Tensor y = fn->forward(x.data(), p);
  return attach(std::move(fn), {x}, std::move(y));
}

Variable avg_pool2d(const Variable& x, const Pool2dParams& p) {
  auto fn = std::make_shared<AvgPool2d>(p);
  Tensor y = fn->forward(x.data());
  return attach(std::move(fn), {x}, std::move(y));
}

Variable adaptive_avg_pool2d(const Variable& x, int64_t out_h, int64_t out_w) {
  auto fn = std::make_shared<AdaptiveAvgPool2d>();
  Tensor y = fn->forward(x.data(), out_h, out_w);
  return attach(std::move(fn), {x}, std::move(y));
}

}  // namespace tg
