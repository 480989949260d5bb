// Ranks as threads of one process, for tests of code that calls the communicator's collectives
// (distributed/communicator.h) without mpirun: N threads, each with a ThreadRank; allgather meets at a
// barrier and stacks every rank's tensor in rank order (the other collectives are not needed yet).
// doctest's checks are not thread-safe: the threads compute, the test checks after joining them.
#pragma once

#include <atomic>
#include <barrier>
#include <functional>
#include <thread>
#include <vector>

#include "distributed/communicator.h"
#include "tensor/ops.h"
#include "util/error.h"

namespace tg::test {

struct Threads {
  explicit Threads(int64_t n) : ranks(n), slots(static_cast<size_t>(n)), meet(n) {}
  int64_t ranks;
  std::vector<Tensor> slots;
  std::barrier<> meet;
  std::atomic<bool> shapes_differ{false};  // a rank broke the contract: the same shape on every rank
};

class ThreadRank final : public distributed::Communicator {
 public:
  ThreadRank(Threads& all, int64_t rank) : all_(all), rank_(rank) {}
  int64_t rank() const override { return rank_; }
  int64_t size() const override { return all_.ranks; }
  std::string backend() const override { return "threads"; }
  void allreduce_sum(Tensor&) override { TG_FAIL("ThreadRank: allreduce_sum is not needed yet"); }
  void broadcast(Tensor&, int64_t) override { TG_FAIL("ThreadRank: broadcast is not needed yet"); }
  Tensor allgather(const Tensor& t) override {
    all_.slots[static_cast<size_t>(rank_)] = t.clone();
    all_.meet.arrive_and_wait();
    std::vector<Tensor> rows;
    for (const Tensor& s : all_.slots) {
      if (s.shape() != t.shape()) all_.shapes_differ = true;
      Shape one = s.shape();
      one.insert(one.begin(), 1);
      rows.push_back(s.reshape(one));
    }
    Tensor out = concat(rows, 0);
    all_.meet.arrive_and_wait();  // nobody overwrites a slot before every rank has read them
    return out;
  }

 private:
  Threads& all_;
  int64_t rank_;
};

// Runs body(comm) on `ranks` threads, one ThreadRank each, and joins them.
inline void run_ranks(Threads& threads, const std::function<void(ThreadRank&)>& body) {
  std::vector<std::thread> workers;
  for (int64_t r = 0; r < threads.ranks; ++r)
    workers.emplace_back([&, r] {
      ThreadRank comm(threads, r);
      body(comm);
    });
  for (auto& w : workers) w.join();
}

}  // namespace tg::test
