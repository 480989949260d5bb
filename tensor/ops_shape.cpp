// Device-generic shape and indexing ops.
#include <algorithm>

#include "tensor/dispatch.h"
#include "tensor/ops.h"

namespace tg {

Tensor permute(const Tensor& x, const std::vector<int64_t>& perm) {
  Device d = common_device({&x}, "permute");
  TG_CHECK(static_cast<int64_t>(perm.size()) == x.dim(), "permute: ", perm.size(), " axes for ", x.str());
  std::vector<int64_t> p(perm.size());
  Shape out(perm.size());
  std::vector<bool> used(perm.size(), false);
  for (size_t i = 0; i < perm.size(); ++i) {
    p[i] = wrap_axis(perm[i], x.dim(), "permute");
    TG_CHECK(!used[p[i]], "permute: axis ", p[i], " repeated");
    used[p[i]] = true;
    out[i] = x.shape()[p[i]];
  }
  bool identity = true;
  for (size_t i = 0; i < p.size(); ++i) identity = identity && p[i] == static_cast<int64_t>(i);
  if (identity) return x;
  Tensor y = Tensor::empty(out, x.dtype(), d);
  TG_DISPATCH(d, permute, x, y, p);
  return y;
}

Tensor transpose(const Tensor& x, int64_t a, int64_t b) {
  std::vector<int64_t> perm(x.dim());
  for (int64_t i = 0; i < x.dim(); ++i) perm[i] = i;
  std::swap(perm[wrap_axis(a, x.dim(), "transpose")], perm[wrap_axis(b, x.dim(), "transpose")]);
  return permute(x, perm);
}

namespace {

// Index values must lie in [0, n). Checked here where they live on the host; on a GPU the kernel
// reports a bad one and the next synchronization throws this same error (tensor/cuda/runtime.h,
// IndexError), without the device-to-host copy this check would cost (DESIGN.md §6).
void check_indices(const Tensor& index, int64_t n, const char* op, const char* what) {
  TG_CHECK(index.dtype() == DType::i64, op, ": ", what, " must be int64, got ", index.str());
  if (index.is_cuda()) return;
  const int64_t* p = index.data<int64_t>();
  for (int64_t i = 0; i < index.numel(); ++i)
    TG_CHECK(p[i] >= 0 && p[i] < n, op, ": ", what, " ", p[i], " at position ", i, " is out of range [0, ", n,
             ") for ", index.str());
}

}  // namespace

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end) {
  Device d = common_device({&x}, "slice");
  const int64_t a = wrap_axis(dim, x.dim(), "slice"), n = x.shape()[a];
  const int64_t s = start < 0 ? start + n : start, e = end < 0 ? end + n : end;
  TG_CHECK(0 <= s && s <= e && e <= n, "slice: [", start, ", ", end, ") out of range for axis ", a, " of ",
           x.str());
  Shape out = x.shape();
  out[a] = e - s;
  int64_t outer = 1;
  for (int64_t i = 0; i < a; ++i) outer *= x.shape()[i];
  if (outer == 1) {  // the slice is one contiguous block: a view that shares storage
    return x.reshape({n, n ? x.numel() / n : 0}).slice_rows(s, e).reshape(out);
  }
  Tensor y = Tensor::empty(out, x.dtype(), d);
  TG_DISPATCH(d, slice_forward, x, y, a, s);
  return y;
}

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  TG_CHECK(!xs.empty(), "concat: no tensors");
  const Tensor& first = xs[0];
  Device d = common_device({&first}, "concat");
  const int64_t a = wrap_axis(dim, first.dim(), "concat");
  Shape out = first.shape();
  out[a] = 0;
  for (const Tensor& x : xs) {
    common_device({&first, &x}, "concat");
    check_same_dtype(first, x, "concat");
    bool same = x.dim() == first.dim();
    for (int64_t i = 0; same && i < x.dim(); ++i) same = i == a || x.shape()[i] == first.shape()[i];
    TG_CHECK(same, "concat: ", x.str(), " does not match ", first.str(), " outside axis ", a);
    out[a] += x.shape()[a];
  }
  if (xs.size() == 1) return first;
  Tensor y = Tensor::zeros(out, first.dtype(), d);
  int64_t offset = 0;
  for (const Tensor& x : xs) {
    TG_DISPATCH(d, slice_add, x, y, a, offset);  // adds x into its place in the zeros
    offset += x.shape()[a];
  }
  return y;
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  Device d = common_device({&x, &index}, "index_select");
  const int64_t a = wrap_axis(dim, x.dim(), "index_select");
  TG_CHECK(index.dim() == 1, "index_select: index must be 1-D, got ", index.str());
  check_indices(index, x.shape()[a], "index_select", "index");
  Shape out = x.shape();
  out[a] = index.numel();
  Tensor y = Tensor::empty(out, x.dtype(), d);
  TG_DISPATCH(d, index_select, x, index, y, a);
  return y;
}

Tensor gather(const Tensor& x, const Tensor& index) {
  Device d = common_device({&x, &index}, "gather");
  TG_CHECK(x.dim() >= 1 && index.dim() == x.dim() &&
               Shape(x.shape().begin(), x.shape().end() - 1) == Shape(index.shape().begin(), index.shape().end() - 1),
           "gather: index ", index.str(), " must match x ", x.str(), " in every dim but the last");
  check_indices(index, x.size(-1), "gather", "index");
  Tensor y = Tensor::empty(index.shape(), x.dtype(), d);
  TG_DISPATCH(d, gather, x, index, y);
  return y;
}

Tensor one_hot(const Tensor& labels, int64_t num_classes, DType dtype) {
  Device d = common_device({&labels}, "one_hot");
  TG_CHECK(is_floating(dtype), "one_hot: output dtype must be float32 or float64, got ", dtype_name(dtype));
  TG_CHECK(num_classes > 0, "one_hot: num_classes must be > 0, got ", num_classes);
  check_indices(labels, num_classes, "one_hot", "label");
  Shape out = labels.shape();
  out.push_back(num_classes);
  Tensor y = Tensor::empty(out, dtype, d);
  TG_DISPATCH(d, one_hot, labels, y);
  return y;
}

// ---- the scatter-adds: gradients of slice, index_select and gather ----

namespace {

// dy must be a floating tensor whose shape is x_shape with axis `dim` of size `n`.
void check_dy_along(const Tensor& dy, const Shape& x_shape, int64_t dim, int64_t n, const char* op) {
  Shape expected = x_shape;
  expected[dim] = n;
  TG_CHECK(is_floating(dy.dtype()) && dy.shape() == expected, op, ": dy ", dy.str(), " must be floating ",
           shape_str(expected), " for input ", shape_str(x_shape));
}

}  // namespace

Tensor slice_backward(const Tensor& dy, int64_t dim, int64_t start, const Shape& x_shape) {
  Device d = common_device({&dy}, "slice_backward");
  const int64_t a = wrap_axis(dim, static_cast<int64_t>(x_shape.size()), "slice_backward");
  check_dy_along(dy, x_shape, a, dy.dim() > a ? dy.size(a) : 0, "slice_backward");
  TG_CHECK(start >= 0 && start + dy.size(a) <= x_shape[a], "slice_backward: [", start, ", ", start + dy.size(a),
           ") out of range for axis ", a, " of ", shape_str(x_shape));
  Tensor dx = Tensor::zeros(x_shape, dy.dtype(), d);
  TG_DISPATCH(d, slice_add, dy, dx, a, start);
  return dx;
}

Tensor index_select_backward(const Tensor& dy, int64_t dim, const Tensor& index, const Shape& x_shape) {
  Device d = common_device({&dy, &index}, "index_select_backward");
  const int64_t a = wrap_axis(dim, static_cast<int64_t>(x_shape.size()), "index_select_backward");
  TG_CHECK(index.dim() == 1, "index_select_backward: index must be 1-D, got ", index.str());
  check_dy_along(dy, x_shape, a, index.numel(), "index_select_backward");
  check_indices(index, x_shape[a], "index_select_backward", "index");
  Tensor dx = Tensor::zeros(x_shape, dy.dtype(), d);
  TG_DISPATCH(d, index_add, dy, index, dx, a);
  return dx;
}

Tensor gather_backward(const Tensor& dy, const Tensor& index, const Shape& x_shape) {
  Device d = common_device({&dy, &index}, "gather_backward");
  TG_CHECK(!x_shape.empty() && dy.shape() == index.shape(), "gather_backward: dy ", dy.str(),
           " must have the shape of index ", index.str());
  check_dy_along(dy, x_shape, static_cast<int64_t>(x_shape.size()) - 1, index.size(-1), "gather_backward");
  check_indices(index, x_shape.back(), "gather_backward", "index");
  Tensor dx = Tensor::zeros(x_shape, dy.dtype(), d);
  TG_DISPATCH(d, scatter_add, dy, index, dx);
  return dx;
}

}  // namespace tg
