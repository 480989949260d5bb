// t-SNE with Barnes-Hut repulsion, k-NN accuracy and silhouette; the math is in tsne.h.
#include "experiments/analysis/tsne.h"

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numbers>
#include <numeric>
#include <random>

#include "util/error.h"

namespace tg::analysis {
namespace {

using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

void check_points(const char* fn, const std::vector<double>& x, int64_t n, int64_t d) {
  TG_CHECK(n >= 2 && d >= 1, fn, ": needs n >= 2 points of d >= 1 dimensions, got n = ", n, ", d = ", d);
  TG_CHECK(int64_t(x.size()) == n * d, fn, ": x has ", x.size(), " values, expected n * d = ", n, " * ", d,
           " (one row of d values a point, row-major)");
  for (size_t k = 0; k < x.size(); ++k)
    TG_CHECK(std::isfinite(x[k]), fn, ": x[", k / d, ", ", k % d, "] = ", x[k],
             " is not finite; drop or fix that point (a diverged model's features?)");
}

void check_labels(const char* fn, const std::vector<int64_t>& labels, int64_t n) {
  TG_CHECK(int64_t(labels.size()) == n, fn, ": ", labels.size(), " labels for ", n, " points; pass one label a point");
}

// Calls f(i, dist) for i = 0 .. n-1 in order, dist[j] = |x_i - x_j|^2 for all j (dist[i] = 0). The
// distances come from the Gram matrix a block of rows at a time (|a|^2 + |b|^2 - 2 a.b, clamped at 0),
// so memory stays O(n) rows while the products run as matrix products.
template <class F>
void for_each_distance_row(const std::vector<double>& x, int64_t n, int64_t d, F&& f) {
  const Eigen::Map<const Matrix> points(x.data(), n, d);
  const Eigen::VectorXd norms = points.rowwise().squaredNorm();
  constexpr int64_t block = 256;
  for (int64_t begin = 0; begin < n; begin += block) {
    const int64_t rows = std::min(block, n - begin);
    Matrix dist = -2.0 * points.middleRows(begin, rows) * points.transpose();
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = begin + r;
      double* row = dist.row(r).data();
      for (int64_t j = 0; j < n; ++j) row[j] = std::max(0.0, row[j] + norms[i] + norms[j]);
      row[i] = 0;
      f(i, static_cast<const double*>(row));
    }
  }
}

// The k points nearest to i other than i, nearest first (equal distances: lower index first).
void nearest(const double* dist, int64_t n, int64_t i, int64_t k, std::vector<int64_t>& out) {
  out.clear();
  for (int64_t j = 0; j < n; ++j)
    if (j != i) out.push_back(j);
  std::partial_sort(out.begin(), out.begin() + k, out.end(),
                    [&](int64_t a, int64_t b) { return dist[a] < dist[b] || (dist[a] == dist[b] && a < b); });
  out.resize(k);
}

// Step 1 for one point: p_j ~ exp(-beta dist_j) with beta found by bisection (doubling while no upper
// bound is known) until the entropy H(p) (nats) is within 1e-5 of log(perplexity). Shifting the
// distances by their minimum leaves p unchanged and keeps exp() from underflowing on far-apart
// features. Writes p (summing to 1) and returns H(p).
double calibrate(const std::vector<double>& dist, double perplexity, double* p) {
  const double target = std::log(perplexity), tolerance = 1e-5;
  const double shift = *std::min_element(dist.begin(), dist.end());
  double beta = 1, low = 0, high = std::numeric_limits<double>::infinity(), entropy = 0, sum = 0;
  for (int step = 0; step < 200; ++step) {
    sum = 0;
    double weighted = 0;
    for (size_t j = 0; j < dist.size(); ++j) {
      p[j] = std::exp(-beta * (dist[j] - shift));
      sum += p[j];
      weighted += (dist[j] - shift) * p[j];
    }
    entropy = std::log(sum) + beta * weighted / sum;  // H = -sum p log p with p = e / sum
    if (std::abs(entropy - target) < tolerance) break;
    if (entropy > target) {  // too flat: sharpen
      low = beta;
      beta = std::isinf(high) ? 2 * beta : (beta + high) / 2;
    } else {
      high = beta;
      beta = (beta + low) / 2;
    }
  }
  for (size_t j = 0; j < dist.size(); ++j) p[j] /= sum;
  return entropy;
}

double squared_distance(const double* a, const double* b, int64_t dims) {
  double sum = 0;
  for (int64_t k = 0; k < dims; ++k) sum += (a[k] - b[k]) * (a[k] - b[k]);
  return sum;
}

// Adds count w^2 (a - b) into force and returns count w, w = 1 / (1 + |a - b|^2): the repulsion of
// `count` points at b on a (step 3).
double add_repulsion(const double* a, const double* b, int64_t dims, double count, double* force) {
  const double w = 1 / (1 + squared_distance(a, b, dims));
  for (int64_t k = 0; k < dims; ++k) force[k] += count * w * w * (a[k] - b[k]);
  return count * w;
}

// A 2^dims-ary space-partitioning tree over the rows of y (a quadtree for dims = 2): every cell keeps
// its points' count and centre of mass; a leaf keeps its points themselves, chained through `next_`
// (more than one only where points coincide or the tree is kMaxDepth deep). Cells are cubes.
class SpaceTree {
 public:
  SpaceTree(const std::vector<double>& y, int64_t n, int64_t dims) : y_(y), dims_(dims), next_(n, -1) {
    Cell root;
    double extent = 0;
    for (int64_t k = 0; k < dims; ++k) {
      double lo = y[k], hi = y[k];
      for (int64_t i = 1; i < n; ++i) lo = std::min(lo, y[i * dims + k]), hi = std::max(hi, y[i * dims + k]);
      root.centre[k] = (lo + hi) / 2;
      extent = std::max(extent, hi - lo);
    }
    root.half = extent / 2;
    cells_.push_back(root);
    for (int64_t i = 0; i < n; ++i) insert(i);
  }

  // Adds into force the repulsion sum_j w_ij^2 (y_i - y_j) over j != i and returns sum_j w_ij, where a
  // cell whose side / (distance from y_i to its centre of mass) < theta stands for its points.
  double repulsion(int64_t i, double theta, double* force) const { return visit(0, i, theta * theta, force); }

 private:
  static constexpr int kMaxDepth = 64;
  struct Cell {
    std::array<double, 3> centre{}, mass_centre{};
    double half = 0;        // half the side
    int64_t count = 0;      // points inside
    int64_t children = -1;  // index of the first of 2^dims children; -1 for a leaf
    int64_t first = -1;     // a leaf's first point, the rest chained through next_
  };

  const double* point(int64_t i) const { return y_.data() + i * dims_; }

  int64_t child_of(const Cell& cell, const double* p) const {
    int64_t orthant = 0;
    for (int64_t k = 0; k < dims_; ++k) orthant |= int64_t(p[k] > cell.centre[k]) << k;
    return cell.children + orthant;
  }

  // Counts i into the cell and its centre of mass.
  void add_mass(Cell& cell, int64_t i) {
    cell.count += 1;
    for (int64_t k = 0; k < dims_; ++k) cell.mass_centre[k] += (point(i)[k] - cell.mass_centre[k]) / double(cell.count);
  }

  // Chains i into a leaf.
  void add_to_leaf(int64_t c, int64_t i) {
    add_mass(cells_[c], i);
    next_[i] = cells_[c].first;
    cells_[c].first = i;
  }

  void insert(int64_t i) {
    int64_t c = 0;
    for (int depth = 0;; ++depth) {
      if (cells_[c].children < 0) {
        const int64_t j = cells_[c].first;
        if (j < 0 || depth >= kMaxDepth || std::equal(point(i), point(i) + dims_, point(j))) return add_to_leaf(c, i);
        split(c);
      }
      add_mass(cells_[c], i);
      c = child_of(cells_[c], point(i));
    }
  }

  // Makes leaf c an inner cell, its points moved into its children.
  void split(int64_t c) {
    const int64_t children = int64_t(cells_.size());
    for (int64_t o = 0; o < (int64_t(1) << dims_); ++o) {
      Cell child;
      child.half = cells_[c].half / 2;
      for (int64_t k = 0; k < dims_; ++k)
        child.centre[k] = cells_[c].centre[k] + ((o >> k) & 1 ? child.half : -child.half);
      cells_.push_back(child);
    }
    cells_[c].children = children;
    for (int64_t j = cells_[c].first, next; j >= 0; j = next) {
      next = next_[j];
      add_to_leaf(child_of(cells_[c], point(j)), j);
    }
    cells_[c].first = -1;
  }

  double visit(int64_t c, int64_t i, double theta_sq, double* force) const {
    const Cell& cell = cells_[c];
    if (cell.count == 0) return 0;
    double z = 0;
    if (cell.children < 0) {  // a leaf: its points one by one
      for (int64_t j = cell.first; j >= 0; j = next_[j])
        if (j != i) z += add_repulsion(point(i), point(j), dims_, 1, force);
      return z;
    }
    const double side = 2 * cell.half;
    if (side * side < theta_sq * squared_distance(point(i), cell.mass_centre.data(), dims_)) return add_repulsion(point(i), cell.mass_centre.data(), dims_, double(cell.count), force);
    for (int64_t o = 0; o < (int64_t(1) << dims_); ++o) z += visit(cell.children + o, i, theta_sq, force);
    return z;
  }

  const std::vector<double>& y_;
  int64_t dims_;
  std::vector<Cell> cells_;
  std::vector<int64_t> next_;
};

// grad = 4 (exaggeration sum_j p_ij w_ij (y_i - y_j) - sum_j w_ij^2 (y_i - y_j) / Z) (step 3). Each
// point's sums are its own; Z is summed in point order afterwards, so any thread count gives the same bits.
void gradient(const SparseRows& p, const std::vector<double>& y, int64_t n, int64_t dims, double theta,
              double exaggeration, std::vector<double>& grad) {
  std::vector<double> repulsion(n * dims, 0.0), z(n, 0.0);
  if (theta > 0) {
    const SpaceTree tree(y, n, dims);
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t i = 0; i < n; ++i) z[i] = tree.repulsion(i, theta, &repulsion[i * dims]);
  } else {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j)
        if (j != i) z[i] += add_repulsion(&y[i * dims], &y[j * dims], dims, 1, &repulsion[i * dims]);
  }
  const double z_sum = std::accumulate(z.begin(), z.end(), 0.0);
  grad.assign(n * dims, 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    double* g = &grad[i * dims];
    for (int64_t e = p.offsets[i]; e < p.offsets[i + 1]; ++e) {
      const double* a = &y[i * dims];
      const double* b = &y[p.columns[e] * dims];
      const double pw = exaggeration * p.values[e] / (1 + squared_distance(a, b, dims));
      for (int64_t k = 0; k < dims; ++k) g[k] += pw * (a[k] - b[k]);
    }
    for (int64_t k = 0; k < dims; ++k) g[k] = 4 * (g[k] - repulsion[i * dims + k] / z_sum);
  }
}

// N(0, sd^2) values from mt19937_64 by Box-Muller: the standard fixes mt19937_64's output, not
// normal_distribution's, so this start is the same with every standard library.
std::vector<double> gaussian(int64_t count, uint64_t seed, double sd) {
  std::mt19937_64 engine(seed);
  auto uniform = [&] { return double((engine() >> 11) + 1) * 0x1p-53; };  // (0, 1]
  std::vector<double> out(count);
  for (double& v : out) v = sd * std::sqrt(-2 * std::log(uniform())) * std::cos(2 * std::numbers::pi * uniform());
  return out;
}

}  // namespace

SparseRows conditional_affinities(const std::vector<double>& x, int64_t n, int64_t d, double perplexity,
                                  int64_t neighbors, std::vector<double>& perplexity_found) {
  check_points("tsne", x, n, d);
  TG_CHECK(neighbors >= 1 && neighbors <= n - 1, "tsne: ", neighbors, " neighbours for ", n, " points; need 1 .. n - 1");
  TG_CHECK(perplexity > 0 && perplexity < double(neighbors), "tsne: perplexity ", perplexity,
           " must lie in (0, ", neighbors, "), the neighbours each point has; lower --perplexity or use more points");
  SparseRows rows;
  rows.offsets.resize(n + 1);
  rows.columns.resize(n * neighbors);
  rows.values.resize(n * neighbors);
  perplexity_found.assign(n, 0.0);
  std::vector<int64_t> order;
  std::vector<double> dist(neighbors);
  for_each_distance_row(x, n, d, [&](int64_t i, const double* row) {
    nearest(row, n, i, neighbors, order);
    for (int64_t k = 0; k < neighbors; ++k) dist[k] = row[order[k]];
    std::copy(order.begin(), order.end(), rows.columns.begin() + i * neighbors);
    perplexity_found[i] = std::exp(calibrate(dist, perplexity, &rows.values[i * neighbors]));
    rows.offsets[i + 1] = (i + 1) * neighbors;
  });
  return rows;
}

SparseRows symmetrize(const SparseRows& conditional) {
  const int64_t n = int64_t(conditional.offsets.size()) - 1;
  struct Entry {
    int64_t row, column;
    double value;
  };
  std::vector<Entry> entries;  // p_{j|i} at (i, j) and at (j, i)
  entries.reserve(2 * conditional.values.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t e = conditional.offsets[i]; e < conditional.offsets[i + 1]; ++e) {
      entries.push_back({i, conditional.columns[e], conditional.values[e]});
      entries.push_back({conditional.columns[e], i, conditional.values[e]});
    }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.row < b.row || (a.row == b.row && a.column < b.column); });
  SparseRows p;
  p.offsets.assign(n + 1, 0);
  for (size_t e = 0; e < entries.size();) {  // one entry per (row, column): at most two values summed
    double sum = 0;
    size_t f = e;
    for (; f < entries.size() && entries[f].row == entries[e].row && entries[f].column == entries[e].column; ++f)
      sum += entries[f].value;
    p.columns.push_back(entries[e].column);
    p.values.push_back(sum / (2.0 * double(n)));
    p.offsets[entries[e].row + 1] += 1;
    e = f;
  }
  std::partial_sum(p.offsets.begin(), p.offsets.end(), p.offsets.begin());
  return p;
}

std::vector<double> kl_gradient(const SparseRows& p, const std::vector<double>& y, int64_t n, int64_t dims, double theta) {
  std::vector<double> grad;
  gradient(p, y, n, dims, theta, 1, grad);
  return grad;
}

double kl_divergence(const SparseRows& p, const std::vector<double>& y, int64_t n, int64_t dims) {
  std::vector<double> z(n, 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      if (j != i) z[i] += 1 / (1 + squared_distance(&y[i * dims], &y[j * dims], dims));
  const double log_z = std::log(std::accumulate(z.begin(), z.end(), 0.0));
  double kl = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t e = p.offsets[i]; e < p.offsets[i + 1]; ++e) {
      if (p.values[e] <= 0) continue;
      const double dist_sq = squared_distance(&y[i * dims], &y[p.columns[e] * dims], dims);
      kl += p.values[e] * (std::log(p.values[e]) + std::log1p(dist_sq) + log_z);  // log(p / q), q = w / Z
    }
  return kl;
}

TsneResult tsne(const std::vector<double>& x, int64_t n, int64_t d, const TsneOptions& o) {
  check_points("tsne", x, n, d);
  TG_CHECK(o.dims >= 1, "tsne: dims = ", o.dims, "; the embedding needs 1 dimension or more");
  TG_CHECK(o.theta >= 0, "tsne: theta = ", o.theta, " must be >= 0 (0 = exact, 0.5 = the usual Barnes-Hut)");
  TG_CHECK(o.theta == 0 || o.dims <= 3, "tsne: Barnes-Hut (theta = ", o.theta, ") needs dims <= 3, got ", o.dims,
           "; use theta = 0 (exact) for more dimensions");
  TG_CHECK(o.perplexity > 0 && o.perplexity < double(n - 1), "tsne: perplexity ", o.perplexity, " needs 0 < perplexity < n - 1 = ",
           n - 1, "; embed more points or lower the perplexity");
  TG_CHECK(o.iterations >= 0 && o.exaggeration_iterations >= 0 && o.early_exaggeration > 0 && o.learning_rate >= 0,
           "tsne: iterations (", o.iterations, "), exaggeration_iterations (", o.exaggeration_iterations,
           ") and learning_rate (", o.learning_rate, ") must be >= 0, early_exaggeration (", o.early_exaggeration, ") > 0");
  TsneResult result;
  const int64_t neighbors = o.theta == 0 ? n - 1 : std::min<int64_t>(n - 1, int64_t(3 * o.perplexity) + 1);
  const SparseRows p = symmetrize(conditional_affinities(x, n, d, o.perplexity, neighbors, result.perplexity_found));
  const double rate = o.learning_rate > 0 ? o.learning_rate : std::max(double(n) / o.early_exaggeration / 4, 50.0);

  std::vector<double>& y = result.y;
  y = gaussian(n * o.dims, o.seed, 1e-4);
  std::vector<double> grad, update(y.size(), 0.0), gains(y.size(), 1.0);
  for (int64_t t = 0; t < o.iterations; ++t) {
    const bool exaggerating = t < o.exaggeration_iterations;
    gradient(p, y, n, o.dims, o.theta, exaggerating ? o.early_exaggeration : 1, grad);
    const double momentum = exaggerating ? 0.5 : 0.8;
    for (size_t k = 0; k < y.size(); ++k) {  // delta-bar-delta: grow a gain while the gradient keeps its sign
      gains[k] = std::max(update[k] * grad[k] < 0 ? gains[k] + 0.2 : gains[k] * 0.8, 0.01);
      update[k] = momentum * update[k] - rate * gains[k] * grad[k];
      y[k] += update[k];
    }
    for (int64_t k = 0; k < o.dims; ++k) {  // re-centre
      double mean = 0;
      for (int64_t i = 0; i < n; ++i) mean += y[i * o.dims + k];
      mean /= double(n);
      for (int64_t i = 0; i < n; ++i) y[i * o.dims + k] -= mean;
    }
    if ((t + 1) % 50 == 0) result.kl.push_back(kl_divergence(p, y, n, o.dims));
  }
  return result;
}

double knn_accuracy(const std::vector<double>& x, int64_t n, int64_t d, const std::vector<int64_t>& labels, int64_t k) {
  check_points("knn_accuracy", x, n, d);
  check_labels("knn_accuracy", labels, n);
  TG_CHECK(k >= 1 && k <= n - 1, "knn_accuracy: k = ", k, " needs 1 <= k <= n - 1 = ", n - 1);
  int64_t correct = 0;
  std::vector<int64_t> order;
  for_each_distance_row(x, n, d, [&](int64_t i, const double* dist) {
    nearest(dist, n, i, k, order);
    // The most frequent label; among equals, the one met first (nearest).
    int64_t best = -1, best_votes = 0;
    for (int64_t a = 0; a < k; ++a) {
      const int64_t label = labels[order[a]];
      int64_t votes = 0;
      for (int64_t b = 0; b < k; ++b) votes += labels[order[b]] == label;
      if (votes > best_votes) best = label, best_votes = votes;
    }
    correct += best == labels[i];
  });
  return double(correct) / double(n);
}

double silhouette(const std::vector<double>& x, int64_t n, int64_t d, const std::vector<int64_t>& labels) {
  check_points("silhouette", x, n, d);
  check_labels("silhouette", labels, n);
  std::vector<int64_t> classes = labels;
  std::sort(classes.begin(), classes.end());
  classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
  TG_CHECK(classes.size() >= 2, "silhouette: every point has label ", labels[0], "; it needs two classes or more");
  std::vector<int64_t> cls(n), size(classes.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    cls[i] = std::lower_bound(classes.begin(), classes.end(), labels[i]) - classes.begin();
    size[cls[i]] += 1;
  }
  double total = 0;
  std::vector<double> sum(classes.size());
  for_each_distance_row(x, n, d, [&](int64_t i, const double* dist) {
    std::fill(sum.begin(), sum.end(), 0.0);
    for (int64_t j = 0; j < n; ++j) sum[cls[j]] += std::sqrt(dist[j]);
    if (size[cls[i]] == 1) return;  // s_i = 0
    const double a = sum[cls[i]] / double(size[cls[i]] - 1);
    double b = std::numeric_limits<double>::infinity();
    for (size_t c = 0; c < classes.size(); ++c)
      if (int64_t(c) != cls[i]) b = std::min(b, sum[c] / double(size[c]));
    if (std::max(a, b) > 0) total += (b - a) / std::max(a, b);
  });
  return total / double(n);
}

}  // namespace tg::analysis
