// The sweep behind table1-3 (experiments/runner/sweep.h), run as a binary runs it: a baseline row and a
// temperature, with tiny adversarial training on Fashion-MNIST; the table files, a second call that
// reuses every run, and flag errors that stop before any work. Skips the training part, saying so,
// when Debian's dataset-fashion-mnist is not installed.
#include <doctest/doctest.h>

#include <filesystem>
#include <sstream>

#include "experiments/runner/results.h"
#include "experiments/runner/sweep.h"
#include "support/scratch.h"
#include "support/fashion_mnist.h"

using namespace tg;
using namespace tg::runner;

namespace {

int run_sweep(const SweepBinary& binary, std::vector<std::string> args) {
  args.insert(args.begin(), binary.name);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return sweep_main(binary, static_cast<int>(argv.size()), argv.data());
}

SweepBinary test_binary() {
  SweepBinary b;
  b.name = "table-test";
  b.summary = "a sweep for the tests";
  b.paper = b.quick = "tiny";
  b.add_flags = [](Flags& f, SweepOptions& o, TrainConfig& t) {
    o.baseline = true;
    t.adversarial = "tempered";
    f.add("baseline", &o.baseline, "the PGD-AT row");
  };
  b.apply_profile = [](bool, const GivenFlags& given, SweepOptions& o, TrainConfig&, EvalConfig&) {
    if (!given("taus")) o.taus = {10};
  };
  return b;
}

}  // namespace

TEST_CASE("sweep: flag errors name the flag and stop before any work") {
  const SweepBinary b = test_binary();
  CHECK(run_sweep(b, {"--tau", "3"}) == 2);
  CHECK(run_sweep(b, {"--profile", "fast"}) == 2);
  CHECK(run_sweep(b, {"--taus", "0"}) == 2);
  CHECK(run_sweep(b, {"--help"}) == 0);
}

TEST_CASE("sweep: a baseline row and a temperature, written as table files, reused on a second call") {
  TG_SKIP_WITHOUT_FASHION_MNIST();
  auto dir = tg::test::scratch_path("taugrad_test_sweep");
  std::filesystem::remove_all(dir);
  const std::vector<std::string> args = {
      "--profile", "quick", "--device", "cpu", "--out-dir", dir.string(), "--epochs", "1", "--batch-size", "32",
      "--train-subset", "64", "--test-subset", "32", "--workers", "1", "--adv-steps", "1", "--attacks", "fgsm",
      "--attack-subset", "16", "--corrupted", "none"};
  REQUIRE(run_sweep(test_binary(), args) == 0);
  const std::string table = read_file(dir.string() + "/table.csv");
  std::istringstream in(table);
  std::vector<std::string> first_cells;
  for (std::string line; std::getline(in, line);) first_cells.push_back(line.substr(0, line.find(',')));
  CHECK(first_cells == std::vector<std::string>{"tau", "PGD-AT", "10"});
  CHECK(table.find("FGSM") != std::string::npos);
  CHECK(file_exists(dir.string() + "/table.png"));
  CHECK(file_exists(dir.string() + "/fashion-mnist_resnet20_tau1_pgd-at_seed0/evaluation.json"));
  CHECK(file_exists(dir.string() + "/fashion-mnist_resnet20_tau10_tempered-at_seed0/evaluation.json"));

  // Everything finished: a second call trains and attacks nothing and writes the same table.
  REQUIRE(run_sweep(test_binary(), args) == 0);
  CHECK(read_file(dir.string() + "/table.csv") == table);
  std::filesystem::remove_all(dir);
}
