// The evaluation of one run: every field present and in range on a tiny model, attacks never above
// clean accuracy and the worst case never above any attack, the -C sets generated, a stage-by-stage
// resume, evaluation.json reused on a second call, and a sharded evaluation on three ranks (threads
// standing for them, tests/support/thread_ranks.h) equal to one process's. The run-folder case trains a
// tiny ResNet-20 on a few hundred Fashion-MNIST images and skips, saying so, when the dataset is not
// installed.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "data/tiny_imagenet.h"
#include "experiments/runner/evaluation.h"
#include "experiments/runner/training.h"
#include "nn/layers.h"
#include "nn/models/factory.h"
#include "tensor/ops.h"
#include "tensor/random.h"
#include "support/scratch.h"
#include "support/thread_ranks.h"
#include "support/fashion_mnist.h"

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
  c.sweep_attacks = "fgsm,worst";
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
  if (e.sweeps.empty()) return;
  REQUIRE(e.sweeps.size() == 2);
  for (const auto& curve : e.sweeps) {
    CAPTURE(curve.attack);
    REQUIRE(curve.points.size() == 3);
    CHECK(curve.points[0].second == doctest::Approx(e.clean_subset));
    CHECK(curve.points[1].second <= curve.points[0].second);
    CHECK(curve.points[2].second <= curve.points[1].second);
  }
  // The worst case includes the other curve's attack, so it is never above it.
  for (size_t i = 0; i < 3; ++i) CHECK(e.sweeps[1].points[i].second <= e.sweeps[0].points[i].second + 1e-9);
}

// n random 16x16 gray images of 4 classes.
Dataset synthetic_test_set(int64_t n = 12) {
  Generator gen(3);
  Dataset test;
  test.name = "synthetic/test";
  test.images = mul(rand({n, 1, 16, 16}, DType::f32, Device::cpu(), &gen), 255.0).to(DType::u8);
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < n; ++i) labels.push_back(i % 4);
  test.labels = Tensor::from_vector(labels, {n});
  test.num_classes = 4;
  return test;
}

// The results without the time they took.
std::string numbers_of(Evaluation e) {
  e.seconds = 0;
  return evaluation_json(e).dump();
}

}  // namespace

TEST_CASE("evaluation: a tiny model on synthetic images; generated -C sets; stage resume") {
  const Dataset test = synthetic_test_set();
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

TEST_CASE("evaluation: three ranks (threads) give the single process's numbers, one of them with no attack rows") {
  // 48 test images in batches of 8: two batches a rank. The attack subset's 14 (and each -C set's):
  // batches of 8 and 6 for ranks 0 and 1, none for rank 2. (That a point's random draws do not depend
  // on its rank is checked point by point in tests/attacks/test_rng.cpp: the outcomes here do not move
  // with them.)
  const Dataset test = synthetic_test_set(48);
  EvalConfig c = fast_config();
  c.attack_subset = 14;
  c.batch_size = 8;
  c.sweep_eps = {0, 0.5, 1, 2, 4};
  c.corrupted = "generate";
  c.severities = {3};
  const auto sets = corrupted_sets(test, c);
  // A random linear model: its predictions vary, and attacks fool some points and not others. The same weights, one model a rank (the masking diagnostics turn it to float64 and back).
  std::vector<std::shared_ptr<nn::Module>> models;
  for (int i = 0; i < 4; ++i) {
    Generator init(5);
    models.push_back(std::make_shared<nn::Sequential>(
        std::vector<nn::ModulePtr>{std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(256, 4, true, &init)}));
  }
  const std::string single = numbers_of(evaluate_model(*models[3], test, sets, c));

  tg::test::Threads threads(3);
  std::vector<std::string> shared(3);
  tg::test::run_ranks(threads, [&](tg::test::ThreadRank& comm) {
    const size_t r = static_cast<size_t>(comm.rank());
    shared[r] = numbers_of(evaluate_model(*models[r], test, sets, c, 0, nullptr, nullptr, &comm));
  });
  CHECK(!threads.shapes_differ);
  for (const std::string& numbers : shared) CHECK(numbers == single);
}

TEST_CASE("evaluation: a trained run's folder; evaluation.json written and reused") {
  TG_SKIP_WITHOUT_FASHION_MNIST();
  auto dir = tg::test::scratch_path("taugrad_test_evaluation");
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
  auto dir = tg::test::scratch_path("taugrad_test_evaluation_diverged");
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

TEST_CASE("evaluation: Tiny-ImageNet-C folders read by corrupted_sets, labels mapped by wnid") {
  namespace fs = std::filesystem;
  const fs::path dir = tg::test::scratch_path("taugrad_eval_tiny_c_");
  fs::remove_all(dir);
  // The test set's classes: four sorted wnids. The -C folders hold only two of them (n20 and n40),
  // so their own labels (0, 1 by their sorted folders) must become 1 and 3. Each class's image has
  // its own flat gray level, which survives JPEG, to check images and labels stay together.
  Dataset test;
  test.name = "tiny-imagenet/val";
  test.images = Tensor::zeros({4, 3, 64, 64}, DType::u8);
  test.labels = Tensor::from_vector<int64_t>({0, 1, 2, 3}, {4});
  test.num_classes = 4;
  test.class_names = {"n10", "n20", "n30", "n40"};
  const std::vector<std::pair<std::string, double>> folders = {{"n20", 60}, {"n40", 180}};
  for (const char* corruption : {"fog", "gaussian_noise"})
    for (int s : {1, 2})
      for (const auto& [wnid, gray] : folders) {
        fs::path p = dir / corruption / std::to_string(s) / wnid;
        fs::create_directories(p);
        for (int k = 0; k < 2; ++k)
          write_jpeg((p / (std::to_string(k) + ".JPEG")).string(), Tensor::full({3, 64, 64}, gray + s, DType::u8), 95);
      }
  EvalConfig c = fast_config();
  c.corrupted = "files";
  c.corrupted_dir = dir.string();
  c.severities = {1, 2};
  auto sets = corrupted_sets(test, c);
  REQUIRE(sets.size() == 4);  // gaussian_noise and fog (in corruption_names order), severities 1 and 2
  CHECK(sets[0].corruption == "gaussian_noise");
  CHECK(sets[0].severity == 1);
  CHECK(sets[3].corruption == "fog");
  CHECK(sets[3].severity == 2);
  for (const auto& set : sets) {
    CAPTURE(set.corruption);
    REQUIRE(set.data.size() == 4);
    CHECK(set.data.images.shape() == Shape{4, 3, 64, 64});
    CHECK(set.data.num_classes == 4);
    CHECK(set.data.class_names == test.class_names);
    CHECK(set.data.labels.to_vector<int64_t>() == std::vector<int64_t>{1, 1, 3, 3});
    for (int64_t i = 0; i < 4; ++i) {
      double want = (i < 2 ? 60 : 180) + set.severity;
      CHECK(std::fabs(double(set.data.images.slice_rows(i, i + 1).data<uint8_t>()[100]) - want) <= 3);
    }
  }
  // corrupted_subset: N images drawn by the seed, the same ones for every set.
  c.corrupted_subset = 2;
  auto small = corrupted_sets(test, c);
  REQUIRE(small.size() == 4);
  CHECK(small[0].data.size() == 2);
  CHECK(small[0].data.labels.to_vector<int64_t>() == small[3].data.labels.to_vector<int64_t>());
  // A test set not named by wnids is refused; so is a -C class the test set does not have.
  Dataset unnamed = test;
  unnamed.class_names.clear();
  CHECK_THROWS_WITH_AS(corrupted_sets(unnamed, c), doctest::Contains("sorted wnids"), Error);
  Dataset fewer = test;
  fewer.class_names = {"n10", "n20", "n30", "n50"};
  CHECK_THROWS_WITH_AS(corrupted_sets(fewer, c), doctest::Contains("n40"), Error);
  fs::remove_all(dir);
}

TEST_CASE("evaluation: --eval-precision runs the attacks in bf16, the masking diagnostics still in fp32") {
  Generator gen(4);
  Dataset test;
  test.name = "synthetic/test";
  test.images = mul(rand({8, 1, 16, 16}, DType::f32, Device::cpu(), &gen), 255.0).to(DType::u8);
  test.labels = Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 3, 0, 1, 2, 3}, {8});
  test.num_classes = 4;
  manual_seed(1);
  auto model = nn::create_model("resnet20", 4, 1);
  EvalConfig c = fast_config();
  c.attacks = "fgsm";
  c.sweep_eps = {};
  const Evaluation fp32 = evaluate_model(*model, test, {}, c, 0, nullptr, nullptr);
  c.precision = "bf16";
  const Evaluation bf16 = evaluate_model(*model, test, {}, c, 0, nullptr, nullptr);
  CHECK(model->precision() == nn::Precision::fp32);  // restored
  CHECK(bf16.zero_grad_f32 == fp32.zero_grad_f32);
  CHECK(bf16.zero_grad_f64 == fp32.zero_grad_f64);
  CHECK(bf16.margins.median == fp32.margins.median);
  CHECK(bf16.margins.max == fp32.margins.max);
  CHECK(eval_config_json(c).get("precision")->string() == "bf16");
  CHECK(eval_config_json(fast_config()).get("precision") == nullptr);  // fp32 evaluations keep their identity
  c.precision = "fp16";
  CHECK_THROWS_WITH_AS(validate(c), doctest::Contains("--eval-precision"), Error);
}
