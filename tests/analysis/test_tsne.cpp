// t-SNE and the separation statistics (experiments/analysis/tsne.h): clusters stay apart in the
// embedding, KL(P || Q) falls, perplexities are calibrated, the exact gradient is KL's derivative and
// Barnes-Hut approximates it, a seed fixes the output; k-NN accuracy and silhouette on sets small
// enough to work out by hand. And Figs. 2 and 3's files (experiments/runner/fig23.h) from features.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <sstream>

#include "experiments/analysis/tsne.h"
#include "experiments/runner/fig23.h"
#include "experiments/runner/results.h"
#include "support/errors.h"
#include "support/scratch.h"

using namespace tg::analysis;

namespace {

struct Blobs {
  std::vector<double> x;
  std::vector<int64_t> labels;
  int64_t n = 0, d = 0;
};

// `classes` Gaussian clusters of `per_class` points in d dimensions: unit noise around centres drawn
// N(0, spread^2) per coordinate.
Blobs blobs(int64_t classes, int64_t per_class, int64_t d, double spread, uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::normal_distribution<double> normal;
  Blobs b;
  b.n = classes * per_class;
  b.d = d;
  std::vector<double> centres(classes * d);
  for (double& c : centres) c = spread * normal(engine);
  for (int64_t c = 0; c < classes; ++c)
    for (int64_t i = 0; i < per_class; ++i) {
      for (int64_t k = 0; k < d; ++k) b.x.push_back(centres[c * d + k] + normal(engine));
      b.labels.push_back(c);
    }
  return b;
}

std::vector<double> normal_values(int64_t count, double sd, uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::normal_distribution<double> normal(0, sd);
  std::vector<double> out(count);
  for (double& v : out) v = normal(engine);
  return out;
}

double relative_error(const std::vector<double>& a, const std::vector<double>& b) {
  double diff = 0, norm = 0;
  for (size_t k = 0; k < a.size(); ++k) diff += (a[k] - b[k]) * (a[k] - b[k]), norm += b[k] * b[k];
  return std::sqrt(diff / norm);
}

}  // namespace

TEST_CASE("tsne: well-separated clusters in 30 dimensions stay separated, and KL falls") {
  const Blobs b = blobs(5, 60, 30, 4.0, 1);
  // In 30-D the clusters are far apart (centres ~ 4 sqrt(60) apart, radius ~ sqrt(30)); at the random
  // start they are mixed.
  REQUIRE(knn_accuracy(b.x, b.n, b.d, b.labels) == 1.0);
  for (double theta : {0.5, 0.0}) {
    CAPTURE(theta);
    TsneOptions o;
    o.theta = theta;
    o.iterations = 500;
    const TsneResult r = tsne(b.x, b.n, b.d, o);
    REQUIRE(r.y.size() == size_t(b.n * 2));
    CHECK(knn_accuracy(r.y, b.n, 2, b.labels) >= 0.95);
    CHECK(silhouette(r.y, b.n, 2, b.labels) > 0.5);
    // KL after iterations 50, 100, ..., 500; the exaggeration ends at 250 (index 4).
    REQUIRE(r.kl.size() == 10);
    CHECK(r.kl.back() < r.kl[4]);
    CHECK(r.kl.back() < r.kl[5]);
    CHECK(r.kl.back() < r.kl[0]);
  }
}

TEST_CASE("tsne: the random start alone does not separate the clusters (the test above can fail)") {
  const Blobs b = blobs(5, 60, 30, 4.0, 1);
  TsneOptions o;
  o.iterations = 0;
  const TsneResult r = tsne(b.x, b.n, b.d, o);
  CHECK(r.kl.empty());
  CHECK(knn_accuracy(r.y, b.n, 2, b.labels) < 0.5);
}

TEST_CASE("tsne: calibrated rows have the target perplexity, and P is symmetric and sums to 1") {
  const Blobs b = blobs(3, 40, 20, 3.0, 2);
  for (auto [perplexity, neighbors] : {std::pair{5.0, 16}, {30.0, 91}, {30.0, 119}}) {
    CAPTURE(perplexity);
    CAPTURE(neighbors);
    std::vector<double> found;
    const SparseRows c = conditional_affinities(b.x, b.n, b.d, perplexity, neighbors, found);
    REQUIRE(found.size() == size_t(b.n));
    for (int64_t i = 0; i < b.n; ++i) {
      double sum = 0, entropy = 0;
      REQUIRE(c.offsets[i + 1] - c.offsets[i] == neighbors);
      for (int64_t e = c.offsets[i]; e < c.offsets[i + 1]; ++e) {
        CHECK(c.columns[e] != i);
        sum += c.values[e];
        if (c.values[e] > 0) entropy -= c.values[e] * std::log(c.values[e]);
      }
      CHECK(sum == doctest::Approx(1).epsilon(1e-12));
      CHECK(std::abs(entropy - std::log(perplexity)) < 1e-5);
      CHECK(std::abs(std::log(found[i]) - entropy) < 1e-9);
    }
    const SparseRows p = symmetrize(c);
    double total = 0;
    for (int64_t i = 0; i < b.n; ++i)
      for (int64_t e = p.offsets[i]; e < p.offsets[i + 1]; ++e) {
        total += p.values[e];
        const int64_t j = p.columns[e];
        const auto begin = p.columns.begin() + p.offsets[j], end = p.columns.begin() + p.offsets[j + 1];
        const auto at = std::lower_bound(begin, end, i);
        REQUIRE(at != end);
        REQUIRE(*at == i);
        CHECK(p.values[at - p.columns.begin()] == p.values[e]);
      }
    CHECK(total == doctest::Approx(1).epsilon(1e-12));
  }
  // tsne() reports the same calibration.
  TsneOptions o;
  o.perplexity = 10;
  o.iterations = 0;
  for (double found : tsne(b.x, b.n, b.d, o).perplexity_found) CHECK(std::abs(std::log(found) - std::log(10.0)) < 1e-5);
}

TEST_CASE("tsne: the exact gradient is KL's derivative; Barnes-Hut approximates it, exactly as theta -> 0") {
  const Blobs b = blobs(3, 20, 10, 3.0, 3);
  std::vector<double> found;
  const SparseRows p = symmetrize(conditional_affinities(b.x, b.n, b.d, 8, b.n - 1, found));
  for (int64_t dims : {2, 3}) {
    CAPTURE(dims);
    std::vector<double> y = normal_values(b.n * dims, 3.0, 4 + dims);
    for (int64_t k = 0; k < dims; ++k) y[dims + k] = y[k];  // points 0 and 1 coincide
    const std::vector<double> exact = kl_gradient(p, y, b.n, dims, 0);

    std::vector<double> numeric(y.size());
    const double h = 1e-6;
    for (size_t k = 0; k < y.size(); ++k) {
      std::vector<double> plus = y, minus = y;
      plus[k] += h;
      minus[k] -= h;
      numeric[k] = (kl_divergence(p, plus, b.n, dims) - kl_divergence(p, minus, b.n, dims)) / (2 * h);
    }
    CHECK(relative_error(exact, numeric) < 1e-6);

    CHECK(relative_error(kl_gradient(p, y, b.n, dims, 1e-9), exact) < 1e-12);
    const double bh = relative_error(kl_gradient(p, y, b.n, dims, 0.5), exact);
    CHECK(bh > 0);  // cells did stand in for their points
    CHECK(bh < 0.05);
  }
}

TEST_CASE("tsne: the same seed gives the same embedding with any thread count, another seed another") {
  const Blobs b = blobs(3, 30, 20, 3.0, 5);
  TsneOptions o;
  o.iterations = 100;
  o.seed = 7;
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const TsneResult first = tsne(b.x, b.n, b.d, o);
  omp_set_num_threads(3);
  const TsneResult second = tsne(b.x, b.n, b.d, o);
  omp_set_num_threads(saved);
  CHECK(first.y == second.y);
  CHECK(first.kl == second.kl);
  o.seed = 8;
  CHECK(tsne(b.x, b.n, b.d, o).y != first.y);
}

TEST_CASE("knn_accuracy: leave-one-out votes on a line") {
  // Class 0 at 0, 1, 2 and an outlier at 9; class 1 at 10, 11, 12.
  const std::vector<double> x = {0, 1, 2, 9, 10, 11, 12};
  const std::vector<int64_t> labels = {0, 0, 0, 0, 1, 1, 1};
  // k = 3: only the outlier (neighbours 10, 11, 12) is wrong; 10's neighbours 9, 11, 12 vote 1.
  CHECK(knn_accuracy(x, 7, 1, labels, 3) == doctest::Approx(6.0 / 7));
  // k = 1: 9 and 10 are each other's nearest, both wrong.
  CHECK(knn_accuracy(x, 7, 1, labels, 1) == doctest::Approx(5.0 / 7));
  // A tied vote goes to the nearer label: 1's neighbours are 0 (label 0, at 1) and 3 (label 2, at 2).
  CHECK(knn_accuracy({0, 1, 3}, 3, 1, {0, 0, 2}, 2) == doctest::Approx(2.0 / 3));
  CHECK(knn_accuracy({0, 1, 3}, 3, 1, {0, 2, 2}, 2) == doctest::Approx(1.0 / 3));
}

TEST_CASE("silhouette: by hand on a line and in the plane") {
  // Class 0 at 0, 1; class 1 at 4, 5. s(0) = (4.5 - 1) / 4.5, s(1) = (3.5 - 1) / 3.5, and the mirror.
  const double two = (3.5 / 4.5 + 2.5 / 3.5) / 2;
  CHECK(silhouette({0, 1, 4, 5}, 4, 1, {0, 0, 1, 1}) == doctest::Approx(two));
  // A third class alone at 100 scores 0 and is nobody's nearest class.
  CHECK(silhouette({0, 1, 4, 5, 100}, 5, 1, {0, 0, 1, 1, 2}) == doctest::Approx(4 * two / 5));
  // Euclidean, not squared: (0, 0) and (3, 4) in class 0, (0, 10) in class 1.
  // s(0,0) = (10 - 5) / 10; s(3,4) = (sqrt(9 + 36) - 5) / sqrt(45); s(0,10) = 0 (alone).
  const double s = (0.5 + (std::sqrt(45.0) - 5) / std::sqrt(45.0)) / 3;
  CHECK(silhouette({0, 0, 3, 4, 0, 10}, 3, 2, {0, 0, 1}) == doctest::Approx(s));
  // Labels need not be 0..K-1, and swapping them changes nothing.
  CHECK(silhouette({0, 1, 4, 5}, 4, 1, {7, 7, -3, -3}) == doctest::Approx(two));
}

TEST_CASE("tsne, knn_accuracy, silhouette: bad input is an error that says what to change") {
  using tg::testing::error_of;
  const Blobs b = blobs(2, 10, 5, 3.0, 6);
  TsneOptions o;
  o.perplexity = 19;
  CHECK(error_of([&] { tsne(b.x, b.n, b.d, o); }).find("perplexity 19 needs 0 < perplexity < n - 1 = 19") != std::string::npos);
  o.perplexity = 5;
  o.dims = 4;
  CHECK(error_of([&] { tsne(b.x, b.n, b.d, o); }).find("use theta = 0") != std::string::npos);
  std::vector<double> x = b.x;
  x[2 * 5 + 3] = NAN;
  CHECK(error_of([&] { tsne(x, b.n, b.d); }).find("x[2, 3] = nan is not finite") != std::string::npos);
  CHECK(error_of([&] { tsne(b.x, b.n, 4); }).find("expected n * d = 20 * 4") != std::string::npos);
  CHECK(error_of([&] { knn_accuracy(b.x, b.n, b.d, b.labels, 20); }).find("1 <= k <= n - 1 = 19") != std::string::npos);
  CHECK(error_of([&] { knn_accuracy(b.x, b.n, b.d, {0, 1}); }).find("2 labels for 20 points") != std::string::npos);
  CHECK(error_of([&] { silhouette(b.x, b.n, b.d, std::vector<int64_t>(20, 3)); }).find("two classes or more") !=
        std::string::npos);
}

TEST_CASE("fig2/fig3: panels from features, the figure, its points and the separation table") {
  using namespace tg::runner;
  // Two "runs" of the same 90 images: clustered features (a well-trained model) and noise.
  const Blobs clustered = blobs(3, 30, 16, 4.0, 7);
  const std::vector<double> noise = normal_values(clustered.n * 16, 1.0, 8);
  tg::analysis::TsneOptions o;
  o.iterations = 300;
  o.perplexity = 10;
  TsnePanel diverged;
  diverged.tau = 0.1;
  diverged.status = "diverged";
  const std::vector<TsnePanel> panels = {diverged, tsne_panel(1, clustered.x, 16, clustered.labels, o),
                                         tsne_panel(50, noise, 16, clustered.labels, o)};
  CHECK(panels[1].knn_accuracy == tg::analysis::knn_accuracy(clustered.x, clustered.n, 16, clustered.labels, 5));
  CHECK(panels[1].silhouette == tg::analysis::silhouette(clustered.x, clustered.n, 16, clustered.labels));
  CHECK(panels[1].knn_accuracy > 0.95);
  CHECK(panels[2].knn_accuracy < 0.6);
  CHECK(panels[1].y.size() == size_t(2 * clustered.n));

  const auto dir = tg::test::scratch_path("taugrad_test_fig23");
  std::filesystem::remove_all(dir);
  const std::string table = write_tsne_figure(dir.string(), "fig2", "Fig. 2", panels, clustered.labels, {"a", "b", "c"});
  CHECK(table.find("diverged") != std::string::npos);
  for (const char* file : {"fig2.png", "fig2.svg", "fig2.csv", "fig2_separation.csv"})
    CHECK(std::filesystem::file_size(dir / file) > 100);
  // One legend, in the first panel with points (the first run diverged).
  const std::string svg = read_file((dir / "fig2.svg").string());
  const size_t legend = svg.find(">b</text>");
  CHECK(legend != std::string::npos);
  CHECK(svg.find(">b</text>", legend + 1) == std::string::npos);
  std::istringstream points(read_file((dir / "fig2.csv").string()));
  std::string line;
  std::getline(points, line);
  CHECK(line == "tau,sample,class,x,y");
  int64_t rows = 0;
  while (std::getline(points, line)) ++rows;
  CHECK(rows == 2 * clustered.n);  // the diverged run has no points
  std::istringstream separation(read_file((dir / "fig2_separation.csv").string()));
  std::getline(separation, line);
  CHECK(line == "tau,status,samples,dim,knn_accuracy,silhouette,tsne_kl,tsne_seconds");
  std::getline(separation, line);
  CHECK(line.rfind("0.1,diverged,0,0,nan,", 0) == 0);
  std::getline(separation, line);
  CHECK(line.rfind("1,finished,90,16," + fixed(panels[1].knn_accuracy, 4) + ",", 0) == 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("fig3: the context's config, runs folder and taus are table2's (the ViT), fig2's table1's") {
  using namespace tg::runner;
  CHECK(fig2_spec().sweep == "table1");
  REQUIRE(fig3_spec().sweep == "table2");
  for (const std::string profile : {"quick", "paper"}) {
    CAPTURE(profile);
    FigureOptions o;
    o.profile = profile;
    const FigureContext c("fig3", o, TrainConfig{}, GivenFlags{}, fig3_spec().sweep);
    SweepOptions sweep;
    TrainConfig t;
    table2_profile(profile == "quick", GivenFlags{}, sweep, t);
    CHECK(config_json(c.train_config()).dump(0) == config_json(t).dump(0));
    CHECK(c.train_config().out_dir == sweep_dir("table2", t));
    CHECK(c.taus() == sweep.taus);
    CHECK(t.optimizer == "adam");
    CHECK(t.model == (profile == "quick" ? "vit_tiny_patch4_32" : "vit_small_patch16_224"));
  }
  CHECK(tg::testing::error_of([] { FigureContext("fig3", FigureOptions{}, TrainConfig{}, GivenFlags{}, "table9"); })
            .find("no profile for sweep 'table9'") != std::string::npos);
}
