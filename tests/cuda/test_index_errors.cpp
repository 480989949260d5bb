// Tier 2 (GPU): out-of-range labels and indices raise on the GPU the error the CPU raises, at the next
// synchronization (tensor/cuda/runtime.h, IndexError), for cross_entropy, index_select, gather,
// one_hot and the backward kernels index_add and scatter_add; the error is raised once, and the
// device works normally afterwards. Without a GPU every case is skipped.
#include <doctest/doctest.h>

#include <functional>
#include <string>

#include "tensor/ops.h"

#ifdef TAUGRAD_CUDA
#include "tensor/cuda/runtime.h"
#include "tensor/kernels.h"
#endif

using namespace tg;

#ifdef TAUGRAD_CUDA

namespace {

Tensor labels_cpu(std::vector<int64_t> v) {
  Tensor t = Tensor::empty({static_cast<int64_t>(v.size())}, DType::i64);
  std::copy(v.begin(), v.end(), t.data<int64_t>());
  return t;
}

// The message of the error `op` throws on the CPU, up to the range ("... out of range [0, 10)").
std::string cpu_error(const std::function<void()>& op) {
  try {
    op();
  } catch (const Error& e) {
    const std::string m = e.what();
    return m.substr(0, m.find(')') + 1);
  }
  FAIL("the CPU op did not throw");
  return "";
}

// The GPU op runs; the next synchronization throws `expected`, once; then the device works.
void check_gpu_raises(const std::function<void()>& op, const std::string& expected) {
  INFO("expected: ", expected);
  op();
  CHECK_THROWS_WITH_AS(cuda::synchronize(), doctest::Contains(expected.c_str()), Error);
  CHECK_NOTHROW(cuda::synchronize());
  CHECK(sum(Tensor::ones({4}, DType::f32, Device::cuda())).item() == 4.0);
}

}  // namespace

TEST_CASE("cuda index errors: cross_entropy with a label out of range" * doctest::skip(!cuda_is_available())) {
  const Tensor logits = Tensor::zeros({4, 10});
  const Tensor labels = labels_cpu({1, 2, 12, 3});
  const std::string expected = cpu_error([&] { cross_entropy(logits, labels, 1.0, 0.0); });
  CHECK(expected == "cross_entropy: label 12 at index 2 is out of range [0, 10)");
  check_gpu_raises([&] { cross_entropy(logits.to(Device::cuda()), labels.to(Device::cuda()), 50.0, 0.0); }, expected);
  // A negative label, through item() (a copy to the host synchronizes).
  const Tensor negative = labels_cpu({-1, 0, 0, 0});
  const std::string expected_negative = cpu_error([&] { cross_entropy(logits, negative, 1.0, 0.0); });
  auto out = cross_entropy(logits.to(Device::cuda()), negative.to(Device::cuda()), 1.0, 0.0);
  CHECK_THROWS_WITH_AS(sum(out.losses).item(), doctest::Contains(expected_negative.c_str()), Error);
}

TEST_CASE("cuda index errors: index_select, gather and one_hot" * doctest::skip(!cuda_is_available())) {
  const Tensor x = Tensor::ones({5, 3});
  const Tensor index = labels_cpu({0, 7, 1});
  check_gpu_raises([&] { index_select(x.to(Device::cuda()), 0, index.to(Device::cuda())); },
                   cpu_error([&] { index_select(x, 0, index); }));
  const Tensor gx = Tensor::ones({3, 4}), gi = labels_cpu({0, 1, 4}).reshape({3, 1});
  check_gpu_raises([&] { gather(gx.to(Device::cuda()), gi.to(Device::cuda())); }, cpu_error([&] { gather(gx, gi); }));
  const Tensor labels = labels_cpu({2, 9});
  check_gpu_raises([&] { one_hot(labels.to(Device::cuda()), 5, DType::f32); },
                   cpu_error([&] { one_hot(labels, 5, DType::f32); }));
}

TEST_CASE("cuda index errors: the backward kernels index_add and scatter_add" * doctest::skip(!cuda_is_available())) {
  const Device gpu = Device::cuda();
  Tensor dx = Tensor::zeros({5, 3}, DType::f32, gpu);
  const Tensor dy = Tensor::ones({2, 3}, DType::f32, gpu), index = labels_cpu({1, 6}).to(gpu);
  check_gpu_raises([&] { cuda::index_add(dy, index, dx, 0); }, "index_add: index 6 at position 1 is out of range [0, 5)");
  Tensor dg = Tensor::zeros({2, 4}, DType::f32, gpu);
  const Tensor dgy = Tensor::ones({2, 1}, DType::f32, gpu), gi = labels_cpu({3, -2}).reshape({2, 1}).to(gpu);
  check_gpu_raises([&] { cuda::scatter_add(dgy, gi, dg); }, "scatter_add: index -2 at position 1 is out of range [0, 4)");
}

#endif  // TAUGRAD_CUDA
