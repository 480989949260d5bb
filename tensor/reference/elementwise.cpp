// Reference elementwise kernels. Derivatives from calculus; the conventions at kinks are PyTorch's
// (relu'(0) = 0, abs'(0) = sign(0) = 0, clamp passes the gradient on [lo, hi], maximum and minimum
// send it to a on ties). GELU is the exact form x Phi(x) (Hendrycks & Gimpel 2016).
#include "tensor/reference/elementwise.h"

#include <algorithm>
#include <cmath>

#include "tensor/reference/common.h"
#include "tensor/shape.h"

namespace tg::reference {

namespace {

const double kInvSqrt2 = 0.7071067811865476, kInvSqrt2Pi = 0.3989422804014327;

double sign(double x) { return static_cast<double>((x > 0) - (x < 0)); }
double normal_cdf(double x) { return 0.5 * (1 + std::erf(x * kInvSqrt2)); }

Tensor like(const Tensor& x) { return Tensor::empty(x.shape(), DType::f64); }

}  // namespace

// bfloat16 keeps 8 significant bits and float32's exponent range: a finite x = m 2^e (1 <= |m| < 2)
// rounds to a multiple of 2^(max(e, -126) - 7), ties to the even multiple (nearbyint's default mode);
// a result of 2^128 or more is infinity. NaN and infinities stay as they are.
Tensor round_to_bf16(const Tensor& x) {
  check_f64(x, "round_to_bf16");
  Tensor y = like(x);
  const double* px = x.data<double>();
  double* py = y.data<double>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double v = px[i];
    if (!std::isfinite(v) || v == 0) {
      py[i] = v;
      continue;
    }
    const double quantum = std::ldexp(1.0, std::max(std::ilogb(v), -126) - 7);
    const double r = std::nearbyint(v / quantum) * quantum;
    py[i] = std::fabs(r) >= std::ldexp(1.0, 128) ? std::copysign(INFINITY, v) : r;
  }
  return y;
}

// y = f(x) for f in neg, exp, log, sqrt, rsqrt, abs, sign, relu, gelu, tanh, sigmoid, square, 1/x.
Tensor unary(const Tensor& x, UnaryOp op) {
  check_f64(x, "unary");
  Tensor y = like(x);
  const double* px = x.data<double>();
  double* py = y.data<double>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double v = px[i];
    switch (op) {
      case UnaryOp::neg: py[i] = -v; break;
      case UnaryOp::exp: py[i] = std::exp(v); break;
      case UnaryOp::log: py[i] = std::log(v); break;
      case UnaryOp::sqrt: py[i] = std::sqrt(v); break;
      case UnaryOp::rsqrt: py[i] = 1 / std::sqrt(v); break;
      case UnaryOp::abs: py[i] = std::fabs(v); break;
      case UnaryOp::sign: py[i] = sign(v); break;
      case UnaryOp::relu: py[i] = v > 0 ? v : 0; break;
      case UnaryOp::gelu: py[i] = v * normal_cdf(v); break;
      case UnaryOp::tanh: py[i] = std::tanh(v); break;
      case UnaryOp::sigmoid: py[i] = 1 / (1 + std::exp(-v)); break;
      case UnaryOp::square: py[i] = v * v; break;
      case UnaryOp::reciprocal: py[i] = 1 / v; break;
    }
  }
  return y;
}

// dx = dy f'(x).
Tensor unary_backward(const Tensor& dy, const Tensor& x, UnaryOp op) {
  check_f64(dy, "unary_backward");
  check_f64(x, "unary_backward");
  Tensor dx = like(x);
  const double *pdy = dy.data<double>(), *px = x.data<double>();
  double* pdx = dx.data<double>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double v = px[i];
    double d = 0;  // f'(v)
    switch (op) {
      case UnaryOp::neg: d = -1; break;
      case UnaryOp::exp: d = std::exp(v); break;
      case UnaryOp::log: d = 1 / v; break;
      case UnaryOp::sqrt: d = 0.5 / std::sqrt(v); break;
      case UnaryOp::rsqrt: d = -0.5 * std::pow(v, -1.5); break;
      case UnaryOp::abs: d = sign(v); break;
      case UnaryOp::sign: d = 0; break;
      case UnaryOp::relu: d = v > 0 ? 1 : 0; break;
      case UnaryOp::gelu: d = normal_cdf(v) + v * kInvSqrt2Pi * std::exp(-0.5 * v * v); break;
      case UnaryOp::tanh: d = 1 - std::tanh(v) * std::tanh(v); break;
      case UnaryOp::sigmoid: d = std::exp(-v) / ((1 + std::exp(-v)) * (1 + std::exp(-v))); break;
      case UnaryOp::square: d = 2 * v; break;
      case UnaryOp::reciprocal: d = -1 / (v * v); break;
    }
    pdx[i] = pdy[i] * d;
  }
  return dx;
}

// y = scale x + shift (its backward: dx = scale dy).
Tensor affine(const Tensor& x, double scale, double shift) {
  check_f64(x, "affine");
  Tensor y = like(x);
  for (int64_t i = 0; i < x.numel(); ++i) y.data<double>()[i] = scale * x.data<double>()[i] + shift;
  return y;
}

// y = x^p.
Tensor pow_scalar(const Tensor& x, double p) {
  check_f64(x, "pow_scalar");
  Tensor y = like(x);
  for (int64_t i = 0; i < x.numel(); ++i) y.data<double>()[i] = std::pow(x.data<double>()[i], p);
  return y;
}

// dx = dy p x^(p-1).
Tensor pow_scalar_backward(const Tensor& dy, const Tensor& x, double p) {
  check_f64(dy, "pow_scalar_backward");
  check_f64(x, "pow_scalar_backward");
  Tensor dx = like(x);
  for (int64_t i = 0; i < x.numel(); ++i)
    dx.data<double>()[i] = dy.data<double>()[i] * p * std::pow(x.data<double>()[i], p - 1);
  return dx;
}

// y = min(max(x, lo), hi).
Tensor clamp(const Tensor& x, double lo, double hi) {
  check_f64(x, "clamp");
  Tensor y = like(x);
  for (int64_t i = 0; i < x.numel(); ++i) y.data<double>()[i] = std::fmin(std::fmax(x.data<double>()[i], lo), hi);
  return y;
}

// dx = dy where lo <= x <= hi, else 0.
Tensor clamp_backward(const Tensor& dy, const Tensor& x, double lo, double hi) {
  check_f64(dy, "clamp_backward");
  check_f64(x, "clamp_backward");
  Tensor dx = like(x);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double v = x.data<double>()[i];
    dx.data<double>()[i] = lo <= v && v <= hi ? dy.data<double>()[i] : 0;
  }
  return dx;
}

// out[i] = a[i'] op b[i''], with i' and i'' the elements that broadcasting pairs with output i.
Tensor binary(const Tensor& a, const Tensor& b, BinaryOp op) {
  check_f64(a, "binary");
  check_f64(b, "binary");
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), "reference::binary");
  Tensor out = Tensor::empty(shape, DType::f64);
  for (int64_t i = 0; i < out.numel(); ++i) {
    const double x = a.data<double>()[broadcast_index(i, shape, a.shape())];
    const double y = b.data<double>()[broadcast_index(i, shape, b.shape())];
    double& o = out.data<double>()[i];
    switch (op) {
      case BinaryOp::add: o = x + y; break;
      case BinaryOp::sub: o = x - y; break;
      case BinaryOp::mul: o = x * y; break;
      case BinaryOp::div: o = x / y; break;
      case BinaryOp::pow: o = std::pow(x, y); break;
      case BinaryOp::maximum: o = x >= y ? x : y; break;
      case BinaryOp::minimum: o = x <= y ? x : y; break;
      case BinaryOp::eq: o = x == y; break;
      case BinaryOp::ne: o = x != y; break;
      case BinaryOp::lt: o = x < y; break;
      case BinaryOp::le: o = x <= y; break;
      case BinaryOp::gt: o = x > y; break;
      case BinaryOp::ge: o = x >= y; break;
    }
  }
  return out;
}

// da = sum over broadcast copies of dy d(a op b)/da, likewise db:
//   add (1, 1), sub (1, -1), mul (b, a), div (1/b, -a/b^2), pow (b a^(b-1), a^b log a),
//   maximum (a >= b, a < b), minimum (a <= b, a > b). Comparisons have no gradient.
BinaryGrads binary_backward(const Tensor& dy, const Tensor& a, const Tensor& b, BinaryOp op) {
  check_f64(dy, "binary_backward");
  check_f64(a, "binary_backward");
  check_f64(b, "binary_backward");
  TG_CHECK(!is_comparison(op), "reference::binary_backward: ", binary_name(op), " has no gradient");
  BinaryGrads g{Tensor::zeros(a.shape(), DType::f64), Tensor::zeros(b.shape(), DType::f64)};
  for (int64_t i = 0; i < dy.numel(); ++i) {
    const int64_t ia = broadcast_index(i, dy.shape(), a.shape()), ib = broadcast_index(i, dy.shape(), b.shape());
    const double x = a.data<double>()[ia], y = b.data<double>()[ib], d = dy.data<double>()[i];
    double dx = 0, dyy = 0;  // the partial derivatives
    switch (op) {
      case BinaryOp::add: dx = 1, dyy = 1; break;
      case BinaryOp::sub: dx = 1, dyy = -1; break;
      case BinaryOp::mul: dx = y, dyy = x; break;
      case BinaryOp::div: dx = 1 / y, dyy = -x / (y * y); break;
      case BinaryOp::pow: dx = y * std::pow(x, y - 1), dyy = std::pow(x, y) * std::log(x); break;
      case BinaryOp::maximum: dx = x >= y, dyy = x < y; break;
      case BinaryOp::minimum: dx = x <= y, dyy = x > y; break;
      default: break;
    }
    g.da.data<double>()[ia] += d * dx;
    g.db.data<double>()[ib] += d * dyy;
  }
  return g;
}

// out[i] = cond[i] ? a[i] : b[i], all three broadcast.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_f64(a, "where");
  check_f64(b, "where");
  TG_CHECK(cond.dtype() == DType::u8, "reference::where: cond must be uint8, got ", cond.str());
  const Shape shape = broadcast_shapes(cond.shape(), broadcast_shapes(a.shape(), b.shape(), "reference::where"),
                                       "reference::where");
  Tensor out = Tensor::empty(shape, DType::f64);
  for (int64_t i = 0; i < out.numel(); ++i)
    out.data<double>()[i] = cond.data<uint8_t>()[broadcast_index(i, shape, cond.shape())]
                                ? a.data<double>()[broadcast_index(i, shape, a.shape())]
                                : b.data<double>()[broadcast_index(i, shape, b.shape())];
  return out;
}

// da = dy where cond, db = dy elsewhere (each summed over its broadcast copies).
BinaryGrads where_backward(const Tensor& dy, const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_f64(dy, "where_backward");
  BinaryGrads g{Tensor::zeros(a.shape(), DType::f64), Tensor::zeros(b.shape(), DType::f64)};
  for (int64_t i = 0; i < dy.numel(); ++i) {
    if (cond.data<uint8_t>()[broadcast_index(i, dy.shape(), cond.shape())])
      g.da.data<double>()[broadcast_index(i, dy.shape(), a.shape())] += dy.data<double>()[i];
    else
      g.db.data<double>()[broadcast_index(i, dy.shape(), b.shape())] += dy.data<double>()[i];
  }
  return g;
}

}  // namespace tg::reference
