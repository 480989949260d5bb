// CPU reductions over the middle axis of an [outer, n, inner] view.
#include <cmath>
#include <limits>

#include "tensor/cpu/parallel.h"
#include "tensor/kernels.h"

namespace tg::cpu {

void reduce(const Tensor& x, Tensor& y, int64_t outer, int64_t n, int64_t inner, ReduceOp op) {
  visit_dtype(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;
    const T* px = x.data<T>();
    parallel_for(outer * inner, n, [&](int64_t oi) {
      const int64_t o = oi / inner, i = oi % inner;
      const T* row = px + o * n * inner + i;
      if (op == ReduceOp::sum || op == ReduceOp::mean) {
        Acc acc = 0;
        for (int64_t k = 0; k < n; ++k) acc += row[k * inner];
        y.data<T>()[oi] = static_cast<T>(op == ReduceOp::mean ? static_cast<double>(acc) / n : acc);
        return;
      }
      // max/min/argmax/argmin: first index of the extreme; NaN propagates (it wins every comparison).
      const bool want_max = op == ReduceOp::max || op == ReduceOp::argmax;
      int64_t best = 0;
      for (int64_t k = 1; k < n; ++k) {
        T v = row[k * inner], b = row[best * inner];
        bool better = want_max ? v > b : v < b;
        if constexpr (std::is_floating_point_v<T>) better = better || (std::isnan(v) && !std::isnan(b));
        if (better) best = k;
      }
      if (op == ReduceOp::argmax || op == ReduceOp::argmin) {
        y.data<int64_t>()[oi] = best;
      } else {
        y.data<T>()[oi] = row[best * inner];
      }
    });
  });
}

void variance(const Tensor& x, Tensor& y, int64_t outer, int64_t n, int64_t inner, int64_t correction) {
  visit_floating(x.dtype(), "var", [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallel_for(outer * inner, 2 * n, [&](int64_t oi) {
      const T* row = px + (oi / inner) * n * inner + oi % inner;
      double mean = 0, m2 = 0;  // two-pass: exact enough for the gradient checks in float64
      for (int64_t k = 0; k < n; ++k) mean += row[k * inner];
      mean /= n;
      for (int64_t k = 0; k < n; ++k) m2 += (row[k * inner] - mean) * (row[k * inner] - mean);
      py[oi] = static_cast<T>(m2 / static_cast<double>(n - correction));
    });
  });
}

}  // namespace tg::cpu
