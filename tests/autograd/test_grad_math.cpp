// Tier-1 gradient checks of what the op table (tests/tensor/test_op_table.cpp) leaves out: linear
// without bias or batch, softmax along other axes than the last, the shape functions; and the
// gradient-masking mechanism of this study: at tau = 1, the float32 CE gradient of a model trained
// at a large tau is exactly zero for a confidently correct sample.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "support/gradcheck.h"

using namespace tg;
using namespace tg::testing;

namespace {

double max_abs_diff(const Tensor& a, const Tensor& b) { return max(abs(sub(a.to(DType::f64), b.to(DType::f64)))).item(); }

}  // namespace

TEST_CASE("gradcheck: linear without bias, and of a single vector") {
  Tensor w = rand64({5, 4}, 1), b = rand64({5}, 2);
  gradcheck("linear (no bias)", [](auto& v) { return linear(v[0], v[1], Variable()); }, {rand64({3, 4}, 4), w});
  gradcheck("linear", [](auto& v) { return linear(v[0], v[1], v[2]); }, {rand64({4}, 5), w, b});
  // Against the composition x @ w^T + b.
  Tensor x = rand64({2, 3, 4}, 6);
  CHECK(max_abs_diff(linear(Variable(x), Variable(w), Variable(b)).data(), add(matmul(x, w, false, true), b)) < 1e-15);
}

TEST_CASE("gradcheck: softmax and log_softmax along other axes than the last") {
  Tensor x = rand64({3, 5}, 7, -2, 2), x3 = rand64({2, 3, 4}, 8, -2, 2);
  gradcheck("softmax", [](auto& v) { return softmax(v[0], 0); }, {x});
  gradcheck("log_softmax", [](auto& v) { return log_softmax(v[0], 0); }, {x});
  gradcheck("softmax", [](auto& v) { return softmax(v[0], 1); }, {x3});
  gradcheck("log_softmax", [](auto& v) { return log_softmax(v[0], 1); }, {x3});
}

TEST_CASE("gradcheck: shape functions") {
  Tensor x = rand64({2, 3, 4}, 13);
  gradcheck("reshape", [](auto& v) { return reshape(v[0], {4, -1}); }, {x});
  gradcheck("flatten", [](auto& v) { return flatten(v[0]); }, {x});
  gradcheck("permute", [](auto& v) { return permute(v[0], {2, 0, 1}); }, {x});
  gradcheck("transpose", [](auto& v) { return transpose(v[0], 0, -1); }, {x});
  for (int64_t dim : {0, 1, 2}) gradcheck("slice", [&](auto& v) { return slice(v[0], dim, 1, x.shape()[dim]); }, {x});
  gradcheck("slice", [](auto& v) { return slice(v[0], -1, -3, -1); }, {x});
  gradcheck("concat", [](auto& v) { return concat({v[0], v[1], v[2]}, 1); },
            {x, rand64({2, 1, 4}, 14), rand64({2, 2, 4}, 15)});
  gradcheck("concat", [](auto& v) { return concat({v[0], v[1]}, 0); }, {x, rand64({1, 3, 4}, 16)});
}

// Gradient masking (DESIGN.md §4). A model trained with CE(z / tau) at tau = 100 learns logits about
// 100 times larger than one trained at tau = 1. Evaluated (and attacked) at tau = 1, its softmax
// saturates: in float32 the true class's probability rounds to exactly 1 once it leads every other
// class by about 17, and the others' probabilities underflow to exactly 0 once they trail by more
// than about 104. The CE gradient softmax(z) - onehot(y) is then exactly zero, and so is every input
// gradient behind it: a gradient attack (FGSM, PGD with CE) has nothing to follow, although the
// model is no more robust. docs/derivations/tempered_cross_entropy.md, Sec. 3.
TEST_CASE("cross_entropy: gradient masking, the float32 CE gradient is exactly zero at tau = 1 for large logits") {
  Tensor labels = Tensor::from_vector<int64_t>({0}, {1});
  Tensor base = Tensor::from_vector<float>({5.0f, 1.0f, -2.0f, 0.5f}, {1, 4});  // a confident, correct sample
  auto ce_grad = [&](const Tensor& logits, double tau, double eps) {
    Variable z(logits, true);
    return grad({cross_entropy(z, labels, tau, eps)}, {z})[0];
  };
  auto all_zero = [](const Tensor& g) { return max(abs(g)).item() == 0.0; };

  Tensor big = mul(base, 100.0);  // margins 350 to 700: what a tau = 100 model gives
  CHECK(all_zero(ce_grad(big, 1.0, 0.0)));
  CHECK(cross_entropy(big, labels, 1.0).losses.item() == 0.0);
  // The same logits are informative where they were trained (tau = 100), and with label smoothing.
  CHECK_FALSE(all_zero(ce_grad(big, 100.0, 0.0)));
  CHECK_FALSE(all_zero(ce_grad(big, 1.0, 0.1)));
  // A confidently wrong sample keeps its gradient: only correct, saturated samples are masked.
  CHECK_FALSE(all_zero(ce_grad(mul(Tensor::from_vector<float>({-5.0f, 1.0f, -2.0f, 0.5f}, {1, 4}), 100.0), 1.0, 0.0)));
  // Margins of 35 to 70 (logits x 10): the true class's entry is exactly 0, the rest only tiny.
  std::vector<float> mid = ce_grad(mul(base, 10.0), 1.0, 0.0).to_vector<float>();
  CHECK(mid[0] == 0.0f);
  CHECK(mid[3] > 0.0f);
  CHECK(mid[3] < 1e-15f);
  // In float64 the other classes' gradients (about e^-350) are still representable.
  CHECK_FALSE(all_zero(ce_grad(big.to(DType::f64), 1.0, 0.0)));
}
