#include "experiments/runner/workers.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>

#include "util/error.h"

namespace tg::runner {

namespace {

// A non-negative integer, or -1 when `text` is not one.
int64_t parse_count(const std::string& text) {
  if (text.empty() || text.size() > 12 || text.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(text);
}

// The integer in environment variable `name`, -1 when unset; throws when it is set but malformed.
int64_t env_count(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return -1;
  const int64_t n = parse_count(v);
  TG_CHECK(n >= 0, "the environment variable ", name, " is '", v, "', not a non-negative integer");
  return n;
}

Shard checked(Shard s, const std::string& what) {
  TG_CHECK(s.count >= 1 && s.index >= 0 && s.index < s.count, what, ": worker ", s.index, " of ", s.count,
           " (the index must be 0 <= I < N)");
  return s;
}

std::string host_name() {
  char buffer[256] = {0};
  return gethostname(buffer, sizeof buffer - 1) == 0 ? buffer : "unknown-host";
}

// True when a lock's owner line names this host and a process that no longer exists (a worker killed
// here, e.g. by Ctrl-C): its lock is stale at once, whatever its heartbeat says.
bool owner_is_dead_here(const std::string& owner) {
  std::istringstream in(owner);
  std::string host_word, host, pid_word;
  long long pid = 0;
  if (!(in >> host_word >> host >> pid_word >> pid) || host_word != "host" || pid_word != "pid" || pid <= 0) return false;
  return host == host_name() && kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

}  // namespace

Shard detect_shard(const std::string& flag) {
  Shard s;
  if (!flag.empty()) {
    const size_t slash = flag.find('/');
    s.index = slash == std::string::npos ? -1 : parse_count(flag.substr(0, slash));
    s.count = slash == std::string::npos ? -1 : parse_count(flag.substr(slash + 1));
    TG_CHECK(s.index >= 0 && s.count >= 1, "--shard: '", flag, "' is not I/N (e.g. --shard 0/4)");
    s.source = "--shard " + flag;
    return checked(s, "--shard");
  }
  if (env_count("OMPI_COMM_WORLD_SIZE") >= 0) {
    s.index = env_count("OMPI_COMM_WORLD_RANK");
    s.count = env_count("OMPI_COMM_WORLD_SIZE");
    s.local_index = std::max<int64_t>(0, env_count("OMPI_COMM_WORLD_LOCAL_RANK"));
    s.source = "Open MPI";
    return checked(s, "OMPI_COMM_WORLD_RANK/SIZE");
  }
  if (env_count("PMI_SIZE") >= 0) {
    s.index = env_count("PMI_RANK");
    s.count = env_count("PMI_SIZE");
    s.local_index = std::max<int64_t>(0, env_count("MPI_LOCALRANKID"));
    s.source = "MPI (PMI)";
    return checked(s, "PMI_RANK/PMI_SIZE");
  }
  if (env_count("SLURM_ARRAY_TASK_ID") >= 0) {
    const int64_t count = env_count("SLURM_ARRAY_TASK_COUNT");
    TG_CHECK(count >= 1, "SLURM_ARRAY_TASK_ID is set without SLURM_ARRAY_TASK_COUNT");
    s.index = env_count("SLURM_ARRAY_TASK_ID") - std::max<int64_t>(0, env_count("SLURM_ARRAY_TASK_MIN"));
    s.count = count;
    s.source = "a Slurm array";
    return checked(s, "SLURM_ARRAY_TASK_ID/MIN/COUNT");
  }
  if (env_count("SLURM_NTASKS") > 1 && env_count("SLURM_PROCID") >= 0) {
    s.index = env_count("SLURM_PROCID");
    s.count = env_count("SLURM_NTASKS");
    s.local_index = std::max<int64_t>(0, env_count("SLURM_LOCALID"));
    s.source = "a Slurm job step";
    return checked(s, "SLURM_PROCID/SLURM_NTASKS");
  }
  return s;
}

std::string lock_owner(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

double lock_age_seconds(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return 1e18;
  const double mtime = static_cast<double>(st.st_mtim.tv_sec) + 1e-9 * static_cast<double>(st.st_mtim.tv_nsec);
  timespec now {};
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec) - mtime;
}

std::unique_ptr<RunLock> RunLock::try_claim(const std::string& path, double stale_seconds, std::string* taken_from) {
  TG_CHECK(stale_seconds > 0, "RunLock: the stale limit must be > 0 seconds, got ", stale_seconds);
  std::ostringstream owner;
  owner << "host " << host_name() << " pid " << getpid() << " since " << std::time(nullptr);
  for (int attempt = 0; attempt < 2; ++attempt) {
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd >= 0) {
      const std::string line = owner.str() + "\n";
      const bool written = write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
      close(fd);
      TG_CHECK(written, "RunLock: could not write the lock file ", path);
      return std::unique_ptr<RunLock>(new RunLock(path, owner.str(), stale_seconds / 10));
    }
    TG_CHECK(errno == EEXIST, "RunLock: could not create the lock file ", path, " (errno ", errno, ")");
    if (attempt > 0 || (lock_age_seconds(path) <= stale_seconds && !owner_is_dead_here(lock_owner(path))))
      return nullptr;
    // Stale: rename it away (of several workers, one rename succeeds), then create it again above.
    const std::string previous = lock_owner(path);
    const std::string aside = path + ".stale." + std::to_string(getpid());
    if (std::rename(path.c_str(), aside.c_str()) != 0) return nullptr;  // another worker took it first
    std::remove(aside.c_str());
    if (taken_from) *taken_from = previous;
  }
  return nullptr;
}

RunLock::RunLock(std::string path, std::string owner, double heartbeat_seconds)
    : path_(std::move(path)), owner_(std::move(owner)), heartbeat_seconds_(heartbeat_seconds) {
  heartbeat_ = std::thread([this] { beat(); });
}

// Sleeps between beats until the destructor says stop (no polling while the run trains).
void RunLock::beat() {
  const auto period = std::chrono::duration<double>(heartbeat_seconds_);
  std::unique_lock<std::mutex> lock(mutex_);
  while (!wake_.wait_for(lock, period, [this] { return stop_; })) {
    if (lock_owner(path_) != owner_) {
      std::fprintf(stderr, "warning: the lock %s is no longer this worker's (now: '%s'); was this worker stalled "
                   "for longer than the stale limit?\n", path_.c_str(), lock_owner(path_).c_str());
      continue;
    }
    utimensat(AT_FDCWD, path_.c_str(), nullptr, 0);  // the heartbeat: mtime = now
  }
}

RunLock::~RunLock() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  if (heartbeat_.joinable()) heartbeat_.join();
  if (lock_owner(path_) == owner_) std::remove(path_.c_str());
}

}  // namespace tg::runner
