// CPU shape and indexing kernels: permute (a strided copy), slicing, concatenation's parts,
// index_select/index_add, gather/scatter_add, one-hot. permute and the slices take bfloat16 too
// (attention's heads under the bf16 policy).
#include <algorithm>

#include "tensor/cpu/parallel.h"
#include "tensor/kernels.h"

namespace tg::cpu {

void permute(const Tensor& x, Tensor& y, const std::vector<int64_t>& perm) {
  const int64_t nd = x.dim();
  std::vector<int64_t> x_strides(nd, 1);
  for (int64_t d = nd - 2; d >= 0; --d) x_strides[d] = x_strides[d + 1] * x.shape()[d + 1];
  std::vector<int64_t> src_stride(nd);  // stride in x of y's axis d
  for (int64_t d = 0; d < nd; ++d) src_stride[d] = x_strides[perm[d]];
  const Shape& ys = y.shape();
  const int64_t inner = nd ? ys[nd - 1] : 1, rows = inner ? y.numel() / inner : 0;
  const int64_t inner_stride = nd ? src_stride[nd - 1] : 0;
  visit_dtype_or_bf16(x.dtype(), [&](auto zero) {  // a copy: bfloat16 too (reductions over non-adjacent axes)
    using T = decltype(zero);
    const T* sx = x.data<T>();
    T* sy = y.data<T>();
    parallel_for(rows, inner, [&](int64_t row) {
      int64_t src = 0, rem = row;
      for (int64_t d = nd - 2; d >= 0; --d) {
        src += (rem % ys[d]) * src_stride[d];
        rem /= ys[d];
      }
      T* out = sy + row * inner;
      for (int64_t j = 0; j < inner; ++j) out[j] = sx[src + j * inner_stride];
    });
  });
}

namespace {

// x viewed as [outer, n, inner] around axis `dim`.
struct AxisView {
  int64_t outer = 1, n = 1, inner = 1;
};
AxisView axis_view(const Tensor& x, int64_t dim) {
  AxisView v;
  for (int64_t d = 0; d < x.dim(); ++d) (d < dim ? v.outer : d == dim ? v.n : v.inner) *= x.shape()[d];
  return v;
}

// Elements per task when a loop is split over (outer, chunks of inner).
constexpr int64_t kChunk = 1024;

}  // namespace

// y[o, j, i] = x[o, start + j, i].
void slice_forward(const Tensor& x, Tensor& y, int64_t dim, int64_t start) {
  const AxisView vx = axis_view(x, dim), vy = axis_view(y, dim);
  visit_dtype_or_bf16(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const int64_t block = vy.n * vy.inner;  // contiguous in both
    parallel_for(vy.outer, block, [&](int64_t o) {
      const T* src = px + (o * vx.n + start) * vx.inner;
      std::copy(src, src + block, py + o * block);
    });
  });
}

// Adds dy into dx[o, start + j, i]: the gradient of a slice, and how concat writes its parts.
void slice_add(const Tensor& dy, Tensor& dx, int64_t dim, int64_t start) {
  const AxisView vx = axis_view(dx, dim), vy = axis_view(dy, dim);
  visit_dtype_or_bf16(dy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
    const int64_t block = vy.n * vy.inner;
    parallel_for(vy.outer, block, [&](int64_t o) {
      const T* src = pdy + o * block;
      T* dst = pdx + (o * vx.n + start) * vx.inner;
      using C = compute_t<T>;  // bfloat16 adds in float, rounded once
      for (int64_t k = 0; k < block; ++k) dst[k] = convert<T>(convert<C>(dst[k]) + convert<C>(src[k]));
    });
  });
}

// y[o, j, i] = x[o, index[j], i].
void index_select(const Tensor& x, const Tensor& index, Tensor& y, int64_t dim) {
  const AxisView vx = axis_view(x, dim);
  const int64_t k = index.numel();
  const int64_t* idx = index.data<int64_t>();
  visit_dtype(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallel_for(vx.outer * k, vx.inner, [&](int64_t oj) {
      const int64_t o = oj / k, j = oj % k;
      const T* src = px + (o * vx.n + idx[j]) * vx.inner;
      std::copy(src, src + vx.inner, py + oj * vx.inner);
    });
  });
}

// Let L = <dy, y> with y = index_select(x, dim, index). Adds dx[o, index[j], i] += dy[o, j, i];
// repeated indices add up. Tasks split (outer, inner chunks), never j, so no two write one element.
void index_add(const Tensor& dy, const Tensor& index, Tensor& dx, int64_t dim) {
  const AxisView vx = axis_view(dx, dim);
  const int64_t k = index.numel(), chunks = (vx.inner + kChunk - 1) / kChunk;
  const int64_t* idx = index.data<int64_t>();
  visit_dtype(dy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
    parallel_for(vx.outer * chunks, k * kChunk, [&](int64_t task) {
      const int64_t o = task / chunks, lo = (task % chunks) * kChunk, hi = std::min(lo + kChunk, vx.inner);
      for (int64_t j = 0; j < k; ++j) {
        const T* src = pdy + (o * k + j) * vx.inner;
        T* dst = pdx + (o * vx.n + idx[j]) * vx.inner;
        for (int64_t i = lo; i < hi; ++i) dst[i] += src[i];
      }
    });
  });
}

// y[r, k] = x[r, index[r, k]] along the last axis.
void gather(const Tensor& x, const Tensor& index, Tensor& y) {
  const int64_t k = index.dim() ? index.size(-1) : 1, rows = k ? index.numel() / k : 0;
  const int64_t c = x.dim() ? x.size(-1) : 1;
  const int64_t* idx = index.data<int64_t>();
  visit_dtype(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallel_for(rows, k, [&](int64_t r) {
      for (int64_t j = 0; j < k; ++j) py[r * k + j] = px[r * c + idx[r * k + j]];
    });
  });
}

// Let L = <dy, y> with y = gather(x, index). Adds dx[r, index[r, k]] += dy[r, k].
void scatter_add(const Tensor& dy, const Tensor& index, Tensor& dx) {
  const int64_t k = index.dim() ? index.size(-1) : 1, rows = k ? index.numel() / k : 0;
  const int64_t c = dx.dim() ? dx.size(-1) : 1;
  const int64_t* idx = index.data<int64_t>();
  visit_dtype(dy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pdy = dy.data<T>();
    T* pdx = dx.data<T>();
    parallel_for(rows, k, [&](int64_t r) {
      for (int64_t j = 0; j < k; ++j) pdx[r * c + idx[r * k + j]] += pdy[r * k + j];
    });
  });
}

// y[r, c] = (c == labels[r]), y [N, C] floating.
void one_hot(const Tensor& labels, Tensor& y) {
  const int64_t c = y.size(-1), rows = labels.numel();
  const int64_t* lab = labels.data<int64_t>();
  visit_floating(y.dtype(), "one_hot", [&](auto zero) {
    using T = decltype(zero);
    T* py = y.data<T>();
    parallel_for(rows, c, [&](int64_t r) {
      std::fill(py + r * c, py + (r + 1) * c, T(0));
      py[r * c + lab[r]] = T(1);
    });
  });
}

}  // namespace tg::cpu
