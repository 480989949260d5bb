// Many workers on one sweep (experiments/runner/workers.h): which worker a process is, the lock files
// (exclusive, heartbeat, stale take-over), and two table1 processes sharing one folder: no run twice,
// the same table as one process, and a killed worker's run finished by the other from its checkpoint.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "experiments/runner/results.h"
#include "experiments/runner/workers.h"
#include "support/scratch.h"
#include "support/sweep.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace tg;
using namespace tg::runner;

namespace {

using test::Env;
using test::lines_of;
using test::tiny_sweep;
using test::with;
using test::wait_exit;
using test::can_run_sweeps;

// No launcher variables: each test sets only its own.
Env clean_env() {
  return Env{{"OMPI_COMM_WORLD_RANK", nullptr}, {"OMPI_COMM_WORLD_SIZE", nullptr}, {"OMPI_COMM_WORLD_LOCAL_RANK", nullptr},
             {"PMI_RANK", nullptr}, {"PMI_SIZE", nullptr}, {"SLURM_ARRAY_TASK_ID", nullptr},
             {"SLURM_ARRAY_TASK_MIN", nullptr}, {"SLURM_ARRAY_TASK_COUNT", nullptr}, {"SLURM_PROCID", nullptr},
             {"SLURM_NTASKS", nullptr}};
}

void set_mtime_ago(const std::string& path, double seconds) {
  timespec times[2];
  clock_gettime(CLOCK_REALTIME, &times[0]);
  times[0].tv_sec -= static_cast<time_t>(seconds);
  times[1] = times[0];
  REQUIRE(utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
}

// Starts table1 with `args`, its output into `log`; returns the pid.
pid_t start_table1(const std::vector<std::string>& args, const std::string& log) {
  return test::spawn(test::table1_binary().string(), args, log);
}

}  // namespace

TEST_CASE("workers: which worker a process is, from --shard or the launcher's environment") {
  Env env = clean_env();
  Shard s = detect_shard("");
  CHECK(s.index == 0);
  CHECK(s.count == 1);
  s = detect_shard("2/4");
  CHECK(s.index == 2);
  CHECK(s.count == 4);
  for (const char* bad : {"4/4", "1", "a/2", "1/0", "-1/2", "1/2/3"}) CHECK_THROWS_AS(detect_shard(bad), Error);
  {
    Env mpi{{"OMPI_COMM_WORLD_RANK", "3"}, {"OMPI_COMM_WORLD_SIZE", "8"}, {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}};
    s = detect_shard("");
    CHECK(s.index == 3);
    CHECK(s.count == 8);
    CHECK(s.local_index == 1);
    CHECK(detect_shard("0/2").index == 0);  // the flag wins
  }
  {
    Env slurm{{"SLURM_ARRAY_TASK_ID", "7"}, {"SLURM_ARRAY_TASK_MIN", "5"}, {"SLURM_ARRAY_TASK_COUNT", "4"}};
    s = detect_shard("");
    CHECK(s.index == 2);
    CHECK(s.count == 4);
  }
  {
    Env broken{{"SLURM_ARRAY_TASK_ID", "x"}, {"SLURM_ARRAY_TASK_COUNT", "4"}};
    CHECK_THROWS_WITH_AS(detect_shard(""), doctest::Contains("SLURM_ARRAY_TASK_ID"), Error);
  }
}

TEST_CASE("workers: a lock is exclusive, beats, is released, and is taken over only when stale") {
  const fs::path dir = tg::test::scratch_path("taugrad_test_locks");
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "run.lock").string();
  {
    auto a = RunLock::try_claim(path, 60);
    REQUIRE(a);
    CHECK(lock_owner(path) == a->owner());
    CHECK(RunLock::try_claim(path, 60) == nullptr);  // held by a live worker (this one)
    set_mtime_ago(path, 30);
    CHECK(lock_age_seconds(path) > 29);
    std::this_thread::sleep_for(std::chrono::milliseconds(6500));  // a heartbeat every 6 s
    CHECK(lock_age_seconds(path) < 7);
  }
  CHECK(!fs::exists(path));  // released

  // A stale lock of a worker on another host: taken over, and the new owner says whose it was.
  { std::ofstream(path) << "host elsewhere pid 1 since 0\n"; }
  CHECK(RunLock::try_claim(path, 60) == nullptr);  // fresh: kept
  set_mtime_ago(path, 120);
  std::string taken_from;
  auto b = RunLock::try_claim(path, 60, &taken_from);
  REQUIRE(b);
  CHECK(taken_from == "host elsewhere pid 1 since 0");
  b.reset();

  // A fresh lock of a process of this host that no longer exists (killed by Ctrl-C): stale at once.
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  { std::ofstream(path) << "host " << host << " pid " << child << " since 0\n"; }
  CHECK(RunLock::try_claim(path, 60) != nullptr);
  fs::remove_all(dir);
}

TEST_CASE("workers: two table1 processes share a sweep: no run twice, the same table as one process" *
          doctest::skip(!can_run_sweeps())) {
  const fs::path dir = tg::test::scratch_path("taugrad_test_shared_sweep");
  fs::remove_all(dir);
  fs::create_directories(dir);
  Env threads{{"OMP_NUM_THREADS", "1"}};
  const std::string single = (dir / "single").string(), shared = (dir / "shared").string();
  REQUIRE(wait_exit(start_table1(tiny_sweep(single), (dir / "single.log").string())) == 0);
  const pid_t a = start_table1(with(tiny_sweep(shared), {"--shard", "0/2"}), (dir / "a.log").string());
  const pid_t b = start_table1(with(tiny_sweep(shared), {"--shard", "1/2"}), (dir / "b.log").string());
  CHECK(wait_exit(a) == 0);
  CHECK(wait_exit(b) == 0);
  test::check_shared_sweep(single, shared, read_file((dir / "a.log").string()) + read_file((dir / "b.log").string()));
  fs::remove_all(dir);
}

TEST_CASE("workers: a killed worker's run is finished by the other from its checkpoint" *
          doctest::skip(!can_run_sweeps())) {
  const fs::path dir = tg::test::scratch_path("taugrad_test_killed_worker");
  fs::remove_all(dir);
  fs::create_directories(dir);
  Env threads{{"OMP_NUM_THREADS", "1"}};
  const std::string out = (dir / "sweep").string();
  const std::vector<std::string> one_run = {"--taus", "1", "--epochs", "3"};  // the later flags win
  const std::string run = out + "/fashion-mnist_resnet20_tau1_seed0";
  // Worker 0 claims the only run; it is killed once its first epoch's checkpoint exists.
  const pid_t a = start_table1(with(with(tiny_sweep(out), one_run), {"--shard", "0/2"}), (dir / "a.log").string());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  auto checkpointed = [&] { return lines_of(run + "/log.csv") >= 2 && fs::exists(run + "/checkpoint.safetensors"); };
  while (!checkpointed() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(checkpointed());
  kill(a, SIGKILL);
  wait_exit(a);
  REQUIRE(fs::exists(run + ".lock"));  // left behind by the killed worker
  // Pretend it was killed on another machine, so only the heartbeat can tell that it is dead.
  { std::ofstream(run + ".lock") << "host elsewhere pid 1 since 0\n"; }
  const std::string first_epoch = read_file(run + "/log.csv");
  const pid_t b = start_table1(with(with(tiny_sweep(out), one_run), {"--shard", "1/2"}), (dir / "b.log").string());
  CHECK(wait_exit(b) == 0);
  const std::string log = read_file(run + "/log.csv");
  CHECK(log.rfind(first_epoch.substr(0, first_epoch.find('\n', first_epoch.find('\n') + 1)), 0) == 0);  // resumed
  CHECK(lines_of(run + "/log.csv") == 4);
  CHECK(read_file((dir / "b.log").string()).find("taken over from a stale lock: host elsewhere") != std::string::npos);
  CHECK(read_file(out + "/table.md").find("| 1 ") != std::string::npos);
  fs::remove_all(dir);
}
