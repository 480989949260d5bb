// Differentiable shape and indexing functions. Each backward sends dy back to where the forward
// took its elements from: a reshape or inverse permutation, or an add into zeros (slice,
// index_select, gather), whose adding kernels these nodes dispatch to directly.
#include <numeric>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/dispatch.h"
#include "tensor/ops.h"

namespace tg {

namespace {

// y = x viewed with another shape.  dx = dy viewed with x's shape.
struct Reshape : Node {
  Shape in_shape;
  const char* name() const override { return "reshape"; }
  Tensor forward(const Tensor& x, const Shape& shape) {
    in_shape = x.shape();
    return x.reshape(shape);
  }
  std::vector<Tensor> backward(const Tensor& dy) override { return {dy.reshape(in_shape)}; }
};

// y = x with axes permuted: y.shape[i] = x.shape[perm[i]].  dx = dy permuted by the inverse,
// inv[perm[i]] = i.
struct Permute : Node {
  std::vector<int64_t> inverse;
  const char* name() const override { return "permute"; }
  Tensor forward(const Tensor& x, const std::vector<int64_t>& perm) {
    Tensor y = tg::permute(x, perm);  // validates perm
    inverse.assign(perm.size(), 0);
    for (size_t i = 0; i < perm.size(); ++i) inverse[wrap_axis(perm[i], x.dim(), "permute")] = static_cast<int64_t>(i);
    return y;
  }
  std::vector<Tensor> backward(const Tensor& dy) override { return {tg::permute(dy, inverse)}; }
};

// y = x[..., start:end, ...] along `dim`.  dx = zeros with dy added at [start, end).
struct Slice : Node {
  int64_t dim = 0, start = 0;
  Shape in_shape;
  const char* name() const override { return "slice"; }
  Tensor forward(const Tensor& x, int64_t d, int64_t s, int64_t e) {
    Tensor y = tg::slice(x, d, s, e);  // validates the range
    dim = wrap_axis(d, x.dim(), "slice");
    start = s < 0 ? s + x.shape()[dim] : s;
    in_shape = x.shape();
    return y;
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dx = Tensor::zeros(in_shape, dy.dtype(), dy.device());
    TG_DISPATCH(dy.device(), slice_backward, dy, dim, start, dx);
    return {dx};
  }
};

// y = [x_0, x_1, ...] joined along `dim`.  dx_i = the slice of dy where x_i went.
struct Concat : Node {
  int64_t dim = 0;
  std::vector<int64_t> sizes;
  const char* name() const override { return "concat"; }
  Tensor forward(const std::vector<Tensor>& xs, int64_t d) {
    Tensor y = tg::concat(xs, d);  // validates the shapes
    dim = wrap_axis(d, xs[0].dim(), "concat");
    for (const Tensor& x : xs) sizes.push_back(x.shape()[dim]);
    return y;
  }
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
// index[j] (repeated indices add up).
struct IndexSelect : Node {
  int64_t dim = 0;
  Tensor saved_index;
  Shape in_shape;
  const char* name() const override { return "index_select"; }
  Tensor forward(const Tensor& x, int64_t d, const Tensor& index) {
    Tensor y = tg::index_select(x, d, index);  // validates the indices
    dim = wrap_axis(d, x.dim(), "index_select");
    saved_index = index;
    in_shape = x.shape();
    return y;
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dx = Tensor::zeros(in_shape, dy.dtype(), dy.device());
    TG_DISPATCH(dy.device(), index_add, dy, dim, saved_index, dx);
    return {dx};
  }
};

// y[r, k] = x[r, index[r, k]] along the last axis.  dx = zeros with dy[r, k] added at
// [r, index[r, k]] (repeated indices add up).
struct Gather : Node {
  Tensor saved_index;
  Shape in_shape;
  const char* name() const override { return "gather"; }
  Tensor forward(const Tensor& x, const Tensor& index) {
    Tensor y = tg::gather(x, index);  // validates the indices
    saved_index = index;
    in_shape = x.shape();
    return y;
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dx = Tensor::zeros(in_shape, dy.dtype(), dy.device());
    TG_DISPATCH(dy.device(), scatter_add, dy, saved_index, dx);
    return {dx};
  }
};

}  // namespace

Variable reshape(const Variable& x, const Shape& shape) {
  auto fn = std::make_shared<Reshape>();
  Tensor y = fn->forward(x.data(), shape);
  return attach(std::move(fn), {x}, std::move(y));
}

Variable flatten(const Variable& x, int64_t start_dim) {
  const int64_t start = wrap_axis(start_dim, x.dim(), "flatten");
  Shape shape(x.shape().begin(), x.shape().begin() + start);
  shape.push_back(numel(Shape(x.shape().begin() + start, x.shape().end())));
  return reshape(x, shape);
}

Variable permute(const Variable& x, const std::vector<int64_t>& perm) {
  auto fn = std::make_shared<Permute>();
  Tensor y = fn->forward(x.data(), perm);
  return attach(std::move(fn), {x}, std::move(y));
}

Variable transpose(const Variable& x, int64_t a, int64_t b) {
  std::vector<int64_t> perm(x.dim());
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[wrap_axis(a, x.dim(), "transpose")], perm[wrap_axis(b, x.dim(), "transpose")]);
  return permute(x, perm);
}

Variable slice(const Variable& x, int64_t dim, int64_t start, int64_t end) {
  auto fn = std::make_shared<Slice>();
  Tensor y = fn->forward(x.data(), dim, start, end);
  return attach(std::move(fn), {x}, std::move(y));
}

Variable concat(const std::vector<Variable>& xs, int64_t dim) {
  std::vector<Tensor> data;
  for (const Variable& x : xs) data.push_back(x.data());
  auto fn = std::make_shared<Concat>();
  Tensor y = fn->forward(data, dim);
  return attach(std::move(fn), xs, std::move(y));
}

Variable index_select(const Variable& x, int64_t dim, const Tensor& index) {
  auto fn = std::make_shared<IndexSelect>();
  Tensor y = fn->forward(x.data(), dim, index);
  return attach(std::move(fn), {x}, std::move(y));
}

Variable gather(const Variable& x, const Tensor& index) {
  auto fn = std::make_shared<Gather>();
  Tensor y = fn->forward(x.data(), index);
  return attach(std::move(fn), {x}, std::move(y));
}

}  // namespace tg
