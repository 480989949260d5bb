// CUDA elementwise kernels: fill, cast, unary (+ backward), affine, pow, clamp, binary with
// broadcasting, where. The scalar math is tensor/elementwise_math.h, shared with the CPU
// (tensor/cpu/elementwise.cpp), so both devices compute the same formulas. One thread per element
// (grid-stride, int64 indices); broadcast operands are addressed through per-dim strides.
#include "tensor/cuda/common.cuh"
#include "tensor/elementwise_math.h"

namespace tg::cuda {

// kernels

namespace {

template <class T>
struct FillOp {
  T* p;
  T v;
  __device__ void operator()(int64_t i) const { p[i] = v; }
};

template <class X, class Y>
struct CastOp {
  const X* x;
  Y* y;
  __device__ void operator()(int64_t i) const { y[i] = convert<Y>(x[i]); }
};

template <class T>
struct UnaryFn {
  UnaryOp op;
  const T* x;
  T* y;
  __device__ void operator()(int64_t i) const { y[i] = math::unary(op, x[i]); }
};

template <class T>
struct UnaryGradFn {
  UnaryOp op;
  const T *dy, *x, *y;
  T* dx;
  __device__ void operator()(int64_t i) const { dx[i] = math::unary_grad(op, dy[i], x[i], y[i]); }
};

template <class T>
struct AffineOp {
  const T* x;
  T* y;
  T a, b;
  __device__ void operator()(int64_t i) const { y[i] = a * x[i] + b; }
};

template <class T>
struct PowOp {
  const T* x;
  T* y;
  T e;
  __device__ void operator()(int64_t i) const { y[i] = pow(x[i], e); }
};

template <class T>
struct ClampOp {
  const T* x;
  T* y;
  T lo, hi;
  __device__ void operator()(int64_t i) const { y[i] = x[i] < lo ? lo : (x[i] > hi ? hi : x[i]); }
};

// Offsets into up to three broadcast operands of output element i.
__device__ __forceinline__ void broadcast_offsets(const Dims& d, int64_t i, int64_t off[3]) {
  off[0] = off[1] = off[2] = 0;
  for (int k = d.nd - 1; k >= 0; --k) {
    const int64_t coord = i % d.size[k];
    i /= d.size[k];
    off[0] += coord * d.stride[0][k];
    off[1] += coord * d.stride[1][k];
    off[2] += coord * d.stride[2][k];
  }
}

// The scalar op for every dtype: integer pow goes through double (the CPU's std::pow promotes too).
template <class T>
__device__ __forceinline__ T binary_scalar(BinaryOp op, T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    return math::binary(op, a, b);
  } else {
    if (op == BinaryOp::pow) return static_cast<T>(pow(static_cast<double>(a), static_cast<double>(b)));
    switch (op) {
      case BinaryOp::add: return a + b;
      case BinaryOp::sub: return a - b;
      case BinaryOp::mul: return a * b;
      case BinaryOp::div: return b == 0 ? T(0) : static_cast<T>(a / b);  // no trap on / 0
      case BinaryOp::maximum: return a > b ? a : b;
      case BinaryOp::minimum: return a < b ? a : b;
      case BinaryOp::eq: return a == b;
      case BinaryOp::ne: return a != b;
      case BinaryOp::lt: return a < b;
      case BinaryOp::le: return a <= b;
      case BinaryOp::gt: return a > b;
      case BinaryOp::ge: return a >= b;
      default: return a;
    }
  }
}

// mode 0: same shapes; 1: b is a scalar; 2: general broadcast through `dims`.
template <class T, class O>
struct BinaryFn {
  BinaryOp op;
  const T *a, *b;
  O* out;
  int mode;
  Dims dims;
  __device__ void operator()(int64_t i) const {
    if (mode == 0) {
      out[i] = static_cast<O>(binary_scalar(op, a[i], b[i]));
    } else if (mode == 1) {
      out[i] = static_cast<O>(binary_scalar(op, a[i], b[0]));
    } else {
      int64_t off[3];
      broadcast_offsets(dims, i, off);
      out[i] = static_cast<O>(binary_scalar(op, a[off[0]], b[off[1]]));
    }
  }
};

template <class T>
struct WhereFn {
  const uint8_t* cond;
  const T *a, *b;
  T* out;
  Dims dims;
  __device__ void operator()(int64_t i) const {
    int64_t off[3];
    broadcast_offsets(dims, i, off);
    out[i] = cond[off[2]] ? a[off[0]] : b[off[1]];
  }
};

template <class T>
struct ExpandFn {
  const T* x;
  T* y;
  Dims dims;
  __device__ void operator()(int64_t i) const {
    int64_t off[3];
    broadcast_offsets(dims, i, off);
    y[i] = x[off[0]];
  }
};

}  // namespace

// launchers

namespace {
// Sizes of `out` and the broadcast strides of up to three operands (sc may be empty).
Dims broadcast_dims(const Shape& out, const Shape& sa, const Shape& sb, const Shape& sc, const char* op) {
  TG_CHECK(out.size() <= static_cast<size_t>(kMaxDims), op, ": the CUDA kernel takes at most ", kMaxDims,
           " dims, got ", shape_str(out));
  Dims d;
  d.nd = static_cast<int>(out.size());
  const Shape* shapes[3] = {&sa, &sb, &sc};
  for (int k = 0; k < 3; ++k) {
    const auto st = broadcast_strides(*shapes[k], out);
    for (int i = 0; i < d.nd; ++i) d.stride[k][i] = st[i];
  }
  for (int i = 0; i < d.nd; ++i) d.size[i] = out[i];
  return d;
}
}  // namespace

void fill(Tensor& x, double value) {
  visit_dtype_or_bf16(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(x.numel(), FillOp<T>{x.data<T>(), convert<T>(value)}, "fill", x.shape());
  });
}

void cast(const Tensor& x, Tensor& y) {
  visit_dtype_or_bf16(x.dtype(), [&](auto zx) {
    visit_dtype_or_bf16(y.dtype(), [&](auto zy) {
      using X = decltype(zx);
      using Y = decltype(zy);
      launch_map(x.numel(), CastOp<X, Y>{x.data<X>(), y.data<Y>()}, "cast", x.shape());
    });
  });
}

void unary(const Tensor& x, Tensor& y, UnaryOp op) {
  visit_floating(x.dtype(), unary_name(op), [&](auto zero) {
    using T = decltype(zero);
    launch_map(x.numel(), UnaryFn<T>{op, x.data<T>(), y.data<T>()}, unary_name(op), x.shape());
  });
}

// Let L = <dy, y>, y = op(x). Writes dL/dx = dy * op'(x) into dx.
void unary_backward(const Tensor& dy, const Tensor& x, const Tensor& y, Tensor& dx, UnaryOp op) {
  visit_floating(x.dtype(), unary_name(op), [&](auto zero) {
    using T = decltype(zero);
    launch_map(x.numel(), UnaryGradFn<T>{op, dy.data<T>(), x.data<T>(), y.data<T>(), dx.data<T>()},
               "unary_backward", x.shape());
  });
}

void affine(const Tensor& x, Tensor& y, double scale, double shift) {
  visit_floating(x.dtype(), "affine", [&](auto zero) {
    using T = decltype(zero);
    launch_map(x.numel(), AffineOp<T>{x.data<T>(), y.data<T>(), static_cast<T>(scale), static_cast<T>(shift)},
               "affine", x.shape());
  });
}

void pow_scalar(const Tensor& x, Tensor& y, double p) {
  visit_floating(x.dtype(), "pow", [&](auto zero) {
    using T = decltype(zero);
    launch_map(x.numel(), PowOp<T>{x.data<T>(), y.data<T>(), static_cast<T>(p)}, "pow", x.shape());
  });
}

void clamp(const Tensor& x, Tensor& y, double lo, double hi) {
  visit_dtype(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(x.numel(), ClampOp<T>{x.data<T>(), y.data<T>(), static_cast<T>(lo), static_cast<T>(hi)},
               "clamp", x.shape());
  }, "clamp");
}

void binary(const Tensor& a, const Tensor& b, Tensor& out, BinaryOp op) {
  const int mode = a.shape() == b.shape() ? 0 : (b.numel() == 1 ? 1 : 2);
  const Dims dims = mode == 2 ? broadcast_dims(out.shape(), a.shape(), b.shape(), {}, binary_name(op)) : Dims{};
  visit_dtype(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    auto run = [&](auto* po) {
      using O = std::remove_pointer_t<decltype(po)>;
      launch_map(out.numel(), BinaryFn<T, O>{op, a.data<T>(), b.data<T>(), po, mode, dims}, binary_name(op),
                 out.shape());
    };
    if (is_comparison(op)) {
      run(out.data<uint8_t>());
    } else {
      run(out.data<T>());
    }
  }, binary_name(op));
}

void where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) {
  const Dims dims = broadcast_dims(out.shape(), a.shape(), b.shape(), cond.shape(), "where");
  visit_dtype(a.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(out.numel(), WhereFn<T>{cond.data<uint8_t>(), a.data<T>(), b.data<T>(), out.data<T>(), dims},
               "where", out.shape());
  }, "where");
}

void expand(const Tensor& x, Tensor& y) {
  const Dims dims = broadcast_dims(y.shape(), x.shape(), {}, {}, "expand");
  visit_dtype_or_bf16(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(y.numel(), ExpandFn<T>{x.data<T>(), y.data<T>(), dims}, "expand", y.shape());
  });
}

}  // namespace tg::cuda
