// GELU in float32 (tensor/cpu/elementwise.cpp) and its erf (tensor/cpu/vec.h): the erf's error in
// ulps of the result against the double erf over a dense sweep and at the edges; GELU forward and
// backward in float32 against float64 on the same float32 inputs, random and at the edges.
#include <doctest/doctest.h>

#include <cfloat>
#include <cmath>
#include <vector>

#include "tensor/cpu/vec.h"
#include "tensor/ops.h"
#include "tensor/random.h"
#include "support/vec_sweep.h"

using namespace tg;
namespace vec = tg::cpu::vec;

namespace {

using V = vec::Vec<float>;
constexpr double kEps = 0x1p-24;  // float32's unit roundoff

// erf over x, 8 lanes at a time (with a partial last step), as the GELU loops call it.
std::vector<float> vec_erf(const std::vector<float>& x) { return test::apply_lanes(x, [](V v) { return vec::erf(v); }); }

// The largest error of erf over x in ulps of the double erf of the same floats.
double max_ulps(const std::vector<float>& x) {
  const std::vector<float> y = vec_erf(x);
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double want = std::erf(static_cast<double>(x[i]));
    worst = std::max(worst, std::fabs(y[i] - want) / test::float_ulp(want));
  }
  return worst;
}

std::vector<double> doubles(const Tensor& t) { return t.to(DType::f64).to_vector<double>(); }

}  // namespace

TEST_CASE("gelu: the float32 erf is within 1.2 ulp of the double erf on [-10, 10]") {
  // 2^22 + 1 arguments evenly from -10 to 10 ...
  std::vector<float> x;
  const int n = 1 << 22;
  for (int i = 0; i <= n; ++i) x.push_back(static_cast<float>(-10.0 + 20.0 * i / n));
  CHECK(max_ulps(x) < 1.2);  // 1.197 measured, at 0.96: the far range's 1 - e^p near its start
  // ... every 3rd float of [0.5, 4) with both signs (the two ranges, their split at 0.9277 and the
  // rounding to 1 near 3.92), and magnitudes from 2^-149 to 2^-1, where erf(x) = 1.128 x.
  std::vector<float> dense;
  for (float v = 0.5f; v < 4.0f; v = std::nextafter(std::nextafter(std::nextafter(v, 5.0f), 5.0f), 5.0f)) {
    dense.push_back(v);
    dense.push_back(-v);
  }
  for (int e = -149; e <= -1; ++e)
    for (float m : {1.0f, 1.3f, 1.7f, 1.99f}) {
      dense.push_back(std::ldexp(m, e));
      dense.push_back(-std::ldexp(m, e));
    }
  CHECK(max_ulps(dense) < 1.2);
}

TEST_CASE("gelu: the float32 erf at the edges: 0, -0, +-inf, NaN, the split, huge") {
  const float inf = INFINITY, split = 0.927734375f;
  const std::vector<float> x = {0.0f, -0.0f, inf, -inf, NAN, 1e30f, -1e30f, 4.0f, -3.92f, FLT_TRUE_MIN,
                                -FLT_MIN, split, std::nextafter(split, 1.0f), -split, std::nextafter(-split, -1.0f)};
  const std::vector<float> y = vec_erf(x);
  CHECK(y[0] == 0.0f);
  CHECK((y[1] == 0.0f && std::signbit(y[1])));
  CHECK(y[2] == 1.0f);
  CHECK(y[3] == -1.0f);
  CHECK(std::isnan(y[4]));
  CHECK(y[5] == 1.0f);
  CHECK(y[6] == -1.0f);
  CHECK(y[7] == 1.0f);
  CHECK(y[8] == -1.0f);  // erfc(3.92) < 2^-25: rounds to -1
  CHECK(y[9] == FLT_TRUE_MIN);  // 1.128 * 2^-149 rounds to 2^-149
  for (size_t i = 10; i < x.size(); ++i) {
    const double want = std::erf(static_cast<double>(x[i]));
    CHECK(std::fabs(y[i] - want) < 1.2 * test::float_ulp(want));
  }
}

// float32 GELU against float64 on the same inputs. Forward, y = x Phi(x): erf's 1.2 ulp (at most
// 1.2 2^-24 absolute, as |erf| < 1) and x / sqrt 2's rounding (erf' z <= 0.49, times 2^-24) reach
// 1 + erf as 1.7 2^-24 absolute, and y as half of that times |x|: where Phi(x) is small (x < 0)
// that is many ulps of y, the cancellation in 1 + erf that float32's scalar erff has too. Then the
// sum and two products round: 2 ulps of y. Backward adds x phi(x), whose exp (0.7 ulp, with x^2
// carried exactly), constant and two products round: 3 2^-24 |x phi(x)|; and 1 + erf, the sum with
// x phi(x) and dy's product round: 3 ulps of dx.
TEST_CASE("gelu: float32 forward and backward match float64, random and edge inputs") {
  const float inf = INFINITY;
  manual_seed(12);
  Tensor x = mul(randn({65539}), 3.0);  // an odd length: the last vector step is partial
  std::vector<float> xs = x.to_vector<float>();
  for (float e : {0.0f, -0.0f, 1e-30f, -1e-30f, FLT_TRUE_MIN, 0.5f, -0.5f, 1.3f, -1.3f, 5.5f, -5.5f, 9.0f,
                  -9.0f, 13.5f, -13.5f, 30.0f, -30.0f, 1e30f, -1e30f, FLT_MAX, -FLT_MAX, inf, -inf, NAN})
    xs.push_back(e);
  const auto n = static_cast<int64_t>(xs.size());
  x = Tensor::from_vector(xs, {n});
  const Tensor dy = randn({n});
  const Tensor x64 = x.to(DType::f64), dy64 = dy.to(DType::f64);
  const Tensor y = gelu(x), y64 = gelu(x64);
  const std::vector<double> got = doubles(y), want = doubles(y64), ddy = doubles(dy);
  const std::vector<double> dgot = doubles(unary_backward(UnaryOp::gelu, dy, x, y)),
                            dwant = doubles(unary_backward(UnaryOp::gelu, dy64, x64, y64));
  double worst = 0, dworst = 0;
  for (int64_t i = 0; i < n; ++i) {
    INFO("x = ", xs[i]);
    REQUIRE(std::isnan(got[i]) == std::isnan(want[i]));
    REQUIRE(std::isnan(dgot[i]) == std::isnan(dwant[i]));
    if (std::isnan(want[i])) continue;
    if (std::isinf(want[i])) {  // x = +inf (its gradient, inf 0, is NaN in both)
      CHECK(got[i] == want[i]);
      continue;
    }
    const double ax = std::fabs(xs[i]);
    const double x_pdf = ax * std::exp(-0.5 * ax * ax) * 0.3989422804014327;  // |x phi(x)|
    const double bound = 2 * test::float_ulp(want[i]) + 0.85 * kEps * ax;
    const double dbound = 3 * test::float_ulp(dwant[i]) + (0.85 * ax + 3 * x_pdf) * kEps * std::fabs(ddy[i]);
    worst = std::max(worst, std::fabs(got[i] - want[i]) / bound);
    dworst = std::max(dworst, std::fabs(dgot[i] - dwant[i]) / dbound);
  }
  MESSAGE("gelu float32 error / bound: forward ", worst, ", backward ", dworst);
  CHECK(worst <= 1.0);
  CHECK(dworst <= 1.0);
}
