// t-SNE (van der Maaten & Hinton 2008) with Barnes-Hut repulsion (van der Maaten 2014), and two
// statistics of how well a labelled point set separates by class: leave-one-out k-NN accuracy and
// the mean silhouette coefficient. Figs. 2 and 3 embed the penultimate features f(x) with tsne() and
// report the two statistics in the original feature space, where no embedding can distort them.
//
// The algorithm, as the reference implementations (bhtsne, scikit-learn) have it:
//   1. Input affinities. For each point i, the Gaussian p_{j|i} ~ exp(-beta_i |x_i - x_j|^2) over its
//      neighbours: all other points (exact, theta = 0) or its floor(3 perplexity) + 1 nearest
//      (Barnes-Hut). beta_i is found by binary search until |H(P_i) - log(perplexity)| < 1e-5
//      (entropy in nats). Then P = (P_cond + P_cond^T) / (2n), sparse and symmetric.
//   2. Output similarities q_ij = w_ij / Z, w_ij = 1 / (1 + |y_i - y_j|^2), Z = sum_{k != l} w_kl.
//   3. Gradient of KL(P || Q): dC/dy_i = 4 sum_j (p_ij - q_ij) w_ij (y_i - y_j)
//                                      = 4 [sum_j p_ij w_ij (y_i - y_j) - sum_j w_ij^2 (y_i - y_j) / Z]
//      (van der Maaten 2014, Eq. 5). The attractive sum runs over P's non-zeros; the repulsive sum
//      over all pairs (theta = 0) or over a 2^dims-ary space-partitioning tree whose cells with
//      side / distance < theta stand in for their points (the cell's count at its centre of mass).
//   4. Gradient descent with momentum 0.5 for the first `exaggeration_iterations` iterations (with
//      P multiplied by `early_exaggeration`), 0.8 after, per-coordinate gains (delta-bar-delta: +0.2
//      where the gradient's sign differs from the last update's, *0.8 where it agrees, at least 0.01),
//      and the embedding re-centred after each step. The start is N(0, 1e-4^2) drawn from the seed.
#pragma once

#include <cstdint>
#include <vector>

namespace tg::analysis {

struct TsneOptions {
  int64_t dims = 2;
  double perplexity = 30;
  int64_t iterations = 1000;
  double learning_rate = 0;  // 0 = auto: max(n / early_exaggeration / 4, 50), as scikit-learn
  double early_exaggeration = 12;
  int64_t exaggeration_iterations = 250;
  double theta = 0.5;  // Barnes-Hut; 0 = exact (O(n^2) a step). Barnes-Hut needs dims <= 3.
  uint64_t seed = 0;
};

struct TsneResult {
  std::vector<double> y;                 // [n, dims] row-major
  std::vector<double> kl;                // KL(P || Q) after iterations 50, 100, ...: exact (all pairs), P not exaggerated
  std::vector<double> perplexity_found;  // per point, exp(H(P_i)) after calibration
};

// Embeds the n rows of x ([n, d], row-major) in options.dims dimensions. The same input, options and
// seed give the same output, whatever the number of OpenMP threads. Needs perplexity < n - 1.
TsneResult tsne(const std::vector<double>& x, int64_t n, int64_t d, const TsneOptions& options = {});

// Leave-one-out k-NN classification accuracy (Euclidean), in [0, 1]: each point is classified by the
// majority label of its k nearest other points (distance ties: lower index first); a tied vote goes
// to the tied label whose member is nearest.
double knn_accuracy(const std::vector<double>& x, int64_t n, int64_t d, const std::vector<int64_t>& labels, int64_t k = 5);

// Mean silhouette coefficient (Euclidean), in [-1, 1]: s_i = (b_i - a_i) / max(a_i, b_i), with a_i the
// mean distance to the other members of i's class and b_i the least mean distance to another class;
// s_i = 0 for a point alone in its class (Rousseeuw 1987, as scikit-learn). Needs two labels or more.
double silhouette(const std::vector<double>& x, int64_t n, int64_t d, const std::vector<int64_t>& labels);

// ---- The steps of tsne(), exposed for the tests ----

// A sparse [n, n] matrix, compressed rows: row i's entries are columns[offsets[i] .. offsets[i + 1]).
struct SparseRows {
  std::vector<int64_t> offsets, columns;
  std::vector<double> values;
};

// Step 1 before symmetrization: row i holds p_{j|i} over i's `neighbors` nearest other points, each row
// summing to 1 with perplexity exp(H) within 1e-5 of `perplexity` in log; writes exp(H) per point into
// perplexity_found.
SparseRows conditional_affinities(const std::vector<double>& x, int64_t n, int64_t d, double perplexity,
                                  int64_t neighbors, std::vector<double>& perplexity_found);
// (P + P^T) / (2n): symmetric, summing to 1.
SparseRows symmetrize(const SparseRows& conditional);
// dC/dy for KL(P || Q) at y ([n, dims]); theta = 0 sums the repulsion over all pairs.
std::vector<double> kl_gradient(const SparseRows& p, const std::vector<double>& y, int64_t n, int64_t dims, double theta);
// KL(P || Q) at y, over all pairs.
double kl_divergence(const SparseRows& p, const std::vector<double>& y, int64_t n, int64_t dims);

}  // namespace tg::analysis
