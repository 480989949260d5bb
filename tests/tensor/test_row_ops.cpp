// The float32 row kernels (tensor/cpu/softmax.cpp, tensor/cpu/layer_norm.cpp) and their exp
// (tensor/cpu/vec.h): the exp's error in ulps over a dense sweep and at the edges, and long rows
// (C = 1000, 4096, 50000) against the float64 computation on the same float32 inputs, within bounds
// derived from float32's rounding (2^-24 per operation), not measured.
#include <doctest/doctest.h>

#include <cfloat>
#include <cmath>
#include <vector>

#include "tensor/cpu/vec.h"
#include "tensor/kernels.h"
#include "tensor/ops.h"
#include "tensor/random.h"
#include "support/vec_sweep.h"

using namespace tg;
namespace vec = tg::cpu::vec;

namespace {

using V = vec::Vec<float>;
constexpr int64_t kLanes = vec::lanes<V>;
constexpr double kEps = 0x1p-24;  // float32's unit roundoff

std::vector<float> vec_exp(const std::vector<float>& x) {
  return test::apply_lanes(x, [](V v) { return vec::exp(v, vec::splat<V>(0)); });
}

using test::ulps;

// The largest error in ulps of exp over x against the double exp of the same floats.
double max_ulps(const std::vector<float>& x, const std::vector<float>& got) {
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, ulps(got[i], std::exp(static_cast<double>(x[i]))));
  return worst;
}

std::vector<double> doubles(const Tensor& t) { return t.to(DType::f64).to_vector<double>(); }

}  // namespace

TEST_CASE("row ops: exp is within 0.7 ulp for normal results, 1 ulp for subnormal ones") {
  // A dense sweep: 2^22 + 1 arguments from -87.33 to 88 (results from 2^-126 up to 1.6e38)...
  std::vector<float> x;
  const int n = 1 << 22;
  for (int i = 0; i <= n; ++i) x.push_back(static_cast<float>(-87.33 + 175.33 * i / n));
  CHECK(max_ulps(x, vec_exp(x)) < 0.7);
  // ... every 7th float in [1, 2) and [-2, -1), and tiny magnitudes down to 2^-149 ...
  std::vector<float> dense;
  for (float v = 1.0f; v < 2.0f; v = std::nextafter(v, 3.0f)) {
    dense.push_back(v);
    dense.push_back(-v);
    for (int s = 0; s < 6; ++s) v = std::nextafter(v, 3.0f);
  }
  for (int e = -149; e <= 0; ++e) {
    dense.push_back(std::ldexp(1.0f, e));
    dense.push_back(-std::ldexp(1.3f, e));
  }
  CHECK(max_ulps(dense, vec_exp(dense)) < 0.7);
  // ... and the subnormal results (-103.97 .. -87.34), spaced 2^-149: p 2^n rounds twice there.
  std::vector<float> low;
  for (int i = 0; i <= 1 << 18; ++i) low.push_back(static_cast<float>(-87.34 - 16.63 * i / (1 << 18)));
  CHECK(max_ulps(low, vec_exp(low)) < 1.0);
}

TEST_CASE("row ops: exp at the edges: -inf, underflow, 0, overflow, NaN") {
  const float inf = INFINITY;
  const std::vector<float> x = {-inf, -1e30f, -200.0f, -103.98f, -103.96f, -0.0f, 0.0f, 88.72f, 88.73f, 1e30f, inf, NAN};
  const std::vector<float> y = vec_exp(x);
  CHECK(y[0] == 0.0f);
  CHECK(y[1] == 0.0f);
  CHECK(y[2] == 0.0f);
  CHECK(y[3] == 0.0f);  // e^-103.98 < 2^-150: rounds to 0
  CHECK(y[4] == std::ldexp(1.0f, -149));  // the smallest subnormal
  CHECK(y[5] == 1.0f);
  CHECK(y[6] == 1.0f);
  CHECK(ulps(y[7], std::exp(static_cast<double>(x[7]))) < 0.7);  // 3.4e38, just below FLT_MAX
  CHECK(y[8] == inf);
  CHECK(y[9] == inf);
  CHECK(y[10] == inf);
  CHECK(std::isnan(y[11]));
}

TEST_CASE("row ops: exp((x - m) s) rounds only once, for x - m and s that float cannot hold") {
  // x - m = -20.3 rounded to float is off by up to 1e-6, and e^(x - m) by as much, relatively (8 ulps).
  Generator g(5);
  const std::vector<float> m = uniform({4096}, -60, 60, DType::f32, Device::cpu(), &g).to_vector<float>();
  const std::vector<float> d = uniform({4096}, -100, 0, DType::f32, Device::cpu(), &g).to_vector<float>();
  std::vector<float> x(m.size());
  for (size_t i = 0; i < m.size(); ++i) x[i] = m[i] + d[i];
  for (double tau : {1.0, 0.07, 0.1, 3.0, 50.0, 10000.0}) {
    CAPTURE(tau);
    const double s = 1 / tau;
    const auto s_hi = static_cast<float>(s), s_lo = static_cast<float>(s - s_hi);
    std::vector<float> got(x.size());
    for (size_t j = 0; j < x.size(); j += kLanes) {
      const V xj = vec::load(x.data() + j, kLanes), mj = vec::load(m.data() + j, kLanes);
      vec::store(got.data() + j, kLanes,
                 tau == 1.0 ? vec::exp_difference(xj, mj)
                            : vec::exp_difference(xj, mj, vec::splat<V>(s_hi), vec::splat<V>(s_lo)));
    }
    double worst = 0, worst_subnormal = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = std::exp((static_cast<double>(x[i]) - m[i]) / tau);
      if (want < 0x1p-149) continue;  // rounds to 0 or 2^-149
      double& w = want < FLT_MIN ? worst_subnormal : worst;
      w = std::max(w, ulps(got[i], want));
    }
    CHECK(worst < 0.7);
    CHECK(worst_subnormal < 1.0);
  }
}

TEST_CASE("row ops: long float32 rows of softmax, log_softmax and cross-entropy match float64") {
  Generator g(6);
  for (int64_t cols : {1000, 4096, 50000}) {
    CAPTURE(cols);
    // Logits spread over +-40: probabilities from 1 down through the subnormals to 0.
    Tensor x = mul(randn({3, cols}, DType::f32, Device::cpu(), &g), 10.0);
    Tensor x64 = x.to(DType::f64);
    // softmax: e (0.6 ulp) times 1 / sum (rounded once): under 2 ulps, or 2 subnormal spacings.
    const std::vector<double> p = doubles(softmax(x)), p64 = doubles(softmax(x64));
    const std::vector<double> lp = doubles(log_softmax(x)), lp64 = doubles(log_softmax(x64));
    int bad = 0;
    for (size_t i = 0; i < p.size(); ++i) {
      bad += std::fabs(p[i] - p64[i]) > 4 * kEps * p64[i] + 2 * 0x1p-149;
      bad += std::fabs(lp[i] - lp64[i]) > 4 * kEps * std::fabs(lp64[i]);  // x - (m + lse): 2 roundings
    }
    CHECK(bad == 0);
    Tensor labels = randint({3}, 0, cols, DType::i64, Device::cpu(), &g);
    for (double tau : {0.1, 1.0, 50.0}) {
      for (double eps : {0.0, 0.1}) {
        CAPTURE(tau);
        CAPTURE(eps);
        CrossEntropyOutput ce = cross_entropy(x, labels, tau, eps), ce64 = cross_entropy(x64, labels, tau, eps);
        const std::vector<double> loss = doubles(ce.losses), loss64 = doubles(ce64.losses);
        for (size_t i = 0; i < loss.size(); ++i) CHECK(std::fabs(loss[i] - loss64[i]) <= 4 * kEps * loss64[i]);
        const std::vector<double> q = doubles(ce.probs), q64 = doubles(ce64.probs);
        bad = 0;
        for (size_t i = 0; i < q.size(); ++i) bad += std::fabs(q[i] - q64[i]) > 4 * kEps * q64[i] + 2 * 0x1p-149;
        CHECK(bad == 0);
      }
    }
  }
}

TEST_CASE("row ops: long float32 rows of the softmax backward kernels match float64") {
  Generator g(7);
  for (int64_t cols : {1000, 4096, 50000}) {
    CAPTURE(cols);
    Tensor x = mul(randn({3, cols}, DType::f32, Device::cpu(), &g), 4.0);
    Tensor dy = randn({3, cols}, DType::f32, Device::cpu(), &g);
    for (bool log : {false, true}) {
      CAPTURE(log);
      Tensor y = log ? log_softmax(x) : softmax(x);
      Tensor dx = Tensor::empty_like(y), dx64 = Tensor::empty(y.shape(), DType::f64);
      cpu::softmax_backward(dy, y, dx, log);
      cpu::softmax_backward(dy.to(DType::f64), y.to(DType::f64), dx64, log);
      // dx = p (dy - s) or dy - p s, s = sum dy p or sum dy: a few roundings of terms of size |dy| + |s|,
      // and s's own, of size sum |dy p|.
      const std::vector<double> got = doubles(dx), want = doubles(dx64), d = doubles(dy), yy = doubles(y);
      int bad = 0;
      for (int64_t r = 0; r < 3; ++r) {
        double s = 0, s_scale = 0;
        for (int64_t j = 0; j < cols; ++j) {
          s += d[r * cols + j] * (log ? 1.0 : yy[r * cols + j]);
          s_scale += std::fabs(d[r * cols + j] * (log ? 0.0 : yy[r * cols + j]));
        }
        for (int64_t j = 0; j < cols; ++j) {
          const size_t i = r * cols + j;
          const double p = log ? std::exp(yy[i]) : yy[i];
          const double scale = log ? std::fabs(d[i]) + p * std::fabs(s) : p * (std::fabs(d[i]) + std::fabs(s) + s_scale);
          bad += std::fabs(got[i] - want[i]) > 6 * kEps * scale + 0x1p-149;
        }
      }
      CHECK(bad == 0);
    }
  }
}

TEST_CASE("row ops: layer norm in float32 matches float64, rows far from 0 and many rows") {
  Generator g(8);
  // Rows of mean 1000 and std 1 (a float sum of 50000 of them is off by ~1e-2, 100 spacings of x).
  for (Shape shape : {Shape{3, 1000}, Shape{3, 4096}, Shape{3, 50000}, Shape{4096, 64}}) {
    const int64_t rows = shape[0], cols = shape[1];
    CAPTURE(rows);
    CAPTURE(cols);
    Tensor x = add(randn(shape, DType::f32, Device::cpu(), &g), 1000.0);
    Tensor gamma = randn({cols}, DType::f32, Device::cpu(), &g), beta = randn({cols}, DType::f32, Device::cpu(), &g);
    Tensor dy = randn(shape, DType::f32, Device::cpu(), &g);
    LayerNormOutput out = layer_norm(x, gamma, beta, 1e-5);
    LayerNormOutput out64 = layer_norm(x.to(DType::f64), gamma.to(DType::f64), beta.to(DType::f64), 1e-5);
    // y = (x - mean) invstd gamma + beta: x - mean is exact in double, and in float within a
    // spacing of x or mean; three more roundings.
    const std::vector<double> y = doubles(out.y), y64 = doubles(out64.y), xs = doubles(x);
    const std::vector<double> gs = doubles(gamma), bs = doubles(beta), mean = doubles(out64.mean);
    const std::vector<double> inv = doubles(out64.invstd);
    int bad = 0;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = 0; j < cols; ++j) {
        const size_t i = r * cols + j;
        const double scale = std::fabs(gs[j]) * inv[r] * (std::fabs(xs[i]) + std::fabs(mean[r])) + std::fabs(bs[j]);
        bad += std::fabs(y[i] - y64[i]) > 4 * kEps * scale;
      }
    }
    CHECK(bad == 0);
    // Backward from the same saved statistics (float32's, widened), so only the kernel differs.
    Tensor dx = Tensor::empty_like(x), dg = Tensor::empty_like(gamma), db = Tensor::empty_like(beta);
    Tensor dx64 = Tensor::empty(shape, DType::f64), dg64 = Tensor::empty({cols}, DType::f64);
    Tensor db64 = Tensor::empty({cols}, DType::f64);
    cpu::layer_norm_backward(dy, x, gamma, out.mean, out.invstd, dx, dg, db);
    cpu::layer_norm_backward(dy.to(DType::f64), x.to(DType::f64), gamma.to(DType::f64), out.mean.to(DType::f64),
                             out.invstd.to(DType::f64), dx64, dg64, db64);
    const std::vector<double> d = doubles(dy), m32 = doubles(out.mean), inv32 = doubles(out.invstd);
    const std::vector<double> gx = doubles(dx), gx64 = doubles(dx64);
    std::vector<double> dg_scale(cols, 0.0), db_scale(cols, 0.0);
    bad = 0;
    for (int64_t r = 0; r < rows; ++r) {
      double g_mean = 0, gx_mean = 0;  // the row means, of magnitudes
      for (int64_t j = 0; j < cols; ++j) {
        const size_t i = r * cols + j;
        const double xhat = (xs[i] - m32[r]) * inv32[r];
        g_mean += std::fabs(d[i] * gs[j]) / static_cast<double>(cols);
        gx_mean += std::fabs(d[i] * gs[j] * xhat) / static_cast<double>(cols);
        dg_scale[j] += std::fabs(d[i] * xhat);
        db_scale[j] += std::fabs(d[i]);
      }
      // dx = invstd (g - mean g - xhat mean(g xhat)), xhat within a spacing of x times invstd.
      for (int64_t j = 0; j < cols; ++j) {
        const size_t i = r * cols + j;
        const double xhat_scale = (std::fabs(xs[i]) + std::fabs(m32[r])) * inv32[r];
        const double scale = inv32[r] * (std::fabs(d[i] * gs[j]) + g_mean + xhat_scale * gx_mean);
        bad += std::fabs(gx[i] - gx64[i]) > 8 * kEps * scale;
      }
    }
    CHECK(bad == 0);
    // Column sums over the rows, in double: each term rounds twice (xhat, dy xhat), the sum once.
    const std::vector<double> got_g = doubles(dg), want_g = doubles(dg64), got_b = doubles(db), want_b = doubles(db64);
    bad = 0;
    for (int64_t j = 0; j < cols; ++j) {
      bad += std::fabs(got_g[j] - want_g[j]) > 3 * kEps * dg_scale[j] + kEps * std::fabs(want_g[j]);
      bad += std::fabs(got_b[j] - want_b[j]) > kEps * std::fabs(want_b[j]) + 1e-15 * db_scale[j];
    }
    CHECK(bad == 0);
  }
}
