// Device-generic elementwise ops: validate, allocate, dispatch.
#include "tensor/dispatch.h"
#include "tensor/ops.h"

namespace tg {

const char* unary_name(UnaryOp op) {
  static const char* names[] = {"neg",  "exp",  "log",     "sqrt",   "rsqrt",     "abs",       "sign",
                                "relu", "gelu", "tanh",    "sigmoid", "square",   "reciprocal"};
  return names[static_cast<int>(op)];
}

const char* binary_name(BinaryOp op) {
  static const char* names[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum",
                                "eq",  "ne",  "lt",  "le",  "gt",  "ge"};
  return names[static_cast<int>(op)];
}

Device common_device(std::initializer_list<const Tensor*> ts, const char* op) {
  const Tensor* first = nullptr;
  for (const Tensor* t : ts) {
    TG_CHECK(t->defined(), op, ": an operand is an undefined tensor");
    if (!first) first = t;
    TG_CHECK(t->device() == first->device(), op, ": operands on different devices: ", first->str(),
             " and ", t->str());
  }
  return first->device();
}

void check_same_dtype(const Tensor& a, const Tensor& b, const char* op) {
  TG_CHECK(a.dtype() == b.dtype(), op, ": dtypes differ: ", a.str(), " and ", b.str(),
           " (no implicit promotion: cast one, tg::cast(x, dtype))");
}

Tensor unary(UnaryOp op, const Tensor& x) {
  Device d = common_device({&x}, unary_name(op));
  Tensor y = Tensor::empty_like(x);
  TG_DISPATCH(d, unary, x, y, op);
  return y;
}

Tensor unary_backward(UnaryOp op, const Tensor& dy, const Tensor& x, const Tensor& y) {
  Device d = common_device({&dy, &x, &y}, unary_name(op));
  TG_CHECK(is_floating(x.dtype()) && dy.shape() == x.shape() && y.shape() == x.shape(), unary_name(op),
           " backward: dy ", dy.str(), " and y ", y.str(), " must match the floating input ", x.str());
  check_same_dtype(dy, x, unary_name(op));
  check_same_dtype(y, x, unary_name(op));
  Tensor dx = Tensor::empty_like(x);
  TG_DISPATCH(d, unary_backward, dy, x, y, dx, op);
  return dx;
}

Tensor neg(const Tensor& x) { return unary(UnaryOp::neg, x); }
Tensor exp(const Tensor& x) { return unary(UnaryOp::exp, x); }
Tensor log(const Tensor& x) { return unary(UnaryOp::log, x); }
Tensor sqrt(const Tensor& x) { return unary(UnaryOp::sqrt, x); }
Tensor abs(const Tensor& x) { return unary(UnaryOp::abs, x); }
Tensor sign(const Tensor& x) { return unary(UnaryOp::sign, x); }
Tensor relu(const Tensor& x) { return unary(UnaryOp::relu, x); }
Tensor gelu(const Tensor& x) { return unary(UnaryOp::gelu, x); }
Tensor tanh(const Tensor& x) { return unary(UnaryOp::tanh, x); }
Tensor sigmoid(const Tensor& x) { return unary(UnaryOp::sigmoid, x); }
Tensor square(const Tensor& x) { return unary(UnaryOp::square, x); }

Tensor pow(const Tensor& x, double p) {
  Device d = common_device({&x}, "pow");
  Tensor y = Tensor::empty_like(x);
  TG_DISPATCH(d, pow_scalar, x, y, p);
  return y;
}

Tensor clamp(const Tensor& x, double lo, double hi) {
  Device d = common_device({&x}, "clamp");
  TG_CHECK(lo <= hi, "clamp: lo ", lo, " > hi ", hi);
  Tensor y = Tensor::empty_like(x);
  TG_DISPATCH(d, clamp, x, y, lo, hi);
  return y;
}

Tensor cast(const Tensor& x, DType dtype) {
  TG_CHECK(x.defined(), "cast: undefined tensor");
  return x.to(dtype);
}

Tensor affine(const Tensor& x, double scale, double shift) {
  Device d = common_device({&x}, "affine");
  Tensor y = Tensor::empty_like(x);
  TG_DISPATCH(d, affine, x, y, scale, shift);
  return y;
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = binary_name(op);
  Device d = common_device({&a, &b}, name);
  check_same_dtype(a, b, name);
  Shape out_shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = Tensor::empty(out_shape, is_comparison(op) ? DType::u8 : a.dtype(), d);
  TG_DISPATCH(d, binary, a, b, out, op);
  return out;
}

Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryOp::add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(BinaryOp::sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryOp::mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryOp::div, a, b); }
Tensor pow(const Tensor& a, const Tensor& b) { return binary(BinaryOp::pow, a, b); }
Tensor maximum(const Tensor& a, const Tensor& b) { return binary(BinaryOp::maximum, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return binary(BinaryOp::minimum, a, b); }
Tensor eq(const Tensor& a, const Tensor& b) { return binary(BinaryOp::eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return binary(BinaryOp::ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return binary(BinaryOp::lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return binary(BinaryOp::le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return binary(BinaryOp::gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return binary(BinaryOp::ge, a, b); }
Tensor add(const Tensor& a, double s) { return affine(a, 1.0, s); }
Tensor mul(const Tensor& a, double s) { return affine(a, s, 0.0); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  Device d = common_device({&cond, &a, &b}, "where");
  check_same_dtype(a, b, "where");
  TG_CHECK(cond.dtype() == DType::u8, "where: condition must be uint8 (a comparison), got ", cond.str());
  Shape out_shape = broadcast_shapes(broadcast_shapes(a.shape(), b.shape(), "where"), cond.shape(), "where");
  Tensor out = Tensor::empty(out_shape, a.dtype(), d);
  TG_DISPATCH(d, where, cond, a, b, out);
  return out;
}

Tensor expand(const Tensor& x, const Shape& shape) {
  Device d = common_device({&x}, "expand");
  TG_CHECK(broadcast_shapes(x.shape(), shape, "expand") == shape, "expand: ", x.str(), " does not broadcast to ",
           shape_str(shape));
  Tensor y = Tensor::empty(shape, x.dtype(), d);
  TG_DISPATCH(d, expand, x, y);
  return y;
}

void add_(Tensor& a, const Tensor& b) {
  Device d = common_device({&a, &b}, "add_");
  check_same_dtype(a, b, "add_");
  TG_CHECK(broadcast_shapes(a.shape(), b.shape(), "add_") == a.shape(), "add_: ", shape_str(b.shape()),
           " does not broadcast to ", shape_str(a.shape()));
  TG_DISPATCH(d, binary, a, b, a, BinaryOp::add);
}

void add_scaled_(Tensor& a, const Tensor& b, double s) {
  TG_CHECK(a.shape() == b.shape(), "add_scaled_: shapes ", shape_str(a.shape()), " and ",
           shape_str(b.shape()), " differ");
  add_(a, s == 1.0 ? b : affine(b, s, 0.0));
}

}  // namespace tg
