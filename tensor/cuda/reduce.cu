// CUDA reductions over the middle axis of an [outer, n, inner] view, with the CPU's semantics
// (tensor/cpu/reduce.cpp): sums accumulate in double (int64 for integers), max/min/argmax/argmin take
// the first index of the extreme and NaN wins every comparison; variance is two-pass.
// Sums, means and variances are deterministic two-stage sums (sums.cuh): segment sums for rows
// (inner == 1), tiled column sums otherwise. The variance is two passes, as on the CPU: the mean, then
// the sum of squared deviations from it, both in double, so the GPU rounds like the CPU and there is
// no cancellation (a one-pass E[x^2] - E[x]^2 loses digits when |mean| >> std; Welford's merge would
// read x once instead of twice, at a division per element and a harder merge to read).
// Extremes (max, min, argmax, argmin): one block per row when inner == 1; otherwise one thread per
// output walks its column (neighbouring threads read neighbouring addresses; slow for long columns
// with few outputs, which no model's step has).
// bfloat16 is widened to float as it is read (math::widen): sums accumulate in double and round once
// as they are written; the extremes compare floats and copy the winning element, as on the CPU.
#include "tensor/cuda/sums.cuh"
#include "tensor/elementwise_math.h"

namespace tg::cuda {

using math::widen;

// The accumulator of a sum of T: double for the floating types (bfloat16 included), int64 otherwise.
template <class T>
using sum_t = acc_t<compute_t<T>>;

// kernels

namespace {

constexpr int kRowBlock = 512;  // threads per row in the inner == 1 kernels

// Is (v, k) a better extreme than (b, kb)? NaN first, then the value, then the lower index. T is the
// arithmetic type (float for bfloat16 data).
template <class T>
__device__ __forceinline__ bool better(T v, int64_t k, T b, int64_t kb, bool want_max) {
  if constexpr (std::is_floating_point_v<T>) {
    const bool nv = isnan(v), nb = isnan(b);
    if (nv || nb) return nv && (!nb || k < kb);
  }
  if (v == b) return k < kb;
  return want_max ? v > b : v < b;
}

// One thread per output (o, i) walks k over the middle axis: the extremes.
template <class T>
__global__ void extreme_columns_kernel(ReduceOp op, const T* x, int64_t outer, int64_t n, int64_t inner, T* y,
                                       int64_t* yi) {
  const bool want_max = op == ReduceOp::max || op == ReduceOp::argmax;
  TG_GRID_LOOP(oi, outer * inner) {
    const T* col = x + (oi / inner) * n * inner + oi % inner;
    int64_t best = 0;
    for (int64_t k = 1; k < n; ++k)
      if (better(widen(col[k * inner]), k, widen(col[best * inner]), best, want_max)) best = k;
    if (yi) {
      yi[oi] = best;
    } else {
      y[oi] = col[best * inner];
    }
  }
}

// One block per row (inner == 1): the extremes.
template <class T>
__global__ void extreme_rows_kernel(ReduceOp op, const T* x, int64_t outer, int64_t n, T* y, int64_t* yi) {
  __shared__ compute_t<T> s_val[kRowBlock];
  __shared__ int64_t s_idx[kRowBlock];
  const bool want_max = op == ReduceOp::max || op == ReduceOp::argmax;
  for (int64_t o = blockIdx.x; o < outer; o += gridDim.x) {
    const T* row = x + o * n;
    int64_t best = threadIdx.x < n ? threadIdx.x : 0;
    for (int64_t k = threadIdx.x + blockDim.x; k < n; k += blockDim.x)
      if (better(widen(row[k]), k, widen(row[best]), best, want_max)) best = k;
    __syncthreads();  // the shared arrays may be in use by the previous row
    s_val[threadIdx.x] = widen(row[best]);
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
        y[o] = row[s_idx[0]];  // the element itself (a bfloat16 NaN keeps its bits)
      }
    }
  }
}

// The terms and finishes of the sums (sums.cuh) over x viewed [outer, n, inner]: column sums call
// (o, k, i), segment sums (rows, inner == 1) call (o, k). Output oi = o * inner + i.
template <class T>
struct Value {  // x itself
  const T* x;
  int64_t n, inner;
  __device__ void operator()(int64_t o, int64_t k, int64_t i, Sums<sum_t<T>, 1>& s) const {
    s.v[0] += widen(x[(o * n + k) * inner + i]);
  }
  __device__ void operator()(int64_t o, int64_t k, Sums<sum_t<T>, 1>& s) const { s.v[0] += widen(x[o * n + k]); }
};

template <class T>
struct SquaredDeviation {  // (x - mean)^2, mean of its output in double
  const T* x;
  const double* mean;
  int64_t n, inner;
  __device__ void operator()(int64_t o, int64_t k, int64_t i, Sums<double, 1>& s) const {
    const double d = widen(x[(o * n + k) * inner + i]) - mean[o * inner + i];
    s.v[0] += d * d;
  }
  __device__ void operator()(int64_t o, int64_t k, Sums<double, 1>& s) const {
    const double d = widen(x[o * n + k]) - mean[o];
    s.v[0] += d * d;
  }
};

// y[oi] = sum, or sum / divisor when `divide` (mean, variance).
template <class T, class A>
struct WriteSum {
  T* y;
  int64_t inner;
  bool divide;
  double divisor;
  __device__ void operator()(int64_t o, int64_t, int64_t i, const Sums<A, 1>& s) const { write(o * inner + i, s.v[0]); }
  __device__ void operator()(int64_t o, int64_t, const Sums<A, 1>& s) const { write(o, s.v[0]); }
  __device__ void write(int64_t oi, A v) const {
    y[oi] = divide ? convert<T>(static_cast<double>(v) / divisor) : convert<T>(v);
  }
};

// Sums over n of x viewed [outer, n, inner] into y [outer, inner], through `finish`.
template <class A, class Term, class Finish>
void sums_of(int64_t outer, int64_t n, int64_t inner, const Term& term, const Finish& finish, Device device,
             const char* what) {
  if (inner == 1) {
    segment_sums<A, 1>(outer, n, term, finish, device, what);
  } else {
    column_sums<A, 1>(outer, n, inner, term, finish, device, what);
  }
}

}  // namespace

// launchers

void reduce(const Tensor& x, Tensor& y, int64_t outer, int64_t n, int64_t inner, ReduceOp op) {
  if (outer * inner == 0) return;
  visit_dtype_or_bf16(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    if (op == ReduceOp::sum || op == ReduceOp::mean) {
      sums_of<sum_t<T>>(outer, n, inner, Value<T>{x.data<T>(), n, inner},
                        WriteSum<T, sum_t<T>>{y.data<T>(), inner, op == ReduceOp::mean, static_cast<double>(n)},
                        x.device(), "reduce");
      return;
    }
    const bool arg = op == ReduceOp::argmax || op == ReduceOp::argmin;
    T* py = arg ? nullptr : y.data<T>();
    int64_t* pyi = arg ? y.data<int64_t>() : nullptr;
    if (inner == 1) {
      const unsigned grid = static_cast<unsigned>(outer < kMaxGrid ? outer : kMaxGrid);
      extreme_rows_kernel<T><<<grid, kRowBlock, 0, stream()>>>(op, x.data<T>(), outer, n, py, pyi);
    } else {
      extreme_columns_kernel<T><<<grid_for(outer * inner), kBlock, 0, stream()>>>(op, x.data<T>(), outer, n,
                                                                                  inner, py, pyi);
    }
    TG_CUDA_LAUNCH_CHECK("reduce of ", x.str(), " as [", outer, ", ", n, ", ", inner, "]");
  });
}

// Two passes: the mean of each output, then the sum of squared deviations from it.
void variance(const Tensor& x, Tensor& y, int64_t outer, int64_t n, int64_t inner, int64_t correction) {
  if (outer * inner == 0) return;
  visit_floating_or_bf16(x.dtype(), "var", [&](auto zero) {
    using T = decltype(zero);
    Tensor mean = Tensor::empty({outer, inner}, DType::f64, x.device());
    sums_of<double>(outer, n, inner, Value<T>{x.data<T>(), n, inner},
                    WriteSum<double, double>{mean.data<double>(), inner, true, static_cast<double>(n)}, x.device(),
                    "var (mean)");
    sums_of<double>(outer, n, inner, SquaredDeviation<T>{x.data<T>(), mean.data<double>(), n, inner},
                    WriteSum<T, double>{y.data<T>(), inner, true, static_cast<double>(n - correction)}, x.device(),
                    "var");
  });
}

}  // namespace tg::cuda
