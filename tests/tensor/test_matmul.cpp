// Batched matmul against a naive triple loop: every transpose combination, batch broadcasting,
// small (OpenMP over the batch) and large (Eigen-threaded) matrices, and the errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "support/errors.h"
#include "tensor/ops.h"
#include "tensor/random.h"

using namespace tg;
using tg::testing::error_of;

namespace {

// op(a) @ op(b) for one matrix each, by the definition, in double.
std::vector<double> naive(const std::vector<double>& a, const std::vector<double>& b, int64_t m, int64_t k,
                          int64_t n, bool ta, bool tb) {
  std::vector<double> c(m * n, 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t p = 0; p < k; ++p) c[i * n + j] += (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
  return c;
}

// Checks matmul(a, b) against the naive product, batch by batch (batch 1 operands broadcast).
void check_against_naive(const Tensor& a, const Tensor& b, bool ta, bool tb, double tol) {
  Tensor c = matmul(a, b, ta, tb);
  const int64_t m = ta ? a.size(-1) : a.size(-2), k = ta ? a.size(-2) : a.size(-1);
  const int64_t n = tb ? b.size(-2) : b.size(-1);
  CHECK(c.size(-2) == m);
  CHECK(c.size(-1) == n);
  std::vector<double> va = a.to(DType::f64).to_vector<double>(), vb = b.to(DType::f64).to_vector<double>();
  std::vector<double> vc = c.to(DType::f64).to_vector<double>();
  const int64_t batch = c.numel() / (m * n), ba = a.numel() / (m * k), bb = b.numel() / (k * n);
  double worst = 0;
  for (int64_t i = 0; i < batch; ++i) {
    std::vector<double> ai(va.begin() + (ba == 1 ? 0 : i) * m * k, va.begin() + ((ba == 1 ? 0 : i) + 1) * m * k);
    std::vector<double> bi(vb.begin() + (bb == 1 ? 0 : i) * k * n, vb.begin() + ((bb == 1 ? 0 : i) + 1) * k * n);
    std::vector<double> want = naive(ai, bi, m, k, n, ta, tb);
    for (int64_t j = 0; j < m * n; ++j) worst = std::max(worst, std::fabs(vc[i * m * n + j] - want[j]));
  }
  CHECK_MESSAGE(worst <= tol, a.str(), (ta ? "^T" : ""), " @ ", b.str(), (tb ? "^T" : ""), ": error ", worst);
}

Tensor rnd(const Shape& s, uint64_t seed, DType dt = DType::f64) {
  Generator g(seed);
  return uniform(s, -1, 1, dt, Device::cpu(), &g);
}

Shape mat(bool trans, int64_t rows, int64_t cols, Shape batch = {}) {
  batch.push_back(trans ? cols : rows);
  batch.push_back(trans ? rows : cols);
  return batch;
}

}  // namespace

TEST_CASE("matmul: a known 2x3 @ 3x2 product") {
  Tensor a = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = Tensor::from_vector<float>({7, 8, 9, 10, 11, 12}, {3, 2});
  CHECK(matmul(a, b).to_vector<float>() == std::vector<float>{58, 64, 139, 154});
  CHECK(matmul(a, a, false, true).to_vector<float>() == std::vector<float>{14, 32, 32, 77});
  CHECK(matmul(a, a, true, false).shape() == Shape{3, 3});
}

TEST_CASE("matmul: every transpose combination, batched and broadcast, float64 and float32") {
  const int64_t m = 5, k = 7, n = 3;
  uint64_t seed = 10;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      CAPTURE(ta);
      CAPTURE(tb);
      for (DType dt : {DType::f64, DType::f32}) {
        const double tol = dt == DType::f64 ? 1e-13 : 1e-5;
        seed += 2;
        check_against_naive(rnd(mat(ta, m, k), seed, dt), rnd(mat(tb, k, n), seed + 1, dt), ta, tb, tol);
        seed += 2;
        check_against_naive(rnd(mat(ta, m, k, {4}), seed, dt), rnd(mat(tb, k, n, {4}), seed + 1, dt), ta, tb, tol);
        // 2-D (or batch-1) operand broadcast over the other's batch, on either side.
        seed += 2;
        check_against_naive(rnd(mat(ta, m, k), seed, dt), rnd(mat(tb, k, n, {2, 3}), seed + 1, dt), ta, tb, tol);
        seed += 2;
        check_against_naive(rnd(mat(ta, m, k, {2, 3}), seed, dt), rnd(mat(tb, k, n), seed + 1, dt), ta, tb, tol);
        seed += 2;
        check_against_naive(rnd(mat(ta, m, k, {1}), seed, dt), rnd(mat(tb, k, n, {6}), seed + 1, dt), ta, tb, tol);
        seed += 2;
        check_against_naive(rnd(mat(ta, m, k, {6}), seed, dt), rnd(mat(tb, k, n, {1}), seed + 1, dt), ta, tb, tol);
      }
    }
  }
  CHECK(matmul(rnd({2, 3, 5, 7}, 1), rnd({7, 4}, 2)).shape() == Shape{2, 3, 5, 4});
  CHECK(matmul(rnd({5, 7}, 1), rnd({2, 3, 7, 4}, 2)).shape() == Shape{2, 3, 5, 4});
  CHECK(matmul(rnd({1, 5, 7}, 1), rnd({7, 4}, 2)).shape() == Shape{1, 5, 4});
}

TEST_CASE("matmul: large matrices (Eigen-threaded) and many small ones (OpenMP over the batch)") {
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      check_against_naive(rnd(mat(ta, 97, 130), 1), rnd(mat(tb, 130, 111), 2), ta, tb, 1e-12);
      check_against_naive(rnd(mat(ta, 6, 9, {300}), 3, DType::f32), rnd(mat(tb, 9, 4, {300}), 4, DType::f32), ta, tb,
                          1e-5);
    }
  }
  // Zero-size dims give empty (or zero) results rather than errors.
  CHECK(matmul(rnd({0, 3}, 1), rnd({3, 4}, 2)).shape() == Shape{0, 4});
  CHECK(sum(abs(matmul(Tensor::ones({2, 0}), Tensor::ones({0, 3})))).item() == 0.0);
}

TEST_CASE("matmul: errors name the op and the shapes") {
  std::string e = error_of([] { matmul(Tensor::zeros({2, 3}), Tensor::zeros({4, 5})); });
  CHECK(e.find("matmul") != std::string::npos);
  CHECK(e.find("inner sizes differ (3 vs 4)") != std::string::npos);
  CHECK(e.find("float32[2, 3] @ float32[4, 5]") != std::string::npos);
  e = error_of([] { matmul(Tensor::zeros({2, 3}), Tensor::zeros({4, 3}), true, true); });
  CHECK(e.find("float32[2, 3]^T @ float32[4, 3]^T") != std::string::npos);
  e = error_of([] { matmul(Tensor::zeros({2, 2, 3}), Tensor::zeros({3, 3, 4})); });
  CHECK(e.find("batch dims [2] and [3]") != std::string::npos);
  e = error_of([] { matmul(Tensor::zeros({3}), Tensor::zeros({3, 4})); });
  CHECK(e.find("at least 2 dims") != std::string::npos);
  e = error_of([] { matmul(Tensor::zeros({2, 3}), Tensor::zeros({3, 4}, DType::f64)); });
  CHECK(e.find("dtypes differ") != std::string::npos);
  e = error_of([] { matmul(Tensor::zeros({2, 3}, DType::i64), Tensor::zeros({3, 4}, DType::i64)); });
  CHECK(e.find("int64[2, 3]") != std::string::npos);
}
