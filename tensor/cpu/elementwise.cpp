// CPU elementwise kernels: unary, binary with broadcasting, where, casts and fills.
// The scalar math (and each derivative beside its function) is in tensor/elementwise_math.h.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "tensor/cpu/parallel.h"
#include "tensor/cpu/vec.h"
#include "tensor/elementwise_math.h"
#include "util/error.h"
#include "tensor/kernels.h"

namespace tg::cpu {

namespace {

// Calls f(std::integral_constant<Op, op>{}) for the runtime `op` of the enum range [First, Last]: the
// op reaches the loop as a compile-time constant, so math::unary / math::binary's switch folds away
// and each op's loop is compiled, and vectorized, on its own (a switch per element blocks both).
template <auto First, auto Last, class F>
void with_constant(decltype(First) op, F&& f) {
  using Op = decltype(First);
  if constexpr (First == Last) {
    TG_CHECK(op == Last, "elementwise op ", static_cast<int>(op), " lies past the range of with_constant (extend it)");
    f(std::integral_constant<Op, First>{});
  } else if (op == First) {
    f(std::integral_constant<Op, First>{});
  } else {
    with_constant<static_cast<Op>(static_cast<int>(First) + 1), Last>(op, f);
  }
}

template <class F>
void with_unary(UnaryOp op, F&& f) {
  with_constant<UnaryOp::neg, UnaryOp::reciprocal>(op, f);
}

template <class F>
void with_binary(BinaryOp op, F&& f) {
  with_constant<BinaryOp::add, BinaryOp::ge>(op, f);
}

// GELU in float32, 8 lanes at a time with vec.h's erf and exp where the scalar loop calls erff (12 %
// of a ViT-Ti/4 step): the formulas of math::unary and math::unary_grad, x Phi(x) and
// dy (Phi(x) + x phi(x)), Phi(x) = (1 + erf(x / sqrt 2)) / 2, phi(x) = e^(-x^2 / 2) / sqrt(2 pi).
using V = vec::Vec<float>;

V normal_cdf(V x) {
  return vec::splat<V>(0.5f) * (vec::splat<V>(1.0f) + vec::erf(x * vec::splat<V>(0.70710678f)));
}

V gelu(V x) { return x * normal_cdf(x); }

V gelu_grad(V dy, V x) {
  const V square = x * x, square_lo = vec::fma(x, x, -square);  // x^2 in two floats, exactly
  const V minus_half = vec::splat<V>(-0.5f);
  const V pdf = vec::splat<V>(0.39894228f) * vec::exp(minus_half * square, minus_half * square_lo);
  return dy * vec::fma(x, pdf, normal_cdf(x));
}

// f(j, k) for the steps j = 0, 8, 16, ... < n of a vector loop over n floats (k lanes in each).
template <class F>
void for_each_step(int64_t n, F&& f) {
  constexpr int64_t lanes = vec::lanes<V>;
  parallel_for((n + lanes - 1) / lanes, 8 * lanes, [&](int64_t step) {
    const int64_t j = step * lanes;
    f(j, std::min(lanes, n - j));
  });
}

}  // namespace

void fill(Tensor& x, double value) {
  visit_dtype_or_bf16(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* p = x.data<T>();
    const T v = convert<T>(value);
    parallel_for(x.numel(), 1, [&](int64_t i) { p[i] = v; });
  });
}

void cast(const Tensor& x, Tensor& y) {
  visit_dtype_or_bf16(x.dtype(), [&](auto zx) {
    visit_dtype_or_bf16(y.dtype(), [&](auto zy) {
      using X = decltype(zx);
      using Y = decltype(zy);
      const X* px = x.data<X>();
      Y* py = y.data<Y>();
      parallel_for(x.numel(), 1, [&](int64_t i) { py[i] = convert<Y>(px[i]); });
    });
  });
}

void unary(const Tensor& x, Tensor& y, UnaryOp op) {
  visit_floating(x.dtype(), unary_name(op), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    with_unary(op, [&](auto k) {
      if constexpr (std::is_same_v<T, float> && k() == UnaryOp::gelu) {
        for_each_step(x.numel(), [&](int64_t j, int64_t n) { vec::store(py + j, n, gelu(vec::load(px + j, n))); });
      } else {
        parallel_for(x.numel(), 8, [&](int64_t i) { py[i] = math::unary(k(), px[i]); });
      }
    });
  });
}

// Let L = <dy, y>, y = op(x). Writes dL/dx = dy * op'(x) into dx.
void unary_backward(const Tensor& dy, const Tensor& x, const Tensor& y, Tensor& dx, UnaryOp op) {
  visit_floating(x.dtype(), unary_name(op), [&](auto zero) {
    using T = decltype(zero);
    const T* pdy = dy.data<T>();
    const T* px = x.data<T>();
    const T* py = y.data<T>();
    T* pdx = dx.data<T>();
    with_unary(op, [&](auto k) {
      if constexpr (std::is_same_v<T, float> && k() == UnaryOp::gelu) {
        for_each_step(x.numel(), [&](int64_t j, int64_t n) {
          vec::store(pdx + j, n, gelu_grad(vec::load(pdy + j, n), vec::load(px + j, n)));
        });
      } else {
        parallel_for(x.numel(), 8, [&](int64_t i) { pdx[i] = math::unary_grad(k(), pdy[i], px[i], py[i]); });
      }
    });
  });
}

void affine(const Tensor& x, Tensor& y, double scale, double shift) {
  visit_floating(x.dtype(), "affine", [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    T a = static_cast<T>(scale), b = static_cast<T>(shift);
    parallel_for(x.numel(), 1, [&](int64_t i) { py[i] = a * px[i] + b; });
  });
}

void pow_scalar(const Tensor& x, Tensor& y, double p) {
  visit_floating(x.dtype(), "pow", [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    T e = static_cast<T>(p);
    parallel_for(x.numel(), 8, [&](int64_t i) { py[i] = std::pow(px[i], e); });
  });
}

void clamp(const Tensor& x, Tensor& y, double lo, double hi) {
  visit_dtype(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    T l = static_cast<T>(lo), h = static_cast<T>(hi);
    parallel_for(x.numel(), 1, [&](int64_t i) { py[i] = px[i] < l ? l : (px[i] > h ? h : px[i]); });
  }, "clamp");
}

namespace {

// Walks the broadcast output row by row (the last axis is the inner loop); calls
// f(out_index, a_index, b_index, c_index) for every element. Up to three broadcast inputs.
template <class F>
void broadcast_loop(const Shape& out, const Shape& sa, const Shape& sb, const Shape& sc, F&& f) {
  const auto st_a = broadcast_strides(sa, out), st_b = broadcast_strides(sb, out),
             st_c = broadcast_strides(sc, out);
  const int64_t nd = static_cast<int64_t>(out.size());
  const int64_t inner = nd ? out[nd - 1] : 1;
  const int64_t rows = inner ? numel(out) / inner : 0;
  const int64_t ia = nd ? st_a[nd - 1] : 0, ib = nd ? st_b[nd - 1] : 0, ic = nd ? st_c[nd - 1] : 0;
  parallel_for(rows, inner, [&](int64_t row) {
    int64_t oa = 0, ob = 0, oc = 0, rem = row;
    for (int64_t d = nd - 2; d >= 0; --d) {
      int64_t coord = rem % out[d];
      rem /= out[d];
      oa += coord * st_a[d];
      ob += coord * st_b[d];
      oc += coord * st_c[d];
    }
    const int64_t base = row * inner;
    for (int64_t j = 0; j < inner; ++j) f(base + j, oa + j * ia, ob + j * ib, oc + j * ic);
  });
}

}  // namespace

void binary(const Tensor& a, const Tensor& b, Tensor& out, BinaryOp op) {
  visit_dtype(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    auto run = [&](auto* po, auto k) {
      using O = std::remove_pointer_t<decltype(po)>;
      if (a.shape() == b.shape()) {
        parallel_for(a.numel(), 1, [&](int64_t i) { po[i] = static_cast<O>(math::binary(k(), pa[i], pb[i])); });
      } else if (b.numel() == 1) {
        const T s = pb[0];
        parallel_for(a.numel(), 1, [&](int64_t i) { po[i] = static_cast<O>(math::binary(k(), pa[i], s)); });
      } else {
        broadcast_loop(out.shape(), a.shape(), b.shape(), {}, [&](int64_t o, int64_t ia, int64_t ib, int64_t) {
          po[o] = static_cast<O>(math::binary(k(), pa[ia], pb[ib]));
        });
      }
    };
    with_binary(op, [&](auto k) {
      if constexpr (is_comparison(k())) {
        run(out.data<uint8_t>(), k);
      } else {
        run(out.data<T>(), k);
      }
    });
  }, binary_name(op));
}

void where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) {
  visit_dtype(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const uint8_t* pc = cond.data<uint8_t>();
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* po = out.data<T>();
    broadcast_loop(out.shape(), a.shape(), b.shape(), cond.shape(),
                   [&](int64_t o, int64_t ia, int64_t ib, int64_t ic) { po[o] = pc[ic] ? pa[ia] : pb[ib]; });
  }, "where");
}

void expand(const Tensor& x, Tensor& y) {
  visit_dtype_or_bf16(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    broadcast_loop(y.shape(), x.shape(), {}, {}, [&](int64_t o, int64_t ix, int64_t, int64_t) { py[o] = px[ix]; });
  });
}

}  // namespace tg::cpu
