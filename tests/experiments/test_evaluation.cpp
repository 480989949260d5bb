// The evaluation of one run: every field present and in range on a tiny model, attacks never above
// clean accuracy and the worst case never above any attack, the -C sets generated, a stage-by-stage
// resume, and evaluation.json reused on a second call. The run-folder case trains a tiny ResNet-20 on
// a few hundred Fashion-MNIST images and skips, saying so, when the dataset is not installed.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include "experiments/runner/evaluation.h"
#include "experiments/runner/training.h"
#include "nn/models/factory.h"
#include "tensor/ops.h"
#include "tensor/random.h"

using namespace tg;
using namespace tg::runner;

namespace {

// Fast attack settings: every attack kind, few steps.
EvalConfig fast_config() {
  EvalConfig c;
  c.attacks = "fgsm,cw,apgd-dlr,apgd-t,square";
  c.apgd_iters = 2;
  c.square_queries = 10;
  c.sweep_eps = {0, 8, 64};
  c.sweep_attack = "fgsm";
  c.corrupted = "none";
  c.batch_size = 16;
  c.device = "cpu";
  return c;
}

void check_ranges(const Evaluation& e) {
  auto pct = [](double v) { return v >= 0 && v <= 100; };
  CHECK(e.status == "finished");
  CHECK(pct(e.clean));
  CHECK(pct(e.clean_subset));
  REQUIRE(!e.attacks.empty());
  for (const auto& [name, v] : e.attacks) {
    CHECK(pct(v));
    CHECK(v <= e.clean_subset + 1e-9);
    CHECK(e.worst_case <= v + 1e-9);
  }
  CHECK(e.zero_grad_f32 >= 0);
  CHECK(e.zero_grad_f32 <= 1);
  CHECK(e.zero_grad_f64 >= 0);
  CHECK(e.zero_grad_f64 <= 1);
  CHECK(e.margins.min <= e.margins.median);
  CHECK(e.margins.median <= e.margins.max);
  CHECK(e.margin_above_17 >= 0);
  CHECK(e.margin_above_17 <= 1);
  CHECK(e.calibration.ece >= 0);
  CHECK(e.calibration.ece <= 1);
  CHECK(e.calibration.nll > 0);
  CHECK(e.calibration.temperature > 0);
  CHECK(e.calibration.nll_after <= e.calibration.nll + 0.5);  // T is fitted on the other half
  if (e.sweep.empty()) return;
  REQUIRE(e.sweep.size() == 3);
  CHECK(e.sweep[0].second == doctest::Approx(e.clean_subset));
  CHECK(e.sweep[1].second <= e.sweep[0].second);
  CHECK(e.sweep[2].second <= e.sweep[1].second);
}

}  // namespace

TEST_CASE("evaluation: a tiny model on synthetic images; generated -C sets; stage resume") {
  Generator gen(3);
  Dataset test;
  test.name = "synthetic/test";
  test.images = mul(rand({12, 1, 16, 16}, DType::f32, Device::cpu(), &gen), 255.0).to(DType::u8);
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < 12; ++i) labels.push_back(i % 4);
  test.labels = Tensor::from_vector(labels, {12});
  test.num_classes = 4;
  manual_seed(0);
  auto model = nn::create_model("resnet20", 4, 1);

  EvalConfig c = fast_config();
  c.attack_subset = 6;
  c.corrupted = "generate";
  c.severities = {3};
  auto sets = corrupted_sets(test, c);
  REQUIRE(sets.size() == 15);
  CHECK(sets[0].data.size() == 6);
  CHECK(sets[0].data.images.shape() == Shape{6, 1, 16, 16});

  Json stages = Json::object();
  int saves = 0;
  Evaluation e = evaluate_model(*model, test, sets, c, 0, &stages, [&] { ++saves; });
  check_ranges(e);
  CHECK(e.test_count == 12);
  CHECK(e.attack_count == 6);
  CHECK(e.corrupted_count == 6);
  CHECK(e.corrupted_s3 >= 0);
  CHECK(e.corrupted_s3 <= 100);
  CHECK(e.corrupted_mean == doctest::Approx(e.corrupted_s3));
  CHECK(saves == int(stages.fields().size()));

  // Every stage done: a second call computes nothing and gives the same numbers.
  Evaluation again = evaluate_model(*model, test, sets, c, 0, &stages, [&] { ++saves; });
  CHECK(saves == int(stages.fields().size()));
  CHECK(again.attacks == e.attacks);
  CHECK(again.worst_case == e.worst_case);
  CHECK(evaluation_from_json(evaluation_json(e)).attacks == e.attacks);
}

TEST_CASE("evaluation: a trained run's folder; evaluation.json written and reused") {
  if (!std::filesystem::exists(std::string(kFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz")) {
    MESSAGE("skipped: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)");
    return;
  }
  auto dir = std::filesystem::temp_directory_path() / "taugrad_test_evaluation";
  std::filesystem::remove_all(dir);
  TrainConfig t;
  t.model = "resnet20";
  t.epochs = 1;
  t.batch_size = 32;
  t.lr = 0.05;
  t.train_subset = 64;
  t.test_subset = 16;
  t.workers = 1;
  t.device = "cpu";
  t.out_dir = dir.string();
  TrainOutcome run = train(t);
  REQUIRE(run.status == "finished");

  EvalConfig c = fast_config();
  c.attacks = "fgsm,square";
  c.sweep_eps = {};
  c.attack_subset = 8;
  Evaluation e = evaluate_run(run.run_dir, c);
  check_ranges(e);
  CHECK(e.test_count == 16);
  CHECK(e.clean == doctest::Approx(run.test_accuracy));
  CHECK(std::isnan(e.corrupted_s3));
  CHECK(file_exists(run.run_dir + "/evaluation.json"));
  CHECK(!file_exists(run.run_dir + "/evaluation.partial.json"));

  Evaluation reused = evaluate_run(run.run_dir, c);
  CHECK(reused.seconds == doctest::Approx(e.seconds));  // read back, not measured again
  CHECK(reused.attacks == e.attacks);
  CHECK(reused.calibration.temperature == doctest::Approx(e.calibration.temperature));
  std::filesystem::remove_all(dir);
}

TEST_CASE("evaluation: a diverged run is reported as diverged in every column") {
  auto dir = std::filesystem::temp_directory_path() / "taugrad_test_evaluation_diverged";
  std::filesystem::remove_all(dir);
  make_dirs(dir.string());
  write_file_atomic((dir / "metrics.json").string(), Json::object().set("status", "diverged").dump());
  EvalConfig c;
  Evaluation e = evaluate_run(dir.string(), c);
  CHECK(e.status == "diverged");
  CHECK(evaluation_done(dir.string(), c));
  for (const auto& cell : table_cells(e, c)) CHECK(cell == "diverged");
  for (double v : table_values(e, c)) CHECK(std::isnan(v));
  CHECK(table_cells(e, c).size() == table_columns(c).size());
  CHECK(evaluate_run(dir.string(), c).status == "diverged");
  std::filesystem::remove_all(dir);
}
