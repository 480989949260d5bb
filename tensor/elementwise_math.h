// Scalar math of the elementwise ops, shared by the CPU and CUDA kernels so both compute the same
// formulas. Each backward stands beside its forward: for y = f(x), unary_grad returns dy * f'(x).
// The formulas take the arithmetic type (compute_t in tensor/dtype.h): a bfloat16 kernel widens its
// inputs to float, calls them, and rounds the result once as it stores it.
#pragma once

#include <cmath>

#include "tensor/dtype.h"
#include "tensor/kernel_types.h"
#include "tensor/philox.h"  // TG_HD

namespace tg::math {

// x in its arithmetic type: a bfloat16 widened to float (exactly), any other type as it is.
template <class T>
TG_HD compute_t<T> widen(T x) {
  return convert<compute_t<T>>(x);
}

template <class T>
TG_HD T unary(UnaryOp op, T x) {
  switch (op) {
    case UnaryOp::neg: return -x;
    case UnaryOp::exp: return std::exp(x);
    case UnaryOp::log: return std::log(x);
    case UnaryOp::sqrt: return std::sqrt(x);
    case UnaryOp::rsqrt: return T(1) / std::sqrt(x);
    case UnaryOp::abs: return std::fabs(x);
    case UnaryOp::sign: return T((x > T(0)) - (x < T(0)));
    case UnaryOp::relu: return x > T(0) ? x : T(0);
    // GELU, exact form (Hendrycks & Gimpel 2016): x * Phi(x), Phi the standard normal CDF.
    case UnaryOp::gelu: return T(0.5) * x * (T(1) + std::erf(x * T(0.7071067811865476)));
    case UnaryOp::tanh: return std::tanh(x);
    case UnaryOp::sigmoid: return T(1) / (T(1) + std::exp(-x));
    case UnaryOp::square: return x * x;
    case UnaryOp::reciprocal: return T(1) / x;
  }
  return x;
}

// dy * f'(x), given the forward output y = f(x) where that is cheaper.
template <class T>
TG_HD T unary_grad(UnaryOp op, T dy, T x, T y) {
  switch (op) {
    case UnaryOp::neg: return -dy;
    case UnaryOp::exp: return dy * y;                       // (e^x)' = e^x
    case UnaryOp::log: return dy / x;                       // (log x)' = 1/x
    case UnaryOp::sqrt: return dy * T(0.5) / y;             // (x^1/2)' = 1 / (2 sqrt x)
    case UnaryOp::rsqrt: return dy * T(-0.5) * y * y * y;   // (x^-1/2)' = -x^-3/2 / 2
    case UnaryOp::abs: return dy * T((x > T(0)) - (x < T(0)));  // sign(x); 0 at the kink
    case UnaryOp::sign: return T(0);
    case UnaryOp::relu: return x > T(0) ? dy : T(0);        // 0 at the kink, as torch
    case UnaryOp::gelu: {                                    // Phi(x) + x * phi(x)
      T cdf = T(0.5) * (T(1) + std::erf(x * T(0.7071067811865476)));
      T pdf = T(0.3989422804014327) * std::exp(T(-0.5) * x * x);
      return dy * (cdf + x * pdf);
    }
    case UnaryOp::tanh: return dy * (T(1) - y * y);          // 1 - tanh^2
    case UnaryOp::sigmoid: return dy * y * (T(1) - y);       // s (1 - s)
    case UnaryOp::square: return dy * T(2) * x;
    case UnaryOp::reciprocal: return -dy * y * y;            // -1/x^2
  }
  return dy;
}

template <class T>
TG_HD T binary(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::sub: return a - b;
    case BinaryOp::mul: return a * b;
    case BinaryOp::div: return a / b;
    case BinaryOp::pow: return static_cast<T>(std::pow(a, b));
    case BinaryOp::maximum: return a > b ? a : b;
    case BinaryOp::minimum: return a < b ? a : b;
    case BinaryOp::eq: return a == b;
    case BinaryOp::ne: return a != b;
    case BinaryOp::lt: return a < b;
    case BinaryOp::le: return a <= b;
    case BinaryOp::gt: return a > b;
    case BinaryOp::ge: return a >= b;
  }
  return a;
}

}  // namespace tg::math
