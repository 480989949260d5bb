// The write rule of tensor/kernels.inc: every backward kernel WRITES its gradient outputs. Each
// kernel runs twice, once on outputs pre-filled with NaN and once on zero-filled ones; a kernel that
// added into (or skipped part of) its output would leave NaN behind or differ between the two.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <functional>

#include "tensor/kernels.h"
#include "tensor/ops.h"
#include "tensor/random.h"

using namespace tg;

namespace {

using Outputs = std::vector<Tensor>;

// Runs `kernel` on NaN-filled and on zero-filled outputs of `shapes`; both runs must give the same
// bits and no NaN.
void check_writes(const char* name, DType dt, const std::vector<Shape>& shapes,
                  const std::function<void(Outputs&)>& kernel) {
  Outputs nan_filled, zero_filled;
  for (const Shape& s : shapes) {
    nan_filled.push_back(Tensor::full(s, NAN, dt));
    zero_filled.push_back(Tensor::zeros(s, dt));
  }
  kernel(nan_filled);
  kernel(zero_filled);
  for (size_t i = 0; i < shapes.size(); ++i) {
    CAPTURE(name);
    CAPTURE(dtype_name(dt));
    CAPTURE(i);
    Tensor has_nan = tg::ne(nan_filled[i], nan_filled[i]);
    CHECK(tg::sum(has_nan.to(DType::i64)).item() == 0);
    CHECK(std::memcmp(nan_filled[i].raw(), zero_filled[i].raw(), nan_filled[i].nbytes()) == 0);
  }
}

}  // namespace

TEST_CASE("write rule: every CPU backward kernel writes all of its gradient outputs") {
  manual_seed(11);
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor x = uniform({2, 8, 7, 7}, 0.5, 1.5, dt), dy4 = randn({2, 8, 7, 7}, dt);

    for (int u = 0; u <= static_cast<int>(UnaryOp::reciprocal); ++u) {
      const UnaryOp op = static_cast<UnaryOp>(u);
      Tensor y = tg::unary(op, x);
      check_writes(unary_name(op), dt, {x.shape()}, [&](Outputs& o) { cpu::unary_backward(dy4, x, y, o[0], op); });
    }

    // Convolution: the stride-1 path (run as a forward of dy), the col2im path (stride 2), and the
    // filter gradient with one chunk (N = 1) and several (threads summed).
    for (Conv2dParams p : {Conv2dParams{1, 1, 1, 1}, Conv2dParams{2, 2, 1, 1}}) {
      for (int64_t n : {1, 4}) {
        Tensor xc = randn({n, 8, 9, 9}, dt), w = randn({6, 8, 3, 3}, dt);
        Tensor dy = randn(conv2d_output_shape(xc.shape(), w.shape(), p), dt);
        check_writes("conv2d_backward_data", dt, {xc.shape()},
                     [&](Outputs& o) { cpu::conv2d_backward_data(dy, w, o[0], p); });
        check_writes("conv2d_backward_filter", dt, {w.shape()},
                     [&](Outputs& o) { cpu::conv2d_backward_filter(dy, xc, o[0], p); });
      }
    }

    Tensor gamma = randn({8}, dt), running_mean = Tensor::zeros({8}, dt), running_var = Tensor::ones({8}, dt);
    BatchNormOutput bn = tg::batch_norm(x, gamma, randn({8}, dt), running_mean, running_var, true, 0.1, 1e-5);
    for (bool batch_stats : {true, false}) {
      check_writes("batch_norm_backward", dt, {x.shape(), {8}, {8}}, [&](Outputs& o) {
        cpu::batch_norm_backward(dy4, x, gamma, bn.mean, bn.invstd, o[0], o[1], o[2], batch_stats);
      });
    }

    // Pooling with overlapping windows (kernel 3, stride 2) and adaptive windows that overlap (7 -> 3).
    const Pool2dParams pp{3, 3, 2, 2, 1, 1};
    auto [ymax, indices] = tg::max_pool2d(x, pp);
    Tensor dyp = randn(ymax.shape(), dt);
    check_writes("max_pool2d_backward", dt, {x.shape()},
                 [&](Outputs& o) { cpu::max_pool2d_backward(dyp, indices, o[0], pp); });
    check_writes("avg_pool2d_backward", dt, {x.shape()},
                 [&](Outputs& o) { cpu::avg_pool2d_backward(dyp, o[0], pp); });
    Tensor dya = randn({2, 8, 3, 3}, dt);
    check_writes("adaptive_avg_pool2d_backward", dt, {x.shape()},
                 [&](Outputs& o) { cpu::adaptive_avg_pool2d_backward(dya, o[0]); });

    Tensor logits = randn({6, 10}, dt), dy2 = randn({6, 10}, dt);
    for (bool log : {false, true}) {
      Tensor y = log ? tg::log_softmax(logits) : tg::softmax(logits);
      check_writes("softmax_backward", dt, {y.shape()}, [&](Outputs& o) { cpu::softmax_backward(dy2, y, o[0], log); });
    }
    Tensor labels = randint({6}, 0, 10);
    CrossEntropyOutput ce = tg::cross_entropy(logits, labels, 2.0, 0.1);
    Tensor dlosses = randn({6}, dt);
    check_writes("cross_entropy_backward", dt, {logits.shape()}, [&](Outputs& o) {
      cpu::cross_entropy_backward(dlosses, ce.probs, labels, o[0], 2.0, 0.1);
    });

    Tensor gamma_ln = randn({10}, dt);
    LayerNormOutput ln = tg::layer_norm(logits, gamma_ln, randn({10}, dt), 1e-5);
    check_writes("layer_norm_backward", dt, {logits.shape(), {10}, {10}}, [&](Outputs& o) {
      cpu::layer_norm_backward(dy2, logits, gamma_ln, ln.mean, ln.invstd, o[0], o[1], o[2]);
    });
  }
}

TEST_CASE("backward ops validate their operands like the forward ones") {
  Tensor x = randn({2, 3, 6, 6}), dy_bad = randn({2, 3, 4, 4});
  auto [y, indices] = tg::max_pool2d(x, Pool2dParams{2, 2, 2, 2, 0, 0});
  CHECK_THROWS_WITH_AS(tg::max_pool2d_backward(dy_bad, indices, x.shape(), Pool2dParams{2, 2, 2, 2, 0, 0}),
                       doctest::Contains("max_pool2d_backward: dy [2, 3, 4, 4]"), Error);
  CHECK_THROWS_WITH_AS(tg::avg_pool2d_backward(dy_bad, x.shape(), Pool2dParams{2, 2, 2, 2, 0, 0}),
                       doctest::Contains("avg_pool2d_backward: dy"), Error);
  Tensor probs = tg::softmax(randn({4, 5}));
  CHECK_THROWS_WITH_AS(tg::cross_entropy_backward(randn({4}), probs, randint({3}, 0, 5), 1.0),
                       doctest::Contains("cross_entropy_backward: labels must be int64 [4]"), Error);
  CHECK_THROWS_WITH_AS(tg::softmax_backward(randn({4, 4}), probs, false),
                       doctest::Contains("softmax_backward: dy"), Error);
  CHECK_THROWS_WITH_AS(tg::slice_backward(randn({2, 3}), 1, 2, {2, 4}),
                       doctest::Contains("slice_backward: [2, 5) out of range"), Error);
  Tensor w = randn({3}), buf;
  CHECK_THROWS_WITH_AS(tg::sgd_step_(w, randn({4}), buf, SgdParams{}),
                       doctest::Contains("sgd_step_: "), Error);
}
