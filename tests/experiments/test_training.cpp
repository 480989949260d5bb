// End to end: a tiny ResNet-20 run on a few hundred Fashion-MNIST images must learn, pause with
// --stop-after, and end a NaN run as "diverged" (resuming after a kill: test_fault.cpp); the
// normalization a run trains with (--normalize, recorded in model.safetensors) and reloads with.
// Skips, saying so, when Debian's dataset-fashion-mnist is not installed.
#include <doctest/doctest.h>

#include <filesystem>
#include <sstream>

#include "experiments/runner/results.h"
#include "experiments/runner/training.h"
#include "nn/models/factory.h"
#include "tensor/ops.h"
#include "tensor/safetensors.h"
#include "support/scratch.h"
#include "support/fashion_mnist.h"

using namespace tg;
using namespace tg::runner;

namespace {

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
  TG_SKIP_WITHOUT_FASHION_MNIST();
  auto dir = tg::test::scratch_path("taugrad_test_training");
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
  TG_SKIP_WITHOUT_FASHION_MNIST();
  auto dir = tg::test::scratch_path("taugrad_test_adversarial");
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
  TG_SKIP_WITHOUT_FASHION_MNIST();
  auto dir = tg::test::scratch_path("taugrad_test_finetune");
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

// ---- the input contract: which normalization a run trains with, and that its users reuse it ----

namespace {

// A checkpoint file as timm or torchvision publish them: weights, no metadata.
std::string write_foreign_checkpoint(const std::filesystem::path& dir, const std::string& model) {
  const std::string file = (dir / (model + ".safetensors")).string();
  save_safetensors(file, nn::create_model(model, 1000, 3)->state_dict());
  return file;
}

void check_stats(const nn::InputContract& c, const nn::DatasetStats& expected) {
  CHECK(c.stats.mean == expected.mean);
  CHECK(c.stats.std == expected.std);
}

}  // namespace

TEST_CASE("training: --normalize picks the checkpoint's, the dataset's or the given statistics") {
  auto dir = tg::test::scratch_path("taugrad_test_normalize");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const nn::DatasetStats half{{0.5}, {0.5}}, cifar = nn::dataset_stats("cifar10");
  // table2's path: timm's ViT-S/16 (no metadata) fine-tuned on CIFAR-10 normalizes as timm trained it.
  const SafetensorsFile timm = load_safetensors(write_foreign_checkpoint(dir, "vit_tiny_patch16_224"));
  for (const char* model : {"vit_small_patch16_224", "vit_tiny_patch16_224"}) {
    CAPTURE(model);
    check_stats(input_contract("auto", model, "cifar10", &timm), half);
    check_stats(input_contract("checkpoint", model, "cifar10", &timm), half);
    CHECK(input_contract("auto", model, "cifar10", &timm).input_size == 224);
  }
  // The flag overrides it.
  check_stats(input_contract("dataset", "vit_small_patch16_224", "cifar10", &timm), cifar);
  check_stats(input_contract("imagenet", "vit_small_patch16_224", "cifar10", &timm), nn::dataset_stats("imagenet"));
  check_stats(input_contract("fashion-mnist", "resnet20", "cifar10", nullptr), nn::dataset_stats("fashion_mnist"));
  check_stats(input_contract("none", "vit_small_patch16_224", "cifar10", &timm), {{0.0}, {1.0}});
  check_stats(input_contract("0.1,0.2,0.3/0.4,0.5,0.6", "resnet20", "cifar10", nullptr), {{0.1, 0.2, 0.3}, {0.4, 0.5, 0.6}});
  // torchvision's ResNets: ImageNet's statistics.
  check_stats(input_contract("auto", "resnet50", "cifar10", &timm), nn::dataset_stats("imagenet"));
  // From scratch: the dataset's.
  check_stats(input_contract("auto", "vit_small_patch16_224", "cifar100-coarse", nullptr), nn::dataset_stats("cifar100"));
  // Our checkpoints record theirs, which wins over the registry's.
  const std::string ours = (dir / "ours.safetensors").string();
  save_safetensors(ours, timm.tensors, nn::contract_metadata({224, {{0.25}, {0.75}}}));
  check_stats(input_contract("auto", "vit_tiny_patch16_224", "cifar10", &timm), half);
  const SafetensorsFile ours_file = load_safetensors(ours);
  check_stats(input_contract("auto", "vit_tiny_patch16_224", "cifar10", &ours_file), {{0.25}, {0.75}});
  // A checkpoint whose normalization nobody knows: auto falls back to the dataset, checkpoint refuses.
  check_stats(input_contract("auto", "resnet20", "cifar10", &timm), cifar);
  CHECK_THROWS_WITH_AS(input_contract("checkpoint", "resnet20", "cifar10", &timm),
                       doctest::Contains("records no normalization"), Error);
  CHECK_THROWS_WITH_AS(input_contract("checkpoint", "resnet20", "cifar10", nullptr),
                       doctest::Contains("--normalize checkpoint"), Error);
  CHECK_THROWS_WITH_AS(input_contract("auto", "resnet20", "", &timm), doctest::Contains("--normalize"), Error);
  CHECK_THROWS_WITH_AS(input_contract("svhn", "resnet20", "cifar10", nullptr), doctest::Contains("MEAN/STD"), Error);
  CHECK_THROWS_WITH_AS(input_contract("0.5,0.5/0.5", "resnet20", "cifar10", nullptr),
                       doctest::Contains("2 means but 1 stds"), Error);
  CHECK_THROWS_WITH_AS(input_contract("0.5/x", "resnet20", "cifar10", nullptr), doctest::Contains("--normalize"), Error);
  std::filesystem::remove_all(dir);
}

TEST_CASE("training: a fine-tuned run records the normalization it trained with, and reloads with it") {
  TG_SKIP_WITHOUT_FASHION_MNIST();
  auto dir = tg::test::scratch_path("taugrad_test_contract");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  // A checkpoint of ours from another dataset: it records 0.25/0.75.
  const std::string init = (dir / "pretrained.safetensors").string();
  save_safetensors(init, nn::create_model("resnet20", 10, 1)->state_dict(), nn::contract_metadata({0, {{0.25}, {0.75}}}));
  auto finetune = [&](const std::string& id, const std::string& normalize) {
    TrainConfig c = tiny_config(dir.string(), id);
    c.init = init;
    c.normalize = normalize;
    c.epochs = 1;
    c.train_subset = 64;
    c.test_subset = 64;
    TrainOutcome r = train(c);
    REQUIRE(r.status == "finished");
    return r.run_dir;
  };
  const std::string kept = finetune("kept", "auto"), overridden = finetune("dataset", "dataset");
  auto recorded = [](const std::string& run) {
    auto c = nn::contract_from_metadata(load_safetensors(run + "/model.safetensors").metadata, run);
    REQUIRE(c);
    return *c;
  };
  check_stats(recorded(kept), {{0.25}, {0.75}});
  check_stats(recorded(overridden), nn::dataset_stats("fashion_mnist"));
  CHECK(Json::parse(read_file(overridden + "/config.json"), "config.json").get("normalize")->string() == "dataset");

  // Reloaded as evaluate and predict do, the run gives the loss it measured at the end of training;
  // with the dataset's statistics (what evaluation used to re-derive) the same weights give another.
  TrainConfig c = tiny_config(dir.string(), "kept");
  c.test_subset = 64;
  const Dataset test = load_split(c, false);
  RunModel run = load_run_model(kept, test.num_classes, test.channels());
  check_stats(run.contract, {{0.25}, {0.75}});
  const double trained_loss = Json::parse(read_file(kept + "/metrics.json"), "metrics.json").get("test_loss")->number();
  const CleanEval again = evaluate_clean(*run.model, test, Device::cpu(), 256, false, run.contract.input_size);
  CHECK(again.loss == doctest::Approx(trained_loss).epsilon(1e-8));  // metrics.json keeps 10 digits
  auto rederived = nn::create_model("resnet20", 10, 1, 0, "fashion_mnist");
  rederived->load_state_dict(load_safetensors(kept + "/model.safetensors").tensors, true);
  const CleanEval wrong = evaluate_clean(*rederived, test, Device::cpu(), 256, false);
  CHECK(std::abs(wrong.loss - trained_loss) > 1e-3);
  std::filesystem::remove_all(dir);
}

TEST_CASE("training: table2's fine-tune from a timm-like ViT-Ti/16 checkpoint trains with 0.5/0.5") {
  TG_SKIP_WITHOUT_FASHION_MNIST();
  auto dir = tg::test::scratch_path("taugrad_test_timm");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  TrainConfig c = tiny_config(dir.string(), "vit");
  c.model = "vit_tiny_patch16_224";
  c.init = write_foreign_checkpoint(dir, c.model);  // RGB, 1000 classes, no metadata
  c.optimizer = "adam";
  c.lr = 1e-4;
  c.epochs = 1;
  c.batch_size = 4;
  c.train_subset = 4;
  c.test_subset = 4;
  TrainOutcome r = train(c);
  REQUIRE(r.status == "finished");
  const auto recorded = nn::contract_from_metadata(load_safetensors(r.run_dir + "/model.safetensors").metadata, "m");
  REQUIRE(recorded);
  CHECK(recorded->input_size == 224);
  check_stats(*recorded, {{0.5}, {0.5}});
  std::filesystem::remove_all(dir);
}

TEST_CASE("training: --precision is recorded in config.json, kept on resume, and a change names the flag") {
  TG_SKIP_WITHOUT_FASHION_MNIST();
  auto dir = tg::test::scratch_path("taugrad_test_precision");
  std::filesystem::remove_all(dir);
  TrainConfig c = tiny_config(dir.string(), "bf16");
  c.train_subset = 96;
  c.test_subset = 64;
  c.precision = "bf16";
  c.stop_after = 1;
  CHECK(train(c).paused);
  const std::string run = dir.string() + "/bf16";
  CHECK(Json::parse(read_file(run + "/config.json"), "config.json").get("precision")->string() == "bf16");
  TrainConfig changed = c;
  changed.precision = "fp32";
  CHECK_THROWS_WITH_AS(train(changed), doctest::Contains("--precision fp32"), Error);
  TrainConfig resumed = c;
  resumed.precision = "auto";  // the run's own: bf16, though auto is fp32 on the CPU
  resumed.stop_after = 0;
  const TrainOutcome done = train(resumed);
  CHECK(done.status == "finished");
  CHECK(done.epochs_done == 2);
  CHECK_THROWS_WITH_AS(train(changed), doctest::Contains("--precision"), Error);  // finished: still refused
  // auto on the CPU is fp32, which config.json leaves out (runs from before the flag keep their identity).
  TrainConfig plain = tiny_config(dir.string(), "auto");
  plain.train_subset = 64;
  plain.test_subset = 32;
  plain.epochs = 1;
  train(plain);
  CHECK(Json::parse(read_file(dir.string() + "/auto/config.json"), "config.json").get("precision") == nullptr);
  std::filesystem::remove_all(dir);
}
