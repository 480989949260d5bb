#include <doctest/doctest.h>

#include "autograd/ops.h"
#include "tensor/ops.h"

using namespace tg;

TEST_CASE("engine: backward accumulates into leaves; shared subgraphs add up") {
  Variable x(Tensor::from_vector<double>({1, 2, 3}, {3}), true);
  Variable w(Tensor::from_vector<double>({2}, {1}), true);
  // y = sum((x * w) + x * x): dy/dx = w + 2x, dy/dw = sum(x)
  Variable y = sum(add(mul(x, w), mul(x, x)));
  y.backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{4, 6, 8});
  CHECK(w.grad().to_vector<double>() == std::vector<double>{6});  // broadcast undone by the engine
  sum(mul(x, w)).backward();  // accumulates
  CHECK(x.grad().to_vector<double>() == std::vector<double>{6, 8, 10});
  x.zero_grad();
  CHECK(!x.grad().defined());
}

TEST_CASE("engine: grad() returns input gradients and leaves .grad alone") {
  Variable x(Tensor::from_vector<double>({1, -2}, {2}), true);
  Variable w(Tensor::from_vector<double>({3, 4}, {2}), true);
  Variable h = mul(x, w);
  Variable y = sum(square(h));
  auto g = grad({y}, {x, h});
  CHECK(g[0].to_vector<double>() == std::vector<double>{18, -64});  // 2 h w
  CHECK(g[1].to_vector<double>() == std::vector<double>{6, -16});   // 2 h (a non-leaf input)
  CHECK(!x.grad().defined());
  CHECK(!w.grad().defined());
  Variable unused(Tensor::zeros({2}, DType::f64), true);
  CHECK_THROWS_WITH_AS(grad({y}, {unused}), doctest::Contains("not used"), Error);
  CHECK(grad({y}, {unused}, {}, true)[0].to_vector<double>() == std::vector<double>{0, 0});
}

TEST_CASE("engine: no-grad guard, detach, non-scalar outputs") {
  Variable x(Tensor::ones({2}, DType::f64), true);
  {
    NoGradGuard ng;
    CHECK(!mul(x, x).requires_grad());
  }
  CHECK(mul(x, x).requires_grad());
  CHECK(!mul(x.detach(), x.detach()).requires_grad());
  Variable y = mul(x, 3.0);
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("not a scalar"), Error);
  y.backward(Tensor::from_vector<double>({1, 2}, {2}));
  CHECK(x.grad().to_vector<double>() == std::vector<double>{3, 6});
  Variable c(Tensor::ones({2}));
  CHECK_THROWS_WITH_AS(sum(c).backward(), doctest::Contains("does not require grad"), Error);
}
