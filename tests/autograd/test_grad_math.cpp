// Tier-1 gradient checks of matmul/linear, softmax and the tempered cross-entropy, layer norm and the
// shape functions; the fused cross-entropy against the same math built from primitives; and the
// gradient-masking mechanism of this study: at tau = 1, the float32 CE gradient of a model trained
// at a large tau is exactly zero for a confidently correct sample.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "support/gradcheck.h"

using namespace tg;
using namespace tg::testing;

namespace {

Shape mat(bool trans, int64_t rows, int64_t cols, Shape batch = {}) {
  batch.push_back(trans ? cols : rows);
  batch.push_back(trans ? rows : cols);
  return batch;
}

// The tempered CE with label smoothing from primitives: -sum_j t_j log_softmax(z / tau)_j per sample,
// t = (1 - eps) onehot(y) + eps / C, in two ways: with gather (the label's term plus the mean term)
// and with one_hot (the full target).
Variable ce_from_gather(const Variable& z, const Tensor& labels, double tau, double eps) {
  const int64_t n = z.size(0), c = z.size(1);
  Variable logp = log_softmax(mul(z, 1.0 / tau));
  Variable picked = reshape(gather(logp, labels.reshape({n, 1})), {n});
  return add(mul(picked, -(1.0 - eps)), mul(sum(logp, {1}), -eps / static_cast<double>(c)));
}

Variable ce_from_one_hot(const Variable& z, const Tensor& labels, double tau, double eps) {
  const int64_t c = z.size(1);
  Tensor target = add(mul(one_hot(labels, c, z.dtype()), 1.0 - eps), eps / static_cast<double>(c));
  return neg(sum(mul(log_softmax(mul(z, 1.0 / tau)), Variable(target)), {1}));
}

double max_abs_diff(const Tensor& a, const Tensor& b) { return max(abs(sub(a.to(DType::f64), b.to(DType::f64)))).item(); }

}  // namespace

TEST_CASE("gradcheck: matmul, every transpose combination, batched and broadcast") {
  uint64_t seed = 100;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      CAPTURE(ta);
      CAPTURE(tb);
      auto f = [ta, tb](auto& v) { return matmul(v[0], v[1], ta, tb); };
      seed += 2;
      gradcheck("matmul", f, {rand64(mat(ta, 3, 4), seed), rand64(mat(tb, 4, 5), seed + 1)});
      seed += 2;
      gradcheck("matmul (batched)", f, {rand64(mat(ta, 3, 4, {2}), seed), rand64(mat(tb, 4, 5, {2}), seed + 1)});
      seed += 2;
      gradcheck("matmul (2-D a broadcast)", f, {rand64(mat(ta, 3, 4), seed), rand64(mat(tb, 4, 2, {2, 2}), seed + 1)});
      seed += 2;
      gradcheck("matmul (2-D b broadcast)", f, {rand64(mat(ta, 3, 4, {2, 2}), seed), rand64(mat(tb, 4, 2), seed + 1)});
      seed += 2;
      gradcheck("matmul (batch-1 broadcast)", f, {rand64(mat(ta, 3, 4, {1}), seed), rand64(mat(tb, 4, 2, {3}), seed + 1)});
    }
  }
}

TEST_CASE("gradcheck: linear with and without bias, any leading dims") {
  Tensor w = rand64({5, 4}, 1), b = rand64({5}, 2);
  gradcheck("linear", [](auto& v) { return linear(v[0], v[1], v[2]); }, {rand64({2, 3, 4}, 3), w, b});
  gradcheck("linear (no bias)", [](auto& v) { return linear(v[0], v[1], Variable()); }, {rand64({3, 4}, 4), w});
  gradcheck("linear", [](auto& v) { return linear(v[0], v[1], v[2]); }, {rand64({4}, 5), w, b});
  // Against the composition x @ w^T + b.
  Tensor x = rand64({2, 3, 4}, 6);
  CHECK(max_abs_diff(linear(Variable(x), Variable(w), Variable(b)).data(), add(matmul(x, w, false, true), b)) < 1e-15);
}

TEST_CASE("gradcheck: softmax and log_softmax along any axis") {
  Tensor x = rand64({3, 5}, 7, -2, 2), x3 = rand64({2, 3, 4}, 8, -2, 2);
  for (int64_t axis : {-1, 0}) {
    gradcheck("softmax", [axis](auto& v) { return softmax(v[0], axis); }, {x});
    gradcheck("log_softmax", [axis](auto& v) { return log_softmax(v[0], axis); }, {x});
  }
  gradcheck("softmax", [](auto& v) { return softmax(v[0], 1); }, {x3});
  gradcheck("log_softmax", [](auto& v) { return log_softmax(v[0], 1); }, {x3});
}

TEST_CASE("gradcheck: tempered cross-entropy at tau 0.5, 1, 50, label smoothing 0 and 0.1") {
  Tensor labels = Tensor::from_vector<int64_t>({2, 0, 4, 4}, {4});
  for (double tau : {0.5, 1.0, 50.0}) {
    for (double eps : {0.0, 0.1}) {
      CAPTURE(tau);
      CAPTURE(eps);
      // Logits on the scale tau: z / tau spans a few units, so no class saturates.
      Tensor z = rand64({4, 5}, 9, -3 * tau, 3 * tau);
      gradcheck("cross_entropy_per_sample", [&](auto& v) { return cross_entropy_per_sample(v[0], labels, tau, eps); },
                {z});
      gradcheck("cross_entropy", [&](auto& v) { return cross_entropy(v[0], labels, tau, eps); }, {z});
    }
  }
}

TEST_CASE("gradcheck: layer_norm (x, gamma, beta)") {
  Tensor x = rand64({2, 3, 6}, 10, -2, 2), gamma = rand64({6}, 11, 0.5, 1.5), beta = rand64({6}, 12);
  gradcheck("layer_norm", [](auto& v) { return layer_norm(v[0], v[1], v[2], 1e-5); }, {x, gamma, beta});
  gradcheck("layer_norm (no affine)", [](auto& v) { return layer_norm(v[0], Variable(), Variable(), 1e-5); }, {x});
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
  Tensor rows = Tensor::from_vector<int64_t>({3, 0, 3, 1}, {4});
  gradcheck("index_select", [&](auto& v) { return index_select(v[0], 2, rows); }, {x});
  gradcheck("index_select", [&](auto& v) { return index_select(v[0], 0, Tensor::from_vector<int64_t>({1, 1, 0}, {3})); },
            {x});
  Tensor idx = Tensor::from_vector<int64_t>({0, 0, 2, 1, 3, 3}, {3, 2});
  gradcheck("gather", [&](auto& v) { return gather(v[0], idx); }, {rand64({3, 4}, 17)});
}

TEST_CASE("cross_entropy: the fused op equals the same math from primitives, value and gradient") {
  Tensor labels = Tensor::from_vector<int64_t>({1, 6, 0, 3, 3, 2}, {6});
  for (double tau : {1.0, 50.0}) {
    for (double eps : {0.0, 0.1}) {
      for (DType dt : {DType::f64, DType::f32}) {
        CAPTURE(tau);
        CAPTURE(eps);
        CAPTURE(dtype_name(dt));
        const double tol = dt == DType::f64 ? 1e-13 : 1e-5;
        Variable z(rand64({6, 7}, 20, -4 * tau, 4 * tau).to(dt), true);
        Variable fused = cross_entropy_per_sample(z, labels, tau, eps);
        for (Variable prim : {ce_from_gather(z, labels, tau, eps), ce_from_one_hot(z, labels, tau, eps)}) {
          CHECK(max_abs_diff(fused.data(), prim.data()) < tol);
          Tensor dy = rand64({6}, 21).to(dt);
          Tensor g_fused = grad({fused}, {z}, {dy})[0], g_prim = grad({prim}, {z}, {dy})[0];
          CHECK(max_abs_diff(g_fused, g_prim) < tol / tau);
        }
        // The batch mean, and the paper's Eqs. 4-6 written out: dL/dz = (softmax(z / tau) - t) / tau / N.
        Tensor g = grad({cross_entropy(z, labels, tau, eps)}, {z})[0];
        Tensor t = add(mul(one_hot(labels, 7, dt), 1.0 - eps), eps / 7);
        Tensor want = mul(sub(softmax(mul(z.data(), 1.0 / tau)), t), 1.0 / (tau * 6));
        CHECK(max_abs_diff(g, want) < tol / tau);
      }
    }
  }
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
