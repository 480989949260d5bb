// CUDA layer norm over the last axis of x [rows, cols], with the CPU's contract and arithmetic
// (tensor/cpu/layer_norm.cpp): statistics in double (two-pass, biased variance), saved mean and
// invstd = 1 / sqrt(var + eps) rounded to T. One warp per row for the statistics and dx; dgamma and
// dbeta are deterministic two-stage column sums in double (sums.cuh: 32 columns x chunks of rows per
// block, then the chunks added in order; no atomics). gamma/beta may be undefined.
#include "tensor/cuda/sums.cuh"

namespace tg::cuda {

// kernels

namespace {

constexpr int kRowsPerBlock = 8;

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

// The column sums' term: dy_rj xhat_rj and dy_rj, for row r of column j.
template <class T>
struct ColumnGradTerms {
  const T *dy, *x, *mean, *invstd;
  int64_t cols;
  __device__ void operator()(int64_t, int64_t r, int64_t j, Sums<double, 2>& s) const {
    const double d = dy[r * cols + j];
    s.v[0] += d * ((static_cast<double>(x[r * cols + j]) - mean[r]) * static_cast<double>(invstd[r]));
    s.v[1] += d;
  }
};

template <class T>
struct WriteColumnGrads {
  T *dgamma, *dbeta;
  __device__ void operator()(int64_t, int64_t, int64_t j, const Sums<double, 2>& s) const {
    if (dgamma) dgamma[j] = static_cast<T>(s.v[0]);
    if (dbeta) dbeta[j] = static_cast<T>(s.v[1]);
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
    column_sums<double, 2>(
        1, rows, cols,
        ColumnGradTerms<T>{dy.data<T>(), x.data<T>(), saved_mean.data<T>(), saved_invstd.data<T>(), cols},
        WriteColumnGrads<T>{ptr_or_null<T>(dgamma), ptr_or_null<T>(dbeta)}, x.device(),
        "layer_norm_backward (dgamma, dbeta)");
  });
}

}  // namespace tg::cuda
