// CPU 2-D pooling over NCHW, one (n, c) plane per task (OpenMP over the N*C planes). Each backward
// task zeroes its own plane of dx, then scatters dy into it (windows may overlap): the kernel writes
// all of dx. Window (p, q) covers input rows p*sh - ph ...
// p*sh - ph + kh - 1 (and likewise columns), clipped to the input.
#include <algorithm>
#include <cmath>

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

}  // namespace

// y = max over the window (padding counts as -inf); indices = ih * W + iw of the first maximum.
// NaN propagates (as torch).
void max_pool2d_forward(const Tensor& x, Tensor& y, Tensor& indices, const Pool2dParams& pp) {
  visit_floating(x.dtype(), "max_pool2d", [&](auto zero) {
    using T = decltype(zero);
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
          for (int64_t ih = win.h0; ih < win.h1; ++ih)
            for (int64_t iw = win.w0; iw < win.w1; ++iw) {
              const T v = in[ih * w + iw];
              if (v > in[best] || (std::isnan(v) && !std::isnan(in[best]))) best = ih * w + iw;
            }
          py[(plane * ph + p) * pw + q] = in[best];
          pi[(plane * ph + p) * pw + q] = best;
        }
      }
    });
  });
}

// Let L = <dy, y>. Writes dL/dx: each dy goes to the input element its window selected.
void max_pool2d_backward(const Tensor& dy, const Tensor& indices, Tensor& dx) {
  visit_floating(dy.dtype(), "max_pool2d_backward", [&](auto zero) {
    using T = decltype(zero);
    const int64_t hw_out = dy.size(2) * dy.size(3), hw_in = dx.size(2) * dx.size(3);
    const T* pdy = dy.data<T>();
    const int64_t* pi = indices.data<int64_t>();
    T* pdx = dx.data<T>();
    parallel_for(dy.size(0) * dy.size(1), hw_out, [&](int64_t plane) {
      T* out = pdx + plane * hw_in;
      std::fill(out, out + hw_in, T(0));
      for (int64_t k = plane * hw_out; k < (plane + 1) * hw_out; ++k) out[pi[k]] += pdy[k];
    });
  });
}

// y = sum over the window / (kh * kw): padding counts in the divisor (torch's count_include_pad,
// and without ceil_mode a window never reaches beyond the padded input).
void avg_pool2d_forward(const Tensor& x, Tensor& y, const Pool2dParams& pp) {
  visit_floating(x.dtype(), "avg_pool2d", [&](auto zero) {
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
            for (int64_t iw = win.w0; iw < win.w1; ++iw) sum += in[ih * w + iw];
          py[(plane * ph + p) * pw + q] = static_cast<T>(sum * inv_area);
        }
      }
    });
  });
}

// Let L = <dy, y>. Writes dL/dx: every input element of a window gets dy / (kh * kw).
void avg_pool2d_backward(const Tensor& dy, Tensor& dx, const Pool2dParams& pp) {
  visit_floating(dy.dtype(), "avg_pool2d_backward", [&](auto zero) {
    using T = decltype(zero);
    const int64_t h = dx.size(2), w = dx.size(3), ph = dy.size(2), pw = dy.size(3);
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
    const double inv_area = 1.0 / static_cast<double>(pp.kernel_h * pp.kernel_w);
    parallel_for(dy.size(0) * dy.size(1), h * w, [&](int64_t plane) {
      T* out = pdx + plane * h * w;
      std::fill(out, out + h * w, T(0));
      for (int64_t p = 0; p < ph; ++p) {
        for (int64_t q = 0; q < pw; ++q) {
          const Window win = window(p, q, h, w, pp);
          const T g = static_cast<T>(pdy[(plane * ph + p) * pw + q] * inv_area);
          for (int64_t ih = win.h0; ih < win.h1; ++ih)
            for (int64_t iw = win.w0; iw < win.w1; ++iw) out[ih * w + iw] += g;
        }
      }
    });
  });
}

// y[p, q] = mean of x over the adaptive window (p, q).
void adaptive_avg_pool2d_forward(const Tensor& x, Tensor& y) {
  visit_floating(x.dtype(), "adaptive_avg_pool2d", [&](auto zero) {
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
            for (int64_t iw = w0; iw < w1; ++iw) sum += in[ih * w + iw];
          py[(plane * ph + p) * pw + q] = static_cast<T>(sum / static_cast<double>((h1 - h0) * (w1 - w0)));
        }
      }
    });
  });
}

// Let L = <dy, y>. Writes dL/dx: every input element of window (p, q) gets dy[p, q] / its size.
void adaptive_avg_pool2d_backward(const Tensor& dy, Tensor& dx) {
  visit_floating(dy.dtype(), "adaptive_avg_pool2d_backward", [&](auto zero) {
    using T = decltype(zero);
    const int64_t h = dx.size(2), w = dx.size(3), ph = dy.size(2), pw = dy.size(3);
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
    parallel_for(dy.size(0) * dy.size(1), h * w, [&](int64_t plane) {
      T* out = pdx + plane * h * w;
      std::fill(out, out + h * w, T(0));
      for (int64_t p = 0; p < ph; ++p) {
        const int64_t h0 = adaptive_start(p, h, ph), h1 = adaptive_end(p, h, ph);
        for (int64_t q = 0; q < pw; ++q) {
          const int64_t w0 = adaptive_start(q, w, pw), w1 = adaptive_end(q, w, pw);
          const T g = static_cast<T>(pdy[(plane * ph + p) * pw + q] / static_cast<double>((h1 - h0) * (w1 - w0)));
          for (int64_t ih = h0; ih < h1; ++ih)
            for (int64_t iw = w0; iw < w1; ++iw) out[ih * w + iw] += g;
        }
      }
    });
  });
}

}  // namespace tg::cpu
