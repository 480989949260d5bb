// CUDA batch norm 2d (NCHW, per-channel statistics over N, H, W), own kernels with the CPU's contract
// (tensor/cpu/batch_norm.cpp): training normalizes with the biased batch variance, saves mean and
// invstd = 1 / sqrt(var + eps), and updates the running statistics torch-style with the unbiased
// variance. One block per channel computes the statistics (two-pass, double accumulation); one
// thread per element applies them. gamma and beta may be undefined (no affine: 1 and 0).
#include "tensor/cuda/common.cuh"

namespace tg::cuda {

// kernels

namespace {

constexpr int kChannelBlock = 512;

// Element j of channel c, for j in [0, N * HW). 32-bit division where it fits (64-bit is slow).
__device__ __forceinline__ int64_t channel_index(int64_t j, int64_t c, int64_t C, int64_t hw) {
  if (j <= 0xffffffffLL && hw <= 0xffffffffLL) {
    const uint32_t j32 = static_cast<uint32_t>(j), hw32 = static_cast<uint32_t>(hw);
    return (static_cast<int64_t>(j32 / hw32) * C + c) * hw + j32 % hw32;
  }
  return ((j / hw) * C + c) * hw + j % hw;
}

template <class T>
__global__ void batch_stats_kernel(const T* x, int64_t N, int64_t C, int64_t hw, double momentum, double eps,
                                   T* mean_out, T* invstd_out, T* running_mean, T* running_var) {
  __shared__ double shared[kWarp];
  const int64_t m = N * hw;
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    double s = 0;
    for (int64_t j = threadIdx.x; j < m; j += blockDim.x) s += x[channel_index(j, c, C, hw)];
    const double mean = block_sum(s, shared) / m;
    double m2 = 0;
    for (int64_t j = threadIdx.x; j < m; j += blockDim.x) {
      const double d = x[channel_index(j, c, C, hw)] - mean;
      m2 += d * d;
    }
    m2 = block_sum(m2, shared);
    if (threadIdx.x == 0) {
      const double var = m2 / m;
      mean_out[c] = static_cast<T>(mean);
      invstd_out[c] = static_cast<T>(1.0 / sqrt(var + eps));
      if (running_mean) running_mean[c] = static_cast<T>((1 - momentum) * running_mean[c] + momentum * mean);
      if (running_var) {
        const double unbiased = m > 1 ? m2 / (m - 1) : var;
        running_var[c] = static_cast<T>((1 - momentum) * running_var[c] + momentum * unbiased);
      }
    }
  }
}

// y = (x - mean[c]) * invstd[c] * gamma[c] + beta[c]; invstd from the variance when `var` is given.
template <class T>
struct NormalizeFn {
  const T *x, *mean, *invstd, *var, *gamma, *beta;
  T* y;
  int64_t C, hw;
  T eps;
  __device__ void operator()(int64_t i) const {
    const int64_t c = (i / hw) % C;
    const T is = var ? T(1) / sqrt(var[c] + eps) : invstd[c];
    y[i] = (x[i] - mean[c]) * is * (gamma ? gamma[c] : T(1)) + (beta ? beta[c] : T(0));
  }
};

// Per channel: sums[c] = sum dy, sums[C + c] = sum dy * xhat; writes them into dbeta and dgamma.
template <class T>
__global__ void backward_sums_kernel(const T* dy, const T* x, const T* mean, const T* invstd, int64_t N, int64_t C,
                                     int64_t hw, double* sums, T* dgamma, T* dbeta) {
  __shared__ double shared[kWarp];
  const int64_t m = N * hw;
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    const double mu = mean[c], is = invstd[c];
    double s_dy = 0, s_dyx = 0;
    for (int64_t j = threadIdx.x; j < m; j += blockDim.x) {
      const int64_t i = channel_index(j, c, C, hw);
      s_dy += dy[i];
      s_dyx += dy[i] * (x[i] - mu) * is;
    }
    s_dy = block_sum(s_dy, shared);
    s_dyx = block_sum(s_dyx, shared);
    if (threadIdx.x == 0) {
      sums[c] = s_dy;
      sums[C + c] = s_dyx;
      if (dbeta) dbeta[c] = static_cast<T>(s_dy);
      if (dgamma) dgamma[c] = static_cast<T>(s_dyx);
    }
  }
}

// Training: dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)); eval (sums == nullptr):
// dx = gamma * invstd * dy.
template <class T>
struct BackwardDxFn {
  const T *dy, *x, *mean, *invstd, *gamma;
  const double* sums;
  T* dx;
  int64_t C, hw, m;
  __device__ void operator()(int64_t i) const {
    const int64_t c = (i / hw) % C;
    const T g = (gamma ? gamma[c] : T(1)) * invstd[c];
    if (!sums) {
      dx[i] = g * dy[i];
      return;
    }
    const T xhat = (x[i] - mean[c]) * invstd[c];
    dx[i] = g * (dy[i] - static_cast<T>(sums[c] / m) - xhat * static_cast<T>(sums[C + c] / m));
  }
};

}  // namespace

// launchers

namespace {
unsigned channel_grid(int64_t C) { return static_cast<unsigned>(C < kMaxGrid ? C : kMaxGrid); }
int64_t spatial_size(const Tensor& x) {  // H * W (any trailing dims)
  const int64_t nc = x.size(0) * x.size(1);
  return nc > 0 ? x.numel() / nc : 0;
}
}  // namespace

void batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                              Tensor& running_var, Tensor& y, Tensor& saved_mean, Tensor& saved_invstd,
                              double momentum, double eps) {
  const int64_t N = x.size(0), C = x.size(1), hw = spatial_size(x);
  if (C == 0) return;
  visit_floating(x.dtype(), "batch_norm", [&](auto zero) {
    using T = decltype(zero);
    batch_stats_kernel<T><<<channel_grid(C), kChannelBlock, 0, stream()>>>(
        x.data<T>(), N, C, hw, momentum, eps, saved_mean.data<T>(), saved_invstd.data<T>(),
        ptr_or_null<T>(running_mean), ptr_or_null<T>(running_var));
    TG_CUDA_LAUNCH_CHECK("batch_norm_forward_train statistics of ", x.str());
    launch_map(x.numel(),
               NormalizeFn<T>{x.data<T>(), saved_mean.data<T>(), saved_invstd.data<T>(), nullptr,
                              ptr_or_null<T>(gamma), ptr_or_null<T>(beta), y.data<T>(), C, hw, T(0)},
               "batch_norm_forward_train", x.shape());
  });
}

void batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                             const Tensor& running_var, Tensor& y, double eps) {
  const int64_t N = x.size(0), C = x.size(1), hw = spatial_size(x);
  visit_floating(x.dtype(), "batch_norm", [&](auto zero) {
    using T = decltype(zero);
    launch_map(x.numel(),
               NormalizeFn<T>{x.data<T>(), running_mean.data<T>(), nullptr, running_var.data<T>(),
                              ptr_or_null<T>(gamma), ptr_or_null<T>(beta), y.data<T>(), C, hw, static_cast<T>(eps)},
               "batch_norm_forward_eval", x.shape());
  });
}

// Forward: y = gamma * xhat + beta, xhat = (x - mean) * invstd, mean and var over (N, H, W) of a channel.
// Let L = <dy, y>. Writes dbeta = sum dy, dgamma = sum dy * xhat, and, with batch statistics,
// dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)) (Ioffe & Szegedy 2015, Sec. 3;
// docs/derivations/batch_norm.md); with constant statistics (eval) dx = gamma * invstd * dy.
void batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                         const Tensor& invstd, Tensor& dx, Tensor& dgamma, Tensor& dbeta, bool batch_stats) {
  const int64_t N = x.size(0), C = x.size(1), hw = spatial_size(x);
  if (C == 0) return;
  visit_floating(x.dtype(), "batch_norm_backward", [&](auto zero) {
    using T = decltype(zero);
    const bool need_sums = dgamma.defined() || dbeta.defined() || (dx.defined() && batch_stats);
    Tensor sums;
    if (need_sums) {
      sums = Tensor::empty({2, C}, DType::f64, x.device());
      backward_sums_kernel<T><<<channel_grid(C), kChannelBlock, 0, stream()>>>(
          dy.data<T>(), x.data<T>(), mean.data<T>(), invstd.data<T>(), N, C, hw, sums.data<double>(),
          ptr_or_null<T>(dgamma), ptr_or_null<T>(dbeta));
      TG_CUDA_LAUNCH_CHECK("batch_norm_backward sums of ", x.str());
    }
    if (dx.defined()) {
      launch_map(x.numel(),
                 BackwardDxFn<T>{dy.data<T>(), x.data<T>(), mean.data<T>(), invstd.data<T>(), ptr_or_null<T>(gamma),
                                 batch_stats ? sums.data<double>() : nullptr, dx.data<T>(), C, hw, N * hw},
                 "batch_norm_backward", x.shape());
    }
  });
}

}  // namespace tg::cuda
