// Reference index_select and gather (torch.index_select, torch.gather along the last axis) and their
// backwards. Each output element copies one input element, so the backward adds each dy element
// into the element it was copied from (repeated indices add up); the rest of dx is 0.
#include "tensor/reference/shape.h"

#include "tensor/reference/common.h"

namespace tg::reference {

namespace {

// x viewed as [outer, n, inner] around axis dim.
struct View {
  int64_t outer = 1, n = 1, inner = 1;
};
View view_around(const Shape& shape, int64_t dim) {
  View v;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) (d < dim ? v.outer : d == dim ? v.n : v.inner) *= shape[d];
  return v;
}

void check_index(const Tensor& index, int64_t n, const char* kernel) {
  TG_CHECK(index.dtype() == DType::i64, "reference::", kernel, ": index must be int64, got ", index.str());
  for (int64_t j = 0; j < index.numel(); ++j)
    TG_CHECK(index.data<int64_t>()[j] >= 0 && index.data<int64_t>()[j] < n, "reference::", kernel, ": index ",
             index.data<int64_t>()[j], " at ", j, " is outside [0, ", n, ")");
}

}  // namespace

// y[o, j, i] = x[o, index[j], i].
Tensor index_select(const Tensor& x, const Tensor& index, int64_t dim) {
  check_f64(x, "index_select");
  const View v = view_around(x.shape(), dim);
  check_index(index, v.n, "index_select");
  Shape shape = x.shape();
  shape[dim] = index.numel();
  Tensor y = Tensor::empty(shape, DType::f64);
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t j = 0; j < index.numel(); ++j)
      for (int64_t i = 0; i < v.inner; ++i)
        y.data<double>()[(o * index.numel() + j) * v.inner + i] =
            x.data<double>()[(o * v.n + index.data<int64_t>()[j]) * v.inner + i];
  return y;
}

// dx[o, index[j], i] += dy[o, j, i].
Tensor index_add(const Tensor& dy, const Tensor& index, const Shape& x_shape, int64_t dim) {
  check_f64(dy, "index_add");
  const View v = view_around(x_shape, dim);
  check_index(index, v.n, "index_add");
  Tensor dx = Tensor::zeros(x_shape, DType::f64);
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t j = 0; j < index.numel(); ++j)
      for (int64_t i = 0; i < v.inner; ++i)
        dx.data<double>()[(o * v.n + index.data<int64_t>()[j]) * v.inner + i] +=
            dy.data<double>()[(o * index.numel() + j) * v.inner + i];
  return dx;
}

// y[r, k] = x[r, index[r, k]]; x [rows, C], index [rows, K].
Tensor gather(const Tensor& x, const Tensor& index) {
  check_f64(x, "gather");
  const int64_t c = x.size(-1), k = index.size(-1), rows = index.numel() / k;
  check_index(index, c, "gather");
  Tensor y = Tensor::empty(index.shape(), DType::f64);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < k; ++j) y.data<double>()[r * k + j] = x.data<double>()[r * c + index.data<int64_t>()[r * k + j]];
  return y;
}

// dx[r, index[r, k]] += dy[r, k].
Tensor scatter_add(const Tensor& dy, const Tensor& index, const Shape& x_shape) {
  check_f64(dy, "scatter_add");
  const int64_t c = x_shape.back(), k = index.size(-1), rows = index.numel() / k;
  check_index(index, c, "scatter_add");
  Tensor dx = Tensor::zeros(x_shape, DType::f64);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < k; ++j) dx.data<double>()[r * c + index.data<int64_t>()[r * k + j]] += dy.data<double>()[r * k + j];
  return dx;
}

}  // namespace tg::reference
