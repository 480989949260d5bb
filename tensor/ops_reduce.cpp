// Device-generic reductions. A reduction over several axes runs one axis at a time when the axes
// are adjacent (merged into one middle axis), otherwise after a permute that brings them together.
#include <algorithm>

#include "tensor/dispatch.h"
#include "tensor/ops.h"

namespace tg {

namespace {

// Sorted, wrapped, unique axes; empty means all.
std::vector<int64_t> normalize_axes(const std::vector<int64_t>& axes, int64_t ndim, const char* op) {
  std::vector<int64_t> out;
  if (axes.empty()) {
    for (int64_t i = 0; i < ndim; ++i) out.push_back(i);
    return out;
  }
  for (int64_t a : axes) out.push_back(wrap_axis(a, ndim, op));
  std::sort(out.begin(), out.end());
  TG_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), op, ": repeated axis");
  return out;
}

Shape reduced_shape(const Shape& s, const std::vector<int64_t>& axes, bool keepdim) {
  Shape out;
  for (int64_t i = 0; i < static_cast<int64_t>(s.size()); ++i) {
    bool reduced = std::find(axes.begin(), axes.end(), i) != axes.end();
    if (!reduced) {
      out.push_back(s[i]);
    } else if (keepdim) {
      out.push_back(1);
    }
  }
  return out;
}

// Moves `axes` (sorted) into one adjacent block at the end when they are not adjacent already.
// Returns the tensor and the block's [first, last] axis.
std::pair<Tensor, std::pair<int64_t, int64_t>> gather_axes(const Tensor& x, const std::vector<int64_t>& axes) {
  if (axes.back() - axes.front() + 1 == static_cast<int64_t>(axes.size())) return {x, {axes.front(), axes.back()}};
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < x.dim(); ++i)
    if (std::find(axes.begin(), axes.end(), i) == axes.end()) perm.push_back(i);
  int64_t first = static_cast<int64_t>(perm.size());
  perm.insert(perm.end(), axes.begin(), axes.end());
  return {permute(x, perm), {first, x.dim() - 1}};
}

// x viewed as [outer, n, inner] around axes [first, last].
void split_dims(const Shape& s, int64_t first, int64_t last, int64_t& outer, int64_t& n, int64_t& inner) {
  outer = n = inner = 1;
  for (int64_t i = 0; i < static_cast<int64_t>(s.size()); ++i) (i < first ? outer : i <= last ? n : inner) *= s[i];
}

Tensor reduce_axes(ReduceOp op, const Tensor& x, const std::vector<int64_t>& axes_in, bool keepdim,
                   const char* name, int64_t correction = -1) {
  Device d = common_device({&x}, name);
  if (x.dim() == 0) return x.clone();
  auto axes = normalize_axes(axes_in, x.dim(), name);
  for (int64_t a : axes) TG_CHECK(x.shape()[a] > 0 || op == ReduceOp::sum, name, ": empty axis ", a, " in ", x.str());
  auto [xt, block] = gather_axes(x, axes);
  int64_t outer, n, inner;
  split_dims(xt.shape(), block.first, block.second, outer, n, inner);
  Tensor y = Tensor::empty(reduced_shape(x.shape(), axes, keepdim), x.dtype(), d);
  if (correction >= 0) {
    TG_CHECK(n - correction > 0, name, ": ", n, " elements are too few for correction ", correction);
    TG_DISPATCH(d, variance, xt, y, outer, n, inner, correction);
  } else {
    TG_DISPATCH(d, reduce, xt, y, outer, n, inner, op);
  }
  return y;
}

Tensor arg_reduce(ReduceOp op, const Tensor& x, int64_t axis, bool keepdim, const char* name) {
  Device d = common_device({&x}, name);
  int64_t a = wrap_axis(axis, x.dim(), name);
  TG_CHECK(x.shape()[a] > 0, name, ": empty axis in ", x.str());
  int64_t outer, n, inner;
  split_dims(x.shape(), a, a, outer, n, inner);
  Tensor y = Tensor::empty(reduced_shape(x.shape(), {a}, keepdim), DType::i64, d);
  TG_DISPATCH(d, reduce, x, y, outer, n, inner, op);
  return y;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  return reduce_axes(ReduceOp::sum, x, axes, keepdim, "sum");
}
Tensor mean(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  return reduce_axes(ReduceOp::mean, x, axes, keepdim, "mean");
}
Tensor max(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  return reduce_axes(ReduceOp::max, x, axes, keepdim, "max");
}
Tensor min(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  return reduce_axes(ReduceOp::min, x, axes, keepdim, "min");
}
Tensor var(const Tensor& x, const std::vector<int64_t>& axes, int64_t correction, bool keepdim) {
  TG_CHECK(correction >= 0, "var: negative correction ", correction);
  return reduce_axes(ReduceOp::sum, x, axes, keepdim, "var", correction);
}
Tensor argmax(const Tensor& x, int64_t axis, bool keepdim) { return arg_reduce(ReduceOp::argmax, x, axis, keepdim, "argmax"); }
Tensor argmin(const Tensor& x, int64_t axis, bool keepdim) { return arg_reduce(ReduceOp::argmin, x, axis, keepdim, "argmin"); }

Tensor sum_to(const Tensor& x, const Shape& shape) {
  TG_CHECK(broadcast_shapes(shape, x.shape(), "sum_to") == x.shape(), "sum_to: ", shape_str(shape),
           " does not broadcast to ", shape_str(x.shape()));
  const int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
  std::vector<int64_t> axes;
  for (int64_t i = 0; i < x.dim(); ++i)
    if (i < lead || (shape[i - lead] == 1 && x.shape()[i] != 1)) axes.push_back(i);
  if (axes.empty()) return x.reshape(shape);
  return sum(x, axes, /*keepdim=*/true).reshape(shape);
}

}  // namespace tg
