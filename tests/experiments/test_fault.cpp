// A real kill -9: the `train` binary runs as a child process and is SIGKILLed twice, once in the middle
// of an epoch after a checkpoint exists and once between writing checkpoint.safetensors' temporary
// file and renaming it (the test-only hook TAUGRAD_FAULT_PAUSE_BEFORE_RENAME in tensor/safetensors.cpp).
// At each kill every file under a final name must parse completely. Run a third time, it must resume
// from the saved epoch (the first epoch's log row, timing columns included, is kept byte for byte, and
// no epoch is logged twice) and end with the model and metrics of an uninterrupted run, byte for byte.
//
// The binary is build/experiments/train beside the test binary, or $TAUGRAD_TRAIN_BIN. Skips, saying
// so, when it or Fashion-MNIST is missing.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <sstream>
#include <thread>

#include "data/dataset.h"
#include "experiments/runner/results.h"
#include "support/process.h"
#include "tensor/safetensors.h"
#include "support/scratch.h"
#include "support/fashion_mnist.h"

using namespace tg;
using namespace tg::runner;
namespace fs = std::filesystem;

namespace {

std::string train_binary() {
  if (const char* env = std::getenv("TAUGRAD_TRAIN_BIN")) return env;
  return (fs::read_symlink("/proc/self/exe").parent_path() / "experiments" / "train").string();
}

pid_t spawn_train(const std::vector<std::string>& args, const std::string& output, const std::string& extra_env = "") {
  return test::spawn(train_binary(), args, output, extra_env);
}

using test::wait_exit;

void kill9(pid_t pid) {
  REQUIRE(::kill(pid, SIGKILL) == 0);
  CHECK(wait_exit(pid) == 128 + SIGKILL);
}

// Polls `done` every 10 ms; fails the test after 120 s.
void wait_for(const std::function<bool()>& done, const char* what) {
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!done()) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < limit, "gave up waiting for ", what);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Every file under a final name in the run folder parses completely (temporary files, named
// "<final>.tmp-<pid>-<n>", are not final). Returns the number of temporary files.
int check_final_files(const std::string& dir) {
  int temporaries = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string(), path = entry.path().string();
    if (name.find(".tmp-") != std::string::npos) {
      ++temporaries;
      continue;
    }
    INFO("a final-named file is incomplete: ", path);
    if (entry.path().extension() == ".safetensors") {
      CHECK_NOTHROW(load_safetensors(path));
    } else if (entry.path().extension() == ".json") {
      CHECK_NOTHROW(Json::parse(read_file(path), path));
    } else {
      REQUIRE(name == "log.csv");
      const std::string text = read_file(path);
      CHECK((!text.empty() && text.back() == '\n'));
      for (const auto& row : lines(text)) CHECK(std::count(row.begin(), row.end(), ',') == 7);
    }
  }
  return temporaries;
}

// metrics.json without its timing fields.
std::string metrics_without_timing(const std::string& run) {
  Json m = Json::parse(read_file(run + "/metrics.json"), run + "/metrics.json");
  m.set("train_seconds", 0).set("images_per_second", 0);
  return m.dump();
}

}  // namespace

TEST_CASE("fault: kill -9 mid-epoch and mid-checkpoint, then resume to an uninterrupted run's bytes") {
  if (!fs::exists(train_binary())) {
    MESSAGE("skipped: no train binary at ", train_binary(), " (ninja -C build experiments/train, or set TAUGRAD_TRAIN_BIN)");
    return;
  }
  TG_SKIP_WITHOUT_FASHION_MNIST();
  const fs::path root = tg::test::scratch_path("taugrad_test_fault");
  fs::remove_all(root);
  fs::create_directories(root);
  const std::string out = root.string();
  // 3 epochs of 8 steps on 256 images: about 1.6 s an epoch on one core.
  auto args = [&](const std::string& id) {
    return std::vector<std::string>{"--dataset", "fashion-mnist", "--model", "resnet20", "--epochs", "3",
                                    "--batch-size", "32", "--lr", "0.05", "--train-subset", "256",
                                    "--test-subset", "64", "--workers", "1", "--device", "cpu",
                                    "--out-dir", out, "--run-id", id};
  };
  const std::string reference = out + "/reference", run = out + "/killed";
  REQUIRE(wait_exit(spawn_train(args("reference"), out + "/reference.out")) == 0);

  // Kill 1: in the middle of epoch 2. Epoch 1's checkpoint and model are saved; a quarter of epoch 1's time
  // after that, epoch 2 is still running (the log has one row).
  pid_t pid = spawn_train(args("killed"), out + "/run1.out");
  wait_for([&] { return fs::exists(run + "/model.safetensors"); }, "epoch 1's model.safetensors");
  const std::vector<std::string> log1 = lines(read_file(run + "/log.csv"));
  REQUIRE(log1.size() == 2);  // the header and epoch 1
  const double epoch_seconds = std::stod(log1[1].substr(log1[1].rfind(',', log1[1].rfind(',') - 1) + 1));
  // A quarter of epoch 1's time: epoch 1 pays for the first-call setup (oneDNN primitives, buffers), and
  // under a changing load epoch 2 may run much faster; half an epoch let it finish once (load 14 → 2).
  std::this_thread::sleep_for(std::chrono::duration<double>(epoch_seconds / 4));
  kill9(pid);
  CHECK(lines(read_file(run + "/log.csv")) == log1);  // killed inside epoch 2
  check_final_files(run);

  // Kill 2: the rerun resumes after epoch 1, finishes epoch 2 and is killed between writing the
  // checkpoint's temporary file and renaming it. The old checkpoint (epoch 1) is intact beside it.
  pid = spawn_train(args("killed"), out + "/run2.out", "TAUGRAD_FAULT_PAUSE_BEFORE_RENAME=checkpoint.safetensors");
  wait_for([&] { return read_file(out + "/run2.out").find("TAUGRAD_FAULT: paused") != std::string::npos; },
           "the paused checkpoint write");
  kill9(pid);
  CHECK(read_file(out + "/run2.out").find("resuming after epoch 1") != std::string::npos);
  CHECK(check_final_files(run) >= 1);  // the complete but unrenamed checkpoint
  CHECK(load_safetensors(run + "/checkpoint.safetensors").metadata.at("epoch") == "1");

  // The third run resumes from epoch 1 again and trains to the end.
  REQUIRE(wait_exit(spawn_train(args("killed"), out + "/run3.out")) == 0);
  CHECK(read_file(out + "/run3.out").find("resuming after epoch 1") != std::string::npos);
  check_final_files(run);
  const std::vector<std::string> log = lines(read_file(run + "/log.csv")), ref_log = lines(read_file(reference + "/log.csv"));
  REQUIRE(log.size() == 4);  // header, epochs 1, 2, 3: none repeated, none missing
  CHECK(log[1] == log1[1]);  // epoch 1's row, timing columns included: kept, not retrained
  for (size_t i = 1; i < log.size(); ++i) {
    CHECK(log[i].substr(0, 2) == std::to_string(i) + ",");
    // Every column but the two timing ones equals the uninterrupted run's.
    auto metrics_part = [](const std::string& row) { return row.substr(0, row.rfind(',', row.rfind(',') - 1)); };
    CHECK(metrics_part(log[i]) == metrics_part(ref_log[i]));
  }
  CHECK(read_file(run + "/model.safetensors") == read_file(reference + "/model.safetensors"));
  CHECK(metrics_without_timing(run) == metrics_without_timing(reference));
  fs::remove_all(root);
}
