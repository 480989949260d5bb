// --deterministic: in the train, evaluate and sweep flag sets, on by default; recorded in config.json
// only when off (so runs from before the flag keep their identity); applied by train(). Its effect on
// the GPU (the cuDNN algorithm choice) is tier 2: tests/cuda/test_cuda_runtime.cpp.
#include <doctest/doctest.h>

#include <filesystem>

#include "experiments/runner/evaluation.h"
#include "experiments/runner/results.h"
#include "experiments/runner/training.h"
#include "tensor/determinism.h"
#include "support/scratch.h"
#include "support/fashion_mnist.h"

using namespace tg;
using namespace tg::runner;

TEST_CASE("deterministic flag: on by default; --no-deterministic turns it off and enters config.json") {
  TrainConfig t;
  EvalConfig e;
  Flags f("table1", "");
  add_train_flags(f, t);
  add_eval_flags(f, e);  // the sweep's set: one --deterministic, from the train flags
  CHECK(t.deterministic);
  CHECK(e.deterministic);
  CHECK(f.help().find("--deterministic") != std::string::npos);
  CHECK(config_json(t).get("deterministic") == nullptr);  // the default leaves the run's identity as it was
  const char* off[] = {"table1", "--no-deterministic"};
  REQUIRE(f.parse(2, const_cast<char**>(off)));
  CHECK(!t.deterministic);
  REQUIRE(config_json(t).get("deterministic") != nullptr);
  CHECK(config_json(t).get("deterministic")->boolean() == false);
  const char* on[] = {"table1", "--deterministic"};
  REQUIRE(f.parse(2, const_cast<char**>(on)));
  CHECK(t.deterministic);
}

TEST_CASE("deterministic flag: train() applies it and records it in config.json") {
  TG_SKIP_WITHOUT_FASHION_MNIST();
  auto dir = tg::test::scratch_path("taugrad_test_deterministic");
  std::filesystem::remove_all(dir);
  TrainConfig c;
  c.model = "resnet20";
  c.epochs = 1;
  c.batch_size = 32;
  c.train_subset = 64;
  c.test_subset = 32;
  c.workers = 1;
  c.device = "cpu";
  c.out_dir = dir.string();
  c.run_id = "off";
  c.deterministic = false;
  TrainOutcome off = train(c);
  CHECK(!deterministic_algorithms());
  CHECK(Json::parse(read_file(off.run_dir + "/config.json"), "config.json").get("deterministic")->boolean() == false);
  c.run_id = "on";
  c.deterministic = true;
  TrainOutcome on = train(c);
  CHECK(deterministic_algorithms());
  CHECK(Json::parse(read_file(on.run_dir + "/config.json"), "config.json").get("deterministic") == nullptr);
  // A finished run trained with it off is another configuration than the default.
  c.run_id = "off";
  CHECK_THROWS_WITH_AS(train(c), doctest::Contains("another configuration"), Error);
  std::filesystem::remove_all(dir);
}
