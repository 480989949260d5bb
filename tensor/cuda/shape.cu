// CUDA shape and indexing kernels: permute (a strided copy), slicing and its adjoint (also how
// concat writes its parts), index_select/index_add, gather/scatter_add along the last axis, one-hot.
// Same semantics as tensor/cpu/shape.cpp. The adjoints that can collide (index_add, scatter_add)
// gather instead of using atomics, so they are deterministic and add in the CPU's order: one thread
// per destination element scans the index and adds, in index order, the dy entries that point at it.
// Indices outside their range are skipped (reads give 0): the ops check on the host.
#include "tensor/cuda/common.cuh"

namespace tg::cuda {

// kernels

namespace {

// y[i] = x[src(i)], with src from y's coordinates and x's strides permuted (dims.stride[0]).
template <class T>
struct PermuteFn {
  const T* x;
  T* y;
  Dims dims;
  __device__ void operator()(int64_t i) const {
    int64_t src = 0, rem = i;
    for (int k = dims.nd - 1; k >= 0; --k) {
      src += (rem % dims.size[k]) * dims.stride[0][k];
      rem /= dims.size[k];
    }
    y[i] = x[src];
  }
};

// x viewed as [outer, xn, inner], y as [outer, yn, inner]: y[o, k, i] = x[o, start + k, i]
// (forward), or x[o, start + k, i] += y[o, k, i] (backward; x is then dx, y is dy).
template <class T>
struct SliceFn {
  T* x;
  T* y;
  int64_t xn, yn, inner, start;
  bool backward;
  __device__ void operator()(int64_t i) const {
    const int64_t in = i % inner, k = (i / inner) % yn, o = i / (inner * yn);
    const int64_t xi = (o * xn + start + k) * inner + in;
    if (backward) {
      x[xi] = convert<T>(convert<compute_t<T>>(x[xi]) + convert<compute_t<T>>(y[i]));  // bf16: in float
    } else {
      y[i] = x[xi];
    }
  }
};

// x [outer, xn, inner], y [outer, K, inner]: y[o, k, i] = x[o, index[k], i].
// An index outside [0, xn) is reported (runtime.h, IndexError) and gives 0.
template <class T>
struct IndexSelectFn {
  const T* x;
  const int64_t* index;
  T* y;
  int64_t xn, K, inner;
  IndexError* err;
  __device__ void operator()(int64_t i) const {
    const int64_t in = i % inner, k = (i / inner) % K, o = i / (inner * K);
    const int64_t src = index[k];
    const bool ok = src >= 0 && src < xn;
    if (!ok) report_index_error(err, IndexOp::index_select, src, k, xn);
    y[i] = ok ? x[(o * xn + src) * inner + in] : T(0);
  }
};

// dx [outer, xn, inner] += dy [outer, K, inner] at index: one thread per dx element (o, dst, i)
// adds dy[o, k, i] for each k with index[k] == dst, in k order; thread 0 reports a bad index. Reads
// the whole index per element: dx.numel() * K cached reads (1.5M x 512 = 8e8 for a batch of 512
// CIFAR images picked by index, about a millisecond); an embedding-sized use (50k rows x 25k indices
// x 384) would need the index grouped by destination first (a CSR of it).
template <class T>
struct IndexAddFn {
  const T* dy;
  const int64_t* index;
  T* dx;
  int64_t xn, K, inner;
  IndexError* err;
  __device__ void operator()(int64_t i) const {
    const int64_t in = i % inner, dst = (i / inner) % xn, o = i / (inner * xn);
    T sum = dx[i];
    for (int64_t k = 0; k < K; ++k) {
      const int64_t at = index[k];
      if (at == dst) {
        sum += dy[(o * K + k) * inner + in];
      } else if (i == 0 && (at < 0 || at >= xn)) {
        report_index_error(err, IndexOp::index_add, at, k, xn);
      }
    }
    dx[i] = sum;
  }
};

// x [rows, C], index [rows, K]: y[r, k] = x[r, index[r, k]]. An index outside [0, C) is reported
// and gives 0.
template <class T>
struct GatherFn {
  const T* x;
  const int64_t* index;
  T* y;
  int64_t C, K;
  IndexError* err;
  __device__ void operator()(int64_t i) const {
    const int64_t c = index[i];
    const bool ok = c >= 0 && c < C;
    if (!ok) report_index_error(err, IndexOp::gather, c, i, C);
    y[i] = ok ? x[(i / K) * C + c] : T(0);
  }
};

// dx [rows, C] += dy [rows, K] at index [rows, K]: one thread per dx element (r, c) adds dy[r, k]
// for each k with index[r, k] == c, in k order; the thread of c = 0 reports a bad index of its row.
// rows * C * K reads: K = 1 or 2 where the attacks and the loss use it.
template <class T>
struct ScatterAddFn {
  const T* dy;
  const int64_t* index;
  T* dx;
  int64_t C, K;
  IndexError* err;
  __device__ void operator()(int64_t i) const {
    const int64_t c = i % C, row = (i / C) * K;
    T sum = dx[i];
    for (int64_t k = row; k < row + K; ++k) {
      if (index[k] == c) {
        sum += dy[k];
      } else if (c == 0 && (index[k] < 0 || index[k] >= C)) {
        report_index_error(err, IndexOp::scatter_add, index[k], k, C);
      }
    }
    dx[i] = sum;
  }
};

// A label outside [0, C) is reported and gives a row of zeros.
template <class T>
struct OneHotFn {
  const int64_t* labels;
  T* y;
  int64_t C;
  IndexError* err;
  __device__ void operator()(int64_t i) const {
    const int64_t label = labels[i / C];
    if (i % C == 0 && (label < 0 || label >= C)) report_index_error(err, IndexOp::one_hot, label, i / C, C);
    y[i] = label == i % C ? T(1) : T(0);
  }
};

}  // namespace

// launchers

namespace {
// dim splits `s` into [outer, s[dim], inner].
void split_at(const Shape& s, int64_t dim, int64_t& outer, int64_t& inner) {
  outer = inner = 1;
  for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) {
    if (d < dim) outer *= s[d];
    if (d > dim) inner *= s[d];
  }
}
}  // namespace

void permute(const Tensor& x, Tensor& y, const std::vector<int64_t>& perm) {
  const int64_t nd = x.dim();
  TG_CHECK(nd <= kMaxDims, "permute: the CUDA kernel takes at most ", kMaxDims, " dims, got ", x.str());
  std::vector<int64_t> x_strides(nd, 1);
  for (int64_t d = nd - 2; d >= 0; --d) x_strides[d] = x_strides[d + 1] * x.shape()[d + 1];
  Dims dims;
  dims.nd = static_cast<int>(nd);
  for (int64_t d = 0; d < nd; ++d) {
    dims.size[d] = y.shape()[d];
    dims.stride[0][d] = x_strides[perm[d]];
  }
  visit_dtype_or_bf16(x.dtype(), [&](auto zero) {  // a copy: bfloat16 too (reductions over non-adjacent axes)
    using T = decltype(zero);
    launch_map(y.numel(), PermuteFn<T>{x.data<T>(), y.data<T>(), dims}, "permute", x.shape());
  });
}

void slice_forward(const Tensor& x, Tensor& y, int64_t dim, int64_t start) {
  int64_t outer, inner;
  split_at(x.shape(), dim, outer, inner);
  visit_dtype_or_bf16(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(y.numel(), SliceFn<T>{x.data<T>(), y.data<T>(), x.size(dim), y.size(dim), inner, start, false},
               "slice_forward", x.shape());
  });
}

// Forward: y = x.narrow(dim, start, n). Let L = <dy, y>. Adds dy into dx.narrow(dim, start, n).
void slice_add(const Tensor& dy, Tensor& dx, int64_t dim, int64_t start) {
  int64_t outer, inner;
  split_at(dx.shape(), dim, outer, inner);
  visit_dtype_or_bf16(dy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(dy.numel(), SliceFn<T>{dx.data<T>(), dy.data<T>(), dx.size(dim), dy.size(dim), inner, start, true},
               "slice_add", dx.shape());
  });
}

void index_select(const Tensor& x, const Tensor& index, Tensor& y, int64_t dim) {
  int64_t outer, inner;
  split_at(x.shape(), dim, outer, inner);
  visit_dtype(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(y.numel(),
               IndexSelectFn<T>{x.data<T>(), index.data<int64_t>(), y.data<T>(), x.size(dim), index.numel(), inner,
                                index_error_record()},
               "index_select", x.shape());
  });
}

// Forward: y = index_select(x, dim, index). Let L = <dy, y>. Adds dy's slices into dx at index.
void index_add(const Tensor& dy, const Tensor& index, Tensor& dx, int64_t dim) {
  int64_t outer, inner;
  split_at(dx.shape(), dim, outer, inner);
  visit_dtype(dy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(dx.numel(),
               IndexAddFn<T>{dy.data<T>(), index.data<int64_t>(), dx.data<T>(), dx.size(dim), index.numel(), inner,
                             index_error_record()},
               "index_add", dx.shape());
  });
}

void gather(const Tensor& x, const Tensor& index, Tensor& y) {
  visit_dtype(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(y.numel(), GatherFn<T>{x.data<T>(), index.data<int64_t>(), y.data<T>(), x.size(-1), index.size(-1), index_error_record()},
               "gather", x.shape());
  });
}

// Forward: y[r, k] = x[r, index[r, k]]. Let L = <dy, y>. Adds dy[r, k] into dx[r, index[r, k]].
void scatter_add(const Tensor& dy, const Tensor& index, Tensor& dx) {
  visit_dtype(dy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(dx.numel(),
               ScatterAddFn<T>{dy.data<T>(), index.data<int64_t>(), dx.data<T>(), dx.size(-1), index.size(-1),
                               index_error_record()},
               "scatter_add", dx.shape());
  });
}

void one_hot(const Tensor& labels, Tensor& y) {
  visit_dtype(y.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(y.numel(), OneHotFn<T>{labels.data<int64_t>(), y.data<T>(), y.size(-1), index_error_record()}, "one_hot", y.shape());
  });
}

}  // namespace tg::cuda
