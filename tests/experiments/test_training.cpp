// End to end: a tiny ResNet-20 run on a few hundred Fashion-MNIST images must learn, pause with
// --stop-after, and end a NaN run as "diverged". (Resuming after a kill: test_fault.cpp.) Skips, saying so, when Debian's dataset-fashion-mnist is not installed.
#include <doctest/doctest.h>

#include <filesystem>
#include <sstream>

#include "experiments/runner/results.h"
#include "experiments/runner/training.h"
#include "nn/models/factory.h"
#include "tensor/ops.h"
#include "tensor/safetensors.h"

using namespace tg;
using namespace tg::runner;

namespace {

bool have_fashion_mnist() { return std::filesystem::exists(std::string(kFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz"); }

TrainConfig tiny_config(const std::string& out, const std::string& id) {
  TrainConfig c;
  c.dataset = "fashion-mnist";
  c.model = "resnet20";
  c.epochs = 2;
  c.batch_size = 32;
  c.lr = 0.05;
  c.train_subset = 384;
  c.test_subset = 200;
  c.workers = 1;
  c.device = "cpu";
  c.out_dir = out;
  c.run_id = id;
  return c;
}

// The log's epoch, lr, loss and accuracy columns (the timing columns differ run to run).
std::vector<std::string> log_metrics(const std::string& run_dir) {
  std::vector<std::string> rows;
  std::istringstream in(read_file(run_dir + "/log.csv"));
  for (std::string line; std::getline(in, line);) {
    size_t cut = 0;
    for (int i = 0; i < 6 && cut != std::string::npos; ++i) cut = line.find(',', cut + 1);
    rows.push_back(line.substr(0, cut));
  }
  return rows;
}

}  // namespace

TEST_CASE("training: learns, pauses with --stop-after, marks divergence") {
  if (!have_fashion_mnist()) {
    MESSAGE("skipped: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)");
    return;
  }
  auto dir = std::filesystem::temp_directory_path() / "taugrad_test_training";
  std::filesystem::remove_all(dir);
  const std::string out = dir.string();

  TrainOutcome a = train(tiny_config(out, "a"));
  CHECK(a.status == "finished");
  CHECK(a.epochs_done == 2);
  CHECK(a.test_accuracy > 30.0);  // chance is 10%; this configuration measured 47.5%
  for (const char* f : {"config.json", "log.csv", "metrics.json", "model.safetensors", "checkpoint.safetensors"})
    CHECK_MESSAGE(file_exists(a.run_dir + "/" + f), f);
  Json m = Json::parse(read_file(a.run_dir + "/metrics.json"), "metrics.json");
  CHECK(m.get("zero_input_grad_fraction")->number() >= 0.0);

  // --stop-after 1 pauses after one epoch with a checkpoint and no metrics. (That a rerun resumes from
  // the checkpoint rather than retraining, to the uninterrupted run's bytes, is tests/experiments/
  // test_fault.cpp's: it kills the train binary, and it can tell a resume from a retrain.)
  TrainConfig c = tiny_config(out, "c");
  c.stop_after = 1;
  TrainOutcome c1 = train(c);
  CHECK(c1.paused);
  CHECK(c1.epochs_done == 1);
  CHECK(!file_exists(c1.run_dir + "/metrics.json"));
  CHECK(load_safetensors(c1.run_dir + "/checkpoint.safetensors").metadata.at("epoch") == "1");

  // A finished run is reused, not retrained; another config in the same folder is refused.
  CHECK(train(tiny_config(out, "a")).reused);
  TrainConfig other = tiny_config(out, "a");
  other.tau = 50;
  CHECK_THROWS_WITH_AS(train(other), doctest::Contains("another configuration"), Error);

  // A NaN loss ends the run as diverged, with its metrics written.
  TrainConfig nan = tiny_config(out, "nan");
  nan.lr = 1e30;
  nan.epochs = 1;
  nan.train_subset = 128;
  TrainOutcome d = train(nan);
  CHECK(d.status == "diverged");
  CHECK(Json::parse(read_file(d.run_dir + "/metrics.json"), "m").get("status")->string() == "diverged");
  std::filesystem::remove_all(dir);
}

TEST_CASE("training: adversarial training (PGD-AT and the tempered Eq. 12) checks its flags and resumes exactly") {
  TrainConfig bad = tiny_config("unused", "bad");
  bad.adversarial = "pgd";
  bad.tau = 10;
  CHECK_THROWS_WITH_AS(train(bad), doctest::Contains("would be ignored"), Error);
  bad.adversarial = "trades";
  CHECK_THROWS_WITH_AS(train(bad), doctest::Contains("not none, pgd or tempered"), Error);
  bad.adversarial = "tempered";
  bad.label_smoothing = 0.1;
  CHECK_THROWS_WITH_AS(train(bad), doctest::Contains("--label-smoothing"), Error);
  if (!have_fashion_mnist()) {
    MESSAGE("skipped: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)");
    return;
  }
  auto dir = std::filesystem::temp_directory_path() / "taugrad_test_adversarial";
  std::filesystem::remove_all(dir);
  auto config = [&](int64_t stop_after) {
    TrainConfig c = tiny_config(dir.string(), "");
    c.adversarial = "tempered";
    c.tau = 10;
    c.adv_steps = 3;
    c.train_subset = 192;
    c.test_subset = 64;
    c.stop_after = stop_after;
    return c;
  };
  TrainOutcome a = train(config(0));
  CHECK(a.status == "finished");
  CHECK(a.run_dir.find("_tau10_tempered-at_seed0") != std::string::npos);
  Json saved = Json::parse(read_file(a.run_dir + "/config.json"), "config.json");
  CHECK(saved.get("adversarial")->string() == "tempered");
  CHECK(saved.get("adv_steps")->number() == 3);
  // The PGD random starts draw from the checkpointed generator: an interrupted run resumes to the same
  // weights, byte for byte.
  TrainConfig c = config(1);
  c.out_dir = (dir / "resumed").string();
  CHECK(train(c).paused);
  c.stop_after = 0;
  TrainOutcome b = train(c);
  CHECK(b.epochs_done == 2);
  CHECK(read_file(a.run_dir + "/model.safetensors") == read_file(b.run_dir + "/model.safetensors"));
  CHECK(log_metrics(a.run_dir) == log_metrics(b.run_dir));
  std::filesystem::remove_all(dir);
}

TEST_CASE("training: fine-tuning starts from an RGB checkpoint with another head and grid (table2's path)") {
  if (!have_fashion_mnist()) {
    MESSAGE("skipped: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)");
    return;
  }
  auto dir = std::filesystem::temp_directory_path() / "taugrad_test_finetune";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  // A stand-in for timm's checkpoint: RGB, 100 classes, a 64x64 input (16x16 grid of 4x4 patches).
  auto pretrained = nn::create_model("vit_tiny_patch4_32", 100, 3, 64);
  const std::string file = (dir / "pretrained.safetensors").string();
  save_safetensors(file, pretrained->state_dict());
  TrainConfig c = tiny_config(dir.string(), "finetune");
  c.model = "vit_tiny_patch4_32";  // 1 channel, 10 classes, 8x8 grid: every adaptation is needed
  c.init = file;
  c.optimizer = "adam";
  c.lr = 1e-4;
  c.epochs = 1;
  c.train_subset = 64;
  c.test_subset = 32;
  TrainOutcome r = train(c);
  CHECK(r.status == "finished");
  // The trained patch embedding started from the checkpoint's, summed over colour.
  SafetensorsFile after = load_safetensors(r.run_dir + "/model.safetensors");
  Tensor start = sum(load_safetensors(file).at("patch_embed.proj.weight"), {1}, true);
  Tensor trained = after.at("patch_embed.proj.weight");
  REQUIRE(trained.shape() == start.shape());
  const double moved = max(abs(sub(trained, start))).item();
  CHECK(moved > 0);
  CHECK(moved < 0.01);  // one epoch of 2 Adam steps at lr 1e-4 moves a weight by at most ~2e-4
  std::filesystem::remove_all(dir);
}
