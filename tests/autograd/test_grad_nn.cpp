// Tier-1 checks of the nn functions that the op table (tests/tensor/test_op_table.cpp) leaves out:
// dropout with its random mask, and batch norm's running statistics through autograd.
#include <doctest/doctest.h>

#include "support/gradcheck.h"

using namespace tg;
using namespace tg::testing;

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
