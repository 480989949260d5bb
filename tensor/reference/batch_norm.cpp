// Reference batch norm (Ioffe & Szegedy 2015, Algorithm 1 and Sec. 3's backward equations; the
// running statistics as torch.nn.BatchNorm2d). Per channel c, over its M = N H W values x_i:
//   mean = sum_i x_i / M,   var = sum_i (x_i - mean)^2 / M,   invstd = 1 / sqrt(var + eps),
//   xhat_i = (x_i - mean) invstd,   y_i = gamma xhat_i + beta.
// Derivation: docs/derivations/batch_norm.md.
#include "tensor/reference/batch_norm.h"

#include <cmath>

#include "tensor/reference/common.h"

namespace tg::reference {

namespace {

// Element i of channel c: x viewed as [N, C, HW].
int64_t at(const Tensor& x, int64_t c, int64_t i) {
  const int64_t hw = x.size(2) * x.size(3);
  return ((i / hw) * x.size(1) + c) * hw + i % hw;
}

int64_t per_channel(const Tensor& x) { return x.size(0) * x.size(2) * x.size(3); }

}  // namespace

// The batch's statistics normalize x; the running ones move toward them (torch semantics):
//   running_mean = (1 - momentum) running_mean + momentum mean
//   running_var  = (1 - momentum) running_var  + momentum var M / (M - 1)   (the unbiased variance)
BatchNormTrainOutput batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                              const Tensor& running_mean, const Tensor& running_var,
                                              double momentum, double eps) {
  for (const Tensor* t : {&x, &gamma, &beta, &running_mean, &running_var}) check_f64(*t, "batch_norm_forward_train");
  const int64_t cc = x.size(1), m = per_channel(x);
  BatchNormTrainOutput out{Tensor::empty(x.shape(), DType::f64), Tensor::empty({cc}, DType::f64),
                           Tensor::empty({cc}, DType::f64), running_mean.clone(), running_var.clone()};
  const double* px = x.data<double>();
  for (int64_t c = 0; c < cc; ++c) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < m; ++i) mean += px[at(x, c, i)] / m;
    for (int64_t i = 0; i < m; ++i) var += (px[at(x, c, i)] - mean) * (px[at(x, c, i)] - mean) / m;
    const double invstd = 1 / std::sqrt(var + eps);
    for (int64_t i = 0; i < m; ++i)
      out.y.data<double>()[at(x, c, i)] = gamma.data<double>()[c] * (px[at(x, c, i)] - mean) * invstd + beta.data<double>()[c];
    out.saved_mean.data<double>()[c] = mean;
    out.saved_invstd.data<double>()[c] = invstd;
    double& rm = out.running_mean.data<double>()[c];
    double& rv = out.running_var.data<double>()[c];
    rm = (1 - momentum) * rm + momentum * mean;
    rv = (1 - momentum) * rv + momentum * var * m / (m - 1);
  }
  return out;
}

// y = gamma (x - running_mean) / sqrt(running_var + eps) + beta.
Tensor batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                               const Tensor& running_var, double eps) {
  for (const Tensor* t : {&x, &gamma, &beta, &running_mean, &running_var}) check_f64(*t, "batch_norm_forward_eval");
  Tensor y = Tensor::empty(x.shape(), DType::f64);
  for (int64_t c = 0; c < x.size(1); ++c) {
    const double invstd = 1 / std::sqrt(running_var.data<double>()[c] + eps);
    for (int64_t i = 0; i < per_channel(x); ++i)
      y.data<double>()[at(x, c, i)] =
          gamma.data<double>()[c] * (x.data<double>()[at(x, c, i)] - running_mean.data<double>()[c]) * invstd +
          beta.data<double>()[c];
  }
  return y;
}

// L = <dy, y>. Per channel (Ioffe & Szegedy, Sec. 3):
//   dbeta = sum_i dy_i,   dgamma = sum_i dy_i xhat_i,
//   dx_i = gamma invstd (dy_i - dbeta / M - xhat_i dgamma / M)   with the batch's statistics,
//   dx_i = gamma invstd dy_i                                      with constant (running) ones.
BatchNormGrads batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                                   const Tensor& invstd, bool batch_stats) {
  for (const Tensor* t : {&dy, &x, &gamma, &mean, &invstd}) check_f64(*t, "batch_norm_backward");
  const int64_t cc = x.size(1), m = per_channel(x);
  BatchNormGrads g{Tensor::empty(x.shape(), DType::f64), Tensor::empty({cc}, DType::f64), Tensor::empty({cc}, DType::f64)};
  for (int64_t c = 0; c < cc; ++c) {
    const double mu = mean.data<double>()[c], is = invstd.data<double>()[c], gm = gamma.data<double>()[c];
    double dbeta = 0, dgamma = 0;
    for (int64_t i = 0; i < m; ++i) {
      dbeta += dy.data<double>()[at(x, c, i)];
      dgamma += dy.data<double>()[at(x, c, i)] * (x.data<double>()[at(x, c, i)] - mu) * is;
    }
    for (int64_t i = 0; i < m; ++i) {
      const double d = dy.data<double>()[at(x, c, i)], xhat = (x.data<double>()[at(x, c, i)] - mu) * is;
      g.dx.data<double>()[at(x, c, i)] = gm * is * (batch_stats ? d - dbeta / m - xhat * dgamma / m : d);
    }
    g.dgamma.data<double>()[c] = dgamma;
    g.dbeta.data<double>()[c] = dbeta;
  }
  return g;
}

}  // namespace tg::reference
