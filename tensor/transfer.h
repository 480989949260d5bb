// Asynchronous host -> device copies that overlap kernels: what the device prefetcher
// (data/prefetcher.h) needs from the CUDA runtime, behind a device-generic class. On the CPU nothing
// is copied; a build without CUDA needs no GPU for any of it.
//
// On CUDA an AsyncCopy
//  1. allocates the device tensors. The caching allocator reuses blocks in the order of the compute
//     stream, so a block may have been freed by kernels still queued there: the copy stream first
//     waits on an event recorded on the compute stream now;
//  2. enqueues a cudaMemcpyAsync per source on the copy stream (asynchronous for the host only from
//     pinned memory, Tensor::empty_pinned) and records an event after them;
//  3. hand_over() makes the compute stream wait on that event (the host does not wait) and returns
//     the device tensors: kernels enqueued after it see the data.
// The sources are held until the copies are done: synchronize() (or the destructor) waits on the
// event and then lets them go, so a pinned block is not refilled while a copy still reads it.
#pragma once

#include <vector>

#include "tensor/tensor.h"

namespace tg {

class AsyncCopy {
 public:
  AsyncCopy() = default;  // holds nothing
  // Starts copying `sources` (host tensors) to `device`. On the CPU the results are the sources.
  AsyncCopy(std::vector<Tensor> sources, Device device);
  ~AsyncCopy();  // synchronize(), errors swallowed
  AsyncCopy(AsyncCopy&& other) noexcept;
  AsyncCopy& operator=(AsyncCopy&& other) noexcept;
  AsyncCopy(const AsyncCopy&) = delete;
  AsyncCopy& operator=(const AsyncCopy&) = delete;

  // The device tensors, in the order of the sources, ordered before any work enqueued after this
  // call on the compute stream. Once only.
  std::vector<Tensor> hand_over();
  // The host waits for the copies, then releases the sources. Rethrows a failed copy's error.
  void synchronize();

 private:
  std::vector<Tensor> sources_, results_;
  void* event_ = nullptr;  // the cudaEvent_t after the copies; nullptr on the CPU and once waited on
};

}  // namespace tg
