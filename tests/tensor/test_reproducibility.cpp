// Reproducibility across machines (docs/TESTING.md, "Reproducibility"). Eigen cuts a GEMM's inner
// dimension into blocks sized from the cache sizes it detects at run time, and the blocks set the
// order of the sums; taugrad fixes the sizes, so a machine that detects other caches computes the same
// bits. Each check runs once as detected here and once as on a machine with small caches
// (Eigen::setCpuCacheSizes), and compares bytes.
#include <doctest/doctest.h>

#include <omp.h>

#include <Eigen/Core>
#include <cstring>
#include <string>

#include "autograd/ops.h"
#include "nn/models/factory.h"
#include "optim/optimizer.h"
#include "tensor/ops.h"
#include "tensor/random.h"

using namespace tg;

namespace {

std::string bytes(const Tensor& t) { return std::string(static_cast<const char*>(t.raw()), t.nbytes()); }

// f() as detected on this machine, then as on one with an 8 KiB L1, 64 KiB L2 and 1 MiB L3.
template <class F>
std::pair<std::string, std::string> under_two_cache_settings(F f) {
  const std::ptrdiff_t l1 = Eigen::l1CacheSize(), l2 = Eigen::l2CacheSize(), l3 = Eigen::l3CacheSize();
  std::string here = f();
  Eigen::setCpuCacheSizes(8 << 10, 64 << 10, 1 << 20);
  std::string small = f();
  Eigen::setCpuCacheSizes(l1, l2, l3);
  return {here, small};
}

}  // namespace

TEST_CASE("reproducibility: a matmul does not depend on the detected cache sizes") {
  Generator gen(1);
  const Tensor a = randn({96, 1024}, DType::f32, Device::cpu(), &gen), b = randn({1024, 80}, DType::f32, Device::cpu(), &gen);
  auto [here, small] = under_two_cache_settings([&] { return bytes(matmul(a, b)); });
  CHECK((here == small));  // (not printed: bytes)
}

TEST_CASE("reproducibility: three SGD steps of ResNet-20 do not depend on the detected cache sizes") {
  auto train = [] {
    manual_seed(3);
    auto model = nn::create_model("resnet20", 10, 1);
    optim::SgdOptions o;
    o.lr = 0.05;
    o.momentum = 0.9;
    optim::SGD opt(model->named_parameters(), o);
    Generator gen(5);
    const Tensor x = randn({16, 1, 28, 28}, DType::f32, Device::cpu(), &gen);
    const Tensor y = randint({16}, 0, 10, DType::i64, Device::cpu(), &gen);
    for (int step = 0; step < 3; ++step) {
      Variable loss = cross_entropy((*model)(Variable(x)), y);
      opt.zero_grad();
      loss.backward();
      opt.step();
    }
    std::string out;
    for (auto& [name, t] : model->state_dict()) out += bytes(t);
    return out;
  };
  auto [here, small] = under_two_cache_settings(train);
  CHECK((here == small));  // (not printed: bytes)
}

TEST_CASE("reproducibility: conv2d's weight gradient is the same bits on every call with 4 threads") {
  // Each thread sums its chunks of the batch into its own dw; the partial sums must be added in a
  // fixed order, not in the order the threads finish.
  const int threads = omp_get_max_threads();
  omp_set_num_threads(4);
  Generator gen(2);
  const Tensor x = randn({32, 8, 8, 8}, DType::f32, Device::cpu(), &gen);
  const Tensor dy = randn({32, 16, 8, 8}, DType::f32, Device::cpu(), &gen);
  Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  const std::string first = bytes(conv2d_backward_filter(dy, x, {16, 8, 3, 3}, p));
  int differing = 0;
  for (int i = 0; i < 50; ++i) differing += bytes(conv2d_backward_filter(dy, x, {16, 8, 3, 3}, p)) != first;
  omp_set_num_threads(threads);
  CHECK(differing == 0);
}
