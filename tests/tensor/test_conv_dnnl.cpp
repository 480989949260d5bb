// oneDNN's float32 convolutions (tensor/cpu/conv2d_dnnl.cpp) against the im2col path: forward,
// backward data and backward filter, in both oneDNN modes (its own blocked layouts and plain NCHW),
// on the shapes taugrad's models use; and the primitive cache. Skipped in builds without oneDNN.
#include <doctest/doctest.h>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <latch>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "support/gradcheck.h"
#include "tensor/cpu/conv2d_dnnl.h"
#include "tensor/ops.h"

using namespace tg;
using tg::testing::rand64;

namespace {

// Skipped in builds without oneDNN (-Ddnnl=disabled, or libdnnl-dev absent at configure time).
const bool no_dnnl = !cpu::dnnl_conv2d_available();

Conv2dParams conv_params(int64_t stride, int64_t pad) {
  Conv2dParams p;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  return p;
}

std::string bytes(const Tensor& t) { return std::string(static_cast<const char*>(t.raw()), t.nbytes()); }

// The three float32 results of one mode, and their float64 im2col counterparts (ref) with the sums
// of the terms' magnitudes (the same maps applied to |x|, |w|, |dy|), which bound the rounding.
struct ConvResults {
  Tensor y, dx, dw;
};

ConvResults run_f32(const Tensor& x, const Tensor& w, const Tensor& dy, const Conv2dParams& p, cpu::DnnlConv2d mode) {
  cpu::ScopedDnnlConv2d scoped(mode);
  const Tensor x32 = x.to(DType::f32), w32 = w.to(DType::f32), dy32 = dy.to(DType::f32);
  return {conv2d(x32, w32, p), conv2d_backward_data(dy32, w32, x.shape(), p),
          conv2d_backward_filter(dy32, x32, w.shape(), p)};
}

ConvResults run_f64(const Tensor& x, const Tensor& w, const Tensor& dy, const Conv2dParams& p) {
  return {conv2d(x, w, p), conv2d_backward_data(dy, w, x.shape(), p), conv2d_backward_filter(dy, x, w.shape(), p)};
}

// Largest |got - ref| / (sqrt(n) eps32 |terms|) over the elements: a float32 sum of n terms
// (inputs rounded to float32 too) rounds by a few sqrt(n) eps32 times the sum of the terms'
// magnitudes, whatever the order of the sum; a wrong index or a missing term gives ratios of
// sqrt(n) and more.
double rounding_ratio(const Tensor& got, const Tensor& ref, const Tensor& magnitude, int64_t n) {
  const double eps = std::numeric_limits<float>::epsilon();
  const Tensor err = abs(sub(got.to(DType::f64), ref));
  const double k = std::sqrt(static_cast<double>(n)) * eps;
  const Tensor scale = affine(magnitude, k, 1e-30 * k);
  return max(div(err, scale)).item();
}

void check_against_im2col(const Shape& xs, const Shape& ws, const Conv2dParams& p) {
  CAPTURE(shape_str(xs));
  CAPTURE(shape_str(ws));
  CAPTURE(p.stride_h);
  CAPTURE(p.pad_h);
  const Shape ys = conv2d_output_shape(xs, ws, p);
  const Tensor x = rand64(xs, 1), w = rand64(ws, 2), dy = rand64(ys, 3);
  const ConvResults ref = run_f64(x, w, dy, p), mag = run_f64(abs(x), abs(w), abs(dy), p);
  const int64_t n_fwd = ws[1] * ws[2] * ws[3], n_data = ws[0] * ws[2] * ws[3], n_filter = ys[0] * ys[2] * ys[3];
  for (cpu::DnnlConv2d mode : {cpu::DnnlConv2d::blocked, cpu::DnnlConv2d::nchw, cpu::DnnlConv2d::off}) {
    CAPTURE(static_cast<int>(mode));
    const ConvResults got = run_f32(x, w, dy, p, mode);
    CHECK(rounding_ratio(got.y, ref.y, mag.y, n_fwd) < 4);
    CHECK(rounding_ratio(got.dx, ref.dx, mag.dx, n_data) < 4);
    CHECK(rounding_ratio(got.dw, ref.dw, mag.dw, n_filter) < 4);
  }
}

}  // namespace

TEST_CASE("conv2d oneDNN: forward and both backwards match the im2col path" * doctest::skip(no_dnnl)) {
  check_against_im2col({2, 16, 14, 14}, {16, 16, 3, 3}, conv_params(1, 1));  // ResNet-20 stage 1 (small batch)
  check_against_im2col({3, 16, 28, 28}, {32, 16, 3, 3}, conv_params(2, 1));  // stage 1 -> 2, stride 2
  check_against_im2col({2, 64, 7, 7}, {64, 64, 3, 3}, conv_params(1, 1));    // stage 3
  check_against_im2col({2, 16, 14, 14}, {32, 16, 1, 1}, conv_params(2, 0));  // 1x1 shortcut, stride 2
  check_against_im2col({2, 32, 9, 9}, {16, 32, 1, 1}, conv_params(1, 0));    // pointwise
  check_against_im2col({1, 8, 29, 31}, {8, 8, 7, 7}, conv_params(2, 3));     // 7x7, odd sizes, batch 1
  check_against_im2col({1, 9, 11, 13}, {12, 9, 3, 2}, conv_params(1, 2));    // channels padded to 16, non-square kernel
  check_against_im2col({3, 9, 10, 7}, {10, 9, 5, 5}, conv_params(3, 2));     // stride 3
  check_against_im2col({2, 3, 28, 28}, {16, 3, 3, 3}, conv_params(1, 1));    // a 3-channel stem (im2col)
  Conv2dParams uneven = conv_params(2, 0);
  uneven.pad_w = 1;
  check_against_im2col({2, 8, 9, 8}, {8, 8, 2, 3}, uneven);  // stride 2 leaving a row out, padding in w only
}

TEST_CASE("conv2d oneDNN: the kernels write their outputs, whatever the buffer held" * doctest::skip(no_dnnl)) {
  const Conv2dParams p = conv_params(1, 1);
  const Tensor x = rand64({2, 16, 8, 8}, 4).to(DType::f32), w = rand64({16, 16, 3, 3}, 5).to(DType::f32);
  const Tensor dy = rand64({2, 16, 8, 8}, 6).to(DType::f32);
  Tensor y = Tensor::full(x.shape(), 7.0), dx = Tensor::full(x.shape(), 7.0), dw = Tensor::full(w.shape(), 7.0);
  REQUIRE(cpu::dnnl_conv2d_forward(x, w, y, p));
  REQUIRE(cpu::dnnl_conv2d_backward_data(dy, w, dx, p));
  REQUIRE(cpu::dnnl_conv2d_backward_filter(dy, x, dw, p));
  CHECK(bytes(y) == bytes(conv2d(x, w, p)));
  CHECK(bytes(dx) == bytes(conv2d_backward_data(dy, w, x.shape(), p)));
  CHECK(bytes(dw) == bytes(conv2d_backward_filter(dy, x, w.shape(), p)));
}

TEST_CASE("conv2d oneDNN: float64, fewer than 8 channels and the off mode take the im2col path" *
          doctest::skip(no_dnnl)) {
  const Conv2dParams p = conv_params(1, 1);
  const Tensor x = rand64({1, 8, 5, 5}, 7), w = rand64({8, 8, 3, 3}, 8);
  Tensor y = Tensor::empty({1, 8, 5, 5}, DType::f64), y32 = Tensor::empty({1, 8, 5, 5});
  CHECK_FALSE(cpu::dnnl_conv2d_forward(x, w, y, p));
  CHECK(cpu::dnnl_conv2d_forward(x.to(DType::f32), w.to(DType::f32), y32, p));
  const Tensor stem_x = rand64({1, 3, 5, 5}, 9).to(DType::f32), stem_w = rand64({8, 3, 3, 3}, 10).to(DType::f32);
  CHECK_FALSE(cpu::dnnl_conv2d_forward(stem_x, stem_w, y32, p));
  Tensor stem_dx = Tensor::empty({1, 3, 5, 5});
  CHECK_FALSE(cpu::dnnl_conv2d_backward_data(y32, stem_w, stem_dx, p));
  cpu::ScopedDnnlConv2d off(cpu::DnnlConv2d::off);
  CHECK_FALSE(cpu::dnnl_conv2d_forward(x.to(DType::f32), w.to(DType::f32), y32, p));
}

TEST_CASE("conv2d oneDNN: a primitive is created once per shape and reused" * doctest::skip(no_dnnl)) {
  const Conv2dParams p = conv_params(1, 1);
  // Sizes no other test uses, so that the counts below are this test's own.
  const Tensor xa = rand64({3, 11, 13, 11}, 9).to(DType::f32), wa = rand64({10, 11, 3, 3}, 10).to(DType::f32);
  const Tensor xb = rand64({3, 11, 11, 13}, 11).to(DType::f32), wb = rand64({10, 11, 3, 3}, 12).to(DType::f32);
  const size_t before = cpu::dnnl_conv2d_cached_primitives();
  const Tensor ya = conv2d(xa, wa, p);
  CHECK(cpu::dnnl_conv2d_cached_primitives() == before + 1);
  const Tensor ya_again = conv2d(xa, wa, p);
  CHECK(cpu::dnnl_conv2d_cached_primitives() == before + 1);  // reused
  CHECK(bytes(ya_again) == bytes(ya));
  const Tensor yb = conv2d(xb, wb, p);  // H and W swapped: a shape of its own
  CHECK(cpu::dnnl_conv2d_cached_primitives() == before + 2);
  conv2d(xa, wa, conv_params(2, 1));  // another stride
  conv2d_backward_data(ya, wa, xa.shape(), p);  // another direction
  CHECK(cpu::dnnl_conv2d_cached_primitives() == before + 4);
  {
    cpu::ScopedDnnlConv2d off(cpu::DnnlConv2d::off);
    CHECK(max(abs(sub(conv2d(xb, wb, p), yb))).item() < 1e-5);  // yb is xb's, not xa's
    CHECK(max(abs(sub(conv2d(xa, wa, p), ya))).item() < 1e-5);
  }
  CHECK(cpu::dnnl_conv2d_cached_primitives() == before + 4);
}

TEST_CASE("conv2d oneDNN: the same bits on every call at a fixed thread count" * doctest::skip(no_dnnl)) {
  const int threads = omp_get_max_threads();
  const Conv2dParams p = conv_params(1, 1);
  const Tensor x = rand64({16, 32, 14, 14}, 13).to(DType::f32), w = rand64({32, 32, 3, 3}, 14).to(DType::f32);
  const Tensor dy = rand64({16, 32, 14, 14}, 15).to(DType::f32);
  for (int t : {1, 2, 4}) {
    CAPTURE(t);
    omp_set_num_threads(t);
    const std::string y = bytes(conv2d(x, w, p)), dx = bytes(conv2d_backward_data(dy, w, x.shape(), p));
    const std::string dw = bytes(conv2d_backward_filter(dy, x, w.shape(), p));
    bool same = true;
    for (int call = 0; call < 20; ++call) {
      same = same && bytes(conv2d(x, w, p)) == y && bytes(conv2d_backward_data(dy, w, x.shape(), p)) == dx &&
             bytes(conv2d_backward_filter(dy, x, w.shape(), p)) == dw;
    }
    CHECK(same);
  }
  omp_set_num_threads(threads);
}

TEST_CASE("conv2d oneDNN: threads that share the primitive cache get their own shape's result" *
          doctest::skip(no_dnnl)) {
  const Conv2dParams p = conv_params(1, 1);
  std::vector<Tensor> xs, ws, expected;
  for (int64_t i = 0; i < 4; ++i) {  // four shapes no other test uses, new to the cache
    xs.push_back(rand64({2, 12, 6 + i, 7}, 20 + i).to(DType::f32));
    ws.push_back(rand64({12, 12, 3, 3}, 30 + i).to(DType::f32));
    cpu::ScopedDnnlConv2d off(cpu::DnnlConv2d::off);
    expected.push_back(conv2d(xs.back(), ws.back(), p));
  }
  std::vector<double> worst(8, 0.0);
  std::latch start(static_cast<std::ptrdiff_t>(worst.size()));  // all threads ask for the new shapes at once
  std::vector<std::thread> threads;
  for (size_t t = 0; t < worst.size(); ++t)
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int call = 0; call < 5; ++call) {
        const size_t i = (t + call) % xs.size();
        worst[t] = std::max(worst[t], max(abs(sub(conv2d(xs[i], ws[i], p), expected[i]))).item());
      }
    });
  for (std::thread& t : threads) t.join();
  for (double w : worst) CHECK(w < 1e-4);
}
