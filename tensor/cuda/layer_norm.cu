// CUDA layer norm over the last axis of x [rows, cols], with the CPU's contract and arithmetic
// (tensor/cpu/layer_norm.cpp): statistics in double (two-pass, biased variance), saved mean and
// invstd = 1 / sqrt(var + eps) rounded to T. One warp per row for the statistics and dx; dgamma and
// dbeta are column sums: one thread per column sums a chunk of rows in double and adds it into a
// double buffer (atomicAdd), which is then written into dgamma/dbeta. gamma/beta may be undefined.
#include "tensor/cuda/common.cuh"

namespace tg::cuda {

// kernels

namespace {

constexpr int kRowsPerBlock = 8;
constexpr int64_t kRowsPerChunk = 256;  // rows summed by one thread of the column kernel

__device__ __forceinline__ int64_t warp_row() {
  return static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp;
}

// mean_r = sum_j x_rj / C, invstd_r = 1 / sqrt(sum_j (x_rj - mean_r)^2 / C + eps),
// y_rj = (x_rj - mean_r) invstd_r gamma_j + beta_j.
template <class T>
__global__ void layer_norm_forward_kernel(const T* x, const T* gamma, const T* beta, int64_t rows, int64_t cols,
                                          double eps, T* y, T* mean_out, T* invstd_out) {
  const int64_t r = warp_row();
  if (r >= rows) return;  // whole warps leave together
  const int lane = threadIdx.x % kWarp;
  const T* xr = x + r * cols;
  double s = 0;
  for (int64_t j = lane; j < cols; j += kWarp) s += xr[j];
  const double mean = warp_sum(s) / static_cast<double>(cols);
  double m2 = 0;
  for (int64_t j = lane; j < cols; j += kWarp) m2 += (xr[j] - mean) * (xr[j] - mean);
  const double invstd = 1.0 / sqrt(warp_sum(m2) / static_cast<double>(cols) + eps);
  for (int64_t j = lane; j < cols; j += kWarp) {
    const double xhat = (xr[j] - mean) * invstd;
    y[r * cols + j] = static_cast<T>(xhat * (gamma ? static_cast<double>(gamma[j]) : 1.0) +
                                     (beta ? static_cast<double>(beta[j]) : 0.0));
  }
  if (lane == 0) {
    mean_out[r] = static_cast<T>(mean);
    invstd_out[r] = static_cast<T>(invstd);
  }
}

// dx_rj = invstd_r (g_rj - mean_k g_rk - xhat_rj mean_k g_rk xhat_rk), g = dy * gamma.
template <class T>
__global__ void layer_norm_dx_kernel(const T* dy, const T* x, const T* gamma, const T* mean, const T* invstd,
                                     int64_t rows, int64_t cols, T* dx) {
  const int64_t r = warp_row();
  if (r >= rows) return;
  const int lane = threadIdx.x % kWarp;
  const int64_t off = r * cols;
  const double mu = mean[r], is = invstd[r];
  double sg = 0, sgx = 0;
  for (int64_t j = lane; j < cols; j += kWarp) {
    const double g = dy[off + j] * (gamma ? static_cast<double>(gamma[j]) : 1.0);
    sg += g;
    sgx += g * (x[off + j] - mu) * is;
  }
  const double g_mean = warp_sum(sg) / static_cast<double>(cols), gx_mean = warp_sum(sgx) / static_cast<double>(cols);
  for (int64_t j = lane; j < cols; j += kWarp) {
    const double g = dy[off + j] * (gamma ? static_cast<double>(gamma[j]) : 1.0);
    dx[off + j] = static_cast<T>(is * (g - g_mean - (x[off + j] - mu) * is * gx_mean));
  }
}

// sums[j] += sum_r dy_rj xhat_rj, sums[cols + j] += sum_r dy_rj over one chunk of rows.
// Grid: (column blocks, row chunks).
template <class T>
__global__ void layer_norm_column_sums_kernel(const T* dy, const T* x, const T* mean, const T* invstd, int64_t rows,
                                              int64_t cols, double* sums) {
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= cols) return;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * kRowsPerChunk;
  const int64_t r1 = min(r0 + kRowsPerChunk, rows);
  double sg = 0, sb = 0;
  for (int64_t r = r0; r < r1; ++r) {
    const double d = dy[r * cols + j];
    sb += d;
    sg += d * ((static_cast<double>(x[r * cols + j]) - mean[r]) * static_cast<double>(invstd[r]));
  }
  atomicAdd(sums + j, sg);
  atomicAdd(sums + cols + j, sb);
}

template <class T>
struct WriteColumnSumsFn {
  const double* sums;
  T *dgamma, *dbeta;
  int64_t cols;
  __device__ void operator()(int64_t j) const {
    if (dgamma) dgamma[j] = static_cast<T>(sums[j]);
    if (dbeta) dbeta[j] = static_cast<T>(sums[cols + j]);
  }
};

}  // namespace

// launchers

namespace {
unsigned row_grid(int64_t rows) {
  const int64_t g = (rows + kRowsPerBlock - 1) / kRowsPerBlock;
  TG_CHECK(g <= 2147483647, "layer_norm: ", rows, " rows are too many for one launch");
  return static_cast<unsigned>(g);
}
}  // namespace

void layer_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& y, Tensor& saved_mean,
                        Tensor& saved_invstd, double eps) {
  const int64_t cols = x.size(-1), rows = cols ? x.numel() / cols : 0;
  if (rows == 0) return;
  visit_floating(x.dtype(), "layer_norm", [&](auto zero) {
    using T = decltype(zero);
    layer_norm_forward_kernel<T><<<row_grid(rows), kRowsPerBlock * kWarp, 0, stream()>>>(
        x.data<T>(), ptr_or_null<T>(gamma), ptr_or_null<T>(beta), rows, cols, eps, y.data<T>(),
        saved_mean.data<T>(), saved_invstd.data<T>());
    TG_CUDA_LAUNCH_CHECK("layer_norm_forward ", x.str());
  });
}

// Forward: y = gamma * xhat + beta, xhat = (x - mean) * invstd over a row of n = cols.
// Let L = <dy, y>, g = gamma * dy. Writes dx = invstd * (g - mean(g) - xhat * mean(g * xhat)),
// dgamma = sum_rows dy * xhat, dbeta = sum_rows dy (docs/derivations/layer_norm.md, Eqs. 3-5).
void layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& saved_mean,
                         const Tensor& saved_invstd, Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  const int64_t cols = x.size(-1), rows = cols ? x.numel() / cols : 0;
  if (cols == 0) return;
  visit_floating(x.dtype(), "layer_norm_backward", [&](auto zero) {
    using T = decltype(zero);
    if (dx.defined() && rows > 0) {
      layer_norm_dx_kernel<T><<<row_grid(rows), kRowsPerBlock * kWarp, 0, stream()>>>(
          dy.data<T>(), x.data<T>(), ptr_or_null<T>(gamma), saved_mean.data<T>(), saved_invstd.data<T>(), rows,
          cols, dx.data<T>());
      TG_CUDA_LAUNCH_CHECK("layer_norm_backward (dx) ", x.str());
    }
    if (!dgamma.defined() && !dbeta.defined()) return;
    const int64_t chunks = (rows + kRowsPerChunk - 1) / kRowsPerChunk;
    TG_CHECK(chunks <= 65535, "layer_norm_backward: ", rows, " rows are too many for one launch");
    Tensor sums = Tensor::empty({2, cols}, DType::f64, x.device());
    TG_CUDA_CHECK(cudaMemsetAsync(sums.raw(), 0, sums.nbytes(), stream()), "layer_norm_backward ", x.str());
    if (rows > 0) {  // no rows: the sums, and so dgamma and dbeta, are zero
      const dim3 grid(static_cast<unsigned>((cols + kBlock - 1) / kBlock), static_cast<unsigned>(chunks));
      layer_norm_column_sums_kernel<T><<<grid, kBlock, 0, stream()>>>(
          dy.data<T>(), x.data<T>(), saved_mean.data<T>(), saved_invstd.data<T>(), rows, cols, sums.data<double>());
      TG_CUDA_LAUNCH_CHECK("layer_norm_backward (dgamma, dbeta) ", x.str());
    }
    launch_map(cols, WriteColumnSumsFn<T>{sums.data<double>(), ptr_or_null<T>(dgamma), ptr_or_null<T>(dbeta), cols},
               "layer_norm_backward (dgamma, dbeta)", x.shape());
  });
}

}  // namespace tg::cuda
