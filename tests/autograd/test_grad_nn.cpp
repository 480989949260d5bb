// Tier-1 gradient checks of the nn functions: convolution, batch norm (train and eval), pooling and
// dropout, every input and parameter.
#include <doctest/doctest.h>

#include "support/gradcheck.h"

using namespace tg;
using namespace tg::testing;

namespace {

Conv2dParams conv_params(int64_t stride, int64_t pad) {
  Conv2dParams p;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  return p;
}

Pool2dParams pool_params(int64_t kh, int64_t kw, int64_t stride, int64_t pad) {
  Pool2dParams p;
  p.kernel_h = kh;
  p.kernel_w = kw;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  return p;
}

}  // namespace

TEST_CASE("gradcheck: conv2d x, w, b") {
  Tensor x = rand64({2, 3, 5, 4}, 1), w = rand64({4, 3, 3, 3}, 2), b = rand64({4}, 3);
  gradcheck("conv2d", [](auto& v) { return conv2d(v[0], v[1], v[2], conv_params(1, 1)); }, {x, w, b});
  gradcheck("conv2d", [](auto& v) { return conv2d(v[0], v[1], v[2], conv_params(2, 1)); }, {x, w, b});
  gradcheck("conv2d", [](auto& v) { return conv2d(v[0], v[1], Variable(), conv_params(1, 0)); }, {x, w});
  Tensor x8 = rand64({2, 8, 4, 3}, 14), w8 = rand64({2, 8, 3, 3}, 15);  // C >= 8: the flipped-weight backward data
  gradcheck("conv2d", [](auto& v) { return conv2d(v[0], v[1], v[2], conv_params(1, 1)); }, {x8, w8, rand64({2}, 16)});
  Tensor w1 = rand64({2, 3, 1, 1}, 4);  // pointwise
  gradcheck("conv2d", [](auto& v) { return conv2d(v[0], v[1], v[2], conv_params(1, 0)); }, {x, w1, rand64({2}, 5)});
}

TEST_CASE("gradcheck: batch_norm train (x, gamma, beta) and eval (x, gamma, beta)") {
  Tensor x = rand64({3, 2, 2, 3}, 6, -2, 2), gamma = rand64({2}, 7, 0.5, 1.5), beta = rand64({2}, 8);
  // Each evaluation starts from the same running statistics, so every call computes the same function.
  auto train = [](auto& v) {
    Tensor rm = Tensor::zeros({2}, DType::f64), rv = Tensor::ones({2}, DType::f64);
    return batch_norm(v[0], v[1], v[2], rm, rv, true, 0.1, 1e-5);
  };
  gradcheck("batch_norm(train)", train, {x, gamma, beta});
  Tensor rm = rand64({2}, 9), rv = rand64({2}, 10, 0.5, 2.0);
  auto eval = [&](auto& v) { return batch_norm(v[0], v[1], v[2], rm, rv, false, 0.1, 1e-5); };
  gradcheck("batch_norm(eval)", eval, {x, gamma, beta});
  // A network built from it: y = sum of squares makes the batch-stat terms of dx matter.
  auto train_sq = [&](auto& v) { return square(train(v)); };
  gradcheck("batch_norm(train)", train_sq, {x, gamma, beta});
}

TEST_CASE("gradcheck: pooling") {
  Tensor x = rand64({2, 2, 5, 6}, 11);  // distinct values: no ties in max pooling
  gradcheck("max_pool2d", [](auto& v) { return max_pool2d(v[0], pool_params(2, 2, 2, 0)); }, {x});
  gradcheck("max_pool2d", [](auto& v) { return max_pool2d(v[0], pool_params(3, 3, 2, 1)); }, {x});  // overlapping
  gradcheck("avg_pool2d", [](auto& v) { return avg_pool2d(v[0], pool_params(2, 2, 2, 0)); }, {x});
  gradcheck("avg_pool2d", [](auto& v) { return avg_pool2d(v[0], pool_params(3, 2, 1, 1)); }, {x});
  gradcheck("adaptive_avg_pool2d", [](auto& v) { return adaptive_avg_pool2d(v[0], 1, 1); }, {x});
  Tensor y = rand64({1, 2, 5, 7}, 12);
  gradcheck("adaptive_avg_pool2d", [](auto& v) { return adaptive_avg_pool2d(v[0], 3, 4); }, {y});  // 5->3, 7->4
}

TEST_CASE("gradcheck: dropout with a fixed mask") {
  Tensor x = rand64({4, 6}, 13);
  // Reseeding inside the function draws the same mask at every evaluation.
  auto f = [](auto& v) {
    manual_seed(2024);
    return dropout(v[0], 0.3, true);
  };
  gradcheck("dropout", f, {x});
  manual_seed(2024);
  Tensor y = dropout(Variable(x), 0.3, true).data();
  std::vector<double> xv = x.to_vector<double>(), yv = y.to_vector<double>();
  int dropped = 0;
  for (size_t i = 0; i < xv.size(); ++i) {
    if (yv[i] == 0.0) {
      ++dropped;
    } else {
      CHECK(yv[i] == doctest::Approx(xv[i] / 0.7));
    }
  }
  CHECK(dropped > 0);
  CHECK(dropped < 24);
  CHECK(dropout(Variable(x), 0.3, false).data().shares_storage(x));  // eval: identity
  CHECK(dropout(Variable(x), 0.0, true).data().shares_storage(x));
}

TEST_CASE("batch_norm: eval gives input gradients; training updates the running statistics") {
  Tensor rm = Tensor::zeros({2}, DType::f64), rv = Tensor::ones({2}, DType::f64);
  Variable x(rand64({4, 2, 3, 3}, 14), true);
  Variable gamma(Tensor::ones({2}, DType::f64), true), beta(Tensor::zeros({2}, DType::f64), true);
  Variable y = batch_norm(x, gamma, beta, rm, rv, true);
  CHECK(rm.to_vector<double>()[0] != 0.0);
  // Eval with gamma = 1: dx = dy / sqrt(running_var + eps), whatever the batch.
  Variable ye = batch_norm(x, gamma, beta, rm, rv, false);
  Tensor dx = grad({sum(ye)}, {x})[0];
  std::vector<double> d = dx.to_vector<double>();
  CHECK(d[0] == doctest::Approx(1 / std::sqrt(rv.to_vector<double>()[0] + 1e-5)));
  CHECK(d[9] == doctest::Approx(1 / std::sqrt(rv.to_vector<double>()[1] + 1e-5)));
}
