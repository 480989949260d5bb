// CUDA pooling (NCHW) with torch semantics, as the CPU (tensor/cpu/pool.cpp): max pool pads with
// -inf and records the argmax as an int64 index into H * W (first maximum; NaN wins); average pool
// counts the padding (count_include_pad); adaptive average pool uses the windows
// [floor(i * H / P), ceil((i + 1) * H / P)). One thread per output element. Backward passes write
// dx deterministically (no atomics): the average pools gather, one thread per input element summing
// the windows that contain it in a fixed order; max pool walks each plane's outputs in order.
#include "tensor/cuda/common.cuh"

namespace tg::cuda {

// kernels

namespace {

struct PoolGeom {
  int64_t C, H, W, P, Q;  // channels, input and output sizes
  int64_t kh, kw, sh, sw, ph, pw;
};

template <class T>
struct MaxPoolFn {
  const T* x;
  T* y;
  int64_t* indices;
  PoolGeom g;
  __device__ void operator()(int64_t i) const {
    const int64_t q = i % g.Q, p = (i / g.Q) % g.P, nc = i / (g.P * g.Q);
    const T* plane = x + nc * g.H * g.W;
    T best = T(0);
    int64_t arg = -1;
    for (int64_t r = 0; r < g.kh; ++r) {
      const int64_t h = p * g.sh - g.ph + r;
      if (h < 0 || h >= g.H) continue;
      for (int64_t s = 0; s < g.kw; ++s) {
        const int64_t w = q * g.sw - g.pw + s;
        if (w < 0 || w >= g.W) continue;
        const T v = plane[h * g.W + w];
        if (arg < 0 || v > best || (isnan(v) && !isnan(best))) {
          best = v;
          arg = h * g.W + w;
        }
      }
    }
    // A window of padding only cannot happen when pad <= kernel / 2 (checked by the op); guard anyway.
    y[i] = arg < 0 ? -INFINITY : best;
    indices[i] = arg < 0 ? 0 : arg;
  }
};

// One thread per (n, c) plane walks the plane's outputs in order and adds each dy at its argmax, as
// the CPU does (so the same bits). The kernel interface gives the argmax indices but no window
// geometry, so an input element cannot find its windows to gather over; instead each plane is one
// thread's serial walk of P * Q steps, each a read-modify-write of an element of the plane (in L1).
// Estimate (not measured): ResNet's ImageNet stem at Tiny-ImageNet size, batch 256: 16k planes of
// 16 x 16 outputs, some tens of microseconds; at ImageNet's 56 x 56 outputs about a millisecond per
// call, where atomics took tens of microseconds. A per-element gather would need Pool2dParams in
// max_pool2d_backward's kernel interface (tensor/kernels.inc).
template <class T>
__global__ void max_pool_backward_kernel(const T* __restrict__ dy, const int64_t* __restrict__ indices,
                                         T* __restrict__ dx, int64_t planes, int64_t pq, int64_t hw) {
  TG_GRID_LOOP(plane, planes) {
    T* out = dx + plane * hw;
    for (int64_t k = plane * pq; k < (plane + 1) * pq; ++k) out[indices[k]] += dy[k];
  }
}

template <class T>
struct AvgPoolFn {
  const T* x;
  T* y;
  PoolGeom g;
  __device__ void operator()(int64_t i) const {
    const int64_t q = i % g.Q, p = (i / g.Q) % g.P, nc = i / (g.P * g.Q);
    const T* plane = x + nc * g.H * g.W;
    T sum = T(0);
    for (int64_t r = 0; r < g.kh; ++r) {
      const int64_t h = p * g.sh - g.ph + r;
      if (h < 0 || h >= g.H) continue;
      for (int64_t s = 0; s < g.kw; ++s) {
        const int64_t w = q * g.sw - g.pw + s;
        if (w >= 0 && w < g.W) sum += plane[h * g.W + w];
      }
    }
    y[i] = sum / static_cast<T>(g.kh * g.kw);  // padding counts (count_include_pad)
  }
};

// One thread per input element: sums dy over the output windows that contain it (no atomics).
template <class T>
struct AvgPoolBackwardFn {
  const T* dy;
  T* dx;
  PoolGeom g;
  __device__ void operator()(int64_t i) const {
    const int64_t w = i % g.W, h = (i / g.W) % g.H, nc = i / (g.H * g.W);
    const int64_t hp = h + g.ph, wp = w + g.pw;  // coordinates in the padded input
    const int64_t p0 = hp < g.kh ? 0 : (hp - g.kh) / g.sh + 1, p1 = min(hp / g.sh + 1, g.P);
    const int64_t q0 = wp < g.kw ? 0 : (wp - g.kw) / g.sw + 1, q1 = min(wp / g.sw + 1, g.Q);
    const T* plane = dy + nc * g.P * g.Q;
    T sum = T(0);
    for (int64_t p = p0; p < p1; ++p)
      for (int64_t q = q0; q < q1; ++q) sum += plane[p * g.Q + q];
    dx[i] = sum / static_cast<T>(g.kh * g.kw);
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
    T sum = T(0);
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) sum += plane[h * g.W + w];
    y[i] = sum / static_cast<T>((h1 - h0) * (w1 - w0));
  }
};

// One thread per input element (h, w): sums dy / |window| over the windows that contain it. Window p
// covers rows [floor(p H / P), ceil((p + 1) H / P)), so row h lies in windows
// [floor(h P / H), ceil((h + 1) P / H)): the same formulas with the sizes swapped.
template <class T>
struct AdaptiveAvgBackwardFn {
  const T* dy;
  T* dx;
  PoolGeom g;
  __device__ void operator()(int64_t i) const {
    const int64_t w = i % g.W, h = (i / g.W) % g.H, nc = i / (g.H * g.W);
    const int64_t p0 = window_start(h, g.P, g.H), p1 = window_end(h, g.P, g.H);
    const int64_t q0 = window_start(w, g.Q, g.W), q1 = window_end(w, g.Q, g.W);
    const T* plane = dy + nc * g.P * g.Q;
    T sum = T(0);
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t h0 = window_start(p, g.H, g.P), h1 = window_end(p, g.H, g.P);
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t w0 = window_start(q, g.W, g.Q), w1 = window_end(q, g.W, g.Q);
        sum += plane[p * g.Q + q] / static_cast<T>((h1 - h0) * (w1 - w0));
      }
    }
    dx[i] = sum;
  }
};

}  // namespace

// launchers

namespace {
PoolGeom geometry(const Shape& x, const Shape& y, const Pool2dParams& p) {
  return {x[1], x[2], x[3], y[2], y[3], p.kernel_h, p.kernel_w, p.stride_h, p.stride_w, p.pad_h, p.pad_w};
}
std::string pool_shapes(const Shape& x, const Shape& y) {
  return detail::concat(shape_str(x), " -> ", shape_str(y));
}
}  // namespace

void max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices, const Pool2dParams& p) {
  visit_floating(x.dtype(), "max_pool2d", [&](auto zero) {
    using T = decltype(zero);
    launch_map(y.numel(),
               MaxPoolFn<T>{x.data<T>(), y.data<T>(), indices.data<int64_t>(), geometry(x.shape(), y.shape(), p)},
               "max_pool2d_forward", x.shape());
  });
}

// Forward: y = max over the window, at indices. Let L = <dy, y>. Writes dL/dx: zeroes dx, then each
// plane's thread adds its dy at their argmaxes in output order (overlapping windows may share one).
void max_pool2d_backward(const Tensor& dy, const Tensor& indices, Tensor& dx) {
  if (dx.numel() == 0) return;
  TG_CUDA_CHECK(cudaMemsetAsync(dx.raw(), 0, dx.nbytes(), stream()), "max_pool2d_backward zero dx");
  const int64_t planes = dy.size(0) * dy.size(1), pq = dy.size(2) * dy.size(3), hw = dx.size(2) * dx.size(3);
  if (planes * pq == 0) return;
  visit_floating(dy.dtype(), "max_pool2d_backward", [&](auto zero) {
    using T = decltype(zero);
    constexpr int block = 64;  // few threads per block: N * C planes spread over every SM
    max_pool_backward_kernel<T><<<grid_for(planes, block), block, 0, stream()>>>(
        dy.data<T>(), indices.data<int64_t>(), dx.data<T>(), planes, pq, hw);
    TG_CUDA_LAUNCH_CHECK("max_pool2d_backward ", pool_shapes(dx.shape(), dy.shape()));
  });
}

void avg_pool2d_forward(const Tensor& x, Tensor& y, const Pool2dParams& p) {
  visit_floating(x.dtype(), "avg_pool2d", [&](auto zero) {
    using T = decltype(zero);
    launch_map(y.numel(), AvgPoolFn<T>{x.data<T>(), y.data<T>(), geometry(x.shape(), y.shape(), p)},
               "avg_pool2d_forward", x.shape());
  });
}

// Forward: y = sum over the window / (kh * kw). Let L = <dy, y>. Writes dL/dx: each element gets
// dy / (kh * kw) from every window that contains it.
void avg_pool2d_backward(const Tensor& dy, Tensor& dx, const Pool2dParams& p) {
  visit_floating(dy.dtype(), "avg_pool2d_backward", [&](auto zero) {
    using T = decltype(zero);
    launch_map(dx.numel(), AvgPoolBackwardFn<T>{dy.data<T>(), dx.data<T>(), geometry(dx.shape(), dy.shape(), p)},
               "avg_pool2d_backward", dx.shape());
  });
}

void adaptive_avg_pool2d_forward(const Tensor& x, Tensor& y) {
  visit_floating(x.dtype(), "adaptive_avg_pool2d", [&](auto zero) {
    using T = decltype(zero);
    launch_map(y.numel(), AdaptiveAvgFn<T>{x.data<T>(), y.data<T>(), geometry(x.shape(), y.shape(), {})},
               "adaptive_avg_pool2d_forward", x.shape());
  });
}

// Forward: y = mean over the adaptive window. Let L = <dy, y>. Writes dL/dx: each element gets
// dy / |window| from every window that contains it.
void adaptive_avg_pool2d_backward(const Tensor& dy, Tensor& dx) {
  visit_floating(dy.dtype(), "adaptive_avg_pool2d_backward", [&](auto zero) {
    using T = decltype(zero);
    launch_map(dx.numel(), AdaptiveAvgBackwardFn<T>{dy.data<T>(), dx.data<T>(), geometry(dx.shape(), dy.shape(), {})},
               "adaptive_avg_pool2d_backward", dx.shape());
  });
}

}  // namespace tg::cuda
