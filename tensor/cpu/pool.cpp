// CPU 2-D pooling over NCHW, one (n, c) plane per task (OpenMP over the N*C planes). Each backward
// task zeroes its own plane of dx, then scatters dy into it (windows may overlap): the kernel writes
// all of dx. Window (p, q) covers input rows p*sh - ph ...
// p*sh - ph + kh - 1 (and likewise columns), clipped to the input.
// bfloat16 (a bf16 network's activations) stores bf16 and computes as the float32 kernel does
// (compute_t<T> = float; the averages' sums in double), rounding once per output element: the
// backward passes sum a plane in a float buffer and round it at the end (write_plane).
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "tensor/cpu/parallel.h"
#include "tensor/kernels.h"

namespace tg::cpu {

namespace {

struct Window {
  int64_t h0, h1, w0, w1;  // [h0, h1) x [w0, w1), inside the input
};

Window window(int64_t p, int64_t q, int64_t h, int64_t w, const Pool2dParams& pp) {
  const int64_t hs = p * pp.stride_h - pp.pad_h, ws = q * pp.stride_w - pp.pad_w;
  return {std::max<int64_t>(hs, 0), std::min(hs + pp.kernel_h, h), std::max<int64_t>(ws, 0),
          std::min(ws + pp.kernel_w, w)};
}

// torch's adaptive windows: output i of n covers input [floor(i * in / n), ceil((i + 1) * in / n)).
int64_t adaptive_start(int64_t i, int64_t in, int64_t n) { return i * in / n; }
int64_t adaptive_end(int64_t i, int64_t in, int64_t n) { return ((i + 1) * in + n - 1) / n; }

// Writes one plane of dx (hw elements): add(acc) sums the plane's gradient into acc, hw zeroes of
// compute_t<T>; for bf16 that is a float buffer, rounded into the plane once at the end.
template <class T, class Add>
void write_plane(T* plane, int64_t hw, Add&& add) {
  using C = compute_t<T>;
  if constexpr (std::is_same_v<T, C>) {
    std::fill(plane, plane + hw, T(0));
    add(plane);
  } else {
    std::vector<C> acc(static_cast<size_t>(hw), C(0));
    add(acc.data());
    for (int64_t i = 0; i < hw; ++i) plane[i] = convert<T>(acc[i]);
  }
}

}  // namespace

// y = max over the window (padding counts as -inf); indices = ih * W + iw of the first maximum.
// NaN propagates (as torch).
void max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices, const Pool2dParams& pp) {
  visit_floating_or_bf16(x.dtype(), "max_pool2d", [&](auto zero) {
    using T = decltype(zero);
    using C = compute_t<T>;
    const int64_t h = x.size(2), w = x.size(3), ph = y.size(2), pw = y.size(3);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    int64_t* pi = indices.data<int64_t>();
    parallel_for(x.size(0) * x.size(1), h * w, [&](int64_t plane) {
      const T* in = px + plane * h * w;
      for (int64_t p = 0; p < ph; ++p) {
        for (int64_t q = 0; q < pw; ++q) {
          const Window win = window(p, q, h, w, pp);
          int64_t best = win.h0 * w + win.w0;  // the window always overlaps the input (pad <= kernel / 2)
          C best_v = convert<C>(in[best]);
          for (int64_t ih = win.h0; ih < win.h1; ++ih)
            for (int64_t iw = win.w0; iw < win.w1; ++iw) {
              const C v = convert<C>(in[ih * w + iw]);
              if (v > best_v || (std::isnan(v) && !std::isnan(best_v))) {
                best = ih * w + iw;
                best_v = v;
              }
            }
          py[(plane * ph + p) * pw + q] = in[best];
          pi[(plane * ph + p) * pw + q] = best;
        }
      }
    });
  });
}

// Let L = <dy, y>. Writes dL/dx: each dy goes to the input element its window selected, in output
// order (so an element's sum is in ascending (p, q), the order of the CUDA gather). The indices say
// where: this scatter needs no window geometry.
void max_pool2d_backward(const Tensor& dy, const Tensor& indices, Tensor& dx, const Pool2dParams& /*p*/) {
  visit_floating_or_bf16(dy.dtype(), "max_pool2d_backward", [&](auto zero) {
    using T = decltype(zero);
    using C = compute_t<T>;
    const int64_t hw_out = dy.size(2) * dy.size(3), hw_in = dx.size(2) * dx.size(3);
    const T* pdy = dy.data<T>();
    const int64_t* pi = indices.data<int64_t>();
    T* pdx = dx.data<T>();
    parallel_for(dy.size(0) * dy.size(1), hw_out, [&](int64_t plane) {
      write_plane(pdx + plane * hw_in, hw_in, [&](C* out) {
        for (int64_t k = plane * hw_out; k < (plane + 1) * hw_out; ++k) out[pi[k]] += convert<C>(pdy[k]);
      });
    });
  });
}

// y = sum over the window / (kh * kw): padding counts in the divisor (torch's count_include_pad,
// and without ceil_mode a window never reaches beyond the padded input).
void avg_pool2d_forward(const Tensor& x, Tensor& y, const Pool2dParams& pp) {
  visit_floating_or_bf16(x.dtype(), "avg_pool2d", [&](auto zero) {
    using T = decltype(zero);
    const int64_t h = x.size(2), w = x.size(3), ph = y.size(2), pw = y.size(3);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const double inv_area = 1.0 / static_cast<double>(pp.kernel_h * pp.kernel_w);
    parallel_for(x.size(0) * x.size(1), h * w, [&](int64_t plane) {
      const T* in = px + plane * h * w;
      for (int64_t p = 0; p < ph; ++p) {
        for (int64_t q = 0; q < pw; ++q) {
          const Window win = window(p, q, h, w, pp);
          double sum = 0;
          for (int64_t ih = win.h0; ih < win.h1; ++ih)
            for (int64_t iw = win.w0; iw < win.w1; ++iw) sum += convert<double>(in[ih * w + iw]);
          py[(plane * ph + p) * pw + q] = convert<T>(sum * inv_area);
        }
      }
    });
  });
}

// Let L = <dy, y>. Writes dL/dx: every input element of a window gets dy / (kh * kw).
void avg_pool2d_backward(const Tensor& dy, Tensor& dx, const Pool2dParams& pp) {
  visit_floating_or_bf16(dy.dtype(), "avg_pool2d_backward", [&](auto zero) {
    using T = decltype(zero);
    using C = compute_t<T>;
    const int64_t h = dx.size(2), w = dx.size(3), ph = dy.size(2), pw = dy.size(3);
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
    const double inv_area = 1.0 / static_cast<double>(pp.kernel_h * pp.kernel_w);
    parallel_for(dy.size(0) * dy.size(1), h * w, [&](int64_t plane) {
      write_plane(pdx + plane * h * w, h * w, [&](C* out) {
        for (int64_t p = 0; p < ph; ++p) {
          for (int64_t q = 0; q < pw; ++q) {
            const Window win = window(p, q, h, w, pp);
            const C g = static_cast<C>(convert<double>(pdy[(plane * ph + p) * pw + q]) * inv_area);
            for (int64_t ih = win.h0; ih < win.h1; ++ih)
              for (int64_t iw = win.w0; iw < win.w1; ++iw) out[ih * w + iw] += g;
          }
        }
      });
    });
  });
}

// y[p, q] = mean of x over the adaptive window (p, q).
void adaptive_avg_pool2d_forward(const Tensor& x, Tensor& y) {
  visit_floating_or_bf16(x.dtype(), "adaptive_avg_pool2d", [&](auto zero) {
    using T = decltype(zero);
    const int64_t h = x.size(2), w = x.size(3), ph = y.size(2), pw = y.size(3);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallel_for(x.size(0) * x.size(1), h * w, [&](int64_t plane) {
      const T* in = px + plane * h * w;
      for (int64_t p = 0; p < ph; ++p) {
        const int64_t h0 = adaptive_start(p, h, ph), h1 = adaptive_end(p, h, ph);
        for (int64_t q = 0; q < pw; ++q) {
          const int64_t w0 = adaptive_start(q, w, pw), w1 = adaptive_end(q, w, pw);
          double sum = 0;
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) sum += convert<double>(in[ih * w + iw]);
          py[(plane * ph + p) * pw + q] = convert<T>(sum / static_cast<double>((h1 - h0) * (w1 - w0)));
        }
      }
    });
  });
}

// Let L = <dy, y>. Writes dL/dx: every input element of window (p, q) gets dy[p, q] / its size.
void adaptive_avg_pool2d_backward(const Tensor& dy, Tensor& dx) {
  visit_floating_or_bf16(dy.dtype(), "adaptive_avg_pool2d_backward", [&](auto zero) {
    using T = decltype(zero);
    using C = compute_t<T>;
    const int64_t h = dx.size(2), w = dx.size(3), ph = dy.size(2), pw = dy.size(3);
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
    parallel_for(dy.size(0) * dy.size(1), h * w, [&](int64_t plane) {
      write_plane(pdx + plane * h * w, h * w, [&](C* out) {
        for (int64_t p = 0; p < ph; ++p) {
          const int64_t h0 = adaptive_start(p, h, ph), h1 = adaptive_end(p, h, ph);
          for (int64_t q = 0; q < pw; ++q) {
            const int64_t w0 = adaptive_start(q, w, pw), w1 = adaptive_end(q, w, pw);
            const double area = static_cast<double>((h1 - h0) * (w1 - w0));
            const C g = static_cast<C>(convert<double>(pdy[(plane * ph + p) * pw + q]) / area);
            for (int64_t ih = h0; ih < h1; ++ih)
              for (int64_t iw = w0; iw < w1; ++iw) out[ih * w + iw] += g;
          }
        }
      });
    });
  });
}

}  // namespace tg::cpu
