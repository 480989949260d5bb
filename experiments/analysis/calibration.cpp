// Calibration of a classifier's logits: ECE, NLL, temperature scaling (host math, in double).
#include "experiments/analysis/calibration.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "util/error.h"

namespace tg::analysis {

namespace {

struct HostLogits {
  std::vector<double> z;
  std::vector<int64_t> y;
  int64_t n = 0, k = 0;
};

HostLogits to_host(const Tensor& logits, const Tensor& labels, const char* op) {
  TG_CHECK(logits.dim() == 2 && labels.numel() == logits.size(0) && logits.size(0) > 0, op, ": logits ",
           logits.str(), " and labels ", labels.str(), " do not match");
  HostLogits h{logits.to(DType::f64).cpu().to_vector<double>(), labels.to(DType::i64).cpu().to_vector<int64_t>(),
               logits.size(0), logits.size(1)};
  for (int64_t l : h.y) TG_CHECK(l >= 0 && l < h.k, op, ": label ", l, " outside [0, ", h.k, ")");
  return h;
}

// log sum_j exp(z_j / T) - z_y / T for row i, and the softmax confidence and argmax.
struct RowStats {
  double nll, confidence;
  int64_t pred;
};
RowStats row_stats(const HostLogits& h, int64_t i, double temperature) {
  const double* z = &h.z[static_cast<size_t>(i * h.k)];
  int64_t arg = 0;
  for (int64_t j = 1; j < h.k; ++j)
    if (z[j] > z[arg]) arg = j;
  double s = 0;
  for (int64_t j = 0; j < h.k; ++j) s += std::exp((z[j] - z[arg]) / temperature);
  const double lse = z[arg] / temperature + std::log(s);
  return {lse - z[h.y[static_cast<size_t>(i)]] / temperature, 1.0 / s, arg};
}

double mean_nll(const HostLogits& h, double temperature) {
  double total = 0;
  for (int64_t i = 0; i < h.n; ++i) total += row_stats(h, i, temperature).nll;
  return total / static_cast<double>(h.n);
}

}  // namespace

double expected_calibration_error(const Tensor& logits, const Tensor& labels, int n_bins, double temperature) {
  TG_CHECK(n_bins >= 1 && temperature > 0, "expected_calibration_error: n_bins ", n_bins, ", temperature ", temperature);
  HostLogits h = to_host(logits, labels, "expected_calibration_error");
  std::vector<double> conf(static_cast<size_t>(n_bins)), acc(static_cast<size_t>(n_bins));
  std::vector<int64_t> count(static_cast<size_t>(n_bins));
  for (int64_t i = 0; i < h.n; ++i) {
    RowStats r = row_stats(h, i, temperature);
    // bin b covers (b / n_bins, (b + 1) / n_bins]
    const int b = std::clamp(static_cast<int>(std::ceil(r.confidence * n_bins)) - 1, 0, n_bins - 1);
    conf[static_cast<size_t>(b)] += r.confidence;
    acc[static_cast<size_t>(b)] += r.pred == h.y[static_cast<size_t>(i)] ? 1.0 : 0.0;
    ++count[static_cast<size_t>(b)];
  }
  double ece = 0;
  for (size_t b = 0; b < static_cast<size_t>(n_bins); ++b)
    if (count[b] > 0) ece += std::abs(acc[b] - conf[b]) / static_cast<double>(h.n);
  return ece;
}

double negative_log_likelihood(const Tensor& logits, const Tensor& labels, double temperature) {
  TG_CHECK(temperature > 0, "negative_log_likelihood: temperature must be positive, got ", temperature);
  return mean_nll(to_host(logits, labels, "negative_log_likelihood"), temperature);
}

double fit_temperature(const Tensor& logits, const Tensor& labels) {
  HostLogits h = to_host(logits, labels, "fit_temperature");
  const double phi = (std::sqrt(5.0) - 1) / 2;
  double a = std::log(1e-3), b = std::log(1e4);
  double c = b - phi * (b - a), d = a + phi * (b - a);
  double fc = mean_nll(h, std::exp(c)), fd = mean_nll(h, std::exp(d));
  for (int it = 0; it < 100 && b - a > 1e-10; ++it) {
    if (fc < fd) {
      b = d, d = c, fd = fc;
      c = b - phi * (b - a);
      fc = mean_nll(h, std::exp(c));
    } else {
      a = c, c = d, fc = fd;
      d = a + phi * (b - a);
      fd = mean_nll(h, std::exp(d));
    }
  }
  return std::exp((a + b) / 2);
}

CalibrationReport calibration(const Tensor& heldout_logits, const Tensor& heldout_labels, const Tensor& test_logits,
                              const Tensor& test_labels, int n_bins) {
  CalibrationReport r;
  r.ece = expected_calibration_error(test_logits, test_labels, n_bins);
  r.nll = negative_log_likelihood(test_logits, test_labels);
  r.temperature = fit_temperature(heldout_logits, heldout_labels);
  r.ece_after = expected_calibration_error(test_logits, test_labels, n_bins, r.temperature);
  r.nll_after = negative_log_likelihood(test_logits, test_labels, r.temperature);
  return r;
}

}  // namespace tg::analysis
