// CUDA pooling (NCHW) with torch semantics, as the CPU (tensor/cpu/pool.cpp): max pool pads with
// -inf and records the argmax as an int64 index into H * W (first maximum; NaN wins); average pool
// counts the padding (count_include_pad); adaptive average pool uses the windows
// [floor(i * H / P), ceil((i + 1) * H / P)). One thread per output element. Backward passes write
// dx deterministically (no atomics): one thread per input element gathers over the windows that
// contain it, in ascending (p, q).
//
// The arithmetic is the CPU kernel's, operation for operation, so every output has the CPU's bits
// (float32, and bfloat16; float64 up to the CPU compiler's FMA contraction): the averages sum in
// double and scale as the CPU does (__dmul_rn: a product nvcc may not fuse into an FMA with the sum
// that follows); the backward sums add in compute_t<T> in the CPU's order. bfloat16 loads into float (compute_t),
// and each output is rounded once, on its store.
#include "tensor/cuda/common.cuh"

namespace tg::cuda {

// kernels

namespace {

struct PoolGeom {
  int64_t C, H, W, P, Q;  // channels, input and output sizes
  int64_t kh, kw, sh, sw, ph, pw;
};

// The windows [first, last) along one axis that contain input coordinate i: window p covers
// p * stride - pad ... p * stride - pad + kernel - 1, so p >= (i + pad - kernel + 1) / stride
// (rounded up) and p <= (i + pad) / stride (rounded down); n windows in all.
struct Span {
  int64_t first, last;
};
__device__ __forceinline__ Span windows_containing(int64_t i, int64_t kernel, int64_t stride, int64_t pad,
                                                   int64_t n) {
  const int64_t ip = i + pad;  // the coordinate in the padded input
  return {ip < kernel ? 0 : (ip - kernel) / stride + 1, min(ip / stride + 1, n)};
}

template <class T>
struct MaxPoolFn {
  const T* x;
  T* y;
  int64_t* indices;
  PoolGeom g;
  __device__ void operator()(int64_t i) const {
    using C = compute_t<T>;
    const int64_t q = i % g.Q, p = (i / g.Q) % g.P, nc = i / (g.P * g.Q);
    const T* plane = x + nc * g.H * g.W;
    C best = C(0);
    int64_t arg = -1;
    for (int64_t r = 0; r < g.kh; ++r) {
      const int64_t h = p * g.sh - g.ph + r;
      if (h < 0 || h >= g.H) continue;
      for (int64_t s = 0; s < g.kw; ++s) {
        const int64_t w = q * g.sw - g.pw + s;
        if (w < 0 || w >= g.W) continue;
        const C v = convert<C>(plane[h * g.W + w]);
        if (arg < 0 || v > best || (isnan(v) && !isnan(best))) {
          best = v;
          arg = h * g.W + w;
        }
      }
    }
    // A window of padding only cannot happen when pad <= kernel / 2 (checked by the op); guard anyway.
    y[i] = convert<T>(arg < 0 ? C(-INFINITY) : best);  // exact: best is one of x's values
    indices[i] = arg < 0 ? 0 : arg;
  }
};

// One thread per input element (h, w) gathers: it walks the output windows that contain it, in
// ascending (p, q), and adds dy[p, q] where that window's argmax is this element. Deterministic and
// race-free: each thread reads dy and indices and writes only its own dx element, once, so there is
// no atomic and no order between threads to depend on. Its sum is the CPU's bit for bit: the CPU
// scatters dy in output order, so it too adds an element's terms in ascending (p, q), from zero, in
// compute_t<T>. Every window whose argmax is (h, w) contains (h, w), so the walk misses none; it
// reads at most ceil(kh / sh) x ceil(kw / sw) windows (2 x 2 for 3x3 stride 2).
template <class T>
struct MaxPoolBackwardFn {
  const T* dy;
  const int64_t* indices;
  T* dx;
  PoolGeom g;
  __device__ void operator()(int64_t i) const {
    using C = compute_t<T>;
    const int64_t w = i % g.W, h = (i / g.W) % g.H, nc = i / (g.H * g.W), self = h * g.W + w;
    const Span ps = windows_containing(h, g.kh, g.sh, g.ph, g.P), qs = windows_containing(w, g.kw, g.sw, g.pw, g.Q);
    const T* plane = dy + nc * g.P * g.Q;
    const int64_t* arg = indices + nc * g.P * g.Q;
    C sum = C(0);
    for (int64_t p = ps.first; p < ps.last; ++p)
      for (int64_t q = qs.first; q < qs.last; ++q)
        if (arg[p * g.Q + q] == self) sum += convert<C>(plane[p * g.Q + q]);
    dx[i] = convert<T>(sum);
  }
};

// The window's sum in double, times 1 / (kh * kw): padding counts (count_include_pad).
template <class T>
struct AvgPoolFn {
  const T* x;
  T* y;
  PoolGeom g;
  __device__ void operator()(int64_t i) const {
    const int64_t q = i % g.Q, p = (i / g.Q) % g.P, nc = i / (g.P * g.Q);
    const T* plane = x + nc * g.H * g.W;
    double sum = 0;
    for (int64_t r = 0; r < g.kh; ++r) {
      const int64_t h = p * g.sh - g.ph + r;
      if (h < 0 || h >= g.H) continue;
      for (int64_t s = 0; s < g.kw; ++s) {
        const int64_t w = q * g.sw - g.pw + s;
        if (w >= 0 && w < g.W) sum += convert<double>(plane[h * g.W + w]);
      }
    }
    y[i] = convert<T>(sum * (1.0 / static_cast<double>(g.kh * g.kw)));
  }
};

// One thread per input element: sums dy / (kh * kw) over the output windows that contain it, each
// term rounded to compute_t<T> first, as the CPU's scatter adds them (no atomics).
template <class T>
struct AvgPoolBackwardFn {
  const T* dy;
  T* dx;
  PoolGeom g;
  __device__ void operator()(int64_t i) const {
    using C = compute_t<T>;
    const int64_t w = i % g.W, h = (i / g.W) % g.H, nc = i / (g.H * g.W);
    const Span ps = windows_containing(h, g.kh, g.sh, g.ph, g.P), qs = windows_containing(w, g.kw, g.sw, g.pw, g.Q);
    const T* plane = dy + nc * g.P * g.Q;
    const double inv_area = 1.0 / static_cast<double>(g.kh * g.kw);
    C sum = C(0);
    for (int64_t p = ps.first; p < ps.last; ++p)
      for (int64_t q = qs.first; q < qs.last; ++q)
        sum += static_cast<C>(__dmul_rn(convert<double>(plane[p * g.Q + q]), inv_area));
    dx[i] = convert<T>(sum);
  }
};

__device__ __forceinline__ int64_t window_start(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
__device__ __forceinline__ int64_t window_end(int64_t i, int64_t in, int64_t out) {
  return ((i + 1) * in + out - 1) / out;
}

template <class T>
struct AdaptiveAvgFn {
  const T* x;
  T* y;
  PoolGeom g;
  __device__ void operator()(int64_t i) const {
    const int64_t q = i % g.Q, p = (i / g.Q) % g.P, nc = i / (g.P * g.Q);
    const int64_t h0 = window_start(p, g.H, g.P), h1 = window_end(p, g.H, g.P);
    const int64_t w0 = window_start(q, g.W, g.Q), w1 = window_end(q, g.W, g.Q);
    const T* plane = x + nc * g.H * g.W;
    double sum = 0;
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) sum += convert<double>(plane[h * g.W + w]);
    y[i] = convert<T>(sum / static_cast<double>((h1 - h0) * (w1 - w0)));
  }
};

// One thread per input element (h, w): sums dy / |window| (each term rounded to compute_t<T>, as the
// CPU adds them) over the windows that contain it. Window p covers rows
// [floor(p H / P), ceil((p + 1) H / P)), so row h lies in windows
// [floor(h P / H), ceil((h + 1) P / H)): the same formulas with the sizes swapped.
template <class T>
struct AdaptiveAvgBackwardFn {
  const T* dy;
  T* dx;
  PoolGeom g;
  __device__ void operator()(int64_t i) const {
    using C = compute_t<T>;
    const int64_t w = i % g.W, h = (i / g.W) % g.H, nc = i / (g.H * g.W);
    const int64_t p0 = window_start(h, g.P, g.H), p1 = window_end(h, g.P, g.H);
    const int64_t q0 = window_start(w, g.Q, g.W), q1 = window_end(w, g.Q, g.W);
    const T* plane = dy + nc * g.P * g.Q;
    C sum = C(0);
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t h0 = window_start(p, g.H, g.P), h1 = window_end(p, g.H, g.P);
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t w0 = window_start(q, g.W, g.Q), w1 = window_end(q, g.W, g.Q);
        const double area = static_cast<double>((h1 - h0) * (w1 - w0));
        sum += static_cast<C>(convert<double>(plane[p * g.Q + q]) / area);
      }
    }
    dx[i] = convert<T>(sum);
  }
};

}  // namespace

// launchers

namespace {
PoolGeom geometry(const Shape& x, const Shape& y, const Pool2dParams& p) {
  return {x[1], x[2], x[3], y[2], y[3], p.kernel_h, p.kernel_w, p.stride_h, p.stride_w, p.pad_h, p.pad_w};
}
}  // namespace

void max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices, const Pool2dParams& p) {
  visit_floating_or_bf16(x.dtype(), "max_pool2d", [&](auto zero) {
    using T = decltype(zero);
    launch_map(y.numel(),
               MaxPoolFn<T>{x.data<T>(), y.data<T>(), indices.data<int64_t>(), geometry(x.shape(), y.shape(), p)},
               "max_pool2d_forward", x.shape());
  });
}

// Forward: y = max over the window, at indices. Let L = <dy, y>. Writes dL/dx: each element gathers
// the dy of the windows (overlapping ones may share an argmax) whose argmax it is.
void max_pool2d_backward(const Tensor& dy, const Tensor& indices, Tensor& dx, const Pool2dParams& p) {
  visit_floating_or_bf16(dy.dtype(), "max_pool2d_backward", [&](auto zero) {
    using T = decltype(zero);
    launch_map(dx.numel(),
               MaxPoolBackwardFn<T>{dy.data<T>(), indices.data<int64_t>(), dx.data<T>(),
                                    geometry(dx.shape(), dy.shape(), p)},
               "max_pool2d_backward", dx.shape());
  });
}

void avg_pool2d_forward(const Tensor& x, Tensor& y, const Pool2dParams& p) {
  visit_floating_or_bf16(x.dtype(), "avg_pool2d", [&](auto zero) {
    using T = decltype(zero);
    launch_map(y.numel(), AvgPoolFn<T>{x.data<T>(), y.data<T>(), geometry(x.shape(), y.shape(), p)},
               "avg_pool2d_forward", x.shape());
  });
}

// Forward: y = sum over the window / (kh * kw). Let L = <dy, y>. Writes dL/dx: each element gets
// dy / (kh * kw) from every window that contains it.
void avg_pool2d_backward(const Tensor& dy, Tensor& dx, const Pool2dParams& p) {
  visit_floating_or_bf16(dy.dtype(), "avg_pool2d_backward", [&](auto zero) {
    using T = decltype(zero);
    launch_map(dx.numel(), AvgPoolBackwardFn<T>{dy.data<T>(), dx.data<T>(), geometry(dx.shape(), dy.shape(), p)},
               "avg_pool2d_backward", dx.shape());
  });
}

void adaptive_avg_pool2d_forward(const Tensor& x, Tensor& y) {
  visit_floating_or_bf16(x.dtype(), "adaptive_avg_pool2d", [&](auto zero) {
    using T = decltype(zero);
    launch_map(y.numel(), AdaptiveAvgFn<T>{x.data<T>(), y.data<T>(), geometry(x.shape(), y.shape(), {})},
               "adaptive_avg_pool2d_forward", x.shape());
  });
}

// Forward: y = mean over the adaptive window. Let L = <dy, y>. Writes dL/dx: each element gets
// dy / |window| from every window that contains it.
void adaptive_avg_pool2d_backward(const Tensor& dy, Tensor& dx) {
  visit_floating_or_bf16(dy.dtype(), "adaptive_avg_pool2d_backward", [&](auto zero) {
    using T = decltype(zero);
    launch_map(dx.numel(), AdaptiveAvgBackwardFn<T>{dy.data<T>(), dx.data<T>(), geometry(dx.shape(), dy.shape(), {})},
               "adaptive_avg_pool2d_backward", dx.shape());
  });
}

}  // namespace tg::cuda
