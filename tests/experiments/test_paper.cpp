// `paper` end to end on a tiny Table I: it runs the step, writes report.md with the table, the image,
// the exact command and the machine, reuses the finished runs on a second call, and reports a failed
// step (exit status 1) without losing the report. Runs the built binary beside the test binary
// (build/experiments/paper); skips, saying so, without it or without Fashion-MNIST.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "data/dataset.h"
#include "experiments/runner/results.h"
#include "support/scratch.h"
#include "support/fashion_mnist.h"

namespace fs = std::filesystem;
using namespace tg::runner;

namespace {

fs::path paper_binary() { return fs::read_symlink("/proc/self/exe").parent_path() / "experiments" / "paper"; }

bool can_run() {
  return fs::exists(paper_binary()) && tg::test::have_fashion_mnist();
}

int run(const std::string& args) {
  const int raw = std::system((paper_binary().string() + " " + args + " >/dev/null 2>&1").c_str());
  return WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
}

}  // namespace

TEST_CASE("paper: runs the steps it is given and writes the report" * doctest::skip(!can_run())) {
  const fs::path dir = tg::test::scratch_path("taugrad_test_paper");
  fs::remove_all(dir);
  const std::string tiny =
      " -- --taus 1 --epochs 1 --train-subset 256 --test-subset 100 --batch-size 64 --attack-subset 16"
      " --attacks pgd20,apgd-dlr --apgd-iters 5 --corrupted none --workers 1 --device cpu --out-dir " +
      (dir / "table1").string();
  REQUIRE(run("--only table1 --out " + (dir / "report").string() + tiny) == 0);
  const std::string report = read_file((dir / "report" / "report.md").string());
  CHECK(report.find("Table I") != std::string::npos);
  CHECK(report.find("| tau") != std::string::npos);                          // the table itself
  CHECK(report.find("](../table1/table.png)") != std::string::npos);         // the plot, inline
  CHECK(report.find("table1 --profile quick -- ") == std::string::npos);     // the command as a user types it
  CHECK(report.find("`table1 --profile quick --taus 1 --epochs 1") != std::string::npos);
  CHECK(report.find("## Machine") != std::string::npos);
  CHECK(report.find("Fig. 1") == std::string::npos);  // only the steps asked for

  // A second call reuses the run: the log.csv of the run is not rewritten.
  fs::path log;
  for (const auto& e : fs::recursive_directory_iterator(dir / "table1"))
    if (e.path().filename() == "log.csv") log = e.path();
  REQUIRE(!log.empty());
  const auto before = fs::last_write_time(log);
  REQUIRE(run("--only table1 --out " + (dir / "report").string() + tiny) == 0);
  CHECK(fs::last_write_time(log) == before);

  // A failing step: exit status 1, and the report says so.
  CHECK(run("--only table1 --out " + (dir / "failed").string() + " -- --no-such-flag") == 1);
  CHECK(read_file((dir / "failed" / "report.md").string()).find("**Failed** (exit status 2)") != std::string::npos);

  CHECK(run("--only fig9") == 2);  // an unknown step is a flag error
  fs::remove_all(dir);
}
