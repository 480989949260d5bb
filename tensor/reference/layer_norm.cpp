// Reference layer norm (Ba, Kiros & Hinton 2016, Sec. 3; torch.nn.functional.layer_norm). Per row,
// over its C values:
//   mean = sum_j x_j / C,   invstd = 1 / sqrt(sum_j (x_j - mean)^2 / C + eps),
//   xhat_j = (x_j - mean) invstd,   y_j = gamma_j xhat_j + beta_j.
// Derivation: docs/derivations/layer_norm.md.
#include "tensor/reference/layer_norm.h"

#include <cmath>

#include "tensor/reference/common.h"

namespace tg::reference {

namespace {

double gamma_at(const Tensor& gamma, int64_t j) { return gamma.defined() ? gamma.data<double>()[j] : 1.0; }

}  // namespace

LayerNormOutput layer_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps) {
  check_f64(x, "layer_norm_forward");
  const int64_t cols = x.size(-1), rows = x.numel() / cols;
  LayerNormOutput out{Tensor::empty(x.shape(), DType::f64), Tensor::empty({rows}, DType::f64),
                      Tensor::empty({rows}, DType::f64)};
  for (int64_t r = 0; r < rows; ++r) {
    const double* row = x.data<double>() + r * cols;
    double mean = 0, var = 0;
    for (int64_t j = 0; j < cols; ++j) mean += row[j] / cols;
    for (int64_t j = 0; j < cols; ++j) var += (row[j] - mean) * (row[j] - mean) / cols;
    const double invstd = 1 / std::sqrt(var + eps);
    for (int64_t j = 0; j < cols; ++j)
      out.y.data<double>()[r * cols + j] =
          gamma_at(gamma, j) * (row[j] - mean) * invstd + (beta.defined() ? beta.data<double>()[j] : 0.0);
    out.saved_mean.data<double>()[r] = mean;
    out.saved_invstd.data<double>()[r] = invstd;
  }
  return out;
}

// L = <dy, y>. With g_j = dy_j gamma_j (the gradient of xhat), per row:
//   dx_j = invstd (g_j - mean_k g_k - xhat_j mean_k g_k xhat_k)
// and over all rows: dgamma_j = sum_r dy_rj xhat_rj,  dbeta_j = sum_r dy_rj.
LayerNormGrads layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& saved_mean,
                                   const Tensor& saved_invstd) {
  for (const Tensor* t : {&dy, &x, &saved_mean, &saved_invstd}) check_f64(*t, "layer_norm_backward");
  const int64_t cols = x.size(-1), rows = x.numel() / cols;
  LayerNormGrads g{Tensor::empty(x.shape(), DType::f64), Tensor::zeros({cols}, DType::f64),
                   Tensor::zeros({cols}, DType::f64)};
  for (int64_t r = 0; r < rows; ++r) {
    const double *row = x.data<double>() + r * cols, *d = dy.data<double>() + r * cols;
    const double mean = saved_mean.data<double>()[r], invstd = saved_invstd.data<double>()[r];
    double mean_g = 0, mean_g_xhat = 0;
    for (int64_t j = 0; j < cols; ++j) {
      const double xhat = (row[j] - mean) * invstd;
      mean_g += d[j] * gamma_at(gamma, j) / cols;
      mean_g_xhat += d[j] * gamma_at(gamma, j) * xhat / cols;
      g.dgamma.data<double>()[j] += d[j] * xhat;
      g.dbeta.data<double>()[j] += d[j];
    }
    for (int64_t j = 0; j < cols; ++j) {
      const double xhat = (row[j] - mean) * invstd;
      g.dx.data<double>()[r * cols + j] = invstd * (d[j] * gamma_at(gamma, j) - mean_g - xhat * mean_g_xhat);
    }
  }
  return g;
}

}  // namespace tg::reference
