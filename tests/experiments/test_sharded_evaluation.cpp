// Sharded evaluation (experiments/runner/evaluation.h, evaluate_model's ranks): `mpirun --oversubscribe
// -np 2 evaluate --run DIR` on a tiny trained run writes the evaluation.json that one process writes,
// every number the same (the time taken aside): clean accuracy and calibration from gathered logits, the
// generated -C set, every attack, the worst case, the masking diagnostics and an eps sweep, with a test
// split of 4 batches (2 per rank) and an attack subset of 3 batches (4 + 4 + 2 images: rank 0 takes two,
// rank 1 the short one). Gathering out of order fails it (the clean accuracy moves); that the attacks'
// random numbers do not depend on the shard is checked point by point in tests/attacks/test_rng.cpp
// (at this size no attack outcome moves with its random start). Skips where mpirun, the MPI backend or
// Fashion-MNIST is absent.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "distributed/communicator.h"
#include "experiments/runner/results.h"
#include "experiments/runner/training.h"
#include "support/mpirun.h"
#include "support/scratch.h"
#include "support/fashion_mnist.h"

namespace fs = std::filesystem;
using namespace tg;

namespace {

bool can_run() {
  return !test::find_mpirun().empty() && distributed::mpi_built() && fs::exists(test::experiment_binary("evaluate")) &&
         tg::test::have_fashion_mnist();
}

// evaluation.json with the time it took set to 0.
std::string numbers_of(const std::string& path) {
  Json j = Json::parse(runner::read_file(path), path);
  return j.set("seconds", 0.0).dump();
}

}  // namespace

TEST_CASE("mpirun: two ranks share an evaluation and write the evaluation one process writes" * doctest::skip(!can_run())) {
  const fs::path dir = test::scratch_path("taugrad_test_sharded_evaluation");
  fs::remove_all(dir);
  runner::TrainConfig t;
  t.model = "cnn_small";
  t.epochs = 1;
  t.batch_size = 32;
  t.train_subset = 256;
  t.test_subset = 16;
  t.workers = 1;
  t.device = "cpu";
  t.out_dir = (dir / "train").string();
  const runner::TrainOutcome run = runner::train(t);
  REQUIRE(run.status == "finished");
  const std::string single = (dir / "single").string(), shared = (dir / "shared").string();
  fs::copy(run.run_dir, single, fs::copy_options::recursive);
  fs::copy(run.run_dir, shared, fs::copy_options::recursive);

  const std::vector<std::string> flags = {
      "--profile", "quick", "--eps", "2", "--eval-batch-size", "4", "--attack-subset", "10", "--attacks",
      "pgd20,cw,apgd-ce,apgd-dlr,apgd-t,square", "--apgd-iters", "3", "--square-queries", "20", "--sweep-eps", "0,8,64",
      "--sweep-attacks", "pgd20,worst", "--corrupted", "generate", "--severities", "3", "--device", "cpu"};
  test::Env env = test::mpirun_env();
  const std::string evaluate = test::experiment_binary("evaluate").string();
  const pid_t one = test::spawn(evaluate, test::with({"--run", single}, flags), (dir / "single.log").string());
  const std::string log = (dir / "mpirun.log").string();
  const pid_t two = test::spawn(test::find_mpirun(),
                                test::with({"--oversubscribe", "-np", "2", evaluate, "--run", shared}, flags), log);
  REQUIRE_MESSAGE(test::wait_exit(one) == 0, runner::read_file((dir / "single.log").string()));
  REQUIRE_MESSAGE(test::wait_exit(two) == 0, runner::read_file(log));
  CHECK_MESSAGE(runner::read_file(log).find("evaluate: 2 ranks (MPI") != std::string::npos,
                runner::read_file(log));
  const std::string want = numbers_of(single + "/evaluation.json");
  CHECK(numbers_of(shared + "/evaluation.json") == want);
  CHECK(want.find("\"apgd-t\"") != std::string::npos);  // every stage ran
  fs::remove_all(dir);
}
