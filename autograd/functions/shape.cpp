// Differentiable shape and indexing functions. Each backward sends dy back to where the forward
// took its elements from: a reshape or inverse permutation, or a scatter-add into zeros (slice,
// index_select, gather: the tensor ops slice_backward, index_select_backward, gather_backward).
#include <numeric>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/ops.h"

namespace tg {

namespace {

// y = x viewed with another shape.  dx = dy viewed with x's shape.
struct Reshape : Node {
  Shape in_shape;
  explicit Reshape(Shape s) : in_shape(std::move(s)) {}
  const char* name() const override { return "reshape"; }
  std::vector<Tensor> backward(const Tensor& dy) override { return {dy.reshape(in_shape)}; }
};

// y = x with axes permuted: y.shape[i] = x.shape[perm[i]].  dx = dy permuted by the inverse,
// inv[perm[i]] = i.
struct Permute : Node {
  std::vector<int64_t> inverse;
  Permute(const std::vector<int64_t>& perm, int64_t ndim) : inverse(perm.size(), 0) {
    for (size_t i = 0; i < perm.size(); ++i) inverse[wrap_axis(perm[i], ndim, "permute")] = static_cast<int64_t>(i);
  }
  const char* name() const override { return "permute"; }
  std::vector<Tensor> backward(const Tensor& dy) override { return {tg::permute(dy, inverse)}; }
};

// y = x[..., start:end, ...] along `dim`.  dx = zeros with dy at [start, end).
// reference::slice_add (tensor/reference/shape.cpp)
struct Slice : Node {
  int64_t dim, start;
  Shape in_shape;
  Slice(int64_t d, int64_t s, Shape in) : dim(d), start(s), in_shape(std::move(in)) {}
  const char* name() const override { return "slice"; }
  std::vector<Tensor> backward(const Tensor& dy) override { return {tg::slice_backward(dy, dim, start, in_shape)}; }
};

// y = [x_0, x_1, ...] joined along `dim`.  dx_i = the slice of dy where x_i went.
struct Concat : Node {
  int64_t dim;
  std::vector<int64_t> sizes;
  Concat(int64_t d, std::vector<int64_t> s) : dim(d), sizes(std::move(s)) {}
  const char* name() const override { return "concat"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    std::vector<Tensor> dxs;
    int64_t offset = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      dxs.push_back(needs_input_grad(i) ? tg::slice(dy, dim, offset, offset + sizes[i]) : Tensor());
      offset += sizes[i];
    }
    return dxs;
  }
};

// y[..., j, ...] = x[..., index[j], ...] along `dim`.  dx = zeros with dy[..., j, ...] added at
// index[j] (repeated indices add up).  reference::index_add (tensor/reference/shape.cpp)
struct IndexSelect : Node {
  int64_t dim;
  Tensor saved_index;
  Shape in_shape;
  IndexSelect(int64_t d, Tensor index, Shape in) : dim(d), saved_index(std::move(index)), in_shape(std::move(in)) {}
  const char* name() const override { return "index_select"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    return {tg::index_select_backward(dy, dim, saved_index, in_shape)};
  }
};

// y[r, k] = x[r, index[r, k]] along the last axis.  dx = zeros with dy[r, k] added at
// [r, index[r, k]] (repeated indices add up).  reference::scatter_add (tensor/reference/shape.cpp)
struct Gather : Node {
  Tensor saved_index;
  Shape in_shape;
  Gather(Tensor index, Shape in) : saved_index(std::move(index)), in_shape(std::move(in)) {}
  const char* name() const override { return "gather"; }
  std::vector<Tensor> backward(const Tensor& dy) override { return {tg::gather_backward(dy, saved_index, in_shape)}; }
};

}  // namespace

Variable reshape(const Variable& x, const Shape& shape) {
  Tensor y = x.data().reshape(shape);
  if (!needs_graph({&x})) return Variable(std::move(y));
  return attach(std::make_shared<Reshape>(x.shape()), {x}, std::move(y));
}

Variable flatten(const Variable& x, int64_t start_dim) {
  const int64_t start = wrap_axis(start_dim, x.dim(), "flatten");
  Shape shape(x.shape().begin(), x.shape().begin() + start);
  shape.push_back(numel(Shape(x.shape().begin() + start, x.shape().end())));
  return reshape(x, shape);
}

Variable permute(const Variable& x, const std::vector<int64_t>& perm) {
  Tensor y = tg::permute(x.data(), perm);  // validates perm
  if (!needs_graph({&x})) return Variable(std::move(y));
  return attach(std::make_shared<Permute>(perm, x.dim()), {x}, std::move(y));
}

Variable transpose(const Variable& x, int64_t a, int64_t b) {
  std::vector<int64_t> perm(x.dim());
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[wrap_axis(a, x.dim(), "transpose")], perm[wrap_axis(b, x.dim(), "transpose")]);
  return permute(x, perm);
}

Variable slice(const Variable& x, int64_t dim, int64_t start, int64_t end) {
  Tensor y = tg::slice(x.data(), dim, start, end);  // validates the range
  if (!needs_graph({&x})) return Variable(std::move(y));
  const int64_t d = wrap_axis(dim, x.dim(), "slice");
  return attach(std::make_shared<Slice>(d, start < 0 ? start + x.shape()[d] : start, x.shape()), {x}, std::move(y));
}

Variable concat(const std::vector<Variable>& xs, int64_t dim) {
  std::vector<Tensor> data;
  for (const Variable& x : xs) data.push_back(x.data());
  Tensor y = tg::concat(data, dim);  // validates the shapes
  if (!needs_graph(xs)) return Variable(std::move(y));
  const int64_t d = wrap_axis(dim, xs[0].dim(), "concat");
  std::vector<int64_t> sizes;
  for (const Tensor& x : data) sizes.push_back(x.shape()[d]);
  return attach(std::make_shared<Concat>(d, std::move(sizes)), xs, std::move(y));
}

Variable index_select(const Variable& x, int64_t dim, const Tensor& index) {
  Tensor y = tg::index_select(x.data(), dim, index);  // validates the indices
  if (!needs_graph({&x})) return Variable(std::move(y));
  return attach(std::make_shared<IndexSelect>(wrap_axis(dim, x.dim(), "index_select"), index, x.shape()), {x},
                std::move(y));
}

Variable gather(const Variable& x, const Tensor& index) {
  Tensor y = tg::gather(x.data(), index);  // validates the indices
  if (!needs_graph({&x})) return Variable(std::move(y));
  return attach(std::make_shared<Gather>(index, x.shape()), {x}, std::move(y));
}

}  // namespace tg
