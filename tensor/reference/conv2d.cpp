// Reference convolution, a cross-correlation as torch.nn.functional.conv2d defines it:
//   y[n, k, p, q] = sum_{c, r, s} w[k, c, r, s] x[n, c, p sh - ph + r, q sw - pw + s]   (x = 0 outside)
// Each x element and each w element meets dy through exactly the products above, so
//   dx[n, c, h, v] = sum over (k, p, q, r, s) with p sh - ph + r = h, q sw - pw + s = v of w[k, c, r, s] dy[n, k, p, q]
//   dw[k, c, r, s] = sum_{n, p, q} x[n, c, p sh - ph + r, q sw - pw + s] dy[n, k, p, q]
// The three functions below run the same seven loops; only the line inside differs.
#include "tensor/reference/conv2d.h"

#include "tensor/reference/common.h"

namespace tg::reference {

namespace {

// Calls f(x index, w index, y index) for every product of the forward sum.
template <class F>
void for_each_product(const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& cp, F&& f) {
  const int64_t n_ = x[0], c_ = x[1], h_ = x[2], v_ = x[3], k_ = w[0], r_ = w[2], s_ = w[3], p_ = y[2], q_ = y[3];
  for (int64_t n = 0; n < n_; ++n)
    for (int64_t k = 0; k < k_; ++k)
      for (int64_t p = 0; p < p_; ++p)
        for (int64_t q = 0; q < q_; ++q)
          for (int64_t c = 0; c < c_; ++c)
            for (int64_t r = 0; r < r_; ++r)
              for (int64_t s = 0; s < s_; ++s) {
                const int64_t h = p * cp.stride_h - cp.pad_h + r, v = q * cp.stride_w - cp.pad_w + s;
                if (h < 0 || h >= h_ || v < 0 || v >= v_) continue;  // zero padding
                f(((n * c_ + c) * h_ + h) * v_ + v, ((k * c_ + c) * r_ + r) * s_ + s, ((n * k_ + k) * p_ + p) * q_ + q);
              }
}

Shape output_shape(const Shape& x, const Shape& w, const Conv2dParams& p) {
  TG_CHECK(x.size() == 4 && w.size() == 4 && x[1] == w[1], "reference::conv2d: x ", shape_str(x), " and w ",
           shape_str(w), " are not [N, C, H, W] and [K, C, R, S]");
  return {x[0], w[0], (x[2] + 2 * p.pad_h - w[2]) / p.stride_h + 1, (x[3] + 2 * p.pad_w - w[3]) / p.stride_w + 1};
}

}  // namespace

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  check_f64(x, "conv2d_forward");
  check_f64(w, "conv2d_forward");
  Tensor y = Tensor::zeros(output_shape(x.shape(), w.shape(), p), DType::f64);
  const double *px = x.data<double>(), *pw = w.data<double>();
  double* py = y.data<double>();
  for_each_product(x.shape(), w.shape(), y.shape(), p, [&](int64_t ix, int64_t iw, int64_t iy) { py[iy] += pw[iw] * px[ix]; });
  return y;
}

Tensor conv2d_backward_data(const Tensor& dy, const Tensor& w, const Shape& x_shape, const Conv2dParams& p) {
  check_f64(dy, "conv2d_backward_data");
  check_f64(w, "conv2d_backward_data");
  Tensor dx = Tensor::zeros(x_shape, DType::f64);
  const double *pdy = dy.data<double>(), *pw = w.data<double>();
  double* pdx = dx.data<double>();
  for_each_product(x_shape, w.shape(), output_shape(x_shape, w.shape(), p), p,
                   [&](int64_t ix, int64_t iw, int64_t iy) { pdx[ix] += pw[iw] * pdy[iy]; });
  return dx;
}

Tensor conv2d_backward_filter(const Tensor& dy, const Tensor& x, const Shape& w_shape, const Conv2dParams& p) {
  check_f64(dy, "conv2d_backward_filter");
  check_f64(x, "conv2d_backward_filter");
  Tensor dw = Tensor::zeros(w_shape, DType::f64);
  const double *pdy = dy.data<double>(), *px = x.data<double>();
  double* pdw = dw.data<double>();
  for_each_product(x.shape(), w_shape, output_shape(x.shape(), w_shape, p), p,
                   [&](int64_t ix, int64_t iw, int64_t iy) { pdw[iw] += px[ix] * pdy[iy]; });
  return dw;
}

}  // namespace tg::reference
