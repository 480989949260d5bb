// CPU softmax, log-softmax and the fused tempered cross-entropy, over the last axis of a
// [rows, cols] view. Every row is computed stably (the max subtracted before exp, log-sum-exp for
// the log) in double, with Eigen's vectorized exp; float32 tensors round once, on the way out.
// The math: docs/derivations/tempered_cross_entropy.md.
#include <Eigen/Core>
#include <cmath>
#include <vector>

#include "tensor/cpu/parallel.h"
#include "tensor/kernels.h"

namespace tg::cpu {

namespace {

using Row = Eigen::Array<double, Eigen::Dynamic, 1>;
template <class T>
using RowMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ConstRowMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

int64_t cols_of(const Tensor& x) { return x.dim() ? x.size(-1) : 1; }

// One row u = scale * x: its max m, the first index of the max, e = exp(u - m) (e[argmax] = 1), and
// the sum of e over the other entries. That term is kept apart so that log(sum e) = log1p(rest)
// keeps its precision when one class dominates (rest = 4e-10 is not lost to 1 + rest).
struct RowExp {
  Row u, e;
  double max = 0, rest = 0;
  Eigen::Index argmax = 0;
  double log_sum() const { return std::log1p(rest); }
  template <class T>
  void compute(const T* x, int64_t cols, double scale) {
    u = ConstRowMap<T>(x, cols).template cast<double>() * scale;
    max = u.maxCoeff(&argmax);
    e = (u - max).exp();
    e[argmax] = 0.0;
    rest = e.sum();
    e[argmax] = 1.0;
  }
};

}  // namespace

// y = softmax(x) = exp(x - m) / sum exp(x - m), or log_softmax(x) = x - m - log sum exp(x - m).
void softmax_forward(const Tensor& x, Tensor& y, bool log) {
  const int64_t cols = cols_of(x), rows = cols ? x.numel() / cols : 0;
  visit_floating(x.dtype(), "softmax", [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallel_for(rows, 8 * cols, [&](int64_t r) {
      thread_local RowExp row;
      row.compute(px + r * cols, cols, 1.0);
      RowMap<T> yr(py + r * cols, cols);
      if (log) {
        yr = (row.u - (row.max + row.log_sum())).template cast<T>();
      } else {
        yr = (row.e * (1.0 / (1.0 + row.rest))).template cast<T>();
      }
    });
  });
}

// Let L = <dy, y>. Adds dL/dx into dx, from the forward output y:
//   softmax:      dx_i = y_i (dy_i - sum_j dy_j y_j)
//   log_softmax:  dx_i = dy_i - exp(y_i) sum_j dy_j
// (the softmax Jacobian diag(y) - y y^T; docs/derivations/tempered_cross_entropy.md, Sec. 1).
void softmax_backward(const Tensor& dy, const Tensor& y, Tensor& dx, bool log) {
  const int64_t cols = cols_of(y), rows = cols ? y.numel() / cols : 0;
  visit_floating(y.dtype(), "softmax_backward", [&](auto zero) {
    using T = decltype(zero);
    const T* pdy = dy.data<T>();
    const T* py = y.data<T>();
    T* pdx = dx.data<T>();
    parallel_for(rows, 8 * cols, [&](int64_t r) {
      const Row g = ConstRowMap<T>(pdy + r * cols, cols).template cast<double>();
      const Row yr = ConstRowMap<T>(py + r * cols, cols).template cast<double>();
      RowMap<T> dxr(pdx + r * cols, cols);
      if (log) {
        dxr = (g - yr.exp() * g.sum()).template cast<T>();
      } else {
        dxr = (yr * (g - (g * yr).sum())).template cast<T>();
      }
    });
  });
}

// With u = logits / tau, lse = log sum_j exp(u_j) and target t = (1 - eps) onehot(y) + eps / C:
//   loss = -sum_j t_j log softmax(u)_j = (1 - eps) (lse - u_y) + eps (lse - mean_j u_j),
//   probs = softmax(u).
void cross_entropy_forward(const Tensor& logits, const Tensor& labels, double tau, double label_smoothing,
                           Tensor& losses, Tensor& probs) {
  const int64_t classes = logits.size(1), rows = logits.size(0);
  const int64_t* lab = labels.data<int64_t>();
  visit_floating(logits.dtype(), "cross_entropy", [&](auto zero) {
    using T = decltype(zero);
    const T* pz = logits.data<T>();
    T* ploss = losses.data<T>();
    T* pp = probs.data<T>();
    const double eps = label_smoothing;
    parallel_for(rows, 8 * classes, [&](int64_t r) {
      thread_local RowExp row;
      row.compute(pz + r * classes, classes, 1.0 / tau);
      RowMap<T>(pp + r * classes, classes) = (row.e * (1.0 / (1.0 + row.rest))).template cast<T>();
      // lse - u_y = (max - u_y) + log(sum): exactly 0 + log1p(rest) when y is the argmax.
      const double nll = (row.max - row.u[lab[r]]) + row.log_sum();
      const double smooth = eps == 0.0 ? 0.0 : eps * (row.max + row.log_sum() - row.u.mean());
      ploss[r] = static_cast<T>((1.0 - eps) * nll + smooth);
    });
  });
}

// Let L = sum_i dlosses_i loss_i. Adds dL/dlogits_ij = dlosses_i (probs_ij - t_ij) / tau,
// t = (1 - eps) onehot(y) + eps / C: the paper's Eqs. 4-6, derived with label smoothing in
// docs/derivations/tempered_cross_entropy.md (Sec. 2). Without smoothing, in float32, probs_iy
// rounds to 1 once y leads every other class by about 17 in z = logits / tau, and the others'
// probs underflow to 0 past about 104: the whole gradient is then exactly 0 (Sec. 3 there).
void cross_entropy_backward(const Tensor& dlosses, const Tensor& probs, const Tensor& labels, double tau,
                            double label_smoothing, Tensor& dlogits) {
  const int64_t classes = probs.size(1), rows = probs.size(0);
  const int64_t* lab = labels.data<int64_t>();
  visit_floating(probs.dtype(), "cross_entropy_backward", [&](auto zero) {
    using T = decltype(zero);
    const T* pdl = dlosses.data<T>();
    const T* pp = probs.data<T>();
    T* pdz = dlogits.data<T>();
    const T off = static_cast<T>(label_smoothing / static_cast<double>(classes));
    const T on = static_cast<T>(1.0 - label_smoothing) + off;
    parallel_for(rows, classes, [&](int64_t r) {
      const T scale = static_cast<T>(static_cast<double>(pdl[r]) / tau);
      const T* pr = pp + r * classes;
      T* dzr = pdz + r * classes;
      for (int64_t j = 0; j < classes; ++j) dzr[j] = scale * (pr[j] - (j == lab[r] ? on : off));
    });
  });
}

}  // namespace tg::cpu
