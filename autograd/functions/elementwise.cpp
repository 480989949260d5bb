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
  std::vector<Tensor> backward(const Tensor& dy) override { return {dy, dy}; }
};

// y = a - b.  da = dy,  db = -dy.
struct Sub : Node {
  const char* name() const override { return "sub"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {dy, needs_input_grad(1) ? tg::neg(dy) : Tensor()};
  }
};

// y = a * b.  da = dy * b,  db = dy * a. Each factor is saved only when the other one's gradient
// can be asked for.
struct Mul : Node {
  Tensor saved_a, saved_b;
  const char* name() const override { return "mul"; }
  Tensor forward(const Variable& a, const Variable& b) {
    if (b.requires_grad()) saved_a = a.data();
    if (a.requires_grad()) saved_b = b.data();
    return tg::mul(a.data(), b.data());
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {needs_input_grad(0) ? tg::mul(dy, saved_b) : Tensor(),
            needs_input_grad(1) ? tg::mul(dy, saved_a) : Tensor()};
  }
};

// y = a / b.  da = dy / b,  db = -dy * a / b^2 = -dy * y / b.
struct Div : Node {
  Tensor saved_b, saved_y;  // y only when b's gradient can be asked for
  const char* name() const override { return "div"; }
  Tensor forward(const Variable& a, const Variable& b) {
    Tensor y = tg::div(a.data(), b.data());
    saved_b = b.data();
    if (b.requires_grad()) saved_y = y;
    return y;
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
  Tensor forward(const Variable& a, const Variable& b) {
    saved_a_selected = is_max ? tg::ge(a.data(), b.data()) : tg::le(a.data(), b.data());
    return is_max ? tg::maximum(a.data(), b.data()) : tg::minimum(a.data(), b.data());
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
  std::vector<Tensor> backward(const Tensor& dy) override { return {tg::affine(dy, scale, 0.0)}; }
};

// y = x in another dtype.  dx = dy in x's dtype (the rounding's derivative is taken as 1).
struct Cast : Node {
  DType from;
  explicit Cast(DType d) : from(d) {}
  const char* name() const override { return "cast"; }
  std::vector<Tensor> backward(const Tensor& dy) override { return {tg::cast(dy, from)}; }
};

// y = x^p.  dx = dy * p * x^(p-1).
struct PowScalar : Node {
  double p;
  Tensor saved_x;
  explicit PowScalar(double e, Tensor x) : p(e), saved_x(std::move(x)) {}
  const char* name() const override { return "pow"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {tg::mul(dy, tg::affine(tg::pow(saved_x, p - 1.0), p, 0.0))};
  }
};

// y = f(x).  dx = dy * f'(x), each f' beside its f in tensor/elementwise_math.h (math::unary_grad).
// reference::unary_backward (tensor/reference/elementwise.cpp)
struct Unary : Node {
  UnaryOp op;
  Tensor saved_x, saved_y;
  Unary(UnaryOp o, Tensor x, Tensor y) : op(o), saved_x(std::move(x)), saved_y(std::move(y)) {}
  const char* name() const override { return unary_name(op); }
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {tg::unary_backward(op, dy, saved_x, saved_y)};
  }
};

// y = clamp(x, lo, hi).  dx = dy where lo <= x <= hi, else 0 (torch's convention at the bounds).
struct Clamp : Node {
  Tensor saved_inside;  // uint8
  const char* name() const override { return "clamp"; }
  Tensor forward(const Tensor& x, double lo, double hi) {
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
  explicit Where(Tensor cond) : saved_cond(std::move(cond)) {}
  const char* name() const override { return "where"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor zero = Tensor::zeros({}, dy.dtype(), dy.device());
    return {needs_input_grad(0) ? tg::where(saved_cond, dy, zero) : Tensor(),
            needs_input_grad(1) ? tg::where(saved_cond, zero, dy) : Tensor()};
  }
};

}  // namespace

Variable add(const Variable& a, const Variable& b) {
  Tensor y = tg::add(a.data(), b.data());
  return needs_graph({&a, &b}) ? attach(std::make_shared<Add>(), {a, b}, std::move(y)) : Variable(std::move(y));
}

Variable sub(const Variable& a, const Variable& b) {
  Tensor y = tg::sub(a.data(), b.data());
  return needs_graph({&a, &b}) ? attach(std::make_shared<Sub>(), {a, b}, std::move(y)) : Variable(std::move(y));
}

Variable mul(const Variable& a, const Variable& b) {
  if (!needs_graph({&a, &b})) return Variable(tg::mul(a.data(), b.data()));
  auto fn = std::make_shared<Mul>();
  Tensor y = fn->forward(a, b);
  return attach(std::move(fn), {a, b}, std::move(y));
}

Variable div(const Variable& a, const Variable& b) {
  if (!needs_graph({&a, &b})) return Variable(tg::div(a.data(), b.data()));
  auto fn = std::make_shared<Div>();
  Tensor y = fn->forward(a, b);
  return attach(std::move(fn), {a, b}, std::move(y));
}

Variable maximum(const Variable& a, const Variable& b) {
  if (!needs_graph({&a, &b})) return Variable(tg::maximum(a.data(), b.data()));
  auto fn = std::make_shared<Extremum>(true);
  Tensor y = fn->forward(a, b);
  return attach(std::move(fn), {a, b}, std::move(y));
}

Variable minimum(const Variable& a, const Variable& b) {
  if (!needs_graph({&a, &b})) return Variable(tg::minimum(a.data(), b.data()));
  auto fn = std::make_shared<Extremum>(false);
  Tensor y = fn->forward(a, b);
  return attach(std::move(fn), {a, b}, std::move(y));
}

Variable affine(const Variable& x, double scale, double shift) {
  Tensor y = tg::affine(x.data(), scale, shift);
  return needs_graph({&x}) ? attach(std::make_shared<Affine>(scale), {x}, std::move(y)) : Variable(std::move(y));
}
Variable cast(const Variable& x, DType dtype) {
  if (dtype == x.dtype()) return x;
  Tensor y = tg::cast(x.data(), dtype);
  if (!needs_graph({&x})) return Variable(std::move(y));
  return attach(std::make_shared<Cast>(x.dtype()), {x}, std::move(y));
}
Variable add(const Variable& a, double s) { return affine(a, 1.0, s); }
Variable mul(const Variable& a, double s) { return affine(a, s, 0.0); }

Variable pow(const Variable& x, double p) {
  Tensor y = tg::pow(x.data(), p);
  if (!needs_graph({&x})) return Variable(std::move(y));
  return attach(std::make_shared<PowScalar>(p, x.data()), {x}, std::move(y));
}

Variable unary(UnaryOp op, const Variable& x) {
  Tensor y = tg::unary(op, x.data());
  if (!needs_graph({&x})) return Variable(std::move(y));
  return attach(std::make_shared<Unary>(op, x.data(), y), {x}, y);
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
  if (!needs_graph({&x})) return Variable(tg::clamp(x.data(), lo, hi));
  auto fn = std::make_shared<Clamp>();
  Tensor y = fn->forward(x.data(), lo, hi);
  return attach(std::move(fn), {x}, std::move(y));
}

Variable where(const Tensor& cond, const Variable& a, const Variable& b) {
  Tensor y = tg::where(cond, a.data(), b.data());
  if (!needs_graph({&a, &b})) return Variable(std::move(y));
  return attach(std::make_shared<Where>(cond), {a, b}, std::move(y));
}

}  // namespace tg
