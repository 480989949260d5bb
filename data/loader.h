// A DataLoader: batches of a Dataset, shuffled by seed, augmented and assembled ahead of time by
// worker threads into a bounded prefetch queue, yielded in order as float32 pixels in [0, 1] on the
// CPU. Moving them to the GPU is the caller's step, best left to a DevicePrefetcher
// (data/prefetcher.h), which overlaps the copy with the training step when pin_memory is set.
//
// Deterministic: batch b of epoch e depends only on (seed, e, b). The order is tg::randperm with a
// Generator seeded by seed + epoch, and the augmentation of batch b draws from its own generator,
// so the batches are the same whatever the number of workers and however the threads interleave.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "data/dataset.h"
#include "tensor/random.h"

namespace tg {

struct Batch {
  Tensor images;      // float32 [B, C, H', W'] in [0, 1] (H', W' as the augmentation leaves them)
  Tensor labels;      // int64 [B]
  int64_t index = 0;  // the batch's position in its epoch
};

// Augments one batch of images as they are stored (uint8 or float [B, C, H, W]); returns uint8 or
// float images (converted to float32 in [0, 1] after). Runs on worker threads: it must not touch
// shared mutable state, and must draw randomness only from `gen`.
using Augment = std::function<Tensor(const Tensor& images, Generator& gen)>;

struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = false;  // drop the last, partial batch
  uint64_t seed = 0;
  int num_workers = 2;     // 0: batches are assembled on the calling thread, in next()
  int prefetch = 4;        // batches assembled ahead of the one being consumed
  Augment augment;         // empty: none
  // Batches (images and labels) in pinned memory (Tensor::empty_pinned), which the GPU copies from
  // asynchronously: set it when a DevicePrefetcher takes the batches to a GPU. Images are gathered
  // (float32 without augmentation) or converted (uint8) straight into it; an augmentation's float
  // output is copied once. Without a GPU the memory is ordinary (is_pinned() false); the values are
  // the same either way.
  bool pin_memory = false;
};

class DataLoader {
 public:
  DataLoader(Dataset data, LoaderOptions options);
  ~DataLoader();  // stops the workers, also mid-epoch
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Begins epoch `epoch` (any previous one is abandoned); the workers start assembling at once.
  void start_epoch(int64_t epoch);
  // The epoch's next batch, in order; nullopt after the last. Rethrows a worker's error.
  std::optional<Batch> next();

  int64_t num_batches() const;
  const Dataset& dataset() const { return data_; }
  const LoaderOptions& options() const { return options_; }

 private:
  struct Slot {
    Batch batch;
    std::exception_ptr error;
  };

  Batch assemble(int64_t epoch, int64_t b, const std::vector<int64_t>& order) const;
  void worker_loop();

  Dataset data_;
  LoaderOptions options_;
  size_t row_bytes_ = 0;

  std::mutex mutex_;
  std::condition_variable work_cv_, ready_cv_;
  bool stop_ = false;
  bool started_ = false;
  uint64_t generation_ = 0;  // bumped by each start_epoch, so stale results are dropped
  int64_t epoch_ = 0;
  std::shared_ptr<const std::vector<int64_t>> order_;
  int64_t next_claim_ = 0, next_yield_ = 0;
  std::map<int64_t, Slot> ready_;
  std::vector<std::thread> workers_;
};

}  // namespace tg
