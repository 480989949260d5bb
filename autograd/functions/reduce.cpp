// Differentiable reductions. Each backward broadcasts dy back over the reduced axes: it reshapes dy
// to the keepdim shape and expands it (tg::expand writes every element; nothing is zero-filled).
#include <algorithm>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/ops.h"

namespace tg {

namespace {

// The shape of the output with the reduced axes kept as size 1.
Shape keepdim_shape(const Shape& in, const std::vector<int64_t>& axes) {
  Shape s = in;
  if (axes.empty()) return Shape(in.size(), 1);
  for (int64_t a : axes) s[wrap_axis(a, static_cast<int64_t>(in.size()), "reduce")] = 1;
  return s;
}

// The number of elements reduced into each output element.
int64_t reduced_count(const Shape& in, const Shape& kept) { return numel(in) / std::max<int64_t>(numel(kept), 1); }

// y = sum_{axes} x.  dx = dy broadcast over the axes.
struct Sum : Node {
  Shape in_shape, kept;
  Sum(Shape in, Shape k) : in_shape(std::move(in)), kept(std::move(k)) {}
  const char* name() const override { return "sum"; }
  std::vector<Tensor> backward(const Tensor& dy) override { return {tg::expand(dy.reshape(kept), in_shape)}; }
};

// y = mean_{axes} x.  dx = dy / n broadcast over the axes, n = the number of elements averaged.
struct Mean : Node {
  Shape in_shape, kept;
  Mean(Shape in, Shape k) : in_shape(std::move(in)), kept(std::move(k)) {}
  const char* name() const override { return "mean"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    const double n = static_cast<double>(reduced_count(in_shape, kept));
    return {tg::expand(tg::mul(dy.reshape(kept), 1.0 / n), in_shape)};
  }
};

// y = max_axis x.  dx = dy at the first argmax, 0 elsewhere (a subgradient; ties go to the first).
struct Max : Node {
  Shape kept;
  Tensor saved_is_argmax;  // uint8, input shape
  const char* name() const override { return "max"; }
  Tensor forward(const Tensor& x, int64_t axis, bool keepdim) {
    const Shape& in_shape = x.shape();
    kept = keepdim_shape(in_shape, {axis});
    Tensor idx = tg::argmax(x, axis, true);
    Shape pos_shape(in_shape.size(), 1);
    pos_shape[axis] = in_shape[axis];
    saved_is_argmax = tg::eq(Tensor::arange(in_shape[axis], DType::i64, x.device()).reshape(pos_shape), idx);
    return tg::max(x, {axis}, keepdim);
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {tg::where(saved_is_argmax, dy.reshape(kept), Tensor::zeros({}, dy.dtype(), dy.device()))};
  }
};

// y = var_{axes}(x) = sum (x - m)^2 / (n - c).  dx = dy * 2 (x - m) / (n - c).
struct Var : Node {
  Shape kept;
  Tensor saved_centered;
  double denom = 1.0;
  const char* name() const override { return "var"; }
  Tensor forward(const Tensor& x, const std::vector<int64_t>& axes, int64_t correction, bool keepdim) {
    kept = keepdim_shape(x.shape(), axes);
    saved_centered = tg::sub(x, tg::mean(x, axes, true));
    denom = static_cast<double>(reduced_count(x.shape(), kept) - correction);
    return tg::var(x, axes, correction, keepdim);
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {tg::mul(saved_centered, tg::mul(dy.reshape(kept), 2.0 / denom))};
  }
};

}  // namespace

Variable sum(const Variable& x, const std::vector<int64_t>& axes, bool keepdim) {
  Tensor y = tg::sum(x.data(), axes, keepdim);
  if (!needs_graph({&x})) return Variable(std::move(y));
  return attach(std::make_shared<Sum>(x.shape(), keepdim_shape(x.shape(), axes)), {x}, std::move(y));
}

Variable mean(const Variable& x, const std::vector<int64_t>& axes, bool keepdim) {
  Tensor y = tg::mean(x.data(), axes, keepdim);
  if (!needs_graph({&x})) return Variable(std::move(y));
  return attach(std::make_shared<Mean>(x.shape(), keepdim_shape(x.shape(), axes)), {x}, std::move(y));
}

Variable max(const Variable& x, int64_t axis, bool keepdim) {
  if (!needs_graph({&x})) return Variable(tg::max(x.data(), {axis}, keepdim));
  auto fn = std::make_shared<Max>();
  Tensor y = fn->forward(x.data(), wrap_axis(axis, x.dim(), "max"), keepdim);
  return attach(std::move(fn), {x}, std::move(y));
}

Variable var(const Variable& x, const std::vector<int64_t>& axes, int64_t correction, bool keepdim) {
  if (!needs_graph({&x})) return Variable(tg::var(x.data(), axes, correction, keepdim));
  auto fn = std::make_shared<Var>();
  Tensor y = fn->forward(x.data(), axes, correction, keepdim);
  return attach(std::move(fn), {x}, std::move(y));
}

}  // namespace tg
