// The dispatcher's launch counter (tensor/kernel_counts.h): what bench_train's fills per step reads.
#include <doctest/doctest.h>

#include "tensor/kernel_counts.h"
#include "tensor/ops.h"

using namespace tg;

namespace {
int64_t launches(const char* kernel) {
  auto counts = kernel_counts();
  auto it = counts.find(kernel);
  return it == counts.end() ? 0 : it->second;
}
}  // namespace

TEST_CASE("kernel_counts: every dispatch is counted by kernel name, zeros included") {
  reset_kernel_counts();
  Tensor a = Tensor::zeros({3, 4});
  Tensor b = Tensor::zeros_like(a);
  Tensor c = Tensor::ones({2});
  CHECK(launches("fill") == 3);
  Tensor r = relu(a);
  Tensor s = add(a, b);
  CHECK(launches("unary") == 1);
  CHECK(launches("binary") == 1);
  Tensor e = Tensor::empty({5});  // allocates, launches nothing
  CHECK(launches("fill") == 3);
  reset_kernel_counts();
  CHECK(launches("fill") == 0);
  CHECK(launches("unary") == 0);
}
