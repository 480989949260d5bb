// CPU softmax, log-softmax and the fused tempered cross-entropy, over the last axis of a
// [rows, cols] view. Every row is computed stably (the max subtracted before exp, log-sum-exp for
// the log), in its own dtype, 8 floats at a time (tensor/cpu/vec.h), with the exp's argument carried
// exactly and the row's sums in double: float32 results are within about 1 ulp of the float64
// computation (tests/tensor/test_row_ops.cpp). The math: docs/derivations/tempered_cross_entropy.md.
#include <cmath>
#include <limits>

#include "tensor/cpu/parallel.h"
#include "tensor/cpu/vec.h"
#include "tensor/kernels.h"

namespace tg::cpu {

namespace {

using vec::lanes;
using vec::load;
using vec::splat;
using vec::store;

int64_t cols_of(const Tensor& x) { return x.dim() ? x.size(-1) : 1; }

// A double as two T (hi + lo), for products and differences that one T would round too coarsely.
template <class T>
struct Split {
  T hi, lo;
  explicit Split(double v) : hi(static_cast<T>(v)), lo(static_cast<T>(v - static_cast<double>(hi))) {}
};

// sum_j x_j and sum_j x_j y_j over a row, in double.
template <class T>
double row_sum(const T* x, int64_t n) {
  using V = vec::Vec<T>;
  vec::DoubleSum<V> sum;
  for (int64_t j = 0; j < n; j += lanes<V>) sum.add(load(x + j, std::min(lanes<V>, n - j)));
  return sum.value();
}
template <class T>
double row_dot(const T* x, const T* y, int64_t n) {
  using V = vec::Vec<T>;
  vec::DoubleSum<V> sum;
  for (int64_t j = 0; j < n; j += lanes<V>) {
    const int64_t k = std::min(lanes<V>, n - j);
    sum.add(load(x + j, k) * load(y + j, k));
  }
  return sum.value();
}

// One row x, scaled by s: its max m, e_j = exp((x_j - m) s) written to e, and `rest`, the sum of e
// over all entries but one of the maxima (whose e is exactly 1). It is kept apart so that
// log(sum e) = log1p(rest) keeps its precision when one class dominates (rest = 4e-10 is not lost
// to 1 + rest). s = 1 skips the product.
template <class T>
struct RowExp {
  T max;
  double rest;
};
template <class T>
RowExp<T> row_exp(const T* x, int64_t n, double s, T* e) {
  using V = vec::Vec<T>;
  constexpr T inf = std::numeric_limits<T>::infinity();
  V vmax = splat<V>(-inf);
  for (int64_t j = 0; j < n; j += lanes<V>) vmax = vec::max(vmax, load(x + j, std::min(lanes<V>, n - j), -inf));
  const T m = vec::reduce_max(vmax);
  const V vm = splat<V>(m);
  const Split<T> scale(s);
  const V s_hi = splat<V>(scale.hi), s_lo = splat<V>(scale.lo);
  vec::DoubleSum<V> rest;
  V ties = splat<V>(0);
  auto each = [&](auto exp_of) {
    for (int64_t j = 0; j < n; j += lanes<V>) {
      const int64_t k = std::min(lanes<V>, n - j);
      const V xj = load(x + j, k, -inf);
      const V ej = exp_of(xj);
      store(e + j, k, ej);
      rest.add(vec::where_not_equal(xj, vm, ej));
      ties = ties + vec::one_where_equal(xj, vm);
    }
  };
  if (s == 1.0) {
    each([&](V xj) { return vec::exp_difference(xj, vm); });
  } else {
    each([&](V xj) { return vec::exp_difference(xj, vm, s_hi, s_lo); });
  }
  return {m, rest.value() + (vec::reduce_add(ties) - 1.0)};
}

// y_j = f(x_j, c_hi, c_lo) over a row, with the double c in two parts: f = times gives x c and
// f = minus gives x - c, each rounded once, as in double.
template <class T, class F>
void map_row(const T* x, int64_t n, double c, T* y, F f) {
  using V = vec::Vec<T>;
  const Split<T> split(c);
  const V hi = splat<V>(split.hi), lo = splat<V>(split.lo);
  for (int64_t j = 0; j < n; j += lanes<V>) {
    const int64_t k = std::min(lanes<V>, n - j);
    store(y + j, k, f(load(x + j, k), hi, lo));
  }
}
constexpr auto times = [](auto x, auto hi, auto lo) { return vec::fma(x, hi, x * lo); };
constexpr auto minus = [](auto x, auto hi, auto lo) { return (x - hi) - lo; };

}  // namespace

// y = softmax(x) = exp(x - m) / sum exp(x - m), or log_softmax(x) = x - m - log sum exp(x - m).
void softmax_forward(const Tensor& x, Tensor& y, bool log) {
  const int64_t cols = cols_of(x), rows = cols ? x.numel() / cols : 0;
  visit_floating(x.dtype(), "softmax", [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallel_for(rows, 8 * cols, [&](int64_t r) {
      const T* xr = px + r * cols;
      T* yr = py + r * cols;
      const RowExp<T> row = row_exp(xr, cols, 1.0, yr);
      if (log) {
        map_row(xr, cols, static_cast<double>(row.max) + std::log1p(row.rest), yr, minus);
      } else {
        map_row(yr, cols, 1.0 / (1.0 + row.rest), yr, times);
      }
    });
  });
}

// Let L = <dy, y>. Writes dL/dx into dx, from the forward output y:
//   softmax:      dx_i = y_i (dy_i - sum_j dy_j y_j)
//   log_softmax:  dx_i = dy_i - exp(y_i) sum_j dy_j
// (the softmax Jacobian diag(y) - y y^T; docs/derivations/tempered_cross_entropy.md, Sec. 1).
void softmax_backward(const Tensor& dy, const Tensor& y, Tensor& dx, bool log) {
  const int64_t cols = cols_of(y), rows = cols ? y.numel() / cols : 0;
  visit_floating(y.dtype(), "softmax_backward", [&](auto zero) {
    using T = decltype(zero);
    using V = vec::Vec<T>;
    const T* pdy = dy.data<T>();
    const T* py = y.data<T>();
    T* pdx = dx.data<T>();
    parallel_for(rows, 4 * cols, [&](int64_t r) {
      const T *dyr = pdy + r * cols, *yr = py + r * cols;
      T* dxr = pdx + r * cols;
      const V s = splat<V>(static_cast<T>(log ? row_sum(dyr, cols) : row_dot(dyr, yr, cols)));
      for (int64_t j = 0; j < cols; j += lanes<V>) {
        const int64_t k = std::min(lanes<V>, cols - j);
        const V dyj = load(dyr + j, k), yj = load(yr + j, k);
        store(dxr + j, k, log ? dyj - vec::exp(yj, splat<V>(0)) * s : yj * (dyj - s));
      }
    });
  });
}

// With u = logits / tau, lse = log sum_j exp(u_j) and target t = (1 - eps) onehot(y) + eps / C:
//   loss = -sum_j t_j log softmax(u)_j = (1 - eps) (lse - u_y) + eps (lse - mean_j u_j),
//   probs = softmax(u).
void cross_entropy_forward(const Tensor& logits, const Tensor& labels, Tensor& losses, Tensor& probs, double tau,
                           double label_smoothing) {
  const int64_t classes = logits.size(1), rows = logits.size(0);
  const int64_t* lab = labels.data<int64_t>();
  visit_floating(logits.dtype(), "cross_entropy", [&](auto zero) {
    using T = decltype(zero);
    const T* pz = logits.data<T>();
    T* ploss = losses.data<T>();
    T* pp = probs.data<T>();
    const double eps = label_smoothing;
    parallel_for(rows, 8 * classes, [&](int64_t r) {
      const T* zr = pz + r * classes;
      T* pr = pp + r * classes;
      const RowExp<T> row = row_exp(zr, classes, 1.0 / tau, pr);
      map_row(pr, classes, 1.0 / (1.0 + row.rest), pr, times);
      // lse - u_y = (max - z_y) / tau + log(sum): exactly 0 + log1p(rest) when y is the argmax.
      const double log_sum = std::log1p(row.rest), max = static_cast<double>(row.max);
      const double nll = (max - static_cast<double>(zr[lab[r]])) / tau + log_sum;
      const double smooth =
          eps == 0.0 ? 0.0 : eps * (log_sum + (max - row_sum(zr, classes) / static_cast<double>(classes)) / tau);
      ploss[r] = static_cast<T>((1.0 - eps) * nll + smooth);
    });
  });
}

// Let L = sum_i dlosses_i loss_i. Writes dL/dlogits_ij = dlosses_i (probs_ij - t_ij) / tau,
// t = (1 - eps) onehot(y) + eps / C: the paper's Eqs. 4-6, derived with label smoothing in
// docs/derivations/tempered_cross_entropy.md (Sec. 2). Without smoothing, in float32, probs_iy
// rounds to 1 once y leads every other class by about 17 in z = logits / tau, and the others'
// probs underflow to 0 past about 104: the whole gradient is then exactly 0 (Sec. 3 there).
void cross_entropy_backward(const Tensor& dlosses, const Tensor& probs, const Tensor& labels, Tensor& dlogits,
                            double tau, double label_smoothing) {
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
      for (int64_t j = 0; j < classes; ++j) dzr[j] = scale * (pr[j] - off);
      dzr[lab[r]] = scale * (pr[lab[r]] - on);
    });
  });
}

}  // namespace tg::cpu
