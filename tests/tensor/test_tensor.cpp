#include <doctest/doctest.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#include "tensor/host_allocator.h"
#include "tensor/ops.h"
#include "tensor/tensor.h"

using namespace tg;

TEST_CASE("tensor: construction, views share storage, clone copies") {
  Tensor t = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(t.numel() == 6);
  CHECK(t.dim() == 2);
  CHECK(t.size(-1) == 3);
  Tensor r = t.reshape({3, -1});
  CHECK(r.shape() == Shape{3, 2});
  CHECK(r.shares_storage(t));
  Tensor row = t.slice_rows(1, 2);
  CHECK(row.to_vector<float>() == std::vector<float>{4, 5, 6});
  row.fill_(0);
  CHECK(t.to_vector<float>() == std::vector<float>{1, 2, 3, 0, 0, 0});
  Tensor c = t.clone();
  c.fill_(7);
  CHECK(t.to_vector<float>()[0] == 1);
  CHECK(Tensor::arange(4).to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3});
  CHECK(Tensor::scalar(2.5).item() == 2.5);
}

TEST_CASE("tensor: dtype casts") {
  Tensor t = Tensor::from_vector<float>({1.7f, -2.2f}, {2});
  CHECK(t.to(DType::i64).to_vector<int64_t>() == std::vector<int64_t>{1, -2});
  CHECK(t.to(DType::f64).to_vector<double>()[0] == doctest::Approx(1.7));
}

TEST_CASE("tensor: bad input names the op and the shapes") {
  Tensor t = Tensor::zeros({2, 3});
  CHECK_THROWS_WITH_AS(t.reshape({4, 2}), doctest::Contains("reshape: [2, 3]"), Error);
  CHECK_THROWS_WITH_AS(t.data<double>(), doctest::Contains("float32"), Error);
  CHECK_THROWS_WITH_AS(add(t, Tensor::zeros({4})), doctest::Contains("add: shapes [2, 3] and [4]"), Error);
  CHECK_THROWS_WITH_AS(add(t, Tensor::zeros({2, 3}, DType::f64)), doctest::Contains("add: dtypes differ"), Error);
  CHECK_THROWS_WITH_AS(t.slice_rows(1, 5), doctest::Contains("slice_rows"), Error);
}

TEST_CASE("device: asking for CUDA without a GPU fails clearly") {
  CHECK(parse_device("cpu") == Device::cpu());
  CHECK(parse_device("cuda:1") == Device::cuda(1));
  CHECK_THROWS_WITH_AS(parse_device("tpu"), doctest::Contains("unknown device 'tpu'"), Error);
  if (!cuda_is_available()) {
    if (visible_nvidia_gpus().empty()) CHECK(parse_device("auto") == Device::cpu());  // else it refuses: test_device.cpp
    CHECK_THROWS_WITH_AS(Tensor::zeros({2}, DType::f32, Device::cuda()), doctest::Contains("--device cpu"), Error);
  }
}

TEST_CASE("host allocator: large blocks are reused, small ones are not cached") {
  host::release_cache();
  const void* first;
  {
    Tensor big = Tensor::empty({1 << 20});  // 4 MiB
    first = big.raw();
  }
  CHECK(host::cached_bytes() >= (size_t{4} << 20));
  Tensor again = Tensor::empty({1 << 20});
  CHECK(again.raw() == first);  // the same block, no fresh mmap
  CHECK(host::cached_bytes() == 0);
  { Tensor small = Tensor::empty({16}); }
  CHECK(host::cached_bytes() == 0);
  CHECK(reinterpret_cast<uintptr_t>(Tensor::empty({3}, DType::u8).raw()) % 64 == 0);
}

#if defined(__SANITIZE_ADDRESS__)
// scripts/test --sanitize: the cache must not hide a use after free (a cached block stays poisoned
// until it is handed out again), nor the rounding an overflow (the slack past the bytes asked for).
TEST_CASE("host allocator: under AddressSanitizer, cached blocks and rounding slack are poisoned") {
  host::release_cache();
  for (size_t bytes : {size_t{100}, size_t{100003}}) {  // a malloc'd block, a cached one
    CAPTURE(bytes);
    char* p = static_cast<char*>(host::allocate(bytes));
    CHECK_FALSE(__asan_address_is_poisoned(p));
    CHECK_FALSE(__asan_address_is_poisoned(p + bytes - 1));
    CHECK(__asan_address_is_poisoned(p + bytes));
    host::deallocate(p, bytes);
  }
  char* p = static_cast<char*>(host::allocate(100003));
  host::deallocate(p, 100003);
  CHECK(__asan_address_is_poisoned(p));
  CHECK(__asan_address_is_poisoned(p + 50000));
  char* again = static_cast<char*>(host::allocate(100001));  // the same rounded size: the same block
  REQUIRE(again == p);
  CHECK_FALSE(__asan_address_is_poisoned(again + 100000));
  CHECK(__asan_address_is_poisoned(again + 100001));
  host::deallocate(again, 100001);
  host::release_cache();
}
#endif
