// Softmax, log-softmax, the fused tempered cross-entropy and layer norm (tensor ops, no autograd):
// known values computed here from the definitions in long double, published values, stability at
// extreme logits, and the errors for bad labels.
#include <doctest/doctest.h>

#include <cfloat>
#include <cmath>
#include <string>
#include <vector>

#include "support/errors.h"
#include "tensor/ops.h"
#include "tensor/random.h"

using namespace tg;
using tg::testing::error_of;

namespace {

// softmax(x / tau) from the definition, in long double (max subtracted, so e^-90 stays exact).
std::vector<long double> softmax_exact(const std::vector<double>& x, long double tau) {
  long double m = -INFINITY, s = 0;
  for (double v : x) m = std::max(m, v / tau);
  std::vector<long double> e;
  for (double v : x) e.push_back(std::exp(v / tau - m));
  for (long double v : e) s += v;
  for (long double& v : e) v /= s;
  return e;
}

// |got - want| within `rel` of want, or below `floor` (float32's subnormals have no relative precision).
bool close(double got, long double want, double rel, double floor) {
  return std::fabs(static_cast<long double>(got) - want) <= rel * std::fabs(want) + floor;
}

template <class T>
std::vector<double> as_doubles(const Tensor& t) {
  std::vector<double> out;
  for (T v : t.to_vector<T>()) out.push_back(static_cast<double>(v));
  return out;
}

}  // namespace

TEST_CASE("softmax: [1, 5, 7, 10] / tau matches the exact values, float32 and float64") {
  const std::vector<double> x = {1, 5, 7, 10};
  for (double tau : {0.1, 1.0, 10.0, 100.0, 10000.0}) {
    CAPTURE(tau);
    const std::vector<long double> want = softmax_exact(x, tau);
    Tensor x64 = mul(Tensor::from_vector(x, {4}), 1.0 / tau);
    std::vector<double> got64 = softmax(x64).to_vector<double>();
    std::vector<double> got32 = as_doubles<float>(softmax(x64.to(DType::f32)));
    for (int i = 0; i < 4; ++i) {
      CAPTURE(i);
      CHECK(close(got64[i], want[i], 1e-14, 1e-300));
      CHECK(close(got32[i], want[i], 2e-7, 2 * FLT_MIN));
    }
  }
  // Published values at tau = 1 (e.g. the softmax example of Wikipedia, "Softmax function").
  const double published[] = {0.00011679362893736733, 0.006376716075637758, 0.0471179128098403, 0.9463885774855847};
  std::vector<double> got64 = softmax(Tensor::from_vector(x, {4})).to_vector<double>();
  std::vector<float> got32 = softmax(Tensor::from_vector(x, {4}).to(DType::f32)).to_vector<float>();
  for (int i = 0; i < 4; ++i) {
    CHECK(close(got64[i], published[i], 1e-15, 0));
    CHECK(close(got32[i], published[i], 2e-7, 0));
  }
}

TEST_CASE("softmax: any axis, log_softmax, extreme logits stay finite") {
  Generator g(3);
  Tensor x = uniform({3, 4, 5}, -3, 3, DType::f64, Device::cpu(), &g);
  for (int64_t axis : {0, 1, 2, -1}) {
    CAPTURE(axis);
    Tensor y = softmax(x, axis);
    Tensor sums = sum(y, {axis});
    for (double s : sums.to_vector<double>()) CHECK(s == doctest::Approx(1.0).epsilon(1e-14));
    // softmax = exp(x) / sum exp(x) along the axis (values are small: no overflow here).
    Tensor direct = div(exp(x), sum(exp(x), {axis}, true));
    CHECK(max(abs(sub(y, direct))).item() < 1e-15);
    Tensor ly = log_softmax(x, axis);
    CHECK(max(abs(sub(ly, log(y)))).item() < 1e-14);
  }
  // Logits of +-1000: naive exp overflows; the stable forms do not.
  Tensor big = Tensor::from_vector<float>({1000, -1000, 999, 0}, {1, 4});
  std::vector<float> p = softmax(big).to_vector<float>();
  CHECK(p[0] == doctest::Approx(1 / (1 + std::exp(-1.0))));
  CHECK(p[1] == 0.0f);
  std::vector<float> lp = log_softmax(big).to_vector<float>();
  CHECK(lp[1] == doctest::Approx(-2000 - std::log1p(std::exp(-1.0))));
  for (float v : lp) CHECK(std::isfinite(v));
}

TEST_CASE("cross_entropy: InfoNCE value with 1023 negatives, at tau = 1 and tau = 0.07") {
  // logits [1, -1 x 1023], label 0: CE = -log(e / (e + 1023 e^-1)) = log(1 + 1023 e^-2) = 4.94 (rounded).
  std::vector<double> logits(1024, -1.0);
  logits[0] = 1.0;
  Tensor z = Tensor::from_vector(logits, {1, 1024});
  Tensor label = Tensor::from_vector<int64_t>({0}, {1});
  for (double tau : {1.0, 0.07}) {
    CAPTURE(tau);
    // Exact, by log-sum-exp in long double: CE = lse(z / tau) - z_0 / tau = log(1 + rest),
    // rest = sum_{j > 0} exp((z_j - z_0) / tau); log1p keeps it exact when rest is tiny (tau = 0.07).
    long double rest = 0;
    for (size_t j = 1; j < logits.size(); ++j) rest += std::exp((logits[j] - logits[0]) / static_cast<long double>(tau));
    const long double want = std::log1p(rest);
    CHECK(close(cross_entropy(z, label, tau).losses.item(), want, 1e-13, 0));  // 1023 terms summed
    CHECK(close(cross_entropy(z.to(DType::f32), label, tau).losses.item(), want, 2e-7, 0));
    if (tau == 1.0) CHECK(std::round(static_cast<double>(want) * 100) / 100 == doctest::Approx(4.94));
  }
  // At tau = 0.07 the loss is about 4e-10: kept to full precision by log1p, not lost to log(1 + tiny).
  CHECK(close(cross_entropy(z, label, 0.07).losses.item(), std::log1p(1023 * std::exp(-2 / 0.07)), 1e-13, 0));
}

TEST_CASE("cross_entropy: per-sample values, probs, label smoothing") {
  Tensor z = Tensor::from_vector<double>({2.0, -1.0, 0.5, 3.0, 3.0, -2.0}, {2, 3});
  Tensor y = Tensor::from_vector<int64_t>({2, 0}, {2});
  for (double tau : {1.0, 2.5}) {
    for (double eps : {0.0, 0.1}) {
      CAPTURE(tau);
      CAPTURE(eps);
      CrossEntropyOutput out = cross_entropy(z, y, tau, eps);
      Tensor logp = log_softmax(mul(z, 1.0 / tau));
      CHECK(max(abs(sub(out.probs, exp(logp)))).item() < 1e-15);
      std::vector<double> lp = logp.to_vector<double>(), losses = out.losses.to_vector<double>();
      const int64_t lab[] = {2, 0};
      for (int r = 0; r < 2; ++r) {
        double want = 0;
        for (int j = 0; j < 3; ++j) want -= ((j == lab[r] ? 1 - eps : 0.0) + eps / 3) * lp[r * 3 + j];
        CHECK(losses[r] == doctest::Approx(want).epsilon(1e-14));
      }
    }
  }
}

TEST_CASE("cross_entropy: bad labels and arguments are named") {
  Tensor z = Tensor::zeros({2, 3});
  std::string e = error_of([&] { cross_entropy(z, Tensor::from_vector<int64_t>({1, 3}, {2}), 1.0); });
  CHECK(e.find("cross_entropy") != std::string::npos);
  CHECK(e.find("label 3") != std::string::npos);
  CHECK(e.find("[0, 3)") != std::string::npos);
  e = error_of([&] { cross_entropy(z, Tensor::from_vector<int64_t>({-1, 0}, {2}), 1.0); });
  CHECK(e.find("label -1") != std::string::npos);
  e = error_of([&] { cross_entropy(z, Tensor::from_vector<int32_t>({0, 1}, {2}), 1.0); });
  CHECK(e.find("cross_entropy") != std::string::npos);
  CHECK(e.find("int64") != std::string::npos);
  CHECK(e.find("int32[2]") != std::string::npos);
  e = error_of([&] { cross_entropy(z, Tensor::from_vector<int64_t>({0, 1, 2}, {3}), 1.0); });
  CHECK(e.find("float32[2, 3]") != std::string::npos);
  CHECK(e.find("int64[3]") != std::string::npos);
  CHECK(error_of([&] { cross_entropy(z, Tensor::from_vector<int64_t>({0, 1}, {2}), 0.0); }).find("tau") !=
        std::string::npos);
  CHECK(error_of([&] { cross_entropy(Tensor::zeros({6}), Tensor::from_vector<int64_t>({0}, {1}), 1.0); })
            .find("[N, C]") != std::string::npos);
}

TEST_CASE("layer_norm: normalizes the last axis, then scales and shifts") {
  Generator g(4);
  Tensor x = uniform({2, 3, 8}, -2, 5, DType::f64, Device::cpu(), &g);
  Tensor gamma = uniform({8}, 0.5, 1.5, DType::f64, Device::cpu(), &g);
  Tensor beta = uniform({8}, -1, 1, DType::f64, Device::cpu(), &g);
  const double eps = 1e-5;
  LayerNormOutput out = layer_norm(x, gamma, beta, eps);
  CHECK(out.mean.shape() == Shape{2, 3});
  Tensor m = mean(x, {-1}, true), v = var(x, {-1}, 0, true);
  Tensor want = add(mul(div(sub(x, m), sqrt(add(v, eps))), gamma), beta);
  CHECK(max(abs(sub(out.y, want))).item() < 1e-13);
  CHECK(max(abs(sub(out.mean, m.reshape({2, 3})))).item() < 1e-14);
  // Without gamma and beta: zero mean and unit (biased) variance per row, up to eps.
  LayerNormOutput plain = layer_norm(x.to(DType::f32), Tensor(), Tensor(), 0.0);
  for (double r : mean(plain.y, {-1}).to(DType::f64).to_vector<double>()) CHECK(std::fabs(r) < 1e-6);
  for (double r : var(plain.y, {-1}, 0).to(DType::f64).to_vector<double>()) CHECK(r == doctest::Approx(1.0).epsilon(1e-5));
  std::string e = error_of([&] { layer_norm(x, Tensor::ones({7}, DType::f64), beta, eps); });
  CHECK(e.find("layer_norm") != std::string::npos);
  CHECK(e.find("[7]") != std::string::npos);
}
