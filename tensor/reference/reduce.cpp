// Reference reductions. x[o, k, i] is element (o * n + k) * inner + i; y[o, i] is o * inner + i.
#include "tensor/reference/reduce.h"

#include "tensor/reference/common.h"

namespace tg::reference {

namespace {

void check_view(const Tensor& x, int64_t outer, int64_t n, int64_t inner, const char* kernel) {
  check_f64(x, kernel);
  TG_CHECK(x.numel() == outer * n * inner, "reference::", kernel, ": ", x.str(), " is not [", outer, ", ", n,
           ", ", inner, "]");
}

// The first k with the largest (want_max) or smallest x[o, k, i].
int64_t extreme(const double* x, int64_t o, int64_t n, int64_t inner, int64_t i, bool want_max) {
  int64_t best = 0;
  for (int64_t k = 1; k < n; ++k) {
    const double v = x[(o * n + k) * inner + i], b = x[(o * n + best) * inner + i];
    if (want_max ? v > b : v < b) best = k;
  }
  return best;
}

}  // namespace

// sum: y = sum_k x[o, k, i];  mean: y = sum / n;  max, min: the extreme value;  argmax, argmin: its k.
Tensor reduce(const Tensor& x, int64_t outer, int64_t n, int64_t inner, ReduceOp op) {
  check_view(x, outer, n, inner, "reduce");
  const bool arg = op == ReduceOp::argmax || op == ReduceOp::argmin;
  Tensor y = Tensor::empty({outer, inner}, arg ? DType::i64 : DType::f64);
  const double* px = x.data<double>();
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      if (op == ReduceOp::sum || op == ReduceOp::mean) {
        double s = 0;
        for (int64_t k = 0; k < n; ++k) s += px[(o * n + k) * inner + i];
        y.data<double>()[o * inner + i] = op == ReduceOp::mean ? s / static_cast<double>(n) : s;
        continue;
      }
      const int64_t k = extreme(px, o, n, inner, i, op == ReduceOp::max || op == ReduceOp::argmax);
      if (arg)
        y.data<int64_t>()[o * inner + i] = k;
      else
        y.data<double>()[o * inner + i] = px[(o * n + k) * inner + i];
    }
  }
  return y;
}

// L = <dy, y>. sum: dx = dy;  mean: dx = dy / n;  max, min: dy goes to the first extreme, 0 elsewhere.
Tensor reduce_backward(const Tensor& dy, const Tensor& x, int64_t outer, int64_t n, int64_t inner, ReduceOp op) {
  check_view(x, outer, n, inner, "reduce_backward");
  check_view(dy, outer, 1, inner, "reduce_backward");
  TG_CHECK(op != ReduceOp::argmax && op != ReduceOp::argmin, "reference::reduce_backward: argmax/argmin have no gradient");
  Tensor dx = Tensor::zeros(x.shape(), DType::f64);
  const double *px = x.data<double>(), *pdy = dy.data<double>();
  double* pdx = dx.data<double>();
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const double d = pdy[o * inner + i];
      if (op == ReduceOp::sum || op == ReduceOp::mean) {
        for (int64_t k = 0; k < n; ++k) pdx[(o * n + k) * inner + i] = op == ReduceOp::mean ? d / n : d;
      } else {
        pdx[(o * n + extreme(px, o, n, inner, i, op == ReduceOp::max)) * inner + i] = d;
      }
    }
  }
  return dx;
}

// y = sum_k (x_k - mean)^2 / (n - correction)  (correction 1: Bessel's unbiased estimate).
Tensor variance(const Tensor& x, int64_t outer, int64_t n, int64_t inner, int64_t correction) {
  check_view(x, outer, n, inner, "variance");
  Tensor y = Tensor::empty({outer, inner}, DType::f64);
  const double* px = x.data<double>();
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      double mean = 0, m2 = 0;
      for (int64_t k = 0; k < n; ++k) mean += px[(o * n + k) * inner + i] / n;
      for (int64_t k = 0; k < n; ++k) m2 += (px[(o * n + k) * inner + i] - mean) * (px[(o * n + k) * inner + i] - mean);
      y.data<double>()[o * inner + i] = m2 / static_cast<double>(n - correction);
    }
  }
  return y;
}

// dx_k = dy 2 (x_k - mean) / (n - correction)  (the mean's own gradient sums to zero).
Tensor variance_backward(const Tensor& dy, const Tensor& x, int64_t outer, int64_t n, int64_t inner,
                         int64_t correction) {
  check_view(x, outer, n, inner, "variance_backward");
  check_view(dy, outer, 1, inner, "variance_backward");
  Tensor dx = Tensor::empty(x.shape(), DType::f64);
  const double* px = x.data<double>();
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      double mean = 0;
      for (int64_t k = 0; k < n; ++k) mean += px[(o * n + k) * inner + i] / n;
      const double scale = 2 * dy.data<double>()[o * inner + i] / static_cast<double>(n - correction);
      for (int64_t k = 0; k < n; ++k) dx.data<double>()[(o * n + k) * inner + i] = scale * (px[(o * n + k) * inner + i] - mean);
    }
  }
  return dx;
}

}  // namespace tg::reference
