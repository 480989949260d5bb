// Differentiable elementwise functions. For y = f(a, b) with broadcasting, each backward returns
// gradients in the output's shape; the engine sums them down to each input's shape.
#include <cmath>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/ops.h"

namespace tg {

namespace {

// y = a + b.  da = dy,  db = dy.
struct Add : Node {
  const char* name() const override { return "add"; }
  Tensor forward(const Tensor& a, const Tensor& b) { return tg::add(a, b); }
  std::vector<Tensor> backward(const Tensor& dy) override { return {dy, dy}; }
};

// y = a - b.  da = dy,  db = -dy.
struct Sub : Node {
  const char* name() const override { return "sub"; }
  Tensor forward(const Tensor& a, const Tensor& b) { return tg::sub(a, b); }
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {dy, needs_input_grad(1) ? tg::neg(dy) : Tensor()};
  }
};

// y = a * b.  da = dy * b,  db = dy * a.
struct Mul : Node {
  Tensor saved_a, saved_b;
  const char* name() const override { return "mul"; }
  Tensor forward(const Tensor& a, const Tensor& b) {
    saved_a = a;
    saved_b = b;
    return tg::mul(a, b);
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {needs_input_grad(0) ? tg::mul(dy, saved_b) : Tensor(),
            needs_input_grad(1) ? tg::mul(dy, saved_a) : Tensor()};
  }
};

// y = a / b.  da = dy / b,  db = -dy * a / b^2 = -dy * y / b.
struct Div : Node {
  Tensor saved_b, saved_y;
  const char* name() const override { return "div"; }
  Tensor forward(const Tensor& a, const Tensor& b) {
    saved_b = b;
    saved_y = tg::div(a, b);
    return saved_y;
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor da = tg::div(dy, saved_b);
    return {needs_input_grad(0) ? da : Tensor(), needs_input_grad(1) ? tg::neg(tg::mul(da, saved_y)) : Tensor()};
  }
};

// y = max(a, b) (or min). The gradient goes to the selected input; a wins ties, as torch's
// clamp-like subgradient: da = dy * [a selected], db = dy * [b selected].
struct Extremum : Node {
  bool is_max;
  Tensor saved_a_selected;  // uint8, broadcast shape
  explicit Extremum(bool m) : is_max(m) {}
  const char* name() const override { return is_max ? "maximum" : "minimum"; }
  Tensor forward(const Tensor& a, const Tensor& b) {
    saved_a_selected = is_max ? tg::ge(a, b) : tg::le(a, b);
    return is_max ? tg::maximum(a, b) : tg::minimum(a, b);
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor zero = Tensor::zeros({}, dy.dtype(), dy.device());
    return {needs_input_grad(0) ? tg::where(saved_a_selected, dy, zero) : Tensor(),
            needs_input_grad(1) ? tg::where(saved_a_selected, zero, dy) : Tensor()};
  }
};

// y = scale * x + shift.  dx = scale * dy.
struct Affine : Node {
  double scale;
  explicit Affine(double s) : scale(s) {}
  const char* name() const override { return "affine"; }
  Tensor forward(const Tensor& x, double shift) { return tg::affine(x, scale, shift); }
  std::vector<Tensor> backward(const Tensor& dy) override { return {tg::affine(dy, scale, 0.0)}; }
};

// y = x^p.  dx = dy * p * x^(p-1).
struct PowScalar : Node {
  double p;
  Tensor saved_x;
  explicit PowScalar(double e) : p(e) {}
  const char* name() const override { return "pow"; }
  Tensor forward(const Tensor& x) {
    saved_x = x;
    return tg::pow(x, p);
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {tg::mul(dy, tg::affine(tg::pow(saved_x, p - 1.0), p, 0.0))};
  }
};

// y = f(x) for the unary ops; dx = dy * f'(x), each derivative written beside its f in
// tensor/elementwise_math.h (math::unary_grad).
struct Unary : Node {
  UnaryOp op;
  Tensor saved_x, saved_y;
  explicit Unary(UnaryOp o) : op(o) {}
  const char* name() const override { return unary_name(op); }
  Tensor forward(const Tensor& x) {
    saved_x = x;
    saved_y = tg::unary(op, x);
    return saved_y;
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {tg::unary_backward(op, dy, saved_x, saved_y)};
  }
};

// y = clamp(x, lo, hi).  dx = dy where lo <= x <= hi, else 0 (torch's convention at the bounds).
struct Clamp : Node {
  double lo, hi;
  Tensor saved_inside;  // uint8
  Clamp(double l, double h) : lo(l), hi(h) {}
  const char* name() const override { return "clamp"; }
  Tensor forward(const Tensor& x) {
    Tensor l = Tensor::full({}, lo, x.dtype(), x.device()), h = Tensor::full({}, hi, x.dtype(), x.device());
    saved_inside = tg::mul(tg::ge(x, l), tg::le(x, h));
    return tg::clamp(x, lo, hi);
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {tg::where(saved_inside, dy, Tensor::zeros({}, dy.dtype(), dy.device()))};
  }
};

// y = cond ? a : b.  da = dy where cond, db = dy where not.
struct Where : Node {
  Tensor saved_cond;
  const char* name() const override { return "where"; }
  Tensor forward(const Tensor& cond, const Tensor& a, const Tensor& b) {
    saved_cond = cond;
    return tg::where(cond, a, b);
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor zero = Tensor::zeros({}, dy.dtype(), dy.device());
    return {needs_input_grad(0) ? tg::where(saved_cond, dy, zero) : Tensor(),
            needs_input_grad(1) ? tg::where(saved_cond, zero, dy) : Tensor()};
  }
};

template <class Fn>
Variable apply_binary(std::shared_ptr<Fn> fn, const Variable& a, const Variable& b) {
  Tensor y = fn->forward(a.data(), b.data());
  return attach(std::move(fn), {a, b}, std::move(y));
}

}  // namespace

Variable add(const Variable& a, const Variable& b) { return apply_binary(std::make_shared<Add>(), a, b); }
Variable sub(const Variable& a, const Variable& b) { return apply_binary(std::make_shared<Sub>(), a, b); }
Variable mul(const Variable& a, const Variable& b) { return apply_binary(std::make_shared<Mul>(), a, b); }
Variable div(const Variable& a, const Variable& b) { return apply_binary(std::make_shared<Div>(), a, b); }
Variable maximum(const Variable& a, const Variable& b) {
  return apply_binary(std::make_shared<Extremum>(true), a, b);
}
Variable minimum(const Variable& a, const Variable& b) {
  return apply_binary(std::make_shared<Extremum>(false), a, b);
}

Variable affine(const Variable& x, double scale, double shift) {
  auto fn = std::make_shared<Affine>(scale);
  Tensor y = fn->forward(x.data(), shift);
  return attach(std::move(fn), {x}, std::move(y));
}
Variable add(const Variable& a, double s) { return affine(a, 1.0, s); }
Variable mul(const Variable& a, double s) { return affine(a, s, 0.0); }

Variable pow(const Variable& x, double p) {
  auto fn = std::make_shared<PowScalar>(p);
  Tensor y = fn->forward(x.data());
  return attach(std::move(fn), {x}, std::move(y));
}

Variable unary(UnaryOp op, const Variable& x) {
  auto fn = std::make_shared<Unary>(op);
  Tensor y = fn->forward(x.data());
  return attach(std::move(fn), {x}, std::move(y));
}
Variable neg(const Variable& x) { return affine(x, -1.0, 0.0); }
Variable exp(const Variable& x) { return unary(UnaryOp::exp, x); }
Variable log(const Variable& x) { return unary(UnaryOp::log, x); }
Variable sqrt(const Variable& x) { return unary(UnaryOp::sqrt, x); }
Variable abs(const Variable& x) { return unary(UnaryOp::abs, x); }
Variable relu(const Variable& x) { return unary(UnaryOp::relu, x); }
Variable gelu(const Variable& x) { return unary(UnaryOp::gelu, x); }
Variable tanh(const Variable& x) { return unary(UnaryOp::tanh, x); }
Variable sigmoid(const Variable& x) { return unary(UnaryOp::sigmoid, x); }
Variable square(const Variable& x) { return unary(UnaryOp::square, x); }

Variable clamp(const Variable& x, double lo, double hi) {
  auto fn = std::make_shared<Clamp>(lo, hi);
  Tensor y = fn->forward(x.data());
  return attach(std::move(fn), {x}, std::move(y));
}

Variable where(const Tensor& cond, const Variable& a, const Variable& b) {
  auto fn = std::make_shared<Where>();
  Tensor y = fn->forward(cond, a.data(), b.data());
  return attach(std::move(fn), {a, b}, std::move(y));
}

}  // namespace tg
