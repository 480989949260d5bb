// Many workers sharing one sweep (DESIGN.md §7). Every run of a table or figure sweep is independent,
// so any number of processes (`mpirun -np N table1 ...`, Slurm array tasks, `--shard I/N` by hand,
// on one machine or many sharing a file system) may work through one results folder at once:
// - each run is claimed by a lock file made with an exclusive create (O_CREAT | O_EXCL), holding its
//   owner's host, pid and start time; the owner touches it (its mtime is the heartbeat) every
//   stale/10 seconds while it works, and removes it when done;
// - a lock whose heartbeat is older than the stale limit belongs to a dead worker and may be taken
//   over: it is renamed away first (only one of several workers can rename it), then created anew, so
//   two workers never both win it; the new owner resumes the run from its checkpoint;
// - finished runs are skipped as always.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace tg::runner {

// Which worker this process is among how many: from `--shard I/N` when given, else from the launcher's
// environment: Open MPI (OMPI_COMM_WORLD_RANK/SIZE, OMPI_COMM_WORLD_LOCAL_RANK), MPICH/PMI (PMI_RANK/
// PMI_SIZE), a Slurm array (SLURM_ARRAY_TASK_ID from SLURM_ARRAY_TASK_MIN, SLURM_ARRAY_TASK_COUNT) or
// a Slurm job step (SLURM_PROCID/SLURM_NTASKS, SLURM_LOCALID); else worker 0 of 1.
struct Shard {
  int64_t index = 0, count = 1;
  int64_t local_index = 0;  // among the workers on this machine (picks the GPU: local_index mod GPUs)
  std::string source = "a single process";
};
// `flag`: the --shard value ("" = from the environment). Throws tg::Error naming --shard or the
// variable when a value is malformed or the index is not below the count.
Shard detect_shard(const std::string& flag);

class RunLock {
 public:
  // Claims the lock file `path`: creates it, or takes it over when its heartbeat is older than
  // stale_seconds. Returns nullptr when a live worker holds it. `taken_from` (optional) receives the
  // stale owner's line when the lock was taken over.
  static std::unique_ptr<RunLock> try_claim(const std::string& path, double stale_seconds,
                                            std::string* taken_from = nullptr);
  ~RunLock();  // stops the heartbeat and removes the file
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

  // The owner's line this process wrote: "host <h> pid <p> since <unix seconds>".
  const std::string& owner() const { return owner_; }

 private:
  RunLock(std::string path, std::string owner, double heartbeat_seconds);
  void beat();
  std::string path_, owner_;
  double heartbeat_seconds_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;  // guarded by mutex_
  std::thread heartbeat_;
};

// The owner's line of a lock file ("" when there is none).
std::string lock_owner(const std::string& path);
// Seconds since the lock's last heartbeat (a large number when there is no lock).
double lock_age_seconds(const std::string& path);

}  // namespace tg::runner
