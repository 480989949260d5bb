// The communicator (DESIGN.md §2, distributed/): the collectives that several processes training or
// evaluating together need. One interface, and behind it: MPI when the build found an MPI library
// (meson -Dmpi=auto) and the process was started by mpirun (or another MPI launcher), with NCCL
// (distributed/nccl_backend.h) for CUDA tensors where the build has CUDA and NCCL (-Dnccl=auto); else the single
// process, where every collective is the identity. A collective goes by its tensor's device: CPU
// tensors to MPI, CUDA tensors to NCCL on taugrad's CUDA stream, on the process's GPU (one GPU a rank:
// rank_gpu() by default; NCCL refuses two ranks on one GPU).
//
// Every rank calls every collective in the same order with tensors of the same shape, dtype (f32, f64
// or i64) and device kind; the result is the same on every rank.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "tensor/tensor.h"

namespace tg::distributed {

// A collective in flight (allreduce_sum_async): wait() returns when its tensor holds the result. Its
// destructor waits, so a collective is never abandoned half-way.
class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int64_t rank() const = 0;
  virtual int64_t size() const = 0;
  // "MPI", "MPI + NCCL" or "single process".
  virtual std::string backend() const = 0;

  // t = the elementwise sum of every rank's t.
  virtual void allreduce_sum(Tensor& t) = 0;
  // Starts allreduce_sum(t) and returns while it runs where the backend can (MPI_Iallreduce); t must
  // stay alive and untouched until the Work's wait(). Every rank starts its collectives in the same
  // order. The default runs allreduce_sum now and returns finished work.
  virtual std::unique_ptr<Work> allreduce_sum_async(Tensor& t);
  // t = the elementwise mean of every rank's t (the sum, then / size: f32 and f64 only).
  void allreduce_mean(Tensor& t);
  // t = rank root's t.
  virtual void broadcast(Tensor& t, int64_t root) = 0;
  // Every rank's t stacked in rank order: shape [size, t's shape...].
  virtual Tensor allgather(const Tensor& t) = 0;
};

// This process's world: MPI's when built with MPI and started by an MPI launcher (MPI is initialized
// on the first call and finalized at exit), else the single process.
Communicator& world();

// True when this build has the MPI backend.
bool mpi_built();
// True when this build has the NCCL backend (CUDA tensors; beside MPI).
bool nccl_built();
// This process's rank among the ranks on its node (MPI_COMM_TYPE_SHARED; 0 for a single process).
int64_t local_rank();
// This rank's GPU by default: cuda:(local_rank() mod the GPUs it sees), so that the ranks of a node
// with as many GPUs as ranks each have their own. Throws when there is no GPU.
Device rank_gpu();

}  // namespace tg::distributed
