// Tier 2 (GPU) for pinned memory and the DevicePrefetcher: pinned tensors are page-locked and their
// blocks reused; prefetched device batches equal the CPU loader's over two epochs; and no batch is
// corrupted when the step allocates and frees device memory of the batch's sizes between batches
// while earlier kernels are still queued (the copy stream must wait for the compute stream before it
// writes a reused block, and the compute stream for the copy before it reads the batch). Without a
// GPU every case is skipped, with the reason printed.
#include <doctest/doctest.h>

#include <vector>

#include "data/prefetcher.h"
#include "data/transforms.h"
#include "tensor/ops.h"
#include "tensor/random.h"

#ifdef TAUGRAD_CUDA
#include "tensor/cuda/runtime.h"
#endif

using namespace tg;

TEST_CASE("cuda prefetch: availability") {
  if (!cuda_is_built()) {
    MESSAGE("tier 2 (pinned memory, DevicePrefetcher): skipped, taugrad was built without CUDA");
  } else if (!cuda_is_available()) {
#ifdef TAUGRAD_CUDA
    MESSAGE("tier 2 (pinned memory, DevicePrefetcher): skipped, no GPU: " << cuda::no_device_reason());
#endif
  } else {
    MESSAGE("tier 2 (pinned memory, DevicePrefetcher): running on a GPU");
  }
}

#ifdef TAUGRAD_CUDA

namespace {

// n random uint8 images 3 x 16 x 16 with labels in [0, 10).
Dataset random_set(int64_t n) {
  Generator gen(42);
  Dataset d;
  d.name = "random";
  d.images = randint({n, 3, 16, 16}, 0, 256, DType::u8, Device::cpu(), &gen);
  d.labels = randint({n}, 0, 10, DType::i64, Device::cpu(), &gen);
  d.num_classes = 10;
  return d;
}

LoaderOptions options(bool pin) {
  LoaderOptions o;
  o.batch_size = 32;
  o.seed = 9;
  o.num_workers = 3;
  o.augment = [](const Tensor& x, Generator& g) { return random_horizontal_flip(random_crop(x, 16, 16, 2, g), g); };
  o.pin_memory = pin;
  return o;
}

}  // namespace

TEST_CASE("cuda prefetch: pinned tensors are page-locked, cached, and copy both ways" *
          doctest::skip(!cuda_is_available())) {
  Tensor t = Tensor::empty_pinned({1000, 257}, DType::f32);
  REQUIRE(t.is_pinned());
  cudaPointerAttributes attr{};
  REQUIRE(cudaPointerGetAttributes(&attr, t.raw()) == cudaSuccess);
  CHECK(attr.type == cudaMemoryTypeHost);
  Generator gen(1);
  Tensor values = rand({1000, 257}, DType::f32, Device::cpu(), &gen);
  t.copy_(values);
  Tensor on_gpu = t.to(Device::cuda());
  t.fill_(0);  // copy() waited for the copy from pinned memory: the GPU has the values
  CHECK(on_gpu.cpu().to_vector<float>() == values.to_vector<float>());
  t.copy_(on_gpu);
  CHECK(t.to_vector<float>() == values.to_vector<float>());
  // The freed block is reused for the same size, not allocated again.
  void* block = t.raw();
  t = Tensor();
  const cuda::CacheStats before = cuda::pinned_cache_stats();
  Tensor again = Tensor::empty_pinned({1000, 257}, DType::f32);
  CHECK(again.raw() == block);
  CHECK(cuda::pinned_cache_stats().malloc_calls == before.malloc_calls);
  CHECK(cuda::pinned_cache_stats().cache_hits == before.cache_hits + 1);
}

TEST_CASE("cuda prefetch: device batches equal the CPU loader's over two epochs" * doctest::skip(!cuda_is_available())) {
  const Dataset data = random_set(300);  // 10 batches, the last one partial
  DataLoader reference(data, options(false));
  DataLoader pinned(data, options(true));
  DevicePrefetcher prefetcher(pinned, Device::cuda());
  for (int64_t epoch : {0, 1}) {
    CAPTURE(epoch);
    reference.start_epoch(epoch);
    prefetcher.start_epoch(epoch);
    int64_t count = 0;
    while (auto want = reference.next()) {
      auto got = prefetcher.next();
      REQUIRE(got);
      CHECK(got->index == want->index);
      CHECK(got->images.is_cuda());
      CHECK(got->labels.is_cuda());
      CHECK(got->images.shape() == want->images.shape());
      CHECK(got->images.cpu().to_vector<float>() == want->images.to_vector<float>());
      CHECK(got->labels.cpu().to_vector<int64_t>() == want->labels.to_vector<int64_t>());
      ++count;
    }
    CHECK(count == 10);
    CHECK_FALSE(prefetcher.next());
  }
}

TEST_CASE("cuda prefetch: no corruption when the step allocates and frees device memory between batches" *
          doctest::skip(!cuda_is_available())) {
  const Dataset data = random_set(640);
  DataLoader reference(data, options(false));
  DataLoader pinned(data, options(true));
  DevicePrefetcher prefetcher(pinned, Device::cuda());
  Generator gen(3);
  const Tensor a = rand({2048, 2048}, DType::f32, Device::cpu(), &gen).to(Device::cuda());
  for (int64_t epoch : {0, 1}) {
    CAPTURE(epoch);
    prefetcher.start_epoch(epoch);
    std::vector<Tensor> images_seen, labels_seen;  // device snapshots taken at the end of each step
    while (auto batch = prefetcher.next()) {
      // A slow step that the host does not wait for: GEMMs, then snapshots of the batch, so a copy
      // that overwrote a block still in use by the step would show in the snapshots.
      Tensor busy = a;
      for (int i = 0; i < 4; ++i) busy = matmul(busy, a);
      images_seen.push_back(add(batch->images, 0.0));
      labels_seen.push_back(batch->labels.clone());
      // Scratch of the batch's sizes, written and freed: the next copies get these blocks back and
      // must wait for these writes.
      Tensor scratch = Tensor::empty(batch->images.shape(), DType::f32, Device::cuda());
      scratch.fill_(-1);
      Tensor scratch_labels = Tensor::empty(batch->labels.shape(), DType::i64, Device::cuda());
      scratch_labels.fill_(-1);
    }
    reference.start_epoch(epoch);
    size_t k = 0;
    while (auto want = reference.next()) {
      REQUIRE(k < images_seen.size());
      CHECK(images_seen[k].cpu().to_vector<float>() == want->images.to_vector<float>());
      CHECK(labels_seen[k].cpu().to_vector<int64_t>() == want->labels.to_vector<int64_t>());
      ++k;
    }
    CHECK(k == images_seen.size());
  }
}

#endif  // TAUGRAD_CUDA
