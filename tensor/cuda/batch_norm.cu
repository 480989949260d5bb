// CUDA batch norm 2d (NCHW, per-channel statistics over N, H, W), own kernels with the CPU's contract
// (tensor/cpu/batch_norm.cpp): training normalizes with the biased batch variance, saves mean and
// invstd = 1 / sqrt(var + eps), and updates the running statistics torch-style with the unbiased
// variance. The per-channel statistics and the backward's per-channel sums are deterministic
// two-stage segment sums (sums.cuh; a channel's N * H * W values are its segment, split into chunks so
// that C = 64 channels at ResNet-50 CIFAR batch 256, 262k values each, make 2048 blocks). The variance
// is two passes in double, as on the CPU: the mean, then the squared deviations from it (no
// cancellation at 262k float32 values; the test compares with the float64 reference). One thread per
// element applies them. gamma and beta may be undefined (no affine: 1 and 0).
// x, y, dy, dx are float32, float64 or bfloat16 (storage T); the per-channel tensors and the arithmetic
// are P = compute_t<T> (float for bfloat16: loaded as float, y and dx rounded once on store), so the
// bfloat16 kernels give the float32 kernels' bits on the same values, y and dx rounded to bfloat16.
#include "tensor/cuda/sums.cuh"

namespace tg::cuda {

// kernels

namespace {

// Element j of channel c, for j in [0, N * HW). 32-bit division where it fits (64-bit is slow).
__device__ __forceinline__ int64_t channel_index(int64_t j, int64_t c, int64_t C, int64_t hw) {
  if (j <= 0xffffffffLL && hw <= 0xffffffffLL) {
    const uint32_t j32 = static_cast<uint32_t>(j), hw32 = static_cast<uint32_t>(hw);
    return (static_cast<int64_t>(j32 / hw32) * C + c) * hw + j32 % hw32;
  }
  return ((j / hw) * C + c) * hw + j % hw;
}

// Terms and finishes of the per-channel segment sums: element j in [0, N * hw) of channel c.
template <class T>
struct ChannelValue {
  const T* x;
  int64_t C, hw;
  __device__ void operator()(int64_t c, int64_t j, Sums<double, 1>& s) const {
    s.v[0] += convert<double>(x[channel_index(j, c, C, hw)]);
  }
};

struct WriteChannelMean {
  double* mean;
  double m;
  __device__ void operator()(int64_t c, int64_t, const Sums<double, 1>& s) const { mean[c] = s.v[0] / m; }
};

template <class T>
struct ChannelSquaredDeviation {
  const T* x;
  const double* mean;
  int64_t C, hw;
  __device__ void operator()(int64_t c, int64_t j, Sums<double, 1>& s) const {
    const double d = convert<double>(x[channel_index(j, c, C, hw)]) - mean[c];
    s.v[0] += d * d;
  }
};

// From the mean and the sum of squared deviations m2 of m values: saved mean and invstd, and the
// running statistics (unbiased variance), all P.
template <class P>
struct WriteBatchStats {
  const double* mean;
  P *mean_out, *invstd_out, *running_mean, *running_var;
  double m, momentum, eps;
  __device__ void operator()(int64_t c, int64_t, const Sums<double, 1>& s) const {
    const double m2 = s.v[0], var = m2 / m;
    mean_out[c] = static_cast<P>(mean[c]);
    invstd_out[c] = static_cast<P>(1.0 / sqrt(var + eps));
    if (running_mean) running_mean[c] = static_cast<P>((1 - momentum) * running_mean[c] + momentum * mean[c]);
    if (running_var) {
      const double unbiased = m > 1 ? m2 / (m - 1) : var;
      running_var[c] = static_cast<P>((1 - momentum) * running_var[c] + momentum * unbiased);
    }
  }
};

// y = (x - mean[c]) * invstd[c] * gamma[c] + beta[c] in P, rounded once to T; invstd from the
// variance when `var` is given.
template <class T, class P = compute_t<T>>
struct NormalizeFn {
  const T* x;
  const P *mean, *invstd, *var, *gamma, *beta;
  T* y;
  int64_t C, hw;
  P eps;
  __device__ void operator()(int64_t i) const {
    const int64_t c = (i / hw) % C;
    const P is = var ? P(1) / sqrt(var[c] + eps) : invstd[c];
    y[i] = convert<T>((convert<P>(x[i]) - mean[c]) * is * (gamma ? gamma[c] : P(1)) + (beta ? beta[c] : P(0)));
  }
};

// Per channel: sum dy and sum dy * xhat.
template <class T, class P = compute_t<T>>
struct ChannelGradTerms {
  const T *dy, *x;
  const P *mean, *invstd;
  int64_t C, hw;
  __device__ void operator()(int64_t c, int64_t j, Sums<double, 2>& s) const {
    const int64_t i = channel_index(j, c, C, hw);
    const double d = convert<double>(dy[i]);
    s.v[0] += d;
    s.v[1] += d * (convert<double>(x[i]) - static_cast<double>(mean[c])) * static_cast<double>(invstd[c]);
  }
};

// sums[c] = sum dy, sums[C + c] = sum dy * xhat; also into dbeta and dgamma (P) where defined.
template <class P>
struct WriteGradSums {
  double* sums;
  P *dgamma, *dbeta;
  int64_t C;
  __device__ void operator()(int64_t c, int64_t, const Sums<double, 2>& s) const {
    sums[c] = s.v[0];
    sums[C + c] = s.v[1];
    if (dbeta) dbeta[c] = static_cast<P>(s.v[0]);
    if (dgamma) dgamma[c] = static_cast<P>(s.v[1]);
  }
};

// Training: dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)); eval (sums == nullptr):
// dx = gamma * invstd * dy. In P, rounded once to T.
template <class T, class P = compute_t<T>>
struct BackwardDxFn {
  const T *dy, *x;
  const P *mean, *invstd, *gamma;
  const double* sums;
  T* dx;
  int64_t C, hw, m;
  __device__ void operator()(int64_t i) const {
    const int64_t c = (i / hw) % C;
    const P g = (gamma ? gamma[c] : P(1)) * invstd[c], d = convert<P>(dy[i]);
    if (!sums) {
      dx[i] = convert<T>(g * d);
      return;
    }
    const P xhat = (convert<P>(x[i]) - mean[c]) * invstd[c];
    dx[i] = convert<T>(g * (d - static_cast<P>(sums[c] / m) - xhat * static_cast<P>(sums[C + c] / m)));
  }
};

}  // namespace

// launchers

namespace {
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
  visit_floating_or_bf16(x.dtype(), "batch_norm", [&](auto zero) {
    using T = decltype(zero);
    using P = compute_t<T>;
    const double m = static_cast<double>(N * hw);
    Tensor mean = Tensor::empty({C}, DType::f64, x.device());
    segment_sums<double, 1>(C, N * hw, ChannelValue<T>{x.data<T>(), C, hw}, WriteChannelMean{mean.data<double>(), m},
                            x.device(), "batch_norm_forward_train (mean)");
    segment_sums<double, 1>(C, N * hw, ChannelSquaredDeviation<T>{x.data<T>(), mean.data<double>(), C, hw},
                            WriteBatchStats<P>{mean.data<double>(), saved_mean.data<P>(), saved_invstd.data<P>(),
                                               ptr_or_null<P>(running_mean), ptr_or_null<P>(running_var), m,
                                               momentum, eps},
                            x.device(), "batch_norm_forward_train (variance)");
    launch_map(x.numel(),
               NormalizeFn<T>{x.data<T>(), saved_mean.data<P>(), saved_invstd.data<P>(), nullptr,
                              ptr_or_null<P>(gamma), ptr_or_null<P>(beta), y.data<T>(), C, hw, P(0)},
               "batch_norm_forward_train", x.shape());
  });
}

void batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                             const Tensor& running_var, Tensor& y, double eps) {
  const int64_t N = x.size(0), C = x.size(1), hw = spatial_size(x);
  visit_floating_or_bf16(x.dtype(), "batch_norm", [&](auto zero) {
    using T = decltype(zero);
    using P = compute_t<T>;
    launch_map(x.numel(),
               NormalizeFn<T>{x.data<T>(), running_mean.data<P>(), nullptr, running_var.data<P>(),
                              ptr_or_null<P>(gamma), ptr_or_null<P>(beta), y.data<T>(), C, hw, static_cast<P>(eps)},
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
  visit_floating_or_bf16(x.dtype(), "batch_norm_backward", [&](auto zero) {
    using T = decltype(zero);
    using P = compute_t<T>;
    const bool need_sums = dgamma.defined() || dbeta.defined() || (dx.defined() && batch_stats);
    Tensor sums;
    if (need_sums) {
      sums = Tensor::empty({2, C}, DType::f64, x.device());
      segment_sums<double, 2>(
          C, N * hw, ChannelGradTerms<T>{dy.data<T>(), x.data<T>(), mean.data<P>(), invstd.data<P>(), C, hw},
          WriteGradSums<P>{sums.data<double>(), ptr_or_null<P>(dgamma), ptr_or_null<P>(dbeta), C}, x.device(),
          "batch_norm_backward (sums)");
    }
    if (dx.defined()) {
      launch_map(x.numel(),
                 BackwardDxFn<T>{dy.data<T>(), x.data<T>(), mean.data<P>(), invstd.data<P>(), ptr_or_null<P>(gamma),
                                 batch_stats ? sums.data<double>() : nullptr, dx.data<T>(), C, hw, N * hw},
                 "batch_norm_backward", x.shape());
    }
  });
}

}  // namespace tg::cuda
