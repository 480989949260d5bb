// The class-prototype analysis of the paper's Figs. 1, 5, 6, 7 and Eq. 10
// (experiments/analysis/prototypes.h) on constructed features, logits and weights whose answers are
// known; the models' Classifier interface (f(x) and the prototypes W); and the figure plumbing
// (experiments/runner/figures.h): a figure reuses the run table1 trained with the same flags.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "autograd/ops.h"
#include "experiments/runner/figures.h"
#include "nn/models/factory.h"
#include "tensor/ops.h"
#include "tensor/random.h"

using namespace tg;
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

TEST_CASE("figures: a figure reuses the run table1 trained with the same flags, as a Classifier in eval mode") {
  if (!std::filesystem::exists(std::string(kFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz")) {
    MESSAGE("skipped: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)");
    return;
  }
  auto dir = std::filesystem::temp_directory_path() / "taugrad_test_figures";
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
  std::filesystem::remove_all(dir);
}
