// Data-parallel training under Open MPI's mpirun (distributed/data_parallel.h, `mpirun -np 2 train`):
// - tests/distributed/dp_check.cpp on two ranks: sync batch norm and bucketed data-parallel SGD
//   against one process on the whole batch, in float64;
// - the `train` binary on one rank writes the bytes train() writes in one process (the plain path);
// - the `train` binary on two ranks against one, on a tiny Fashion-MNIST run (cnn_small, 2 epochs of
//   4 batches of 32): with --sync-bn the parameters agree with one process's within kTolerance; with
//   per-rank batch norm the ranks' models are identical (checked each epoch by DataParallel::
//   check_replicas, bit for bit per tensor checksum; a mismatch fails the run) and the loss is close;
//   rank 0 alone writes; a run paused on two ranks resumes on one and vice versa, continuing the run;
//   a batch that does not split over the ranks is refused.
// Skips where mpirun, MPI or the dataset is absent.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "distributed/communicator.h"
#include "experiments/runner/results.h"
#include "experiments/runner/training.h"
#include "support/mpirun.h"
#include "support/scratch.h"
#include "support/sweep.h"
#include "support/fashion_mnist.h"
#include "tensor/ops.h"
#include "tensor/safetensors.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace tg;

namespace {

// Two ranks sum their halves' gradients in another order than one process sums the whole batch:
// float32 rounding, ~1e-7 relative per gradient, which 8 SGD steps (lr 0.05, momentum 0.9) carry into
// the parameters without much growth. Measured: max |difference| 2e-7 .. 4e-7 between one and two
// ranks (parameters of order 0.1 to 1); the bound leaves a factor of ~25.
constexpr double kTolerance = 1e-5;

bool can_run() {
  return !test::find_mpirun().empty() && distributed::mpi_built() && fs::exists(test::experiment_binary("train")) &&
         tg::test::have_fashion_mnist();
}

std::vector<std::string> tiny_run(const std::string& out, const std::string& id, std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"--dataset", "fashion-mnist", "--model", "cnn_small", "--epochs", "2",
                                "--batch-size", "32", "--lr", "0.05", "--train-subset", "128", "--test-subset", "64",
                                "--workers", "1", "--device", "cpu", "--out-dir", out, "--run-id", id};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// Runs `train` with `args` in one process (ranks 1) or under mpirun; returns its output, requiring `status`.
std::string run_train(int ranks, const std::vector<std::string>& args, const fs::path& log, int status = 0) {
  const std::string train = test::experiment_binary("train").string();
  const pid_t pid = ranks == 1 ? test::spawn(train, args, log.string())
                               : test::spawn(test::find_mpirun(),
                                             test::with({"--oversubscribe", "-np", std::to_string(ranks), train}, args),
                                             log.string());
  const int exit = test::wait_exit(pid);
  const std::string out = runner::read_file(log.string());
  REQUIRE_MESSAGE(exit == status, out);
  return out;
}

// The largest |difference| between two runs' model.safetensors tensors (the same names in both).
double max_difference(const std::string& run_a, const std::string& run_b) {
  const SafetensorsFile a = load_safetensors(run_a + "/model.safetensors"), b = load_safetensors(run_b + "/model.safetensors");
  REQUIRE(a.tensors.size() == b.tensors.size());
  double worst = 0;
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    REQUIRE(a.tensors[i].first == b.tensors[i].first);
    worst = std::max(worst, max(abs(sub(a.tensors[i].second.to(DType::f64), b.tensors[i].second.to(DType::f64)))).item());
  }
  return worst;
}

// log.csv's train_loss column, one value per epoch.
std::vector<double> train_losses(const std::string& run_dir) {
  std::istringstream in(runner::read_file(run_dir + "/log.csv"));
  std::vector<double> out;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream row(line);
    std::string cell;
    for (int i = 0; i < 3; ++i) std::getline(row, cell, ',');  // epoch, lr, train_loss
    out.push_back(std::stod(cell));
  }
  return out;
}

// A fresh scratch folder for one test's runs, removed after, and mpirun's environment while it lives.
struct RunFolder {
  fs::path dir;
  test::Env env = test::mpirun_env();
  explicit RunFolder(const std::string& name) : dir(test::scratch_path(name)) {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~RunFolder() { fs::remove_all(dir); }
  std::string run_dir(const std::string& id) const { return (dir / id).string(); }
};

}  // namespace

TEST_CASE("mpirun: sync batch norm and bucketed data-parallel SGD on two ranks equal one process on the whole batch" *
          doctest::skip(test::find_mpirun().empty() || !distributed::mpi_built())) {
  test::check_on_two_ranks("taugrad_dp_check", "dp ok");
}

TEST_CASE("mpirun: train on two ranks is the one run one rank trains (--sync-bn); per-rank BN; rank 0 alone writes" *
          doctest::skip(!can_run())) {
  const RunFolder f("taugrad_test_data_parallel");
  const std::string out = f.dir.string();
  const fs::path& dir = f.dir;

  // --sync-bn: two ranks train what one trains, up to float32 summation order.
  run_train(1, tiny_run(out, "one", {"--sync-bn"}), dir / "one.log");
  const std::string two = run_train(2, tiny_run(out, "two", {"--sync-bn"}), dir / "two.log");
  const double sync_diff = max_difference(f.run_dir("one"), f.run_dir("two"));
  MESSAGE("--sync-bn, 2 ranks against 1: max |parameter difference| ", sync_diff);
  CHECK(sync_diff <= kTolerance);
  CHECK(sync_diff > 0);  // another summation order: not bit for bit (if it were, the tolerance would be moot)
  CHECK(test::count_of(two, "finished after 2 epochs") == 1);  // rank 0 reports; rank 1 is silent
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(f.run_dir("two"))) files.push_back(entry.path().filename().string());
  std::sort(files.begin(), files.end());
  CHECK(files == std::vector<std::string>{"checkpoint.safetensors", "config.json", "log.csv", "metrics.json",
                                          "model.safetensors"});
  const std::vector<double> loss_one = train_losses(f.run_dir("one")), loss_two = train_losses(f.run_dir("two"));
  REQUIRE(loss_two.size() == 2);
  for (size_t e = 0; e < 2; ++e) CHECK(loss_two[e] == doctest::Approx(loss_one[e]).epsilon(1e-4));

  // Per-rank batch norm: each rank normalizes its 16 rows, so the run is another one; the ranks still
  // hold one model (check_replicas at each epoch's end would fail the run otherwise) and learn alike.
  run_train(1, tiny_run(out, "plain"), dir / "plain.log");
  run_train(2, tiny_run(out, "per-rank"), dir / "per-rank.log");
  const std::vector<double> loss_plain = train_losses(f.run_dir("plain")), loss_ranks = train_losses(f.run_dir("per-rank"));
  REQUIRE(loss_ranks.size() == 2);
  MESSAGE("per-rank BN train loss per epoch: ", loss_ranks[0], ", ", loss_ranks[1], " (one rank: ", loss_plain[0], ", ",
          loss_plain[1], ")");
  for (size_t e = 0; e < 2; ++e) CHECK(loss_ranks[e] == doctest::Approx(loss_plain[e]).epsilon(0.05));  // measured: 0.2%, 1.4% off
}

TEST_CASE("mpirun: a run paused on two ranks resumes on one and vice versa; a batch that does not split is refused" *
          doctest::skip(!can_run())) {
  const RunFolder f("taugrad_test_data_parallel_resume");
  const std::string out = f.dir.string();
  const fs::path& dir = f.dir;
  run_train(1, tiny_run(out, "one", {"--sync-bn"}), dir / "one.log");
  // The checkpoint holds nothing per rank: the global step, the epoch (the data position), the optimizer.
  run_train(2, tiny_run(out, "two-then-one", {"--sync-bn", "--stop-after", "1"}), dir / "a1.log");
  CHECK(runner::read_file((dir / "a1.log").string()).find("paused after epoch 1") != std::string::npos);
  CHECK(run_train(1, tiny_run(out, "two-then-one", {"--sync-bn"}), dir / "a2.log").find("resuming after epoch 1") !=
        std::string::npos);
  CHECK(max_difference(f.run_dir("one"), f.run_dir("two-then-one")) <= kTolerance);
  run_train(1, tiny_run(out, "one-then-two", {"--sync-bn", "--stop-after", "1"}), dir / "b1.log");
  run_train(2, tiny_run(out, "one-then-two", {"--sync-bn"}), dir / "b2.log");
  CHECK(max_difference(f.run_dir("one"), f.run_dir("one-then-two")) <= kTolerance);

  // A global batch that does not split over the ranks.
  const std::string refused = run_train(2, tiny_run(out, "odd", {"--batch-size", "31"}), dir / "odd.log", 2);
  CHECK(refused.find("--batch-size 31 does not split evenly over the 2 ranks") != std::string::npos);
}

TEST_CASE("train: one process through the binary (data parallelism on, one rank) writes what train() writes in-process" *
          doctest::skip(!fs::exists(test::experiment_binary("train")) ||
                        !tg::test::have_fashion_mnist())) {
  const fs::path dir = test::scratch_path("taugrad_test_data_parallel_one");
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string out = dir.string();
  run_train(1, tiny_run(out, "binary"), dir / "binary.log");
  runner::TrainConfig c;
  c.dataset = "fashion-mnist", c.model = "cnn_small", c.epochs = 2, c.batch_size = 32, c.lr = 0.05;
  c.train_subset = 128, c.test_subset = 64, c.workers = 1, c.device = "cpu", c.out_dir = out, c.run_id = "in-process";
  REQUIRE(runner::train(c).status == "finished");
  for (const char* f : {"/model.safetensors", "/checkpoint.safetensors"})
    CHECK_MESSAGE(runner::read_file(out + "/binary" + f) == runner::read_file(out + "/in-process" + f), f);
  fs::remove_all(dir);
}

TEST_CASE("data parallel device: the CPU as given; a GPU a rank, with NCCL only; two ranks on one GPU are flagged") {
  using runner::data_parallel_device;
  for (bool nccl : {false, true}) {
    const runner::RankDevice cpu = data_parallel_device("cpu", Device::cpu(), nccl, 3, 0);
    CHECK(cpu.device == Device::cpu());
    CHECK_FALSE(cpu.shares_gpu);
  }
  // Without NCCL a GPU is refused, naming the build option and the flag's way out.
  for (const std::string flag : {"cuda", "auto", "cuda:1"}) {
    const std::string want = "--device " + flag + ": data-parallel training on GPUs reduces gradients with NCCL, and "
                             "this build has no NCCL backend";
    CHECK_THROWS_WITH_AS(data_parallel_device(flag, Device::cuda(flag == "cuda:1" ? 1 : 0), false, 0, 2),
                         doctest::Contains(want.c_str()), Error);
  }
  CHECK_THROWS_WITH_AS(data_parallel_device("cuda", Device::cuda(0), false, 0, 2), doctest::Contains("-Dnccl=enabled"), Error);
  CHECK_THROWS_WITH_AS(data_parallel_device("cuda", Device::cuda(0), false, 0, 2), doctest::Contains("--device cpu"), Error);
  // cuda, gpu and auto: local rank mod GPUs; a local rank at or past the node's GPUs shares one.
  for (const char* flag : {"cuda", "gpu", "auto"}) {
    for (int64_t local = 0; local < 5; ++local) {
      const runner::RankDevice d = data_parallel_device(flag, Device::cuda(0), true, local, 2);
      CHECK(d.device == Device::cuda(static_cast<int>(local % 2)));
      CHECK(d.shares_gpu == (local >= 2));
    }
  }
  // cuda:K as given: one rank a node.
  CHECK(data_parallel_device("cuda:1", Device::cuda(1), true, 0, 2).device == Device::cuda(1));
  CHECK_FALSE(data_parallel_device("cuda:1", Device::cuda(1), true, 0, 2).shares_gpu);
  CHECK(data_parallel_device("cuda:1", Device::cuda(1), true, 1, 2).shares_gpu);
}
