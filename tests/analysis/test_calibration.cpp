// Calibration: ECE/NLL on a hand-made example, and temperature fitting recovers a known temperature.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "experiments/analysis/calibration.h"
#include "tensor/ops.h"
#include "tensor/random.h"

using namespace tg;
using namespace tg::analysis;

TEST_CASE("analysis: ECE and NLL on a hand-made example") {
  // conf 0.9 (correct), 0.9 (wrong), 0.75 (correct), 0.7 (correct): bins (13/15, 14/15] holds two
  // points with accuracy 0.5, (11/15, 12/15] and (10/15, 11/15] one each.
  // ECE = 2/4 |0.5 - 0.9| + 1/4 |1 - 0.75| + 1/4 |1 - 0.7| = 0.3375.
  Tensor logits = Tensor::from_vector<double>(
      {std::log(9.0), 0.0, std::log(9.0), 0.0, 0.0, std::log(3.0), 0.0, std::log(7.0 / 3.0)}, {4, 2});
  Tensor labels = Tensor::from_vector<int64_t>({0, 1, 1, 1}, {4});
  CHECK(expected_calibration_error(logits, labels) == doctest::Approx(0.3375).epsilon(1e-12));
  const double nll = -(std::log(0.9) + std::log(0.1) + std::log(0.75) + std::log(0.7)) / 4;
  CHECK(negative_log_likelihood(logits, labels) == doctest::Approx(nll).epsilon(1e-12));
  // float32 logits give the same numbers (the math runs in double on the host).
  CHECK(expected_calibration_error(logits.to(DType::f32), labels) == doctest::Approx(0.3375).epsilon(1e-6));
}

TEST_CASE("analysis: temperature fitting recovers a known temperature") {
  // Calibrated logits z with labels drawn from softmax(z); the model reports T* z.
  Generator gen(61);
  const int64_t n = 4000, k = 10;
  Tensor z = normal({n, k}, 0.0, 2.0, DType::f64, Device::cpu(), &gen);
  Tensor probs = softmax(z, 1);
  std::vector<double> pv = probs.to_vector<double>(), u = rand({n}, DType::f64, Device::cpu(), &gen).to_vector<double>();
  std::vector<int64_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    double c = 0;
    int64_t j = 0;
    for (; j < k - 1; ++j) {
      c += pv[static_cast<size_t>(i * k + j)];
      if (u[static_cast<size_t>(i)] < c) break;
    }
    labels[static_cast<size_t>(i)] = j;
  }
  Tensor y = Tensor::from_vector(labels, {n});
  for (double t_star : {0.5, 3.0, 50.0}) {
    CAPTURE(t_star);
    Tensor logits = mul(z, t_star);
    const double t = fit_temperature(logits, y);
    CHECK(t == doctest::Approx(t_star).epsilon(0.08));
    // The fitted temperature is the NLL minimum.
    const double at = negative_log_likelihood(logits, y, t);
    CHECK(at <= negative_log_likelihood(logits, y, t * 1.05));
    CHECK(at <= negative_log_likelihood(logits, y, t / 1.05));
    CalibrationReport r = calibration(logits, y, logits, y);
    CHECK(r.nll_after <= r.nll + 1e-12);
    if (t_star > 1) CHECK(r.ece_after < r.ece);
  }
}
