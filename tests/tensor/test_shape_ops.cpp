// Shape and indexing ops: permute/transpose, slice (a view along the leading axis), concat,
// index_select, gather, one_hot, and their errors.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "support/errors.h"
#include "tensor/ops.h"

using namespace tg;
using tg::testing::error_of;

namespace {

// 0, 1, 2, ... as float32 of the given shape.
Tensor iota(const Shape& s) { return Tensor::arange(numel(s), DType::f32).reshape(s); }

std::vector<float> values(const Tensor& t) { return t.to_vector<float>(); }

}  // namespace

TEST_CASE("shape: permute and transpose") {
  Tensor x = iota({2, 3, 4});
  Tensor y = permute(x, {2, 0, 1});
  CHECK(y.shape() == Shape{4, 2, 3});
  // y[i, j, k] = x[j, k, i]
  std::vector<float> vx = values(x), vy = values(y);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 2; ++j)
      for (int k = 0; k < 3; ++k) CHECK(vy[(i * 2 + j) * 3 + k] == vx[(j * 3 + k) * 4 + i]);
  CHECK(values(transpose(iota({2, 3}), 0, 1)) == std::vector<float>{0, 3, 1, 4, 2, 5});
  CHECK(values(permute(permute(x, {1, 2, 0}), {2, 0, 1})) == vx);
}

TEST_CASE("shape: slice along any axis; the leading axis is a view") {
  Tensor x = iota({3, 4, 2});
  Tensor s0 = slice(x, 0, 1, 3);
  CHECK(s0.shape() == Shape{2, 4, 2});
  CHECK(s0.shares_storage(x));
  CHECK(values(s0)[0] == 8);
  Tensor s1 = slice(x, 1, 1, 3);
  CHECK(s1.shape() == Shape{3, 2, 2});
  CHECK(values(s1) == std::vector<float>{2, 3, 4, 5, 10, 11, 12, 13, 18, 19, 20, 21});
  CHECK(values(slice(x, -1, 1, 2)) == values(slice(x, 2, -1, 2)));
  CHECK(values(slice(x, 2, 1, 2))[1] == 3);
  CHECK(slice(x, 1, 2, 2).numel() == 0);
  // A size-1 leading axis makes a slice of axis 1 contiguous too: a view.
  Tensor one = iota({1, 6, 2});
  CHECK(slice(one, 1, 2, 5).shares_storage(one));
  CHECK(values(slice(one, 1, 2, 5)) == std::vector<float>{4, 5, 6, 7, 8, 9});
  std::string e = error_of([&] { slice(x, 1, 2, 5); });
  CHECK(e.find("slice") != std::string::npos);
  CHECK(e.find("[2, 5)") != std::string::npos);
  CHECK(e.find("float32[3, 4, 2]") != std::string::npos);
}

TEST_CASE("shape: concat along any axis, undoing slices") {
  Tensor x = iota({2, 5, 3});
  for (int64_t axis : {0, 1, 2}) {
    CAPTURE(axis);
    const int64_t n = x.shape()[axis];
    Tensor joined = concat({slice(x, axis, 0, 1), slice(x, axis, 1, n - 1), slice(x, axis, n - 1, n)}, axis);
    CHECK(joined.shape() == x.shape());
    CHECK(values(joined) == values(x));
  }
  CHECK(values(concat({iota({2, 1}), iota({2, 2})}, 1)) == std::vector<float>{0, 0, 1, 1, 2, 3});
  std::string e = error_of([] { concat({iota({2, 3}), iota({3, 3})}, 1); });
  CHECK(e.find("concat") != std::string::npos);
  CHECK(e.find("float32[3, 3]") != std::string::npos);
  CHECK(error_of([] { concat({iota({2}), Tensor::zeros({2}, DType::f64)}, 0); }).find("dtypes differ") != std::string::npos);
}

TEST_CASE("shape: index_select with repeats, gather, one_hot") {
  Tensor x = iota({3, 4});
  Tensor rows = Tensor::from_vector<int64_t>({2, 0, 2}, {3});
  CHECK(values(index_select(x, 0, rows)) == std::vector<float>{8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11});
  Tensor cols = Tensor::from_vector<int64_t>({3, 1}, {2});
  CHECK(values(index_select(x, 1, cols)) == std::vector<float>{3, 1, 7, 5, 11, 9});
  Tensor idx = Tensor::from_vector<int64_t>({1, 1, 0, 3, 2, 0}, {3, 2});
  CHECK(values(gather(x, idx)) == std::vector<float>{1, 1, 4, 7, 10, 8});
  Tensor oh = one_hot(Tensor::from_vector<int64_t>({2, 0}, {2}), 3, DType::f64);
  CHECK(oh.shape() == Shape{2, 3});
  CHECK(oh.to_vector<double>() == std::vector<double>{0, 0, 1, 1, 0, 0});

  std::string e = error_of([&] { index_select(x, 1, Tensor::from_vector<int64_t>({4}, {1})); });
  CHECK(e.find("index_select: index 4") != std::string::npos);
  CHECK(e.find("[0, 4)") != std::string::npos);
  e = error_of([&] { gather(x, Tensor::from_vector<int64_t>({0, 1}, {2, 1})); });
  CHECK(e.find("gather") != std::string::npos);
  CHECK(e.find("int64[2, 1]") != std::string::npos);
  e = error_of([&] { gather(x, Tensor::from_vector<int32_t>({0, 1, 2}, {3, 1})); });
  CHECK(e.find("must be int64") != std::string::npos);
  e = error_of([] { one_hot(Tensor::from_vector<int64_t>({0, 5}, {2}), 5); });
  CHECK(e.find("one_hot: label 5") != std::string::npos);
}

TEST_CASE("shape: bfloat16 activations are permuted, sliced, concatenated and selected exactly") {
  // Moves copy bits, so each op on bf16 is the float32 op on the same values, bit for bit; the
  // scatter-adds (whose repeated indices would round at every add) refuse bf16, naming themselves.
  const Tensor x = cast(affine(iota({2, 3, 4}), 0.37, -3.1), DType::bf16), x32 = cast(x, DType::f32);
  auto same = [](const Tensor& got16, const Tensor& want32) {
    REQUIRE(got16.dtype() == DType::bf16);
    CHECK(values(cast(got16, DType::f32)) == values(want32));
  };
  same(permute(x, {2, 0, 1}), permute(x32, {2, 0, 1}));
  same(slice(x, 2, 1, 3), slice(x32, 2, 1, 3));
  same(concat({x, slice(x, 1, 0, 2)}, 1), concat({x32, slice(x32, 1, 0, 2)}, 1));
  same(slice_backward(slice(x, 1, 1, 3), 1, 1, x.shape()), slice_backward(slice(x32, 1, 1, 3), 1, 1, x32.shape()));
  const Tensor rows = Tensor::from_vector<int64_t>({1, 0, 1}, {3});
  same(index_select(x, 0, rows), index_select(x32, 0, rows));
  const Tensor cols = Tensor::from_vector<int64_t>({3, 1, 0, 0, 2, 2}, {2, 3, 1});
  same(gather(x, cols), gather(x32, cols));
  std::string e = error_of([&] { index_select_backward(x, 0, Tensor::from_vector<int64_t>({0, 1}, {2}), {2, 3, 4}); });
  CHECK(e.find("index_add") != std::string::npos);
  CHECK(e.find("bfloat16") != std::string::npos);
  e = error_of([&] { gather_backward(gather(x, cols), cols, x.shape()); });
  CHECK(e.find("scatter_add") != std::string::npos);
}
