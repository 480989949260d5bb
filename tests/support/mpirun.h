// Tests that start programs under Open MPI's mpirun (tests/experiments/test_mpirun.cpp,
// test_sharded_evaluation.cpp, test_data_parallel.cpp): where mpirun is, and the environment it needs here.
#pragma once

#include <unistd.h>

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "experiments/runner/results.h"
#include "support/scratch.h"
#include "support/sweep.h"

namespace tg::test {

// mpirun on PATH, or "" when there is none.
inline std::string find_mpirun() {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');)
    if (!dir.empty() && access((std::filesystem::path(dir) / "mpirun").c_str(), X_OK) == 0)
      return (std::filesystem::path(dir) / "mpirun").string();
  return "";
}

// Open MPI refuses to run as root (as CI does) unless told that it is meant; this says so, for one scope.
inline Env mpirun_env() {
  const bool root = getuid() == 0;
  return Env{{"OMP_NUM_THREADS", "1"}, {"OMPI_ALLOW_RUN_AS_ROOT", root ? "1" : nullptr},
             {"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", root ? "1" : nullptr}};
}

inline int64_t count_of(const std::string& text, const std::string& what) {
  int64_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Runs build/distributed/<program> [mode] (a check program beside the test binary) under `mpirun -np 2`
// and checks that it exits 0 and that each rank printed "rank R of 2: <ok>" once.
inline void check_on_two_ranks(const std::string& program, const std::string& ok, const std::string& mode = "") {
  const std::filesystem::path check = std::filesystem::read_symlink("/proc/self/exe").parent_path() / "distributed" / program;
  REQUIRE_MESSAGE(std::filesystem::exists(check), check.string(), " is not built (ninja -C build distributed/", program, ")");
  const std::filesystem::path dir = scratch_path(program);
  std::filesystem::create_directories(dir);
  const std::string log = (dir / "mpirun.log").string();
  Env env = mpirun_env();
  std::vector<std::string> args{"--oversubscribe", "-np", "2", check.string()};
  if (!mode.empty()) args.push_back(mode);
  const int status = wait_exit(spawn(find_mpirun(), args, log));
  const std::string out = runner::read_file(log);
  CHECK_MESSAGE(status == 0, out);
  CHECK_MESSAGE(count_of(out, "rank 0 of 2: " + ok) == 1, out);
  CHECK_MESSAGE(count_of(out, "rank 1 of 2: " + ok) == 1, out);
  std::filesystem::remove_all(dir);
}

}  // namespace tg::test
