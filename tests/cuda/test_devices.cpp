// Tier 2 (GPU): --device cuda:N. The process's one GPU holds its tensors (the allocation's device is
// cuda::current_device()); an index beyond the machine's GPUs and a second GPU in the same process
// fail with messages that say why. Without a GPU every case is skipped.
#include <doctest/doctest.h>

#include <string>

#include "tensor/tensor.h"

#ifdef TAUGRAD_CUDA
#include <cuda_runtime_api.h>

#include "tensor/cuda/runtime.h"

using namespace tg;

TEST_CASE("cuda devices: tensors live on the process's GPU" * doctest::skip(!cuda_is_available())) {
  const int d = cuda::current_device();
  Tensor t = Tensor::ones({256}, DType::f32, Device::cuda(d));
  cudaPointerAttributes attr{};
  REQUIRE(cudaPointerGetAttributes(&attr, t.raw()) == cudaSuccess);
  CHECK(attr.type == cudaMemoryTypeDevice);
  CHECK(attr.device == d);
  int current = -1;
  REQUIRE(cudaGetDevice(&current) == cudaSuccess);
  CHECK(current == d);
}

TEST_CASE("cuda devices: a GPU the machine lacks, or a second one, is refused clearly" *
          doctest::skip(!cuda_is_available())) {
  const int count = cuda::device_count();
  CHECK_THROWS_WITH_AS(parse_device("cuda:" + std::to_string(count)), doctest::Contains("this machine has"), Error);
  if (count < 2) {
    MESSAGE("one GPU: the second-GPU case is skipped");
    return;
  }
  Tensor::ones({4}, DType::f32, Device::cuda(cuda::current_device()));
  const int other = cuda::current_device() == 0 ? 1 : 0;
  CHECK_THROWS_WITH_AS(Tensor::ones({4}, DType::f32, Device::cuda(other)), doctest::Contains("one GPU per process"),
                       Error);
}

#endif  // TAUGRAD_CUDA
