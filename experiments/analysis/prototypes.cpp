#include "experiments/analysis/prototypes.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "autograd/ops.h"
#include "tensor/ops.h"
#include "util/error.h"

namespace tg::analysis {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Linear interpolation between order statistics of sorted values (numpy's "linear").
double quantile(const std::vector<double>& sorted, double q) {
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos)), hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

// log sum_j exp(v_j) over the j where keep(j).
double log_sum_exp(const double* v, int64_t n, const std::function<bool(int64_t)>& keep) {
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < n; ++j)
    if (keep(j)) m = std::max(m, v[j]);
  double s = 0;
  for (int64_t j = 0; j < n; ++j)
    if (keep(j)) s += std::exp(v[j] - m);
  return m + std::log(s);
}

// argmax_{j != y} z_j.
int64_t largest_other(const double* z, int64_t classes, int64_t y) {
  int64_t k = y == 0 ? 1 : 0;
  for (int64_t j = 0; j < classes; ++j)
    if (j != y && z[j] > z[k]) k = j;
  return k;
}

double dot(const double* a, const double* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

double population_variance(const std::vector<double>& v) {
  double mean = 0, s = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  for (double x : v) s += (x - mean) * (x - mean);
  return s / static_cast<double>(v.size());
}

void check_rows(const char* what, size_t size, int64_t rows, int64_t cols) {
  TG_CHECK(static_cast<int64_t>(size) == rows * cols, what, ": expected ", rows, " x ", cols, " values, got ", size);
}

}  // namespace

Summary summarize(std::vector<double> values) {
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return std::isnan(v); }), values.end());
  Summary s;
  s.count = static_cast<int64_t>(values.size());
  if (values.empty()) {
    s.mean = s.min = s.p10 = s.p25 = s.median = s.p75 = s.p90 = s.max = kNaN;
    return s;
  }
  std::sort(values.begin(), values.end());
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / static_cast<double>(values.size());
  s.min = values.front();
  s.max = values.back();
  s.p10 = quantile(values, 0.10);
  s.p25 = quantile(values, 0.25);
  s.median = quantile(values, 0.50);
  s.p75 = quantile(values, 0.75);
  s.p90 = quantile(values, 0.90);
  return s;
}

// ---- Fig. 1, Eq. 6 ----

// With u = z / tau: 1 - P_y = exp(lse_{j != y} u - lse_j u), and P_j / (1 - P_y) = exp(u_j - lse_{j != y} u).
Eq6Weights eq6_weights(const double* z, int64_t classes, int64_t y, double tau) {
  TG_CHECK(classes >= 2 && y >= 0 && y < classes, "eq6_weights: label ", y, " outside 0..", classes - 1);
  TG_CHECK(tau > 0, "eq6_weights: tau must be > 0, got ", tau);
  std::vector<double> u(z, z + classes);
  for (double& v : u) v /= tau;
  const double lse_all = log_sum_exp(u.data(), classes, [](int64_t) { return true; });
  const double lse_neg = log_sum_exp(u.data(), classes, [y](int64_t j) { return j != y; });
  Eq6Weights w;
  w.positive = std::exp(lse_neg - lse_all);
  for (int64_t j = 0; j < classes; ++j)
    if (j != y) w.shares.push_back(std::exp(u[j] - lse_neg));
  std::sort(w.shares.begin(), w.shares.end(), std::greater<>());
  return w;
}

Eq6Distribution eq6_distribution(const std::vector<double>& logits, const std::vector<int64_t>& labels,
                                 int64_t classes, double tau) {
  const int64_t n = static_cast<int64_t>(labels.size());
  check_rows("eq6_distribution: logits", logits.size(), n, classes);
  Eq6Distribution d;
  d.mean_share_by_rank.assign(static_cast<size_t>(classes - 1), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const Eq6Weights w = eq6_weights(logits.data() + i * classes, classes, labels[i], tau);
    d.positive.push_back(w.positive);
    d.top_share.push_back(w.top_share());
    for (size_t k = 0; k < w.shares.size(); ++k) d.mean_share_by_rank[k] += w.shares[k] / static_cast<double>(n);
  }
  return d;
}

// ---- Fig. 5 ----

LogitShift logit_shift(const std::vector<double>& clean, const std::vector<double>& adversarial,
                       const std::vector<int64_t>& labels, int64_t classes) {
  const int64_t n = static_cast<int64_t>(labels.size());
  check_rows("logit_shift: clean logits", clean.size(), n, classes);
  check_rows("logit_shift: adversarial logits", adversarial.size(), n, classes);
  LogitShift s;
  s.count = n;
  if (n == 0) return s;
  for (int64_t i = 0; i < n; ++i) {
    const double* z = clean.data() + i * classes;
    const double* za = adversarial.data() + i * classes;
    const int64_t y = labels[i], k = largest_other(z, classes, y);
    const double range = *std::max_element(z, z + classes) - *std::min_element(z, z + classes);
    const double dy = za[y] - z[y], dk = za[k] - z[k];
    s.true_change += dy;
    s.other_change += dk;
    s.true_change_rel += range > 0 ? dy / range : 0;
    s.other_change_rel += range > 0 ? dk / range : 0;
    s.clean_margin += z[y] - z[k];
    s.flipped += (std::max_element(z, z + classes) - z) != (std::max_element(za, za + classes) - za) ? 1 : 0;
  }
  for (double* v : {&s.true_change, &s.other_change, &s.true_change_rel, &s.other_change_rel, &s.clean_margin,
                    &s.flipped})
    *v /= static_cast<double>(n);
  return s;
}

// ---- Fig. 6 ----

PrototypeGeometry prototype_geometry(const double* f, const std::vector<double>& weight, int64_t classes, int64_t dim) {
  check_rows("prototype_geometry: weight", weight.size(), classes, dim);
  PrototypeGeometry g;
  const double f_norm = std::sqrt(dot(f, f, dim));
  for (int64_t j = 0; j < classes; ++j) {
    const double* w = weight.data() + j * dim;
    double d2 = 0;
    for (int64_t t = 0; t < dim; ++t) d2 += (f[t] - w[t]) * (f[t] - w[t]);
    const double w_norm = std::sqrt(dot(w, w, dim));
    g.distance.push_back(std::sqrt(d2));
    g.cosine.push_back(f_norm > 0 && w_norm > 0 ? dot(f, w, dim) / (f_norm * w_norm) : 0.0);
  }
  return g;
}

// ---- Fig. 7 ----

NegativeSpread negative_spread(const std::vector<double>& features, const std::vector<int64_t>& labels,
                               const std::vector<double>& weight, int64_t classes, int64_t dim) {
  const int64_t n = static_cast<int64_t>(labels.size());
  check_rows("negative_spread: features", features.size(), n, dim);
  TG_CHECK(classes >= 3, "negative_spread: needs at least 3 classes (2 negatives), got ", classes);
  std::vector<PrototypeGeometry> geometry;
  NegativeSpread s;
  s.distance_min = std::numeric_limits<double>::infinity();
  s.distance_max = -s.distance_min;
  for (int64_t i = 0; i < n; ++i) {
    geometry.push_back(prototype_geometry(features.data() + i * dim, weight, classes, dim));
    for (int64_t j = 0; j < classes; ++j) {
      if (j == labels[i]) continue;
      s.distance_min = std::min(s.distance_min, geometry.back().distance[j]);
      s.distance_max = std::max(s.distance_max, geometry.back().distance[j]);
    }
  }
  const double range = s.distance_max - s.distance_min;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<double> distance, cosine;
    for (int64_t j = 0; j < classes; ++j) {
      if (j == labels[i]) continue;
      distance.push_back(range > 0 ? (geometry[i].distance[j] - s.distance_min) / range : 0.0);
      cosine.push_back(geometry[i].cosine[j]);
    }
    s.distance_variance.push_back(population_variance(distance));
    s.cosine_variance.push_back(population_variance(cosine));
  }
  return s;
}

// ---- Eq. 10 ----

InputGradients eq10_input_gradients(nn::Classifier& model, const Tensor& x, const Tensor& labels) {
  const int64_t n = x.size(0);
  TG_CHECK(labels.dim() == 1 && labels.size(0) == n, "eq10_input_gradients: ", n, " inputs but labels of shape ",
           shape_str(labels.shape()));
  Variable input(x, true);
  Variable z = model.forward(input);
  const int64_t classes = z.size(1);
  const std::vector<double> logits = z.data().to(DType::f64).cpu().to_vector<double>();
  const std::vector<int64_t> y = labels.to(DType::i64).cpu().to_vector<int64_t>();

  // d(z_k - z_y)/dx: the gradient of <dz, z> with dz = onehot(k) - onehot(y).
  std::vector<double> toward(static_cast<size_t>(n * classes), 0.0);
  InputGradients out;
  for (int64_t i = 0; i < n; ++i) {
    const double* zi = logits.data() + i * classes;
    const int64_t k = largest_other(zi, classes, y[i]);
    toward[i * classes + k] = 1;
    toward[i * classes + y[i]] = -1;
    out.share.push_back(eq6_weights(zi, classes, y[i], 1.0).top_share());
  }
  const Tensor dz = Tensor::from_vector(toward, {n, classes}).to(z.dtype()).to(z.device());
  const Tensor g = grad({sum(cross_entropy_per_sample(z, labels))}, {input})[0];
  const Tensor u = grad({z}, {input}, {dz})[0];

  // Reduced on the host in float64: squares of small float32 gradients would underflow.
  const std::vector<double> gh = g.to(DType::f64).cpu().to_vector<double>(), uh = u.to(DType::f64).cpu().to_vector<double>();
  const int64_t m = x.numel() / std::max<int64_t>(n, 1);
  for (int64_t i = 0; i < n; ++i) {
    const double* gi = gh.data() + i * m;
    const double* ui = uh.data() + i * m;
    const double gg = dot(gi, gi, m), uu = dot(ui, ui, m);
    out.norm.push_back(std::sqrt(gg));
    out.cosine.push_back(gg > 0 && uu > 0 ? dot(gi, ui, m) / std::sqrt(gg * uu) : kNaN);
  }
  return out;
}

}  // namespace tg::analysis
