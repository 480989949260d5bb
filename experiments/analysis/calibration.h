// Calibration of a classifier (Guo et al. 2017, "On Calibration of Modern Neural Networks"): expected
// calibration error, negative log-likelihood, and temperature scaling (one T fitted on held-out logits).
// Host math in double on logits [N, K] of any float dtype and device; labels [N] integer. The
// evaluation of a run (experiments/runner/evaluation.cpp) reports it before and after the fitted T.
#pragma once

#include "tensor/tensor.h"

namespace tg::analysis {

// ECE (Guo et al. 2017): equal-width confidence bins (lo, hi]; sum_b |B_b|/N |acc(B_b) - conf(B_b)|,
// confidence = max softmax(z / T).
double expected_calibration_error(const Tensor& logits, const Tensor& labels, int n_bins = 15,
                                  double temperature = 1.0);
double negative_log_likelihood(const Tensor& logits, const Tensor& labels, double temperature = 1.0);  // mean
// argmin_T NLL(z / T): golden-section search on log T in [log 1e-3, log 1e4] (NLL is convex in 1/T,
// hence unimodal in log T).
double fit_temperature(const Tensor& logits, const Tensor& labels);

struct CalibrationReport {
  double ece = 0, nll = 0, temperature = 1, ece_after = 0, nll_after = 0;
};
// T fitted on the held-out logits, ECE/NLL on the test logits before and after.
CalibrationReport calibration(const Tensor& heldout_logits, const Tensor& heldout_labels, const Tensor& test_logits,
                              const Tensor& test_labels, int n_bins = 15);

}  // namespace tg::analysis
