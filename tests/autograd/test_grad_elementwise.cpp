// Tier-1 gradient checks of the elementwise functions, inputs broadcast where the op allows.
#include <doctest/doctest.h>

#include "support/gradcheck.h"

using namespace tg;
using namespace tg::testing;

TEST_CASE("gradcheck: binary ops with broadcasting") {
  Tensor a = rand64({3, 4}, 1), b = rand64({4}, 2), pos = rand64({3, 1}, 3, 0.5, 2.0);
  auto V = [](const std::vector<Variable>& v) { return v; };
  (void)V;
  gradcheck("add", [](auto& v) { return add(v[0], v[1]); }, {a, b});
  gradcheck("sub", [](auto& v) { return sub(v[0], v[1]); }, {a, b});
  gradcheck("mul", [](auto& v) { return mul(v[0], v[1]); }, {a, b});
  gradcheck("div", [](auto& v) { return div(v[0], v[1]); }, {a, pos});
  gradcheck("maximum", [](auto& v) { return maximum(v[0], v[1]); }, {a, b});
  gradcheck("minimum", [](auto& v) { return minimum(v[0], v[1]); }, {a, b});
  Tensor cond = gt(rand64({3, 4}, 4), Tensor::scalar(0.0, DType::f64));
  gradcheck("where", [&](auto& v) { return where(cond, v[0], v[1]); }, {a, b});
}

TEST_CASE("gradcheck: unary and scalar ops") {
  Tensor x = away_from_kinks(rand64({2, 5}, 5, -2, 2)), pos = rand64({2, 5}, 6, 0.2, 3.0);
  for (UnaryOp op : {UnaryOp::exp, UnaryOp::abs, UnaryOp::relu, UnaryOp::gelu, UnaryOp::tanh, UnaryOp::sigmoid,
                     UnaryOp::square, UnaryOp::neg}) {
    gradcheck(unary_name(op), [op](auto& v) { return unary(op, v[0]); }, {x});
  }
  for (UnaryOp op : {UnaryOp::log, UnaryOp::sqrt, UnaryOp::rsqrt, UnaryOp::reciprocal}) {
    gradcheck(unary_name(op), [op](auto& v) { return unary(op, v[0]); }, {pos});
  }
  gradcheck("affine", [](auto& v) { return affine(v[0], -1.5, 0.25); }, {x});
  gradcheck("pow", [](auto& v) { return pow(v[0], 2.5); }, {pos});
  gradcheck("clamp", [](auto& v) { return clamp(v[0], -1.0, 1.0); }, {away_from_kinks(sub(x, Tensor::scalar(1.0, DType::f64)))});
}

TEST_CASE("gradcheck: reductions") {
  Tensor x = rand64({3, 4, 5}, 7);
  gradcheck("sum", [](auto& v) { return sum(v[0]); }, {x});
  gradcheck("sum", [](auto& v) { return sum(v[0], {0, 2}); }, {x});
  gradcheck("sum", [](auto& v) { return sum(v[0], {-1}, true); }, {x});
  gradcheck("mean", [](auto& v) { return mean(v[0]); }, {x});
  gradcheck("mean", [](auto& v) { return mean(v[0], {1}, true); }, {x});
  gradcheck("max", [](auto& v) { return max(v[0], 1); }, {x});  // random values: no ties
  gradcheck("max", [](auto& v) { return max(v[0], -1, true); }, {x});
  gradcheck("var", [](auto& v) { return var(v[0], {2}, 1); }, {x});
  gradcheck("var", [](auto& v) { return var(v[0], {0, 2}, 0, true); }, {x});
}
