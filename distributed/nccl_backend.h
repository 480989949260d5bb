// The NCCL backend of the communicator (distributed/communicator.h): the collectives on CUDA tensors,
// enqueued on taugrad's CUDA stream (tensor/cuda/runtime.h, stream()), so they are ordered with the
// kernels around them and the host does not wait (a copy to the host synchronizes, as always). Built
// where the build has CUDA and MPI and meson finds nccl.h and libnccl (-Dnccl=auto); the MPI backend
// makes it on the first collective on a CUDA tensor (rank 0's ncclUniqueId broadcast over MPI), and
// sends CPU tensors to MPI as before. Private to distributed/.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "tensor/tensor.h"

namespace tg::distributed {

class Nccl {
 public:
  // One rank of `size` on GPU `device`. share_id(bytes, n): broadcasts n bytes from rank 0 to every
  // rank (the unique id; MPI_Bcast). Every rank constructs it together (ncclCommInitRank waits for all).
  Nccl(int64_t rank, int64_t size, int device, const std::function<void(void*, int)>& share_id);
  ~Nccl();
  Nccl(const Nccl&) = delete;
  Nccl& operator=(const Nccl&) = delete;

  int device() const { return device_; }
  void allreduce_sum(Tensor& t);
  void broadcast(Tensor& t, int64_t root);
  Tensor allgather(const Tensor& t);  // [size, t's shape...] on t's device

 private:
  struct Handle;
  std::unique_ptr<Handle> handle_;
  int64_t size_;
  int device_;
};

}  // namespace tg::distributed
