// The class-prototype analysis of the paper (Sec. IV and V.D): a model's logits are z = W f(x) + b,
// f(x) the penultimate feature vector, the rows w_j of W the class prototypes (nn::Classifier).
// Everything here works on host numbers, row-major: features [N, D], logits [N, C], W [C, D], except
// eq10_input_gradients, which runs the model. Each function serves one figure:
// - Fig. 1 / Eq. 6: dL/df = (1/tau) [sum_{j != y} P_j w_j - (1 - P_y) w_y], P = softmax(z / tau) at
//   the TRAINING tau: the weight of the positive prototype (1 - P_y) against the negatives' P_j.
// - Fig. 5: logits before and after an attack.
// - Fig. 6: Euclidean distance and cosine similarity between f(x) and every prototype.
// - Fig. 7: per sample, the variance of those over the negative prototypes.
// - Eq. 10: the input gradient of CE at tau = 1, and how much of it points at the largest other class.
#pragma once

#include <cstdint>
#include <vector>

#include "nn/models/classifier.h"

namespace tg::analysis {

// Order statistics of a sample (linear interpolation between order statistics, as numpy's default).
// NaN values are left out; `count` is the number kept (all fields NaN when none).
struct Summary {
  int64_t count = 0;
  double mean = 0, min = 0, p10 = 0, p25 = 0, median = 0, p75 = 0, p90 = 0, max = 0;
};
Summary summarize(std::vector<double> values);

// ---- Fig. 1, Eq. 6 ----
// The weights Eq. 6 gives the prototypes in dL/df for one sample (logits z[0..C), label y) at
// temperature tau, the common factor 1/tau left out. Computed in log space, so no weight is lost to
// rounding when 1 - P_y is tiny.
struct Eq6Weights {
  double positive = 0;               // 1 - P_y, the weight pulling f toward w_y (= the negatives' sum)
  std::vector<double> shares;        // P_j / (1 - P_y) for j != y, largest first: how the push away
                                     // from the negatives splits among them (sums to 1)
  double top_share() const { return shares.empty() ? 0 : shares.front(); }  // in [1/(C-1), 1]
};
Eq6Weights eq6_weights(const double* z, int64_t classes, int64_t y, double tau);

// Eq. 6 over a set of samples: per sample the positive weight and the top share, and per rank k the
// mean over samples of the k-th largest negative share.
struct Eq6Distribution {
  std::vector<double> positive, top_share;  // per sample
  std::vector<double> mean_share_by_rank;   // C - 1 values, decreasing, summing to 1
};
Eq6Distribution eq6_distribution(const std::vector<double>& logits, const std::vector<int64_t>& labels,
                                 int64_t classes, double tau);

// ---- Fig. 5 ----
// Logits of the same samples before and after an attack. The error-prone class k of a sample is its
// largest other class before the attack, k = argmax_{j != y} z_j. Means over the samples:
struct LogitShift {
  int64_t count = 0;
  double true_change = 0;       // z'_y - z_y
  double other_change = 0;      // z'_k - z_k
  double true_change_rel = 0;   // the same divided by the sample's clean logit range max_j z_j - min_j z_j,
  double other_change_rel = 0;  // so models whose logits differ in scale (tau) compare
  double clean_margin = 0;      // z_y - z_k before
  double flipped = 0;           // fraction whose argmax changed
};
LogitShift logit_shift(const std::vector<double>& clean, const std::vector<double>& adversarial,
                       const std::vector<int64_t>& labels, int64_t classes);

// ---- Fig. 6 ----
// ||f - w_j|| and cos(f, w_j) for every prototype j (cosine 0 where f or w_j is zero).
struct PrototypeGeometry {
  std::vector<double> distance, cosine;  // [C]
};
PrototypeGeometry prototype_geometry(const double* f, const std::vector<double>& weight, int64_t classes, int64_t dim);

// ---- Fig. 7 ----
// Per sample, the variance (over the C - 1 negative prototypes, population variance) of the distance
// and of the cosine similarity between f(x) and the prototypes. The distances are first mapped to
// [0, 1] by the model's smallest and largest distance to a negative prototype over all samples (the
// paper's "map the value of different models into the same range"; the variance scales by the
// square of that range). Cosines are already in [-1, 1] and are not mapped.
struct NegativeSpread {
  std::vector<double> distance_variance, cosine_variance;  // [N]
  double distance_min = 0, distance_max = 0;                // the model's range before mapping
};
NegativeSpread negative_spread(const std::vector<double>& features, const std::vector<int64_t>& labels,
                               const std::vector<double>& weight, int64_t classes, int64_t dim);

// ---- Eq. 10 ----
// Per sample, with z = F(x), CE at tau = 1 and k = argmax_{j != y} z_j:
//   g = dCE/dx = sum_{j != y} P_j d(z_j - z_y)/dx    (Eq. 10, with sum_{j != y} P_j = 1 - P_y)
// so g is a P-weighted sum of the directions that move x toward each negative class. Reported:
// - norm = ||g||_2, in x's dtype (0 where softmax saturates);
// - share = P_k / (1 - P_y), the weight Eq. 10 puts on the largest other class (from the logits, in
//   float64 and log space: never 0/0);
// - cosine = cos(g, d(z_k - z_y)/dx): 1 when the gradient points straight at class k (an attack
//   targeted at the error-prone class), lower when it spreads over many negatives; NaN where g = 0.
// The model must be in eval mode; x [N, ...] in the model's dtype, labels int64 [N], same device.
struct InputGradients {
  std::vector<double> norm, share, cosine;  // [N]
};
InputGradients eq10_input_gradients(nn::Classifier& model, const Tensor& x, const Tensor& labels);

}  // namespace tg::analysis
