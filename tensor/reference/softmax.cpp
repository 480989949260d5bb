// Reference softmax and tempered cross-entropy. Every row subtracts its max before exp (the value
// is unchanged, and exp cannot overflow). Derivations: docs/derivations/tempered_cross_entropy.md.
#include "tensor/reference/softmax.h"

#include <cmath>

#include "tensor/reference/common.h"

namespace tg::reference {

namespace {

// log sum_j exp(u_j) of one row, computed as m + log sum_j exp(u_j - m) with m = max_j u_j.
double log_sum_exp(const double* u, int64_t cols, double scale) {
  double m = -INFINITY, s = 0;
  for (int64_t j = 0; j < cols; ++j) m = std::fmax(m, scale * u[j]);
  for (int64_t j = 0; j < cols; ++j) s += std::exp(scale * u[j] - m);
  return m + std::log(s);
}

// The smoothed target t_j = (1 - eps) [j == label] + eps / C.
double target(int64_t j, int64_t label, double eps, int64_t c) { return (j == label ? 1 - eps : 0) + eps / c; }

}  // namespace

// softmax(x)_j = exp(x_j) / sum_k exp(x_k);   log_softmax(x)_j = x_j - log sum_k exp(x_k)
// (torch.nn.functional.softmax / log_softmax over dim -1).
Tensor softmax_forward(const Tensor& x, bool log) {
  check_f64(x, "softmax_forward");
  const int64_t rows = x.numel() / x.size(-1), cols = x.size(-1);
  Tensor y = Tensor::empty(x.shape(), DType::f64);
  for (int64_t r = 0; r < rows; ++r) {
    const double* in = x.data<double>() + r * cols;
    const double lse = log_sum_exp(in, cols, 1.0);
    for (int64_t j = 0; j < cols; ++j) y.data<double>()[r * cols + j] = log ? in[j] - lse : std::exp(in[j] - lse);
  }
  return y;
}

// L = <dy, y>. The Jacobian of softmax is dy_j/dx_i = y_j (delta_ij - y_i), so
//   softmax:      dx_i = y_i (dy_i - sum_j dy_j y_j)
//   log_softmax:  dx_i = dy_i - softmax(x)_i sum_j dy_j,   softmax(x) = exp(y).
Tensor softmax_backward(const Tensor& dy, const Tensor& y, bool log) {
  check_f64(dy, "softmax_backward");
  check_f64(y, "softmax_backward");
  const int64_t rows = y.numel() / y.size(-1), cols = y.size(-1);
  Tensor dx = Tensor::empty(y.shape(), DType::f64);
  for (int64_t r = 0; r < rows; ++r) {
    const double *g = dy.data<double>() + r * cols, *out = y.data<double>() + r * cols;
    double s = 0;
    for (int64_t j = 0; j < cols; ++j) s += log ? g[j] : g[j] * out[j];
    for (int64_t i = 0; i < cols; ++i)
      dx.data<double>()[r * cols + i] = log ? g[i] - std::exp(out[i]) * s : out[i] * (g[i] - s);
  }
  return dx;
}

// The paper's Eq. 3 with label smoothing eps (torch.nn.functional.cross_entropy's definition):
//   u = logits / tau,   target t = (1 - eps) onehot(y) + eps / C,
//   loss = -sum_j t_j log softmax(u)_j,   probs = softmax(u).
CrossEntropyOutput cross_entropy_forward(const Tensor& logits, const Tensor& labels, double tau,
                                         double label_smoothing) {
  check_f64(logits, "cross_entropy_forward");
  TG_CHECK(labels.dtype() == DType::i64 && labels.numel() == logits.size(0),
           "reference::cross_entropy_forward: labels must be int64 [", logits.size(0), "], got ", labels.str());
  const int64_t n = logits.size(0), c = logits.size(1);
  CrossEntropyOutput out{Tensor::empty({n}, DType::f64), Tensor::empty({n, c}, DType::f64)};
  for (int64_t i = 0; i < n; ++i) {
    const double* z = logits.data<double>() + i * c;
    const double lse = log_sum_exp(z, c, 1.0 / tau);
    double loss = 0;
    for (int64_t j = 0; j < c; ++j) {
      const double log_p = z[j] / tau - lse;
      loss -= target(j, labels.data<int64_t>()[i], label_smoothing, c) * log_p;
      out.probs.data<double>()[i * c + j] = std::exp(log_p);
    }
    out.losses.data<double>()[i] = loss;
  }
  return out;
}

// L = sum_i dlosses_i loss_i. The paper's Eqs. 4-6 (dL/dz = (softmax(z / tau) - onehot(y)) / tau,
// there through the prototypes w and the features f), with label smoothing:
//   dL/dlogits_ij = dlosses_i (probs_ij - t_ij) / tau.
Tensor cross_entropy_backward(const Tensor& dlosses, const Tensor& probs, const Tensor& labels, double tau,
                              double label_smoothing) {
  check_f64(dlosses, "cross_entropy_backward");
  check_f64(probs, "cross_entropy_backward");
  const int64_t n = probs.size(0), c = probs.size(1);
  Tensor dlogits = Tensor::empty({n, c}, DType::f64);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < c; ++j)
      dlogits.data<double>()[i * c + j] = dlosses.data<double>()[i] *
                                          (probs.data<double>()[i * c + j] - target(j, labels.data<int64_t>()[i], label_smoothing, c)) / tau;
  return dlogits;
}

}  // namespace tg::reference
