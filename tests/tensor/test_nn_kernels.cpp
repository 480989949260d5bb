// The nn kernels on the CPU: convolution against a direct (naive) convolution in float64, pooling and
// batch norm on known values, and the errors that bad shapes get.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>

#include "support/gradcheck.h"
#include "tensor/ops.h"

using namespace tg;
using namespace tg::testing;

namespace {

// The three convolution maps written as the definition: y = sum w x, and its two adjoints.
struct NaiveConv {
  Shape xs, ws, ys;
  Conv2dParams p;
  // Calls f(n, k, c, p, q, ih, iw, r, s) for every term of the sum that lies inside the input.
  template <class F>
  void each_term(F&& f) const {
    for (int64_t n = 0; n < ys[0]; ++n)
      for (int64_t k = 0; k < ys[1]; ++k)
        for (int64_t oh = 0; oh < ys[2]; ++oh)
          for (int64_t ow = 0; ow < ys[3]; ++ow)
            for (int64_t c = 0; c < xs[1]; ++c)
              for (int64_t r = 0; r < ws[2]; ++r)
                for (int64_t s = 0; s < ws[3]; ++s) {
                  const int64_t ih = oh * p.stride_h - p.pad_h + r, iw = ow * p.stride_w - p.pad_w + s;
                  if (ih < 0 || ih >= xs[2] || iw < 0 || iw >= xs[3]) continue;
                  const int64_t yi = ((n * ys[1] + k) * ys[2] + oh) * ys[3] + ow;
                  const int64_t xi = ((n * xs[1] + c) * xs[2] + ih) * xs[3] + iw;
                  const int64_t wi = ((k * ws[1] + c) * ws[2] + r) * ws[3] + s;
                  f(yi, xi, wi);
                }
  }
  Tensor forward(const Tensor& x, const Tensor& w) const {
    Tensor y = Tensor::zeros(ys, DType::f64);
    double *py = y.data<double>(), *px = x.data<double>(), *pw = w.data<double>();
    each_term([&](int64_t yi, int64_t xi, int64_t wi) { py[yi] += pw[wi] * px[xi]; });
    return y;
  }
  Tensor backward_data(const Tensor& dy, const Tensor& w) const {
    Tensor dx = Tensor::zeros(xs, DType::f64);
    double *pdx = dx.data<double>(), *pdy = dy.data<double>(), *pw = w.data<double>();
    each_term([&](int64_t yi, int64_t xi, int64_t wi) { pdx[xi] += pw[wi] * pdy[yi]; });
    return dx;
  }
  Tensor backward_filter(const Tensor& dy, const Tensor& x) const {
    Tensor dw = Tensor::zeros(ws, DType::f64);
    double *pdw = dw.data<double>(), *pdy = dy.data<double>(), *px = x.data<double>();
    each_term([&](int64_t yi, int64_t xi, int64_t wi) { pdw[wi] += px[xi] * pdy[yi]; });
    return dw;
  }
};

double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  return max(abs(sub(a.to(DType::f64), b.to(DType::f64)))).item();
}

Conv2dParams conv_params(int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  Conv2dParams p;
  p.stride_h = sh;
  p.stride_w = sw;
  p.pad_h = ph;
  p.pad_w = pw;
  return p;
}

Pool2dParams pool_params(int64_t k, int64_t s, int64_t pad) {
  Pool2dParams p;
  p.kernel_h = p.kernel_w = k;
  p.stride_h = p.stride_w = s;
  p.pad_h = p.pad_w = pad;
  return p;
}

// Checks forward, backward data and backward filter of one geometry against NaiveConv, in float64
// and (loosely) float32.
void check_conv(const Shape& xs, const Shape& ws, const Conv2dParams& p) {
  CAPTURE(shape_str(xs));
  CAPTURE(shape_str(ws));
  CAPTURE(p.stride_h);
  CAPTURE(p.pad_h);
  const NaiveConv ref{xs, ws, conv2d_output_shape(xs, ws, p), p};
  Tensor x = rand64(xs, 1), w = rand64(ws, 2), dy = rand64(ref.ys, 3);
  CHECK(max_abs_diff(conv2d(x, w, p), ref.forward(x, w)) < 1e-12);
  CHECK(max_abs_diff(conv2d_backward_data(dy, w, xs, p), ref.backward_data(dy, w)) < 1e-12);
  CHECK(max_abs_diff(conv2d_backward_filter(dy, x, ws, p), ref.backward_filter(dy, x)) < 1e-11);
  Tensor x32 = x.to(DType::f32), w32 = w.to(DType::f32), dy32 = dy.to(DType::f32);
  CHECK(max_abs_diff(conv2d(x32, w32, p), ref.forward(x, w)) < 1e-4);
  CHECK(max_abs_diff(conv2d_backward_data(dy32, w32, xs, p), ref.backward_data(dy, w)) < 1e-4);
  CHECK(max_abs_diff(conv2d_backward_filter(dy32, x32, ws, p), ref.backward_filter(dy, x)) < 1e-3);
}

}  // namespace

TEST_CASE("conv2d: forward and both backwards match the direct convolution") {
  check_conv({2, 3, 5, 5}, {4, 3, 3, 3}, conv_params(1, 1, 1, 1));
  check_conv({2, 3, 6, 9}, {2, 3, 3, 2}, conv_params(2, 1, 1, 0));   // non-square everything
  check_conv({1, 2, 7, 5}, {3, 2, 2, 4}, conv_params(3, 2, 0, 2));   // stride 3, pad only in w
  check_conv({2, 4, 5, 6}, {3, 4, 1, 1}, conv_params(1, 1, 0, 0));   // 1x1, stride 1: no im2col
  check_conv({2, 4, 6, 6}, {3, 4, 1, 1}, conv_params(2, 2, 0, 0));   // 1x1 stride 2 (a shortcut)
  check_conv({1, 3, 11, 11}, {2, 3, 7, 7}, conv_params(2, 2, 3, 3)); // the ImageNet stem
  check_conv({1, 2, 3, 3}, {2, 2, 3, 3}, conv_params(1, 1, 2, 2));   // padding wider than needed
  check_conv({3, 2, 17, 16}, {2, 2, 3, 3}, conv_params(1, 1, 1, 1)); // one image per chunk, 3 chunks
  // C >= 8 with stride 1: the backward data runs as a forward convolution with the flipped weight.
  check_conv({2, 8, 9, 10}, {3, 8, 3, 3}, conv_params(1, 1, 1, 1));
  check_conv({2, 9, 8, 7}, {4, 9, 3, 2}, conv_params(1, 1, 2, 0));   // padding R-1 and 0
  check_conv({1, 8, 6, 6}, {2, 8, 5, 5}, conv_params(1, 1, 1, 2));
  check_conv({2, 8, 9, 9}, {3, 8, 1, 1}, conv_params(1, 1, 0, 0));   // pointwise
  check_conv({2, 8, 9, 9}, {3, 8, 3, 3}, conv_params(1, 1, 3, 3));   // padding > R-1: col2im path
}

TEST_CASE("conv2d: batches of several images per GEMM, serial and threaded") {
  const int saved = omp_get_max_threads();
  for (int threads : {1, 2, 3}) {
    CAPTURE(threads);
    omp_set_num_threads(threads);
    check_conv({9, 3, 4, 4}, {5, 3, 3, 3}, conv_params(1, 1, 1, 1));  // 4x4 outputs: many images a chunk
    check_conv({7, 4, 4, 4}, {3, 4, 1, 1}, conv_params(1, 1, 0, 0));  // pointwise, chunked
    check_conv({9, 8, 3, 5}, {4, 8, 3, 3}, conv_params(1, 1, 1, 1));  // backward data via the flipped weight
    check_conv({5, 8, 4, 4}, {3, 8, 1, 1}, conv_params(1, 1, 0, 0));
  }
  omp_set_num_threads(saved);
}

TEST_CASE("conv2d: bad shapes give errors that name the op and the shapes") {
  Tensor x = Tensor::zeros({1, 3, 4, 4}), w = Tensor::zeros({2, 3, 3, 3});
  CHECK_THROWS_WITH_AS(conv2d(x, Tensor::zeros({2, 4, 3, 3}), {}),
                       doctest::Contains("conv2d: input has 3 channels but the weight expects 4"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, Tensor::zeros({2, 3, 5, 5}), {}),
                       doctest::Contains("kernel 5x5 is larger than the padded input 4x4"), Error);
  CHECK_THROWS_WITH_AS(conv2d(Tensor::zeros({3, 4, 4}), w, {}), doctest::Contains("[3, 4, 4]"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, w, conv_params(0, 1, 0, 0)), doctest::Contains("stride"), Error);
  CHECK_THROWS_WITH_AS(conv2d(x, w.to(DType::f64), {}), doctest::Contains("dtypes differ"), Error);
  CHECK_THROWS_WITH_AS(conv2d_backward_data(Tensor::zeros({1, 2, 3, 3}), w, {1, 3, 4, 4}, {}),
                       doctest::Contains("does not match the output [1, 2, 2, 2]"), Error);
  CHECK(conv2d_output_shape({2, 3, 32, 32}, {16, 3, 3, 3}, conv_params(2, 2, 1, 1)) == Shape{2, 16, 16, 16});
}

TEST_CASE("max_pool2d: values, indices and -inf padding") {
  Tensor x = Tensor::arange(16, DType::f64).reshape({1, 1, 4, 4}).to(DType::f32);
  auto [y, idx] = max_pool2d(x, pool_params(2, 2, 0));
  CHECK(y.to_vector<float>() == std::vector<float>{5, 7, 13, 15});
  CHECK(idx.to_vector<int64_t>() == std::vector<int64_t>{5, 7, 13, 15});
  // All values <= 0: a zero-padded pool would return 0 in every window that touches the padding.
  auto [yn, idxn] = max_pool2d(neg(x), pool_params(3, 2, 1));
  CHECK(yn.to_vector<float>() == std::vector<float>{0, -1, -4, -5});
  CHECK(idxn.to_vector<int64_t>() == std::vector<int64_t>{0, 1, 4, 5});
  CHECK_THROWS_WITH_AS(max_pool2d(x, pool_params(2, 2, 2)), doctest::Contains("at most half the kernel"), Error);
}

TEST_CASE("avg_pool2d and adaptive_avg_pool2d: known values") {
  // count_include_pad: a corner window of a 3x3 kernel with padding 1 holds 4 inputs but divides by 9.
  Tensor y = avg_pool2d(Tensor::ones({1, 1, 4, 4}, DType::f64), pool_params(3, 2, 1));
  std::vector<double> v = y.to_vector<double>();
  CHECK(v[0] == doctest::Approx(4.0 / 9));
  CHECK(v[1] == doctest::Approx(6.0 / 9));
  CHECK(v[2] == doctest::Approx(6.0 / 9));
  CHECK(v[3] == doctest::Approx(1.0));
  // 5 -> 3: windows [0, 2), [1, 4), [3, 5) (torch's floor/ceil bounds, overlapping).
  Tensor row = Tensor::arange(5, DType::f64).reshape({1, 1, 1, 5});
  CHECK(adaptive_avg_pool2d(row, 1, 3).to_vector<double>() == std::vector<double>{0.5, 2.0, 3.5});
  Tensor g = Tensor::arange(32, DType::f64).reshape({2, 1, 4, 4});
  CHECK(adaptive_avg_pool2d(g, 1, 1).to_vector<double>() == std::vector<double>{7.5, 23.5});  // global pool
  CHECK_THROWS_AS(adaptive_avg_pool2d(g, 0, 1), Error);
}

TEST_CASE("batch_norm: batch statistics, running-stat update and eval") {
  Tensor x = Tensor::from_vector<double>({1, 2, 3, 4, 10, 10, 10, 10}, {2, 2, 1, 2});
  // Channel 0 holds x[0, 0] = {1, 2} and x[1, 0] = {10, 10}; channel 1 holds {3, 4} and {10, 10}.
  Tensor gamma = Tensor::from_vector<double>({2, 1}, {2}), beta = Tensor::from_vector<double>({1, 0}, {2});
  Tensor rm = Tensor::zeros({2}, DType::f64), rv = Tensor::ones({2}, DType::f64);
  BatchNormOutput out = batch_norm(x, gamma, beta, rm, rv, true, 0.1, 1e-5);
  const double mean0 = 23.0 / 4, var0 = (4.75 * 4.75 + 3.75 * 3.75 + 2 * 4.25 * 4.25) / 4;
  CHECK(out.mean.to_vector<double>()[0] == doctest::Approx(mean0));
  CHECK(out.invstd.to_vector<double>()[0] == doctest::Approx(1 / std::sqrt(var0 + 1e-5)));
  CHECK(out.y.to_vector<double>()[0] == doctest::Approx(2 * (1 - mean0) / std::sqrt(var0 + 1e-5) + 1));
  // torch: running = 0.9 running + 0.1 batch, with the unbiased variance (M / (M - 1)).
  CHECK(rm.to_vector<double>()[0] == doctest::Approx(0.1 * mean0));
  CHECK(rv.to_vector<double>()[0] == doctest::Approx(0.9 + 0.1 * var0 * 4 / 3));
  BatchNormOutput ev = batch_norm(x, gamma, beta, rm, rv, false, 0.1, 1e-5);
  const double rm0 = rm.to_vector<double>()[0], rv0 = rv.to_vector<double>()[0];
  CHECK(ev.y.to_vector<double>()[0] == doctest::Approx(2 * (1 - rm0) / std::sqrt(rv0 + 1e-5) + 1));
  CHECK(rm.to_vector<double>()[0] == rm0);  // eval leaves the running statistics alone
  // float32 agrees with float64.
  Tensor rm32 = Tensor::zeros({2}), rv32 = Tensor::ones({2});
  BatchNormOutput o32 = batch_norm(x.to(DType::f32), gamma.to(DType::f32), beta.to(DType::f32), rm32, rv32, true,
                                   0.1, 1e-5);
  CHECK(max_abs_diff(o32.y, out.y) < 1e-5);
  CHECK(max_abs_diff(rv32, rv) < 1e-5);
}

TEST_CASE("batch_norm: bad shapes") {
  Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3});
  Tensor x = Tensor::zeros({2, 3, 2, 2});
  CHECK_THROWS_WITH_AS(batch_norm(x, Tensor::ones({4}), Tensor::zeros({3}), rm, rv, true, 0.1, 1e-5),
                       doctest::Contains("batch_norm: per-channel tensors must be [3]"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(Tensor::zeros({1, 3, 1, 1}), Tensor::ones({3}), Tensor::zeros({3}), rm, rv, true,
                                  0.1, 1e-5),
                       doctest::Contains("more than one value per channel"), Error);
  CHECK_THROWS_AS(batch_norm(Tensor::zeros({2, 3, 4}), Tensor::ones({3}), Tensor::zeros({3}), rm, rv, true, 0.1, 1e-5),
                  Error);
}
