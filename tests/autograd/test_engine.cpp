#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/kernel_counts.h"
#include "tensor/ops.h"
#include "tensor/random.h"

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

namespace {

// A small network of the fused ops: conv, batch norm, relu, pooling, linear, tempered CE.
struct SmallNet {
  Variable w{randn({5, 3, 3, 3}, DType::f64), true}, fc{randn({2, 5 * 4 * 4}, DType::f64), true};
  Variable gamma{Tensor::ones({5}, DType::f64), true}, beta{Tensor::zeros({5}, DType::f64), true};
  Tensor running_mean = Tensor::zeros({5}, DType::f64), running_var = Tensor::ones({5}, DType::f64);
  Tensor labels = Tensor::from_vector<int64_t>({0, 1, 1, 0}, {4});
  Variable loss(const Variable& x) {
    Variable h = relu(batch_norm(conv2d(x, w, {}, {1, 1, 1, 1}), gamma, beta, running_mean, running_var, true));
    h = flatten(max_pool2d(h, {2, 2, 2, 2, 0, 0}));
    return cross_entropy(linear(h, fc, {}), labels, 2.0);
  }
};

int64_t fills() { return kernel_counts()["fill"]; }

}  // namespace

TEST_CASE("engine: a forward under NoGradGuard, or with no input requiring grad, builds no node") {
  SmallNet net;
  Variable x(randn({4, 3, 8, 8}, DType::f64));
  int64_t before = Node::created();
  {
    NoGradGuard no_grad;
    Variable l = net.loss(x);
    CHECK(!l.requires_grad());
    l = net.loss(Variable(x.data(), true));  // the input requires grad: still nothing to record
  }
  CHECK(Node::created() == before);
  Variable l = net.loss(x);  // the parameters require grad: the graph is built
  CHECK(l.requires_grad());
  CHECK(Node::created() > before);
}

TEST_CASE("engine: a backward zero-fills no gradient; the seed is its one fill") {
  SmallNet net;
  Variable x(randn({4, 3, 8, 8}, DType::f64), true);
  Variable l = net.loss(x);
  const int64_t before = fills();
  l.backward();
  CHECK(fills() - before == 1);  // Tensor::ones for dL/dL
  CHECK(x.grad().defined());
  CHECK(net.w.grad().defined());
}

TEST_CASE("engine: the first gradient is moved into .grad, later ones make a fresh sum") {
  Variable a(Tensor::zeros({2}, DType::f64), true), b(Tensor::zeros({2}, DType::f64), true);
  sum(add(a, b)).backward();  // a and b receive the same dy tensor
  CHECK(a.grad().to_vector<double>() == std::vector<double>{1, 1});
  sum(mul(a, 2.0)).backward();  // must not write into the tensor b's gradient shares
  CHECK(a.grad().to_vector<double>() == std::vector<double>{3, 3});
  CHECK(b.grad().to_vector<double>() == std::vector<double>{1, 1});
}

TEST_CASE("engine: a leaf's grad-ready hook runs once per backward, with its whole gradient, as it is ready") {
  Variable x(Tensor::from_vector<double>({1, 2}, {2}), true);
  Variable w(Tensor::from_vector<double>({3}, {1}), true);
  std::vector<std::string> events;
  x.set_grad_ready_hook([&] { events.push_back("x " + std::to_string(x.grad().to_vector<double>()[0])); });
  w.set_grad_ready_hook([&] { events.push_back("w " + std::to_string(w.grad().to_vector<double>()[0])); });
  // y = sum(x * w + x * x): x reaches y by two paths; its hook sees their sum once (dy/dx0 = w + 2 x0 = 5).
  Variable y = sum(add(mul(x, w), mul(x, x)));
  y.backward();
  REQUIRE(events.size() == 2);
  CHECK(std::count(events.begin(), events.end(), "x " + std::to_string(5.0)) == 1);
  CHECK(std::count(events.begin(), events.end(), "w " + std::to_string(3.0)) == 1);
  // grad() does not accumulate, so it runs no hook; a second backward runs each once more.
  grad({sum(mul(x, w))}, {x, w});
  CHECK(events.size() == 2);
  sum(mul(x, w)).backward();
  CHECK(events.size() == 4);
  x.set_grad_ready_hook({});
  w.set_grad_ready_hook({});
  sum(mul(x, w)).backward();
  CHECK(events.size() == 4);
  CHECK_THROWS_WITH_AS(y.set_grad_ready_hook([] {}), doctest::Contains("only leaves"), Error);
}
