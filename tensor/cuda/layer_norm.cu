// CUDA layer norm over the last axis of x [rows, cols], with the CPU's contract and arithmetic
// (tensor/cpu/layer_norm.cpp): statistics in double (two-pass, biased variance), saved mean and
// invstd = 1 / sqrt(var + eps) rounded to P. One warp per row for the statistics and dx; dgamma and
// dbeta are deterministic two-stage column sums in double (sums.cuh: 32 columns x chunks of rows per
// block, then the chunks added in order; no atomics). gamma/beta may be undefined.
// Types: X is x's and dx's, Y is y's and dy's, P the parameters' and statistics'; all double, or
// float and bfloat16 in any mix with P float. A value is computed in double, rounded to P (the float32
// kernel's value) and then, for a bfloat16 output, to bfloat16: the float32 kernel's result rounded.
#include "tensor/cuda/sums.cuh"

namespace tg::cuda {

// kernels

namespace {

constexpr int kRowsPerBlock = 8;

__device__ __forceinline__ int64_t warp_row() {
  return static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp;
}

template <class T>
__device__ __forceinline__ double ld(const T* p, int64_t i) {
  return convert<double>(p[i]);
}
// v as the float32 (P) kernel stores it, then in the output's type.
template <class Out, class P>
__device__ __forceinline__ Out st(double v) {
  return convert<Out>(static_cast<P>(v));
}

// mean_r = sum_j x_rj / C, invstd_r = 1 / sqrt(sum_j (x_rj - mean_r)^2 / C + eps),
// y_rj = (x_rj - mean_r) invstd_r gamma_j + beta_j.
template <class X, class Y, class P>
__global__ void layer_norm_forward_kernel(const X* x, const P* gamma, const P* beta, int64_t rows, int64_t cols,
                                          double eps, Y* y, P* mean_out, P* invstd_out) {
  const int64_t r = warp_row();
  if (r >= rows) return;  // whole warps leave together
  const int lane = threadIdx.x % kWarp;
  const X* xr = x + r * cols;
  double s = 0;
  for (int64_t j = lane; j < cols; j += kWarp) s += ld(xr, j);
  const double mean = warp_sum(s) / static_cast<double>(cols);
  double m2 = 0;
  for (int64_t j = lane; j < cols; j += kWarp) m2 += (ld(xr, j) - mean) * (ld(xr, j) - mean);
  const double invstd = 1.0 / sqrt(warp_sum(m2) / static_cast<double>(cols) + eps);
  for (int64_t j = lane; j < cols; j += kWarp) {
    const double xhat = (ld(xr, j) - mean) * invstd;
    y[r * cols + j] = st<Y, P>(xhat * (gamma ? ld(gamma, j) : 1.0) + (beta ? ld(beta, j) : 0.0));
  }
  if (lane == 0) {
    mean_out[r] = static_cast<P>(mean);
    invstd_out[r] = static_cast<P>(invstd);
  }
}

// dx_rj = invstd_r (g_rj - mean_k g_rk - xhat_rj mean_k g_rk xhat_rk), g = dy * gamma.
template <class X, class Y, class P>
__global__ void layer_norm_dx_kernel(const Y* dy, const X* x, const P* gamma, const P* mean, const P* invstd,
                                     int64_t rows, int64_t cols, X* dx) {
  const int64_t r = warp_row();
  if (r >= rows) return;
  const int lane = threadIdx.x % kWarp;
  const int64_t off = r * cols;
  const double mu = mean[r], is = invstd[r];
  double sg = 0, sgx = 0;
  for (int64_t j = lane; j < cols; j += kWarp) {
    const double g = ld(dy, off + j) * (gamma ? ld(gamma, j) : 1.0);
    sg += g;
    sgx += g * (ld(x, off + j) - mu) * is;
  }
  const double g_mean = warp_sum(sg) / static_cast<double>(cols), gx_mean = warp_sum(sgx) / static_cast<double>(cols);
  for (int64_t j = lane; j < cols; j += kWarp) {
    const double g = ld(dy, off + j) * (gamma ? ld(gamma, j) : 1.0);
    dx[off + j] = st<X, P>(is * (g - g_mean - (ld(x, off + j) - mu) * is * gx_mean));
  }
}

// The column sums' term: dy_rj xhat_rj and dy_rj, for row r of column j.
template <class X, class Y, class P>
struct ColumnGradTerms {
  const Y* dy;
  const X* x;
  const P *mean, *invstd;
  int64_t cols;
  __device__ void operator()(int64_t, int64_t r, int64_t j, Sums<double, 2>& s) const {
    const double d = ld(dy, r * cols + j);
    s.v[0] += d * ((ld(x, r * cols + j) - mean[r]) * static_cast<double>(invstd[r]));
    s.v[1] += d;
  }
};

template <class P>
struct WriteColumnGrads {
  P *dgamma, *dbeta;
  __device__ void operator()(int64_t, int64_t, int64_t j, const Sums<double, 2>& s) const {
    if (dgamma) dgamma[j] = static_cast<P>(s.v[0]);
    if (dbeta) dbeta[j] = static_cast<P>(s.v[1]);
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

// Calls f(X{}, Y{}, P{}) for x's and y's dtypes (the op has checked the mix: tensor/ops_softmax.cpp).
template <class F>
void visit_norm(DType x, DType y, const char* op, F&& f) {
  if (x == DType::f64) return f(double{}, double{}, double{});
  auto with_y = [&](auto zx) {
    if (y == DType::bf16) return f(zx, bf16{}, float{});
    return f(zx, float{}, float{});
  };
  if (x == DType::bf16) return with_y(bf16{});
  visit_floating(x, op, [&](auto) { with_y(float{}); });
}

}  // namespace

void layer_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& y, Tensor& saved_mean,
                        Tensor& saved_invstd, double eps) {
  const int64_t cols = x.size(-1), rows = cols ? x.numel() / cols : 0;
  if (rows == 0) return;
  visit_norm(x.dtype(), y.dtype(), "layer_norm", [&](auto zx, auto zy, auto zp) {
    using X = decltype(zx);
    using Y = decltype(zy);
    using P = decltype(zp);
    layer_norm_forward_kernel<X, Y, P><<<row_grid(rows), kRowsPerBlock * kWarp, 0, stream()>>>(
        x.data<X>(), ptr_or_null<P>(gamma), ptr_or_null<P>(beta), rows, cols, eps, y.data<Y>(),
        saved_mean.data<P>(), saved_invstd.data<P>());
    TG_CUDA_LAUNCH_CHECK("layer_norm_forward ", x.str(), " -> ", dtype_name(y.dtype()));
  });
}

// Forward: y = gamma * xhat + beta, xhat = (x - mean) * invstd over a row of n = cols.
// Let L = <dy, y>, g = gamma * dy. Writes dx = invstd * (g - mean(g) - xhat * mean(g * xhat)),
// dgamma = sum_rows dy * xhat, dbeta = sum_rows dy (docs/derivations/layer_norm.md, Eqs. 3-5).
void layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& saved_mean,
                         const Tensor& saved_invstd, Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  const int64_t cols = x.size(-1), rows = cols ? x.numel() / cols : 0;
  if (cols == 0) return;
  visit_norm(x.dtype(), dy.dtype(), "layer_norm_backward", [&](auto zx, auto zy, auto zp) {
    using X = decltype(zx);
    using Y = decltype(zy);
    using P = decltype(zp);
    if (dx.defined() && rows > 0) {
      layer_norm_dx_kernel<X, Y, P><<<row_grid(rows), kRowsPerBlock * kWarp, 0, stream()>>>(
          dy.data<Y>(), x.data<X>(), ptr_or_null<P>(gamma), saved_mean.data<P>(), saved_invstd.data<P>(), rows,
          cols, dx.data<X>());
      TG_CUDA_LAUNCH_CHECK("layer_norm_backward (dx) ", x.str(), ", dy ", dy.str());
    }
    if (!dgamma.defined() && !dbeta.defined()) return;
    column_sums<double, 2>(
        1, rows, cols,
        ColumnGradTerms<X, Y, P>{dy.data<Y>(), x.data<X>(), saved_mean.data<P>(), saved_invstd.data<P>(), cols},
        WriteColumnGrads<P>{ptr_or_null<P>(dgamma), ptr_or_null<P>(dbeta)}, x.device(),
        "layer_norm_backward (dgamma, dbeta)");
  });
}

}  // namespace tg::cuda
