// CPU reductions over the middle axis of an [outer, n, inner] view. Sums accumulate in double (int64
// for integers); bfloat16 is widened to float as it is read and each output rounded once as it is
// written, so a bfloat16 sum is the float64 sum of the same values, rounded to bfloat16. The extremes
// copy the winning element.
#include <algorithm>
#include <cmath>
#include <limits>

#include "tensor/cpu/parallel.h"
#include "tensor/elementwise_math.h"
#include "tensor/kernels.h"

namespace tg::cpu {

using math::widen;

void reduce(const Tensor& x, Tensor& y, int64_t outer, int64_t n, int64_t inner, ReduceOp op) {
  visit_dtype_or_bf16(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    using C = compute_t<T>;
    using Acc = std::conditional_t<std::is_floating_point_v<C>, double, int64_t>;
    const T* px = x.data<T>();
    if ((op == ReduceOp::sum || op == ReduceOp::mean) && inner > 1) {
      // Sums over a non-last axis (a Linear's bias gradient: [M, D] -> [D]): walk the rows in order,
      // adding each into one accumulator per column of a block, so memory is read contiguously (and
      // vectorized) instead of one strided column at a time. Each column adds the same values in the
      // same order as the loop below, so the result is the same bit for bit.
      constexpr int64_t kBlock = 256;
      const int64_t blocks = (inner + kBlock - 1) / kBlock;
      parallel_for(outer * blocks, n * kBlock, [&](int64_t ob) {
        const int64_t o = ob / blocks, i0 = ob % blocks * kBlock, width = std::min(kBlock, inner - i0);
        Acc acc[kBlock] = {};
        for (int64_t k = 0; k < n; ++k) {
          const T* row = px + (o * n + k) * inner + i0;
          for (int64_t i = 0; i < width; ++i) acc[i] += widen(row[i]);
        }
        T* out = y.data<T>() + o * inner + i0;
        for (int64_t i = 0; i < width; ++i)
          out[i] = convert<T>(op == ReduceOp::mean ? static_cast<double>(acc[i]) / n : acc[i]);
      });
      return;
    }
    parallel_for(outer * inner, n, [&](int64_t oi) {
      const int64_t o = oi / inner, i = oi % inner;
      const T* row = px + o * n * inner + i;
      if (op == ReduceOp::sum || op == ReduceOp::mean) {
        Acc acc = 0;
        for (int64_t k = 0; k < n; ++k) acc += widen(row[k * inner]);
        y.data<T>()[oi] = convert<T>(op == ReduceOp::mean ? static_cast<double>(acc) / n : acc);
        return;
      }
      // max/min/argmax/argmin: first index of the extreme; NaN propagates (it wins every comparison).
      const bool want_max = op == ReduceOp::max || op == ReduceOp::argmax;
      int64_t best = 0;
      for (int64_t k = 1; k < n; ++k) {
        const C v = widen(row[k * inner]), b = widen(row[best * inner]);
        bool better = want_max ? v > b : v < b;
        if constexpr (std::is_floating_point_v<C>) better = better || (std::isnan(v) && !std::isnan(b));
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
  visit_floating_or_bf16(x.dtype(), "var", [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallel_for(outer * inner, 2 * n, [&](int64_t oi) {
      const T* row = px + (oi / inner) * n * inner + oi % inner;
      double mean = 0, m2 = 0;  // two-pass: exact enough for the gradient checks in float64
      for (int64_t k = 0; k < n; ++k) mean += widen(row[k * inner]);
      mean /= n;
      for (int64_t k = 0; k < n; ++k) {
        const double d = widen(row[k * inner]) - mean;
        m2 += d * d;
      }
      py[oi] = convert<T>(m2 / static_cast<double>(n - correction));
    });
  });
}

}  // namespace tg::cpu
