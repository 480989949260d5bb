// A DevicePrefetcher hands out a DataLoader's batches already on the device, copied while the
// previous training step runs, so the GPU does not wait for the host -> device copy. Use it in place
// of the loader's start_epoch / next, with the loader's pin_memory set for a GPU:
//
//   LoaderOptions lo;                  // batch_size, seed, num_workers, augment, ... as before
//   lo.pin_memory = device.is_cuda();  // batches assembled in page-locked memory
//   DataLoader loader(train_set, lo);
//   DevicePrefetcher prefetcher(loader, device);
//   for (int64_t epoch = ...) {
//     prefetcher.start_epoch(epoch);
//     while (auto batch = prefetcher.next()) {
//       Tensor x = batch->images, y = batch->labels;  // on `device` already: no .to(device)
//       ...                                           // the step, on the compute stream
//     }
//   }
//
// On CUDA, next() first takes the loader's following batch and enqueues its copy on the copy stream
// (tensor/transfer.h: the copy waits for the compute work queued so far, whose freed blocks the
// caching allocator may hand it), then returns the current batch, whose copy was enqueued by the
// call before, after making the compute stream wait on that copy's event. So copy k + 1 runs while
// the caller's step k computes. A batch's pinned host memory is kept until its copy is done (the next
// call waits on the event), so the loader's workers cannot refill it under the copy. Batches are the
// loader's, in its order, values unchanged. On the CPU next() passes the loader's batches through.
//
// Holds two batches on the device (the one handed out and the one being copied). Not thread-safe:
// one thread calls start_epoch and next, as with the loader.
#pragma once

#include <cstdint>
#include <optional>

#include "data/loader.h"
#include "tensor/transfer.h"

namespace tg {

class DevicePrefetcher {
 public:
  // `loader` must outlive the prefetcher; use its start_epoch / next only through the prefetcher.
  DevicePrefetcher(DataLoader& loader, Device device);
  ~DevicePrefetcher();  // waits for a copy in flight (its memory goes back to the caches)
  DevicePrefetcher(const DevicePrefetcher&) = delete;
  DevicePrefetcher& operator=(const DevicePrefetcher&) = delete;

  // Begins epoch `epoch` of the loader (a copy in flight from an abandoned epoch is waited for).
  void start_epoch(int64_t epoch);
  // The epoch's next batch with images and labels on the device, ready for kernels enqueued after
  // this call; nullopt after the last. Rethrows the loader's and the copies' errors.
  std::optional<Batch> next();

  Device device() const { return device_; }
  DataLoader& loader() { return loader_; }

 private:
  struct InFlight {
    AsyncCopy copy;  // images, labels
    int64_t index = 0;
  };
  std::optional<InFlight> fetch();  // the loader's next batch with its copy enqueued

  DataLoader& loader_;
  Device device_;
  bool started_ = false, primed_ = false;
  std::optional<InFlight> pending_;  // the next batch to hand out, its copy enqueued
  AsyncCopy handed_;                 // the last batch handed out: its host memory, until copied
};

}  // namespace tg
