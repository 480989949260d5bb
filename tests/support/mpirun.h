// Tests that start programs under Open MPI's mpirun (tests/experiments/test_mpirun.cpp,
// test_data_parallel.cpp): where mpirun is, and the environment it needs here.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>

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

}  // namespace tg::test
