// Closed-form models for the attack tests: linear classifiers z = s (W x + b) on 1 x 16 x 16 "images".
// For such a model the optimal l_inf attack against a class pair (y, t) is known:
// x* = clip(x - eps sign(w_y - w_t), 0, 1), and the smallest margin (w_y - w_t) . x* + b_y - b_t.
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "attacks/common.h"

namespace tg::attacks::testing {

constexpr int64_t kSide = 16, kDim = kSide * kSide;

struct LinearModel {
  Variable w, b;  // [K, D], [K] (float32 unless made otherwise)
  double scale = 1.0;
  ModelFn fn() const {
    Variable wv = w, bv = b;
    const double s = scale;
    return [wv, bv, s](const Variable& x) { return mul(linear(flatten(x), wv, bv), s); };
  }
  LinearModel to(DType dtype) const {
    return {Variable(w.data().to(dtype), w.requires_grad()), Variable(b.data().to(dtype), b.requires_grad()), scale};
  }
};

inline std::vector<float> host(const Tensor& t) { return t.to(DType::f32).cpu().to_vector<float>(); }

// Random +-1 entries.
inline Tensor random_signs(const Shape& shape, Generator& gen) {
  return affine(randint(shape, 0, 2, DType::i64, Device::cpu(), &gen).to(DType::f32), 2.0, -1.0);
}

// The "pair" problem: classes 0 and 1 have random +-1 weights, classes 2 and 3 have w = 0 and b = -50,
// so they are never competitors (they only give DLR and targeted DLR their third and fourth logits). Example i has label i % 2 and clean margin
// (w_y - w_t) . x = margin (unscaled), x = 0.5 + beta (w_y - w_t).
struct PairProblem {
  LinearModel model;
  Tensor x, y;  // [N, 1, 16, 16] float32, [N] int64
};

inline PairProblem pair_problem(int64_t n, double margin, double scale, uint64_t seed) {
  Generator gen(seed);
  Tensor w = concat({random_signs({2, kDim}, gen), Tensor::zeros({2, kDim})}, 0);
  Tensor b = Tensor::from_vector<float>({0.f, 0.f, -50.f, -50.f}, {4});
  std::vector<float> wv = w.to_vector<float>(), xv(static_cast<size_t>(n * kDim));
  std::vector<int64_t> yv(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t yi = i % 2, ti = 1 - yi;
    yv[static_cast<size_t>(i)] = yi;
    double sum = 0, sq = 0;
    for (int64_t j = 0; j < kDim; ++j) {
      const double d = wv[static_cast<size_t>(yi * kDim + j)] - wv[static_cast<size_t>(ti * kDim + j)];
      sum += d, sq += d * d;
    }
    const double beta = (margin - 0.5 * sum) / sq;
    for (int64_t j = 0; j < kDim; ++j) {
      const double d = wv[static_cast<size_t>(yi * kDim + j)] - wv[static_cast<size_t>(ti * kDim + j)];
      xv[static_cast<size_t>(i * kDim + j)] = static_cast<float>(0.5 + beta * d);
    }
  }
  return {{Variable(w), Variable(b), scale}, Tensor::from_vector(xv, {n, 1, kSide, kSide}), Tensor::from_vector(yv, {n})};
}

// (w_y - w_t) . x + b_y - b_t per example (unscaled), in double on the host.
inline std::vector<double> pair_margins(const LinearModel& m, const Tensor& x, const Tensor& y, const Tensor& t) {
  std::vector<float> w = host(m.w.data()), b = host(m.b.data()), xv = host(x);
  std::vector<int64_t> yv = y.to_vector<int64_t>(), tv = t.to_vector<int64_t>();
  const int64_t d = static_cast<int64_t>(w.size()) / m.w.size(0);
  std::vector<double> out;
  for (size_t i = 0; i < yv.size(); ++i) {
    double s = b[static_cast<size_t>(yv[i])] - b[static_cast<size_t>(tv[i])];
    for (int64_t j = 0; j < d; ++j)
      s += (static_cast<double>(w[static_cast<size_t>(yv[i] * d + j)]) - w[static_cast<size_t>(tv[i] * d + j)]) *
           xv[i * static_cast<size_t>(d) + static_cast<size_t>(j)];
    out.push_back(s);
  }
  return out;
}

// The closed-form optimum: x* = clip(x - eps sign(w_y - w_t), 0, 1).
inline Tensor optimal_linf_attack(const LinearModel& m, const Tensor& x, const Tensor& y, const Tensor& t, double eps) {
  Tensor wy = index_select(m.w.data(), 0, y), wt = index_select(m.w.data(), 0, t);
  Tensor dir = sign(sub(wy, wt)).reshape(x.shape());
  return clamp(sub(x, mul(dir, eps)), 0.0, 1.0);
}

// x_adv within the l_inf eps-ball around x and inside [0, 1].
inline void check_linf_ball(const Tensor& x_adv, const Tensor& x, double eps) {
  REQUIRE(x_adv.shape() == x.shape());
  std::vector<float> a = host(x_adv), c = host(x);
  float worst = 0, lo = 1, hi = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    worst = std::max(worst, std::abs(a[i] - c[i]));
    lo = std::min(lo, a[i]), hi = std::max(hi, a[i]);
  }
  CHECK(worst <= eps + 1e-6);
  CHECK(lo >= 0.0f);
  CHECK(hi <= 1.0f);
}

// z = W (x - 0.5) with random +-1 weights: classes balanced around x = 0.5.
inline LinearModel centered_model(int64_t classes, Generator& gen) {
  Tensor w = random_signs({classes, kDim}, gen);
  return {Variable(w), Variable(mul(sum(w, {1}), -0.5)), 1.0};
}

inline int64_t count(const Tensor& mask) {
  int64_t c = 0;
  for (uint8_t v : mask.cpu().to_vector<uint8_t>()) c += v;
  return c;
}

}  // namespace tg::attacks::testing
