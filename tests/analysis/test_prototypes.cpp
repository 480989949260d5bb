// The class-prototype analysis of the paper's Figs. 1, 5, 6, 7 and Eq. 10
// (experiments/analysis/prototypes.h) on constructed features, logits and weights whose answers are
// known; the models' Classifier interface (f(x) and the prototypes W); and the figure plumbing
// (experiments/runner/figures.h): a figure reuses the run table1 trained with the same flags.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "autograd/ops.h"
#include "experiments/analysis/prototypes.h"
#include "experiments/runner/figures.h"
#include "experiments/runner/prototype_figures.h"
#include "nn/models/factory.h"
#include "tensor/ops.h"
#include "tensor/random.h"
#include "support/scratch.h"
#include "support/fashion_mnist.h"

using namespace tg;
using namespace tg::analysis;
using namespace tg::runner;

namespace {

std::vector<float> host(const Tensor& t) { return t.to(DType::f32).cpu().to_vector<float>(); }

// z = W f + b computed here from the classifier's parameters, against the model's forward.
void check_forward_is_linear_in_features(nn::Classifier& model, const Tensor& x) {
  model.eval();
  NoGradGuard no_grad;
  const Tensor f = model.features(Variable(x)).data();
  const Tensor z = model.forward(Variable(x)).data();
  nn::Linear& head = model.classifier();
  REQUIRE(f.dim() == 2);
  CHECK(f.size(0) == x.size(0));
  CHECK(f.size(1) == head.weight.size(1));
  const std::vector<float> fv = host(f), zv = host(z), w = host(head.weight.data()), b = host(head.bias.data());
  const int64_t n = f.size(0), d = f.size(1), c = head.weight.size(0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < c; ++j) {
      double expect = b[j];
      for (int64_t k = 0; k < d; ++k) expect += static_cast<double>(w[j * d + k]) * fv[i * d + k];
      CHECK(zv[i * c + j] == doctest::Approx(expect).epsilon(1e-4));
    }
  }
}

}  // namespace

TEST_CASE("Classifier: ResNet-20 and a ViT give logits = W f(x) + b") {
  manual_seed(3);
  auto resnet = std::dynamic_pointer_cast<nn::Classifier>(nn::create_model("resnet20", 10, 1, 0, "fashion_mnist"));
  REQUIRE(resnet);
  check_forward_is_linear_in_features(*resnet, rand({2, 1, 12, 12}));
  auto vit = std::dynamic_pointer_cast<nn::Classifier>(nn::create_model("vit_tiny_patch4_32", 5, 3, 8));
  REQUIRE(vit);
  check_forward_is_linear_in_features(*vit, rand({2, 3, 8, 8}));
}

namespace {

template <typename Main, typename Spec>
int run_main(Main main, const Spec& spec, std::vector<std::string> args) {
  args.insert(args.begin(), spec.name);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return main(spec, static_cast<int>(argv.size()), argv.data());
}

}  // namespace

TEST_CASE("figures: flag errors name the flag and stop before any work") {
  int calls = 0;
  const FigureSpec spec{"fig-test", "a figure for the tests", [&](FigureContext&) { ++calls; }};
  CHECK(run_main(figure_main, spec, {"--tau", "3"}) == 2);
  CHECK(run_main(figure_main, spec, {"--profile", "fast"}) == 2);
  CHECK(run_main(figure_main, spec, {"--taus", "0"}) == 2);
  CHECK(run_main(figure_main, spec, {"--examples", "0"}) == 2);
  CHECK(run_main(figure_main, spec, {"--no-such-flag"}) == 2);
  CHECK(run_main(figure_main, spec, {"--help"}) == 0);
  CHECK(calls == 0);
}

TEST_CASE("figures: the context's training config, runs folder and taus are table1's, profile by profile") {
  for (const std::string profile : {"quick", "paper"}) {
    CAPTURE(profile);
    FigureOptions o;
    o.profile = profile;
    const FigureContext c("fig-test", o, TrainConfig{}, GivenFlags{});
    SweepOptions sweep;
    TrainConfig t;
    table1_profile(profile == "quick", GivenFlags{}, sweep, t);
    CHECK(config_json(c.train_config()).dump(0) == config_json(t).dump(0));
    CHECK(c.train_config().out_dir == sweep_dir("table1", t));
    CHECK(c.taus() == sweep.taus);
  }
}

TEST_CASE("figures: a figure reuses the run table1 trained with the same flags, as a Classifier in eval mode") {
  TG_SKIP_WITHOUT_FASHION_MNIST();
  auto dir = tg::test::scratch_path("taugrad_test_figures");
  std::filesystem::remove_all(dir);
  const std::vector<std::string> train_args = {"--profile", "quick", "--taus", "10", "--device", "cpu",
                                               "--out-dir", (dir / "runs").string(), "--epochs", "1",
                                               "--batch-size", "32", "--train-subset", "64", "--test-subset", "32",
                                               "--workers", "1"};
  SweepBinary table1;  // table1 as experiments/table1.cpp builds it
  table1.name = "table1";
  table1.summary = table1.quick = table1.paper = "table1";
  table1.apply_profile = [](bool quick, const GivenFlags& given, SweepOptions& o, TrainConfig& t, EvalConfig&) {
    table1_profile(quick, given, o, t);
  };
  std::vector<std::string> sweep_args = train_args;
  for (const char* a : {"--attacks", "fgsm", "--attack-subset", "8", "--corrupted", "none"}) sweep_args.push_back(a);
  REQUIRE(run_main(sweep_main, table1, sweep_args) == 0);

  std::vector<TrainedRun> runs;
  const FigureSpec spec{"fig-test", "a figure for the tests", [&](FigureContext& c) {
                          CHECK(c.taus() == std::vector<double>{10});
                          CHECK(c.out_dir() == (dir / "figures" / "fig-test").string());
                          CHECK(c.test().size() == 32);
                          CHECK(c.pixels(0, 4).dtype() == DType::f32);
                          for (double tau : c.taus()) runs.push_back(c.run(tau));
                          c.write_csv("fig-test.csv", {"tau"}, {{"10"}});
                        }};
  std::vector<std::string> figure_args = train_args;
  figure_args.insert(figure_args.end(), {"--out-root", (dir / "figures").string(), "--samples", "0"});
  REQUIRE(run_main(figure_main, spec, figure_args) == 0);
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].reused);
  CHECK(runs[0].status == "finished");
  REQUIRE(runs[0].model);
  CHECK_FALSE(runs[0].model->is_training());
  CHECK(file_exists((dir / "figures" / "fig-test" / "fig-test.csv").string()));

  // Each prototype figure on that run: its picture, and a CSV row per sample (and class, for 5 and 6).
  figure_args.insert(figure_args.end(), {"--attack-samples", "8", "--examples", "2", "--first-example", "5"});
  const std::vector<std::pair<std::string, size_t>> rows_expected = {
      {"fig1", 32}, {"fig5", 2 * 10}, {"fig6", 2 * 10}, {"fig7", 32}, {"eq10", 32}};
  for (const FigureSpec& figure : prototype_figures()) {
    CAPTURE(figure.name);
    REQUIRE(run_main(figure_main, figure, figure_args) == 0);
    const std::string stem = (dir / "figures" / figure.name / figure.name).string();
    CHECK(file_exists(stem + ".png"));
    CHECK(file_exists(stem + ".svg"));
    CHECK(file_exists(stem + "_summary.csv"));
    const std::string csv = read_file(stem + ".csv");
    const size_t lines = static_cast<size_t>(std::count(csv.begin(), csv.end(), '\n'));
    for (const auto& [name, rows] : rows_expected)
      if (name == figure.name) CHECK(lines == rows + 1);
  }
  std::filesystem::remove_all(dir);
}

// ---- the analysis, on constructed numbers ----

TEST_CASE("summarize: quantiles as numpy's linear interpolation, NaN left out") {
  const Summary s = summarize({4, 1, NAN, 3, 2});
  CHECK(s.count == 4);
  CHECK(s.mean == doctest::Approx(2.5));
  CHECK(s.min == 1);
  CHECK(s.max == 4);
  CHECK(s.median == doctest::Approx(2.5));
  CHECK(s.p25 == doctest::Approx(1.75));  // numpy.quantile([1, 2, 3, 4], 0.25)
  CHECK(s.p90 == doctest::Approx(3.7));
  CHECK(std::isnan(summarize({NAN}).median));
}

TEST_CASE("Eq. 6: the positive weight 1 - P_y and the split of the push among the negatives") {
  const double e = std::exp(1.0);
  const double z[] = {2, 1, 0};
  const Eq6Weights w = eq6_weights(z, 3, 0, 1.0);
  CHECK(w.positive == doctest::Approx((e + 1) / (e * e + e + 1)));
  REQUIRE(w.shares.size() == 2);
  CHECK(w.shares[0] == doctest::Approx(e / (e + 1)));
  CHECK(w.shares[1] == doctest::Approx(1 / (e + 1)));
  // The label need not hold the largest logit: y = 2 is pulled with weight 1 - P_2, pushed mostly from 0.
  const Eq6Weights m = eq6_weights(z, 3, 2, 1.0);
  CHECK(m.positive == doctest::Approx((e * e + e) / (e * e + e + 1)));
  CHECK(m.top_share() == doctest::Approx(e / (e + 1)));
  // A low tau gives the hardest negative all the push (Fig. 1a); a high one splits it evenly (Fig. 1b).
  CHECK(eq6_weights(z, 3, 0, 0.01).top_share() == doctest::Approx(1.0));
  CHECK(eq6_weights(z, 3, 0, 1e6).top_share() == doctest::Approx(0.5));
  CHECK(eq6_weights(z, 3, 0, 1e6).positive == doctest::Approx(2.0 / 3));
  // In log space: 1 - P_y underflows to 0 here, the shares are still exact.
  const double saturated[] = {1000, 0, -5};
  const Eq6Weights s = eq6_weights(saturated, 3, 0, 1.0);
  CHECK(s.positive == 0.0);
  CHECK(s.top_share() == doctest::Approx(1 / (1 + std::exp(-5.0))));
  CHECK(s.shares[1] == doctest::Approx(std::exp(-5.0) / (1 + std::exp(-5.0))));
}

TEST_CASE("Eq. 6 over samples: per-rank mean shares sum to 1, per-sample values in order") {
  const std::vector<double> logits = {2, 1, 0, 0, 0, 0};  // the second sample: every negative equal
  const Eq6Distribution d = eq6_distribution(logits, {0, 1}, 3, 1.0);
  const double e = std::exp(1.0);
  REQUIRE(d.positive.size() == 2);
  CHECK(d.positive[1] == doctest::Approx(2.0 / 3));
  CHECK(d.top_share[0] == doctest::Approx(e / (e + 1)));
  CHECK(d.top_share[1] == doctest::Approx(0.5));
  REQUIRE(d.mean_share_by_rank.size() == 2);
  CHECK(d.mean_share_by_rank[0] == doctest::Approx((e / (e + 1) + 0.5) / 2));
  CHECK(d.mean_share_by_rank[0] + d.mean_share_by_rank[1] == doctest::Approx(1.0));
  CHECK_THROWS(eq6_distribution(logits, {0}, 3, 1.0));
}

TEST_CASE("Fig. 5: the true logit's and the error-prone class's changes, absolute and relative to the range") {
  // Sample 0: y = 0 falls 3 -> 1, the error-prone class 1 rises 1 -> 2 (the argmax flips).
  // Sample 1: y = 2 is unchanged, its error-prone class 0 (not the new largest other, 1) falls by 1.
  const std::vector<double> clean = {3, 1, 0, 2, 1, 5}, adversarial = {1, 2, 0, 1, 4, 5};
  const LogitShift s = logit_shift(clean, adversarial, {0, 2}, 3);
  CHECK(s.count == 2);
  CHECK(s.true_change == doctest::Approx((-2 + 0) / 2.0));
  CHECK(s.other_change == doctest::Approx((1 - 1) / 2.0));
  CHECK(s.true_change_rel == doctest::Approx((-2.0 / 3 + 0) / 2));
  CHECK(s.other_change_rel == doctest::Approx((1.0 / 3 - 1.0 / 4) / 2));
  CHECK(s.clean_margin == doctest::Approx((2 + 3) / 2.0));
  CHECK(s.flipped == doctest::Approx(0.5));
}

TEST_CASE("Fig. 6: distance and cosine to every prototype") {
  const double f[] = {1, 0};
  const PrototypeGeometry g = prototype_geometry(f, {1, 0, 0, 1, -2, 0, 0, 0}, 4, 2);
  CHECK(g.distance == std::vector<double>{0, std::sqrt(2.0), 3, 1});
  CHECK(g.cosine[0] == doctest::Approx(1));
  CHECK(g.cosine[1] == doctest::Approx(0));
  CHECK(g.cosine[2] == doctest::Approx(-1));
  CHECK(g.cosine[3] == 0);  // a zero prototype
}

TEST_CASE("Fig. 7: per-sample variance over the negatives, distances mapped to the model's range") {
  // Prototypes w0 = (2, 0), w1 = (0, 1), w2 = (0, -1); both samples are labelled 0.
  // f = (1, 0) is equally far (sqrt 2) from both negatives, with cosine 0 to both: variances 0.
  // f = (0, 1) sits on w1 (distance 0, cosine 1) and is 2 from w2 (cosine -1).
  const std::vector<double> w = {2, 0, 0, 1, 0, -1};
  const std::vector<double> f = {1, 0, 0, 1};
  const NegativeSpread s = negative_spread(f, {0, 0}, w, 3, 2);
  CHECK(s.distance_min == 0);
  CHECK(s.distance_max == doctest::Approx(2));
  CHECK(s.distance_variance[0] == doctest::Approx(0));
  CHECK(s.distance_variance[1] == doctest::Approx(0.25));  // mapped distances 0 and 1
  CHECK(s.cosine_variance[0] == doctest::Approx(0));
  CHECK(s.cosine_variance[1] == doctest::Approx(1));       // cosines 1 and -1
  // The mapping makes the distance variance scale-free: a model with 10x larger features and prototypes
  // gives the same numbers.
  std::vector<double> w10 = w, f10 = f;
  for (double& v : w10) v *= 10;
  for (double& v : f10) v *= 10;
  const NegativeSpread s10 = negative_spread(f10, {0, 0}, w10, 3, 2);
  CHECK(s10.distance_max == doctest::Approx(20));
  CHECK(s10.distance_variance[1] == doctest::Approx(0.25));
  CHECK(s10.cosine_variance[1] == doctest::Approx(1));
}

namespace {

// f(x) = x flattened; z = W f + b with W and b given.
class LinearProbe : public nn::Classifier {
 public:
  LinearProbe(const std::vector<double>& w, int64_t classes, int64_t dim) : Classifier("LinearProbe") {
    fc = register_module("fc", std::make_shared<nn::Linear>(dim, classes));
    fc->weight.data().copy_(Tensor::from_vector(w, {classes, dim}).to(DType::f32));
    fc->bias.data().copy_(Tensor::zeros({classes}, DType::f32));
  }
  Variable features(const Variable& x) override { return flatten(x, 1); }
  nn::Linear& classifier() override { return *fc; }
  std::shared_ptr<nn::Linear> fc;
};

}  // namespace

TEST_CASE("Eq. 10: the input gradient of CE, the weight and the direction toward the largest other class") {
  // W = identity on 3 classes: z = x, so dCE/dx = P - onehot(y) and d(z_k - z_y)/dx = e_k - e_y.
  LinearProbe probe({1, 0, 0, 0, 1, 0, 0, 0, 1}, 3, 3);
  probe.to(DType::f64);
  probe.eval();
  // Sample 0: the two negatives tie (k = 1, the first): g = P_1 (e_1 - e_0) + P_2 (e_2 - e_0) with P_1 = P_2,
  //   so cos(g, e_1 - e_0) = ((2 + 1) / (sqrt 6 sqrt 2)) = 0.866 and the share is 1/2.
  // Sample 1: class 2 dominates the negatives (z = 0, -3, 4 with y = 0): the gradient points almost at it.
  // Sample 2: saturated in float32 below (z_y - z_j = 200): P_j underflows and g is exactly 0.
  const std::vector<double> x = {1, 0, 0, 0, -3, 4, 200, 0, 0};
  const Tensor labels = Tensor::from_vector(std::vector<int64_t>{0, 0, 0}, {3});
  const InputGradients r = eq10_input_gradients(probe, Tensor::from_vector(x, {3, 3}), labels);
  const double e = std::exp(1.0);
  const double p1 = 1 / (e + 2);  // sample 0: P = (e, 1, 1) / (e + 2)
  CHECK(r.norm[0] == doctest::Approx(std::sqrt(4 * p1 * p1 + 2 * p1 * p1)));
  CHECK(r.share[0] == doctest::Approx(0.5));
  CHECK(r.cosine[0] == doctest::Approx(3 / std::sqrt(12.0)));
  const double s = std::exp(0.0) + std::exp(-3.0) + std::exp(4.0);
  const std::vector<double> g1 = {std::exp(0.0) / s - 1, std::exp(-3.0) / s, std::exp(4.0) / s};  // P - e_0
  const double g1_norm = std::sqrt(g1[0] * g1[0] + g1[1] * g1[1] + g1[2] * g1[2]);
  CHECK(r.norm[1] == doctest::Approx(g1_norm));
  CHECK(r.share[1] == doctest::Approx(std::exp(4.0) / (std::exp(4.0) + std::exp(-3.0))));
  CHECK(r.cosine[1] == doctest::Approx((-g1[0] + g1[2]) / (g1_norm * std::sqrt(2.0))));
  CHECK(r.cosine[1] > 0.99);

  LinearProbe probe32({1, 0, 0, 0, 1, 0, 0, 0, 1}, 3, 3);
  probe32.eval();
  const InputGradients q = eq10_input_gradients(probe32, Tensor::from_vector(x, {3, 3}).to(DType::f32), labels);
  CHECK(q.norm[0] == doctest::Approx(r.norm[0]).epsilon(1e-5));
  CHECK(q.norm[2] == 0.0);
  CHECK(std::isnan(q.cosine[2]));
  CHECK(q.share[2] == doctest::Approx(0.5));  // from the logits in log space: still defined
}
