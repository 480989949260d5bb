// Differentiable 2-D pooling: max, average and adaptive average.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/ops.h"

namespace tg {

namespace {

// y[p, q] = max of window (p, q), at indices: dx[i] = sum of dy over the windows whose (first) maximum is i.
// reference::max_pool2d_backward (tensor/reference/pool.cpp)
struct MaxPool2d : Node {
  Pool2dParams params;
  Shape x_shape;
  Tensor saved_indices;  // int64, into each plane's H*W
  MaxPool2d(const Pool2dParams& p, Shape s, Tensor indices)
      : params(p), x_shape(std::move(s)), saved_indices(std::move(indices)) {}
  const char* name() const override { return "max_pool2d"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {tg::max_pool2d_backward(dy, saved_indices, x_shape, params)};
  }
};

// y[p, q] = sum of window (p, q) / (kh kw): dx[i] = sum of dy / (kh kw) over the windows that contain i.
// reference::avg_pool2d_backward (tensor/reference/pool.cpp)
struct AvgPool2d : Node {
  Pool2dParams params;
  Shape x_shape;
  AvgPool2d(const Pool2dParams& p, Shape s) : params(p), x_shape(std::move(s)) {}
  const char* name() const override { return "avg_pool2d"; }
  std::vector<Tensor> backward(const Tensor& dy) override { return {tg::avg_pool2d_backward(dy, x_shape, params)}; }
};

// y[p, q] = mean of adaptive window (p, q): dx[i] = sum of dy / |window| over the windows that contain i.
// reference::adaptive_avg_pool2d_backward (tensor/reference/pool.cpp)
struct AdaptiveAvgPool2d : Node {
  Shape x_shape;
  explicit AdaptiveAvgPool2d(Shape s) : x_shape(std::move(s)) {}
  const char* name() const override { return "adaptive_avg_pool2d"; }
  std::vector<Tensor> backward(const Tensor& dy) override { return {tg::adaptive_avg_pool2d_backward(dy, x_shape)}; }
};

}  // namespace

Variable max_pool2d(const Variable& x, const Pool2dParams& p) {
  auto [y, indices] = tg::max_pool2d(x.data(), p);
  if (!needs_graph({&x})) return Variable(std::move(y));
  return attach(std::make_shared<MaxPool2d>(p, x.shape(), std::move(indices)), {x}, std::move(y));
}

Variable avg_pool2d(const Variable& x, const Pool2dParams& p) {
  Tensor y = tg::avg_pool2d(x.data(), p);
  if (!needs_graph({&x})) return Variable(std::move(y));
  return attach(std::make_shared<AvgPool2d>(p, x.shape()), {x}, std::move(y));
}

Variable adaptive_avg_pool2d(const Variable& x, int64_t out_h, int64_t out_w) {
  Tensor y = tg::adaptive_avg_pool2d(x.data(), out_h, out_w);
  if (!needs_graph({&x})) return Variable(std::move(y));
  return attach(std::make_shared<AdaptiveAvgPool2d>(x.shape()), {x}, std::move(y));
}

}  // namespace tg
