// CPU batch norm 2d over x [N, C, H, W], one channel per task (OpenMP over channels). A channel's
// values are N planes of H*W contiguous elements; each plane is summed in T with SIMD (reordered),
// the plane sums in double.
// Math and sources: docs/derivations/batch_norm.md.
#include <cmath>

#include "tensor/cpu/parallel.h"
#include "tensor/kernels.h"

namespace tg::cpu {

// mean_c = sum x / M, var_c = sum (x - mean_c)^2 / M (M = N*H*W), invstd_c = 1 / sqrt(var_c + eps),
// y = gamma_c (x - mean_c) invstd_c + beta_c. Running statistics (torch semantics):
// running = (1 - momentum) running + momentum * batch, with the unbiased variance var_c * M / (M - 1).
void batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                              Tensor& running_var, Tensor& y, Tensor& saved_mean, Tensor& saved_invstd,
                              double momentum, double eps) {
  visit_floating(x.dtype(), "batch_norm", [&](auto zero) {
    using T = decltype(zero);
    const int64_t n = x.size(0), cc = x.size(1), hw = x.size(2) * x.size(3), m = n * hw;
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const T *g = gamma.data<T>(), *b = beta.data<T>();
    T *rm = running_mean.data<T>(), *rv = running_var.data<T>();
    T *sm = saved_mean.data<T>(), *si = saved_invstd.data<T>();
    parallel_for(cc, 3 * m, [&](int64_t c) {
      double sum = 0, sq = 0;  // two passes: the variance without cancellation
      for (int64_t i = 0; i < n; ++i) {
        const T* p = px + (i * cc + c) * hw;
        T s = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t j = 0; j < hw; ++j) s += p[j];
        sum += s;
      }
      const double mean = sum / m;
      const T tm = static_cast<T>(mean);
      for (int64_t i = 0; i < n; ++i) {
        const T* p = px + (i * cc + c) * hw;
        T s = 0;
#pragma omp simd reduction(+ : s)
        for (int64_t j = 0; j < hw; ++j) s += (p[j] - tm) * (p[j] - tm);
        sq += s;
      }
      const double var = sq / m, invstd = 1.0 / std::sqrt(var + eps);
      const T scale = static_cast<T>(g[c] * invstd), shift = b[c];
      for (int64_t i = 0; i < n; ++i) {
        const T* p = px + (i * cc + c) * hw;
        T* q = py + (i * cc + c) * hw;
        for (int64_t j = 0; j < hw; ++j) q[j] = (p[j] - tm) * scale + shift;
      }
      sm[c] = static_cast<T>(mean);
      si[c] = static_cast<T>(invstd);
      rm[c] = static_cast<T>((1 - momentum) * rm[c] + momentum * mean);
      rv[c] = static_cast<T>((1 - momentum) * rv[c] + momentum * var * m / (m - 1));
    });
  });
}

// y = gamma_c (x - running_mean_c) / sqrt(running_var_c + eps) + beta_c.
void batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                             const Tensor& running_var, Tensor& y, double eps) {
  visit_floating(x.dtype(), "batch_norm", [&](auto zero) {
    using T = decltype(zero);
    const int64_t n = x.size(0), cc = x.size(1), hw = x.size(2) * x.size(3);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const T *g = gamma.data<T>(), *b = beta.data<T>();
    const T *rm = running_mean.data<T>(), *rv = running_var.data<T>();
    parallel_for(n * cc, hw, [&](int64_t plane) {
      const int64_t c = plane % cc;
      const double invstd = 1.0 / std::sqrt(static_cast<double>(rv[c]) + eps);
      const T tm = rm[c], scale = static_cast<T>(g[c] * invstd), shift = b[c];
      const T* p = px + plane * hw;
      T* q = py + plane * hw;
      for (int64_t j = 0; j < hw; ++j) q[j] = (p[j] - tm) * scale + shift;
    });
  });
}

// Let L = <dy, y>, xhat = (x - mean) invstd, y = gamma xhat + beta, M = N*H*W. Writes
//   dbeta_c  = sum dy,   dgamma_c = sum dy xhat,
//   dx = gamma invstd (dy - dbeta_c / M - xhat dgamma_c / M)   with batch statistics
//        (Ioffe & Szegedy 2015, Sec. 3, the backward equations; docs/derivations/batch_norm.md),
//   dx = gamma invstd dy                                        with constant (running) statistics.
void batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                         const Tensor& invstd, Tensor& dx, Tensor& dgamma, Tensor& dbeta, bool batch_stats) {
  visit_floating(x.dtype(), "batch_norm_backward", [&](auto zero) {
    using T = decltype(zero);
    const int64_t n = x.size(0), cc = x.size(1), hw = x.size(2) * x.size(3), m = n * hw;
    const T *px = x.data<T>(), *pdy = dy.data<T>();
    const T *g = gamma.data<T>(), *mu = mean.data<T>(), *is = invstd.data<T>();
    T* pdx = dx.defined() ? dx.data<T>() : nullptr;
    T* pdg = dgamma.defined() ? dgamma.data<T>() : nullptr;
    T* pdb = dbeta.defined() ? dbeta.data<T>() : nullptr;
    const bool need_sums = pdg || pdb || (pdx && batch_stats);
    parallel_for(cc, 4 * m, [&](int64_t c) {
      const double mc = mu[c], ic = is[c];
      double sum_dy = 0, sum_dy_xhat = 0;
      if (need_sums) {
        const T tm = static_cast<T>(mc);
        for (int64_t i = 0; i < n; ++i) {
          const T *p = px + (i * cc + c) * hw, *d = pdy + (i * cc + c) * hw;
          T s = 0, sx = 0;
#pragma omp simd reduction(+ : s, sx)
          for (int64_t j = 0; j < hw; ++j) {
            s += d[j];
            sx += d[j] * (p[j] - tm);
          }
          sum_dy += s;
          sum_dy_xhat += sx;
        }
        sum_dy_xhat *= ic;
      }
      if (pdg) pdg[c] = static_cast<T>(sum_dy_xhat);
      if (pdb) pdb[c] = static_cast<T>(sum_dy);
      if (!pdx) return;
      // dx = a dy + b (x - mean) + k with per-channel constants a, b, k.
      const double a = g[c] * ic;
      const T ta = static_cast<T>(a), tm = static_cast<T>(mc);
      const T tb = static_cast<T>(batch_stats ? -a * ic * sum_dy_xhat / m : 0.0);
      const T tk = static_cast<T>(batch_stats ? -a * sum_dy / m : 0.0);
      for (int64_t i = 0; i < n; ++i) {
        const T *p = px + (i * cc + c) * hw, *d = pdy + (i * cc + c) * hw;
        T* q = pdx + (i * cc + c) * hw;
        for (int64_t j = 0; j < hw; ++j) q[j] = ta * d[j] + tb * (p[j] - tm) + tk;
      }
    });
  });
}

}  // namespace tg::cpu
