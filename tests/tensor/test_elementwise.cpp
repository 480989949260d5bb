#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "tensor/ops.h"

using namespace tg;

TEST_CASE("elementwise: unary ops match the C library") {
  std::vector<double> xs = {-2.5, -0.3, 0.4, 1.7};
  Tensor x = Tensor::from_vector(xs, {4});
  auto each = [&](Tensor y, auto f) {
    auto v = y.to_vector<double>();
    for (size_t i = 0; i < xs.size(); ++i) CHECK(v[i] == doctest::Approx(f(xs[i])).epsilon(1e-14));
  };
  each(exp(x), [](double v) { return std::exp(v); });
  each(tanh(x), [](double v) { return std::tanh(v); });
  each(sigmoid(x), [](double v) { return 1 / (1 + std::exp(-v)); });
  each(relu(x), [](double v) { return v > 0 ? v : 0; });
  each(gelu(x), [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); });
  each(abs(x), [](double v) { return std::fabs(v); });
  each(sign(x), [](double v) { return v > 0 ? 1.0 : -1.0; });
  each(clamp(x, -1, 1), [](double v) { return std::clamp(v, -1.0, 1.0); });
  each(pow(abs(x), 1.5), [](double v) { return std::pow(std::fabs(v), 1.5); });
  // gelu at a published value: gelu(1) = 0.8413447460685429
  CHECK(gelu(Tensor::scalar(1.0, DType::f64)).item() == doctest::Approx(0.8413447460685429).epsilon(1e-15));
}

TEST_CASE("elementwise: broadcasting binary ops, comparisons, where") {
  Tensor a = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor col = Tensor::from_vector<float>({10, 20}, {2, 1});
  Tensor row = Tensor::from_vector<float>({1, 0, -1}, {3});
  CHECK(add(a, col).to_vector<float>() == std::vector<float>{11, 12, 13, 24, 25, 26});
  CHECK(mul(a, row).to_vector<float>() == std::vector<float>{1, 0, -3, 4, 0, -6});
  CHECK(add(col, row).shape() == Shape{2, 3});
  CHECK(sub(a, Tensor::scalar(1)).to_vector<float>() == std::vector<float>{0, 1, 2, 3, 4, 5});
  Tensor gt3 = gt(a, Tensor::scalar(3));
  CHECK(gt3.dtype() == DType::u8);
  CHECK(gt3.to_vector<uint8_t>() == std::vector<uint8_t>{0, 0, 0, 1, 1, 1});
  CHECK(where(gt3, a, Tensor::scalar(0)).to_vector<float>() == std::vector<float>{0, 0, 0, 4, 5, 6});
  CHECK(maximum(a, Tensor::scalar(3.5)).to_vector<float>() == std::vector<float>{3.5, 3.5, 3.5, 4, 5, 6});
  Tensor acc = Tensor::zeros({2, 3});
  add_(acc, row);
  add_(acc, row);
  CHECK(acc.to_vector<float>() == std::vector<float>{2, 0, -2, 2, 0, -2});
  CHECK(affine(a, 2, 1).to_vector<float>()[5] == 13);
}

TEST_CASE("elementwise: integer tensors") {
  Tensor a = Tensor::from_vector<int64_t>({1, 5, 3}, {3});
  Tensor b = Tensor::from_vector<int64_t>({2, 2, 2}, {3});
  CHECK(add(a, b).to_vector<int64_t>() == std::vector<int64_t>{3, 7, 5});
  CHECK(eq(a, Tensor::from_vector<int64_t>({1, 0, 3}, {3})).to_vector<uint8_t>() == std::vector<uint8_t>{1, 0, 1});
}
