#include <doctest/doctest.h>

#include "tensor/ops.h"
#include "tensor/random.h"

using namespace tg;

TEST_CASE("reduce: sum, mean, max, argmax over axes") {
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {2, 3, 2});
  CHECK(sum(x).item() == 78);
  CHECK(sum(x, {1}).to_vector<float>() == std::vector<float>{9, 12, 27, 30});
  CHECK(sum(x, {0, 2}).to_vector<float>() == std::vector<float>{18, 26, 34});  // non-adjacent axes
  CHECK(sum(x, {-1}, true).shape() == Shape{2, 3, 1});
  CHECK(mean(x, {0}).to_vector<float>()[0] == 4);
  CHECK(max(x, {1}).to_vector<float>() == std::vector<float>{5, 6, 11, 12});
  Tensor y = Tensor::from_vector<float>({3, 9, 9, 1, 0, -2}, {2, 3});
  CHECK(argmax(y, 1).to_vector<int64_t>() == std::vector<int64_t>{1, 0});  // first of ties
  CHECK(argmin(y, -1).to_vector<int64_t>() == std::vector<int64_t>{0, 2});
}

TEST_CASE("reduce: variance, biased and unbiased") {
  Tensor x = Tensor::from_vector<double>({1, 2, 3, 4}, {4});
  CHECK(var(x, {}, 0).item() == doctest::Approx(1.25));
  CHECK(var(x, {}, 1).item() == doctest::Approx(5.0 / 3.0));
  CHECK_THROWS_AS(var(Tensor::from_vector<double>({1}, {1}), {}, 1), Error);
}

TEST_CASE("reduce: sum_to undoes broadcasting") {
  Tensor g = Tensor::ones({4, 2, 3});
  CHECK(sum_to(g, {2, 3}).to_vector<float>() == std::vector<float>(6, 4));
  CHECK(sum_to(g, {2, 1}).to_vector<float>() == std::vector<float>{12, 12});
  CHECK(sum_to(g, {}).item() == 24);
  CHECK_THROWS_AS(sum_to(g, {5}), Error);
}

// Sums over a leading axis ([M, D] -> [D], a Linear's bias gradient) walk the rows in order with one
// accumulator per column; each column must still be the float64 sum of its entries in row order,
// bit for bit, also past one block of columns (300 > 256) and with an outer axis.
TEST_CASE("reduce: sums over a leading axis equal the row-order float64 sums exactly") {
  const int64_t outer = 3, n = 37, inner = 300;
  Tensor x = randn({outer, n, inner});
  const std::vector<float> xs = x.to_vector<float>();
  std::vector<float> want(static_cast<size_t>(outer * inner)), want_mean(want.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double acc = 0;
      for (int64_t k = 0; k < n; ++k) acc += xs[static_cast<size_t>((o * n + k) * inner + i)];
      want[static_cast<size_t>(o * inner + i)] = static_cast<float>(acc);
      want_mean[static_cast<size_t>(o * inner + i)] = static_cast<float>(acc / static_cast<double>(n));
    }
  CHECK(sum(x, {1}).to_vector<float>() == want);
  CHECK(mean(x, {1}).to_vector<float>() == want_mean);
  CHECK(sum(x.reshape({outer * n, inner}), {0}).shape() == Shape{inner});
}
