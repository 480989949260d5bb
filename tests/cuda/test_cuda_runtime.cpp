// Tier 2 (GPU) for the device context's allocator and the cuDNN algorithm choice: the caching
// allocator under a real training step (no cudaMalloc after the first steps), its out-of-memory path
// (fill the GPU, fail with the numbers, release the cache and retry), the convolution algorithm cache
// (one search per shape), and bit-identical convolution backward passes with --deterministic. Their
// logic is tested on the CPU (tests/tensor/test_block_allocator.cpp, test_algorithm_choice.cpp); these
// check the CUDA shell around it. Without a GPU every case is skipped, with the reason printed.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "autograd/ops.h"
#include "nn/models/factory.h"
#include "optim/optimizer.h"
#include "tensor/determinism.h"
#include "tensor/ops.h"
#include "tensor/random.h"

#ifdef TAUGRAD_CUDA
#include "tensor/cuda/runtime.h"
#endif

using namespace tg;

TEST_CASE("cuda: runtime availability") {
  if (!cuda_is_built()) {
    MESSAGE("tier 2 (allocator, conv algorithm choice): skipped, taugrad was built without CUDA");
  } else if (!cuda_is_available()) {
#ifdef TAUGRAD_CUDA
    MESSAGE("tier 2 (allocator, conv algorithm choice): skipped, no GPU: " << cuda::no_device_reason());
#endif
  } else {
    MESSAGE("tier 2 (allocator, conv algorithm choice): running on a GPU");
  }
}

#ifdef TAUGRAD_CUDA

namespace {
constexpr size_t GiB = size_t(1) << 30;

bool same_bits(const Tensor& a, const Tensor& b) {
  const Tensor x = a.cpu(), y = b.cpu();
  return x.nbytes() == y.nbytes() && std::memcmp(x.raw(), y.raw(), x.nbytes()) == 0;
}
}  // namespace

TEST_CASE("cuda: the caching allocator under a training step: no cudaMalloc once the step repeats" *
          doctest::skip(!cuda_is_available())) {
  manual_seed(5);
  auto model = nn::create_model("resnet20", 10, 3, 32);
  model->to(Device::cuda());
  optim::SgdOptions so;
  so.lr = 0.05;
  so.momentum = 0.9;
  optim::SGD opt(model->named_parameters(), so);
  const Tensor x = rand({64, 3, 32, 32}).to(Device::cuda());
  const Tensor y = randint({64}, 0, 10).to(Device::cuda());
  cuda::reset_peak_memory();
  std::vector<size_t> mallocs;
  for (int step = 0; step < 4; ++step) {
    Variable loss = cross_entropy((*model)(Variable(x)), y, 1.0);
    opt.zero_grad();
    loss.backward();
    opt.step();
    (void)loss.item();  // waits for the step
    mallocs.push_back(cuda::cache_stats().malloc_calls);
  }
  const memory::AllocatorStats s = cuda::cache_stats();
  MESSAGE("ResNet-20 step at batch 64: cudaMalloc calls after each step ", mallocs[0], ", ", mallocs[1], ", ",
          mallocs[2], ", ", mallocs[3], "; peak ", s.peak_allocated_bytes >> 20, " MiB allocated, ",
          s.peak_reserved_bytes >> 20, " MiB reserved; ", s.splits, " splits, ", s.cache_hits, " cache hits");
  CHECK(mallocs[2] == mallocs[1]);
  CHECK(mallocs[3] == mallocs[1]);
  CHECK(s.peak_allocated_bytes > 0);
  CHECK(s.peak_reserved_bytes >= s.peak_allocated_bytes);
}

TEST_CASE("cuda: out of memory fails with the numbers; the cache is released and the request retried" *
          doctest::skip(!cuda_is_available())) {
  cuda::empty_cache();
  const int64_t floats = static_cast<int64_t>(GiB / 4);
  std::vector<Tensor> held;
  std::string error;
  for (int i = 0; i < 1024 && error.empty(); ++i) {  // 1 GiB at a time until the GPU is full
    try {
      held.push_back(Tensor::empty({floats}, DType::f32, Device::cuda()));
    } catch (const Error& e) {
      error = e.what();
    }
  }
  REQUIRE_MESSAGE(!error.empty(), "1 TiB was allocated without failing");
  MESSAGE("out of memory after ", held.size(), " GiB: ", error);
  CHECK(error.find("bytes requested") != std::string::npos);
  CHECK(error.find("reserved") != std::string::npos);
  CHECK(error.find("allocated") != std::string::npos);
  CHECK(error.find("cached") != std::string::npos);

  // Free everything: each 1 GiB block stays cached as a segment of its own. A 2 GiB request fits none
  // of them, and cudaMalloc fails while they hold the memory: the cache is released and it succeeds.
  const size_t n = held.size();
  held.clear();
  const memory::AllocatorStats before = cuda::cache_stats();
  CHECK(before.cached_bytes >= n * GiB);
  Tensor big = Tensor::empty({2 * floats}, DType::f32, Device::cuda());
  const memory::AllocatorStats after = cuda::cache_stats();
  CHECK(after.pressure_releases == before.pressure_releases + 1);
  CHECK(after.segments_released >= before.segments_released + 2);
  big = Tensor();
  cuda::empty_cache();
  CHECK(cuda::cache_stats().releasable_bytes == 0);
}

TEST_CASE("cuda: the conv algorithm cache searches once per shape" * doctest::skip(!cuda_is_available())) {
  const Tensor x = randn({16, 32, 16, 16}).to(Device::cuda()), w = randn({48, 32, 3, 3}).to(Device::cuda());
  Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  auto pass = [&] {
    const Tensor y = conv2d(x, w, p);
    const Tensor dy = Tensor::ones(y.shape(), DType::f32, Device::cuda());
    conv2d_backward_data(dy, w, x.shape(), p);
    conv2d_backward_filter(dy, x, w.shape(), p);
  };
  pass();
  const algorithm::CacheStats first = cuda::conv_algorithm_stats();
  pass();
  pass();
  cuda::synchronize();
  const algorithm::CacheStats later = cuda::conv_algorithm_stats();
  CHECK(later.searches == first.searches);  // forward, backward data and backward filter: found once
  CHECK(later.hits == first.hits + 6);
}

TEST_CASE("cuda: with --deterministic, two conv backward passes give identical bits" *
          doctest::skip(!cuda_is_available())) {
  REQUIRE(deterministic_algorithms());  // the default
  // ResNet-50's first 3x3 convolution of the second stage at batch 64: large enough for algorithms
  // that split the reduction over the batch (which, without the filter, may use atomics).
  const Tensor x = randn({64, 128, 16, 16}).to(Device::cuda()), w = randn({128, 128, 3, 3}).to(Device::cuda());
  Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  const Tensor dy = randn(conv2d_output_shape(x.shape(), w.shape(), p)).to(Device::cuda());
  for (bool tf32 : {true, false}) {
    CAPTURE(tf32);
    const bool saved = cuda::allow_tf32();
    cuda::set_allow_tf32(tf32);
    CHECK(same_bits(conv2d_backward_filter(dy, x, w.shape(), p), conv2d_backward_filter(dy, x, w.shape(), p)));
    CHECK(same_bits(conv2d_backward_data(dy, w, x.shape(), p), conv2d_backward_data(dy, w, x.shape(), p)));
    CHECK(same_bits(conv2d(x, w, p), conv2d(x, w, p)));
    cuda::set_allow_tf32(saved);
  }
}

#endif  // TAUGRAD_CUDA
