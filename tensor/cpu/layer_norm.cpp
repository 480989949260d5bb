// CPU layer norm over the last axis of a [rows, cols] view (Ba, Kiros & Hinton 2016), with
// per-column gamma and beta (either may be undefined: 1 and 0). Statistics accumulate in double.
// The math: docs/derivations/layer_norm.md.
#include <omp.h>

#include <cmath>
#include <vector>

#include "tensor/cpu/parallel.h"
#include "tensor/kernels.h"

namespace tg::cpu {

// mean_r = sum_j x_rj / C,  invstd_r = 1 / sqrt(sum_j (x_rj - mean_r)^2 / C + eps),
// y_rj = (x_rj - mean_r) invstd_r gamma_j + beta_j.
void layer_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, Tensor& y,
                        Tensor& saved_mean, Tensor& saved_invstd) {
  const int64_t cols = x.size(-1), rows = cols ? x.numel() / cols : 0;
  visit_floating(x.dtype(), "layer_norm", [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    const T* pg = gamma.defined() ? gamma.data<T>() : nullptr;
    const T* pb = beta.defined() ? beta.data<T>() : nullptr;
    T* py = y.data<T>();
    T* pmean = saved_mean.data<T>();
    T* pinv = saved_invstd.data<T>();
    parallel_for(rows, 3 * cols, [&](int64_t r) {
      const T* xr = px + r * cols;
      T* yr = py + r * cols;
      double mean = 0, m2 = 0;  // two passes: no cancellation when |mean| >> std
      for (int64_t j = 0; j < cols; ++j) mean += xr[j];
      mean /= static_cast<double>(cols);
      for (int64_t j = 0; j < cols; ++j) m2 += (xr[j] - mean) * (xr[j] - mean);
      const double invstd = 1.0 / std::sqrt(m2 / static_cast<double>(cols) + eps);
      for (int64_t j = 0; j < cols; ++j) {
        const double xhat = (xr[j] - mean) * invstd;
        yr[j] = static_cast<T>(xhat * (pg ? static_cast<double>(pg[j]) : 1.0) + (pb ? static_cast<double>(pb[j]) : 0.0));
      }
      pmean[r] = static_cast<T>(mean);
      pinv[r] = static_cast<T>(invstd);
    });
  });
}

// Let L = <dy, y>. Adds into dx, dgamma, dbeta (each may be undefined), with xhat = (x - mean) invstd
// and g = dy * gamma (docs/derivations/layer_norm.md, Eqs. 3-5):
//   dx_rj = invstd_r (g_rj - mean_k g_rk - xhat_rj mean_k g_rk xhat_rk)
//   dgamma_j = sum_r dy_rj xhat_rj,   dbeta_j = sum_r dy_rj.
void layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& saved_mean,
                         const Tensor& saved_invstd, Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  const int64_t cols = x.size(-1), rows = cols ? x.numel() / cols : 0;
  visit_floating(x.dtype(), "layer_norm_backward", [&](auto zero) {
    using T = decltype(zero);
    const T *pdy = dy.data<T>(), *px = x.data<T>();
    const T* pg = gamma.defined() ? gamma.data<T>() : nullptr;
    const T *pmean = saved_mean.data<T>(), *pinv = saved_invstd.data<T>();
    auto xhat = [&](int64_t r, int64_t j) {
      return (static_cast<double>(px[r * cols + j]) - pmean[r]) * static_cast<double>(pinv[r]);
    };
    if (dx.defined()) {
      T* pdx = dx.data<T>();
      parallel_for(rows, 4 * cols, [&](int64_t r) {
        const T* dyr = pdy + r * cols;
        double g_mean = 0, gx_mean = 0;
        for (int64_t j = 0; j < cols; ++j) {
          const double g = dyr[j] * (pg ? static_cast<double>(pg[j]) : 1.0);
          g_mean += g;
          gx_mean += g * xhat(r, j);
        }
        g_mean /= static_cast<double>(cols);
        gx_mean /= static_cast<double>(cols);
        for (int64_t j = 0; j < cols; ++j) {
          const double g = dyr[j] * (pg ? static_cast<double>(pg[j]) : 1.0);
          pdx[r * cols + j] = static_cast<T>(pinv[r] * (g - g_mean - xhat(r, j) * gx_mean));
        }
      });
    }
    if (!dgamma.defined() && !dbeta.defined()) return;
    // Column sums over rows: each thread sums its block of rows, then the partials are added.
    const int threads = rows * cols >= kParallelGrain ? omp_get_max_threads() : 1;
    std::vector<double> part_g(static_cast<size_t>(threads * cols), 0.0), part_b(part_g.size(), 0.0);
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int t = 0; t < threads; ++t) {
      double *sg = part_g.data() + t * cols, *sb = part_b.data() + t * cols;
      for (int64_t r = rows * t / threads; r < rows * (t + 1) / threads; ++r) {
        for (int64_t j = 0; j < cols; ++j) {
          sg[j] += pdy[r * cols + j] * xhat(r, j);
          sb[j] += pdy[r * cols + j];
        }
      }
    }
    for (int64_t j = 0; j < cols; ++j) {
      double g = 0, b = 0;
      for (int t = 0; t < threads; ++t) {
        g += part_g[t * cols + j];
        b += part_b[t * cols + j];
      }
      if (dgamma.defined()) dgamma.data<T>()[j] = static_cast<T>(g);
      if (dbeta.defined()) dbeta.data<T>()[j] = static_cast<T>(b);
    }
  });
}

}  // namespace tg::cpu
