// Under Open MPI's mpirun: the communicator's collectives on two ranks (distributed/communicator.h, by
// the program tests/distributed/mpi_check.cpp), and a sweep launched the way a user on a node launches it: `mpirun --oversubscribe -np 2 table1 ...` (Open
// MPI, tests/support/sweep.h's tiny sweep). Each rank finds its worker index in Open MPI's environment
// (experiments/runner/workers.h), the two share the runs through their lock files, and the table is the
// one a single process writes, written once. Skips where mpirun is absent (scripts/install-deps
// installs it).
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "distributed/communicator.h"
#include "experiments/runner/results.h"
#include "support/mpirun.h"
#include "support/scratch.h"
#include "support/sweep.h"

namespace fs = std::filesystem;
using namespace tg;
using test::count_of;
using test::find_mpirun;
using test::mpirun_env;

TEST_CASE("mpirun: the communicator's collectives on two ranks (MPI backend)" *
          doctest::skip(find_mpirun().empty() || !distributed::mpi_built())) {
  test::check_on_two_ranks("taugrad_mpi_check", "ok");
}

TEST_CASE("mpirun: two ranks share a table1 sweep and write the table one process writes" *
          doctest::skip(find_mpirun().empty() || !test::can_run_sweeps())) {
  const fs::path dir = test::scratch_path("taugrad_test_mpirun");
  fs::remove_all(dir);
  fs::create_directories(dir);
  test::Env env = mpirun_env();
  const std::string single = (dir / "single").string(), shared = (dir / "shared").string();
  const std::string log = (dir / "mpirun.log").string();
  const pid_t one = test::spawn(test::table1_binary().string(), test::tiny_sweep(single), (dir / "single.log").string());
  const pid_t two = test::spawn(find_mpirun(), test::with({"--oversubscribe", "-np", "2", test::table1_binary().string()},
                                                          test::tiny_sweep(shared)), log);
  CHECK(test::wait_exit(one) == 0);
  REQUIRE_MESSAGE(test::wait_exit(two) == 0, runner::read_file(log));
  const std::string out = runner::read_file(log);
  for (const char* rank : {"worker 0 of 2 (Open MPI)", "worker 1 of 2 (Open MPI)"}) CHECK_MESSAGE(count_of(out, rank) == 1, rank);
  CHECK(count_of(out, "/table.md, table.csv and table.png") == 1);  // written once, by the rank that finished last
  test::check_shared_sweep(single, shared, out);
  fs::remove_all(dir);
}
