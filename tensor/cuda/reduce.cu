// CUDA reductions over the middle axis of an [outer, n, inner] view, with the CPU's semantics
// (tensor/cpu/reduce.cpp): sums accumulate in double (int64 for integers), max/min/argmax/argmin take
// the first index of the extreme and NaN wins every comparison; variance is two-pass.
// Two layouts: inner == 1 (rows are contiguous) reduces each row with one block; otherwise one
// thread per output walks its strided column, and neighbouring threads read neighbouring addresses.
#include "tensor/cuda/common.cuh"

namespace tg::cuda {

// kernels

namespace {

constexpr int kRowBlock = 512;  // threads per row in the inner == 1 kernels

// Is (v, k) a better extreme than (b, kb)? NaN first, then the value, then the lower index.
template <class T>
__device__ __forceinline__ bool better(T v, int64_t k, T b, int64_t kb, bool want_max) {
  if constexpr (std::is_floating_point_v<T>) {
    const bool nv = isnan(v), nb = isnan(b);
    if (nv || nb) return nv && (!nb || k < kb);
  }
  if (v == b) return k < kb;
  return want_max ? v > b : v < b;
}

// One thread per output (o, i); walks k over the middle axis.
template <class T>
__global__ void reduce_columns_kernel(ReduceOp op, const T* x, int64_t outer, int64_t n, int64_t inner, T* y,
                                      int64_t* yi) {
  TG_GRID_LOOP(oi, outer * inner) {
    const T* col = x + (oi / inner) * n * inner + oi % inner;
    if (op == ReduceOp::sum || op == ReduceOp::mean) {
      acc_t<T> acc = 0;
      for (int64_t k = 0; k < n; ++k) acc += col[k * inner];
      y[oi] = static_cast<T>(op == ReduceOp::mean ? static_cast<double>(acc) / n : acc);
      continue;
    }
    const bool want_max = op == ReduceOp::max || op == ReduceOp::argmax;
    int64_t best = 0;
    for (int64_t k = 1; k < n; ++k)
      if (better(col[k * inner], k, col[best * inner], best, want_max)) best = k;
    if (yi) {
      yi[oi] = best;
    } else {
      y[oi] = col[best * inner];
    }
  }
}

// One block per row (inner == 1).
template <class T>
__global__ void reduce_rows_kernel(ReduceOp op, const T* x, int64_t outer, int64_t n, T* y, int64_t* yi) {
  __shared__ acc_t<T> s_acc[kWarp];
  __shared__ T s_val[kRowBlock];
  __shared__ int64_t s_idx[kRowBlock];
  for (int64_t o = blockIdx.x; o < outer; o += gridDim.x) {
    const T* row = x + o * n;
    if (op == ReduceOp::sum || op == ReduceOp::mean) {
      acc_t<T> acc = 0;
      for (int64_t k = threadIdx.x; k < n; k += blockDim.x) acc += row[k];
      acc = block_sum(acc, s_acc);
      if (threadIdx.x == 0) y[o] = static_cast<T>(op == ReduceOp::mean ? static_cast<double>(acc) / n : acc);
      continue;
    }
    const bool want_max = op == ReduceOp::max || op == ReduceOp::argmax;
    int64_t best = threadIdx.x < n ? threadIdx.x : 0;
    for (int64_t k = threadIdx.x + blockDim.x; k < n; k += blockDim.x)
      if (better(row[k], k, row[best], best, want_max)) best = k;
    __syncthreads();  // the shared arrays may be in use by the previous row
    s_val[threadIdx.x] = row[best];
    s_idx[threadIdx.x] = best;
    __syncthreads();
    for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
      if (threadIdx.x < stride) {
        const int j = threadIdx.x + stride;
        if (better(s_val[j], s_idx[j], s_val[threadIdx.x], s_idx[threadIdx.x], want_max)) {
          s_val[threadIdx.x] = s_val[j];
          s_idx[threadIdx.x] = s_idx[j];
        }
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) {
      if (yi) {
        yi[o] = s_idx[0];
      } else {
        y[o] = s_val[0];
      }
    }
  }
}

template <class T>
__global__ void variance_columns_kernel(const T* x, int64_t outer, int64_t n, int64_t inner, int64_t correction,
                                        T* y) {
  TG_GRID_LOOP(oi, outer * inner) {
    const T* col = x + (oi / inner) * n * inner + oi % inner;
    double mean = 0, m2 = 0;
    for (int64_t k = 0; k < n; ++k) mean += col[k * inner];
    mean /= n;
    for (int64_t k = 0; k < n; ++k) m2 += (col[k * inner] - mean) * (col[k * inner] - mean);
    y[oi] = static_cast<T>(m2 / static_cast<double>(n - correction));
  }
}

template <class T>
__global__ void variance_rows_kernel(const T* x, int64_t outer, int64_t n, int64_t correction, T* y) {
  __shared__ double s_acc[kWarp];
  for (int64_t o = blockIdx.x; o < outer; o += gridDim.x) {
    const T* row = x + o * n;
    double s = 0;
    for (int64_t k = threadIdx.x; k < n; k += blockDim.x) s += row[k];
    const double mean = block_sum(s, s_acc) / n;
    double m2 = 0;
    for (int64_t k = threadIdx.x; k < n; k += blockDim.x) m2 += (row[k] - mean) * (row[k] - mean);
    m2 = block_sum(m2, s_acc);
    if (threadIdx.x == 0) y[o] = static_cast<T>(m2 / static_cast<double>(n - correction));
  }
}

}  // namespace

// launchers

void reduce(const Tensor& x, Tensor& y, int64_t outer, int64_t n, int64_t inner, ReduceOp op) {
  if (outer * inner == 0) return;
  visit_dtype(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const bool arg = op == ReduceOp::argmax || op == ReduceOp::argmin;
    T* py = arg ? nullptr : y.data<T>();
    int64_t* pyi = arg ? y.data<int64_t>() : nullptr;
    if (inner == 1) {
      const unsigned grid = static_cast<unsigned>(outer < kMaxGrid ? outer : kMaxGrid);
      reduce_rows_kernel<T><<<grid, kRowBlock, 0, stream()>>>(op, x.data<T>(), outer, n, py, pyi);
    } else {
      reduce_columns_kernel<T><<<grid_for(outer * inner), kBlock, 0, stream()>>>(op, x.data<T>(), outer, n,
                                                                                 inner, py, pyi);
    }
    TG_CUDA_LAUNCH_CHECK("reduce of ", x.str(), " as [", outer, ", ", n, ", ", inner, "]");
  });
}

void variance(const Tensor& x, Tensor& y, int64_t outer, int64_t n, int64_t inner, int64_t correction) {
  if (outer * inner == 0) return;
  visit_floating(x.dtype(), "var", [&](auto zero) {
    using T = decltype(zero);
    if (inner == 1) {
      const unsigned grid = static_cast<unsigned>(outer < kMaxGrid ? outer : kMaxGrid);
      variance_rows_kernel<T><<<grid, kRowBlock, 0, stream()>>>(x.data<T>(), outer, n, correction, y.data<T>());
    } else {
      variance_columns_kernel<T><<<grid_for(outer * inner), kBlock, 0, stream()>>>(x.data<T>(), outer, n, inner,
                                                                                   correction, y.data<T>());
    }
    TG_CUDA_LAUNCH_CHECK("var of ", x.str(), " as [", outer, ", ", n, ", ", inner, "]");
  });
}

}  // namespace tg::cuda
