// Tests that run table1 sweeps as child processes (tests/experiments/test_workers.cpp, test_mpirun.cpp):
// environment variables set for one scope, the table1 binary, and a tiny two-run sweep (tau 1 and 50,
// two epochs on 256 Fashion-MNIST images) that takes seconds on one core.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "data/dataset.h"
#include "experiments/runner/results.h"
#include "support/fashion_mnist.h"
#include "support/process.h"

namespace tg::test {

// Sets (or with nullptr unsets) environment variables for one scope.
struct Env {
  std::vector<std::pair<std::string, std::string>> saved;
  std::vector<std::string> unset_after;
  Env(std::initializer_list<std::pair<const char*, const char*>> vars) {
    for (auto [k, v] : vars) {
      if (const char* old = std::getenv(k)) saved.emplace_back(k, old); else unset_after.push_back(k);
      if (v) setenv(k, v, 1); else unsetenv(k);
    }
  }
  ~Env() {
    for (auto& [k, v] : saved) setenv(k.c_str(), v.c_str(), 1);
    for (auto& k : unset_after) unsetenv(k.c_str());
  }
};

inline std::filesystem::path table1_binary() { return experiment_binary("table1"); }

inline bool can_run_sweeps() {
  return std::filesystem::exists(table1_binary()) && have_fashion_mnist();
}

// table1's flags for the tiny sweep writing into `out`: runs fashion-mnist_resnet20_tau{1,50}_seed0.
inline std::vector<std::string> tiny_sweep(const std::string& out) {
  return {"--profile", "quick", "--model", "resnet20", "--taus", "1,50", "--epochs", "2", "--train-subset", "256", "--test-subset", "100",
          "--batch-size", "64", "--attack-subset", "16", "--attacks", "pgd20,apgd-dlr", "--apgd-iters", "5",
          "--corrupted", "none", "--workers", "1", "--device", "cpu", "--lock-stale", "3", "--out-dir", out};
}

inline std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// The number of lines of `path` (a log.csv: its header and one row per epoch trained).
inline int64_t lines_of(const std::string& path) {
  std::ifstream in(path);
  int64_t n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

// The tiny sweep shared by several workers into `shared` against one process's into `single`: each run
// started by exactly one worker (`logs`: all the workers' output), trained once (its log.csv), its lock
// released, the same model bytes, the same table.
inline void check_shared_sweep(const std::string& single, const std::string& shared, const std::string& logs) {
  CHECK(runner::read_file(shared + "/table.csv") == runner::read_file(single + "/table.csv"));
  for (const char* started : {"run 1/2: tau 1 ", "run 2/2: tau 50 "}) {
    const size_t first = logs.find(started);
    CHECK_MESSAGE(first != std::string::npos, started);
    CHECK_MESSAGE(logs.find(started, first + 1) == std::string::npos, started);
  }
  for (const char* run : {"fashion-mnist_resnet20_tau1_seed0", "fashion-mnist_resnet20_tau50_seed0"}) {
    CHECK(lines_of(shared + "/" + run + "/log.csv") == 3);  // a header and 2 epochs: trained once
    CHECK(runner::read_file(shared + "/" + run + "/model.safetensors") == runner::read_file(single + "/" + run + "/model.safetensors"));
    CHECK(!std::filesystem::exists(shared + "/" + run + ".lock"));
  }
}

}  // namespace tg::test
