// Reference pooling, as torch.nn.functional's max_pool2d, avg_pool2d (count_include_pad, no
// ceil_mode) and adaptive_avg_pool2d. Output cell (p, q) of each (n, c) plane reads a window of the
// input plane; every backward sends dy[p, q] back to the elements that cell read, weighted by their
// derivative (1 for the selected maximum; 1 / divisor for an average).
#include "tensor/reference/pool.h"

#include <algorithm>

#include "tensor/reference/common.h"

namespace tg::reference {

namespace {

struct Window {
  int64_t h0, h1, w0, w1;  // rows [h0, h1) x columns [w0, w1) of the input plane
  double divisor;          // of an average
};

// Rows p sh - ph ... p sh - ph + kh - 1 (likewise columns), clipped to the input; padding counts
// in the divisor.
Window pool_window(int64_t p, int64_t q, int64_t h, int64_t w, const Pool2dParams& pp) {
  const int64_t hs = p * pp.stride_h - pp.pad_h, ws = q * pp.stride_w - pp.pad_w;
  return {std::max<int64_t>(hs, 0), std::min(hs + pp.kernel_h, h), std::max<int64_t>(ws, 0),
          std::min(ws + pp.kernel_w, w), static_cast<double>(pp.kernel_h * pp.kernel_w)};
}

// torch's adaptive windows: cell i of n covers input [floor(i in / n), ceil((i + 1) in / n)).
Window adaptive_window(int64_t p, int64_t q, int64_t h, int64_t w, int64_t ph, int64_t pw) {
  const int64_t h0 = p * h / ph, h1 = ((p + 1) * h + ph - 1) / ph, w0 = q * w / pw, w1 = ((q + 1) * w + pw - 1) / pw;
  return {h0, h1, w0, w1, static_cast<double>((h1 - h0) * (w1 - w0))};
}

Shape pooled_shape(const Shape& x, const Pool2dParams& p) {
  TG_CHECK(x.size() == 4, "reference::pool: x must be [N, C, H, W], got ", shape_str(x));
  return {x[0], x[1], (x[2] + 2 * p.pad_h - p.kernel_h) / p.stride_h + 1, (x[3] + 2 * p.pad_w - p.kernel_w) / p.stride_w + 1};
}

// y[p, q] = sum of the window / its divisor, for every plane.
template <class WindowOf>
Tensor average(const Tensor& x, const Shape& y_shape, WindowOf window_of) {
  check_f64(x, "avg_pool2d_forward");
  Tensor y = Tensor::empty(y_shape, DType::f64);
  const int64_t h = x.size(2), w = x.size(3), ph = y_shape[2], pw = y_shape[3];
  for (int64_t plane = 0; plane < x.size(0) * x.size(1); ++plane)
    for (int64_t p = 0; p < ph; ++p)
      for (int64_t q = 0; q < pw; ++q) {
        const Window win = window_of(p, q);
        double s = 0;
        for (int64_t ih = win.h0; ih < win.h1; ++ih)
          for (int64_t iw = win.w0; iw < win.w1; ++iw) s += x.data<double>()[(plane * h + ih) * w + iw];
        y.data<double>()[(plane * ph + p) * pw + q] = s / win.divisor;
      }
  return y;
}

// dx = sum over the windows containing an element of dy[p, q] / divisor.
template <class WindowOf>
Tensor average_backward(const Tensor& dy, const Shape& x_shape, WindowOf window_of) {
  check_f64(dy, "avg_pool2d_backward");
  Tensor dx = Tensor::zeros(x_shape, DType::f64);
  const int64_t h = x_shape[2], w = x_shape[3], ph = dy.size(2), pw = dy.size(3);
  for (int64_t plane = 0; plane < x_shape[0] * x_shape[1]; ++plane)
    for (int64_t p = 0; p < ph; ++p)
      for (int64_t q = 0; q < pw; ++q) {
        const Window win = window_of(p, q);
        for (int64_t ih = win.h0; ih < win.h1; ++ih)
          for (int64_t iw = win.w0; iw < win.w1; ++iw)
            dx.data<double>()[(plane * h + ih) * w + iw] += dy.data<double>()[(plane * ph + p) * pw + q] / win.divisor;
      }
  return dx;
}

}  // namespace

// y[p, q] = max of the window (padding is -inf, so it never wins); indices: where, ih * W + iw.
MaxPoolOutput max_pool2d_forward(const Tensor& x, const Pool2dParams& pp) {
  check_f64(x, "max_pool2d_forward");
  const Shape shape = pooled_shape(x.shape(), pp);
  MaxPoolOutput out{Tensor::empty(shape, DType::f64), Tensor::empty(shape, DType::i64)};
  const int64_t h = x.size(2), w = x.size(3), ph = shape[2], pw = shape[3];
  for (int64_t plane = 0; plane < x.size(0) * x.size(1); ++plane)
    for (int64_t p = 0; p < ph; ++p)
      for (int64_t q = 0; q < pw; ++q) {
        const Window win = pool_window(p, q, h, w, pp);
        const double* in = x.data<double>() + plane * h * w;
        int64_t best = win.h0 * w + win.w0;
        for (int64_t ih = win.h0; ih < win.h1; ++ih)
          for (int64_t iw = win.w0; iw < win.w1; ++iw)
            if (in[ih * w + iw] > in[best]) best = ih * w + iw;
        out.y.data<double>()[(plane * ph + p) * pw + q] = in[best];
        out.indices.data<int64_t>()[(plane * ph + p) * pw + q] = best;
      }
  return out;
}

// dx = sum of dy over the cells whose maximum the element was.
Tensor max_pool2d_backward(const Tensor& dy, const Tensor& indices, const Shape& x_shape) {
  check_f64(dy, "max_pool2d_backward");
  Tensor dx = Tensor::zeros(x_shape, DType::f64);
  const int64_t cells = dy.size(2) * dy.size(3), hw = x_shape[2] * x_shape[3];
  for (int64_t i = 0; i < dy.numel(); ++i) dx.data<double>()[(i / cells) * hw + indices.data<int64_t>()[i]] += dy.data<double>()[i];
  return dx;
}

Tensor avg_pool2d_forward(const Tensor& x, const Pool2dParams& pp) {
  return average(x, pooled_shape(x.shape(), pp), [&](int64_t p, int64_t q) { return pool_window(p, q, x.size(2), x.size(3), pp); });
}

Tensor avg_pool2d_backward(const Tensor& dy, const Shape& x_shape, const Pool2dParams& pp) {
  return average_backward(dy, x_shape, [&](int64_t p, int64_t q) { return pool_window(p, q, x_shape[2], x_shape[3], pp); });
}

Tensor adaptive_avg_pool2d_forward(const Tensor& x, int64_t out_h, int64_t out_w) {
  return average(x, {x.size(0), x.size(1), out_h, out_w},
                 [&](int64_t p, int64_t q) { return adaptive_window(p, q, x.size(2), x.size(3), out_h, out_w); });
}

Tensor adaptive_avg_pool2d_backward(const Tensor& dy, const Shape& x_shape) {
  return average_backward(dy, x_shape, [&](int64_t p, int64_t q) {
    return adaptive_window(p, q, x_shape[2], x_shape[3], dy.size(2), dy.size(3));
  });
}

}  // namespace tg::reference
