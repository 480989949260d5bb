// CPU layer norm over the last axis of a [rows, cols] view (Ba, Kiros & Hinton 2016), with
// per-column gamma and beta (either may be undefined: 1 and 0). Computed in the tensor's dtype,
// 8 floats at a time (tensor/cpu/vec.h); the row statistics and the column sums accumulate in double.
// bfloat16 x, y, dy or dx: each row is widened to float32 and run through the float32 code, and a
// bfloat16 y or dx is rounded once from its float32 value, so the result is the float32 kernel's on
// the same values, rounded. The math: docs/derivations/layer_norm.md.
#include <cmath>
#include <vector>

#include "tensor/cpu/parallel.h"
#include "tensor/cpu/vec.h"
#include "tensor/kernels.h"

namespace tg::cpu {

namespace {

using vec::lanes;
using vec::load;
using vec::splat;
using vec::store;

// gamma_j (1 where undefined) and beta_j (0 where undefined), for lanes j .. j + k.
template <class V, class T>
V gamma_at(const T* g, int64_t j, int64_t k) {
  return g ? load(g + j, k) : splat<V>(1);
}
template <class V, class T>
V beta_at(const T* b, int64_t j, int64_t k) {
  return b ? load(b + j, k) : splat<V>(0);
}

// A row of `t` as T: the row itself when t holds T, else widened into `buf` (bfloat16 to float).
template <class T>
const T* row_in(const Tensor& t, int64_t r, int64_t cols, std::vector<T>& buf) {
  if (t.dtype() == dtype_of<T>()) return t.data<T>() + r * cols;
  buf.resize(static_cast<size_t>(cols));
  const bf16* p = t.data<bf16>() + r * cols;
  for (int64_t j = 0; j < cols; ++j) buf[j] = convert<T>(p[j]);
  return buf.data();
}
// Where to compute a row of `t`: the row itself when t holds T, else `buf`, which row_out rounds into t.
template <class T>
T* row_scratch(Tensor& t, int64_t r, int64_t cols, std::vector<T>& buf) {
  if (t.dtype() == dtype_of<T>()) return t.data<T>() + r * cols;
  buf.resize(static_cast<size_t>(cols));
  return buf.data();
}
template <class T>
void row_out(Tensor& t, int64_t r, int64_t cols, const T* v) {
  if (t.dtype() == dtype_of<T>()) return;
  bf16* p = t.data<bf16>() + r * cols;
  for (int64_t j = 0; j < cols; ++j) p[j] = convert<bf16>(v[j]);
}

// Calls f(T{}) with T the arithmetic type: float64, or float32 for float32 and bfloat16 in any mix.
template <class F>
void visit_norm(const Tensor& x, const char* op, F&& f) {
  visit_floating(x.dtype() == DType::bf16 ? DType::f32 : x.dtype(), op, std::forward<F>(f));
}

}  // namespace

// mean_r = sum_j x_rj / C,  invstd_r = 1 / sqrt(sum_j (x_rj - mean_r)^2 / C + eps),
// y_rj = (x_rj - mean_r) invstd_r gamma_j + beta_j.
void layer_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& y, Tensor& saved_mean,
                        Tensor& saved_invstd, double eps) {
  const int64_t cols = x.size(-1), rows = cols ? x.numel() / cols : 0;
  visit_norm(x, "layer_norm", [&](auto zero) {
    using T = decltype(zero);
    using V = vec::Vec<T>;
    const T* pg = gamma.defined() ? gamma.data<T>() : nullptr;
    const T* pb = beta.defined() ? beta.data<T>() : nullptr;
    T* pmean = saved_mean.data<T>();
    T* pinv = saved_invstd.data<T>();
    parallel_for(rows, 3 * cols, [&](int64_t r) {
      thread_local std::vector<T> x_buf, y_buf;
      const T* xr = row_in(x, r, cols, x_buf);
      T* yr = row_scratch(y, r, cols, y_buf);
      vec::DoubleSum<V> sum, squares;  // two passes: no cancellation when |mean| >> std
      for (int64_t j = 0; j < cols; j += lanes<V>) sum.add(load(xr + j, std::min(lanes<V>, cols - j)));
      const T mean = static_cast<T>(sum.value() / static_cast<double>(cols));
      const V vmean = splat<V>(mean);
      for (int64_t j = 0; j < cols; j += lanes<V>) {
        const V d = load(xr + j, std::min(lanes<V>, cols - j), mean) - vmean;
        squares.add(d * d);
      }
      const T invstd = static_cast<T>(1.0 / std::sqrt(squares.value() / static_cast<double>(cols) + eps));
      const V vinv = splat<V>(invstd);
      for (int64_t j = 0; j < cols; j += lanes<V>) {
        const int64_t k = std::min(lanes<V>, cols - j);
        const V xhat = (load(xr + j, k) - vmean) * vinv;
        store(yr + j, k, vec::fma(xhat, gamma_at<V>(pg, j, k), beta_at<V>(pb, j, k)));
      }
      row_out(y, r, cols, yr);
      pmean[r] = mean;
      pinv[r] = invstd;
    });
  });
}

// Let L = <dy, y>. Writes dx, dgamma, dbeta (each may be undefined), with xhat = (x - mean) invstd
// and g = dy * gamma (docs/derivations/layer_norm.md, Eqs. 3-5):
//   dx_rj = invstd_r (g_rj - mean_k g_rk - xhat_rj mean_k g_rk xhat_rk)
//   dgamma_j = sum_r dy_rj xhat_rj,   dbeta_j = sum_r dy_rj.
// One pass over the rows, in blocks of kBlock: each block sums its rows' dgamma and dbeta terms in
// double, and the blocks' sums are added in block order, so the result is the same for any number
// of threads.
void layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& saved_mean,
                         const Tensor& saved_invstd, Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  const int64_t cols = x.size(-1), rows = cols ? x.numel() / cols : 0;
  constexpr int64_t kBlock = 256;
  const int64_t blocks = (rows + kBlock - 1) / kBlock;
  const bool columns = dgamma.defined() || dbeta.defined();
  std::vector<double> partial(columns ? static_cast<size_t>(blocks * 2 * cols) : 0, 0.0);
  visit_norm(x, "layer_norm_backward", [&](auto zero) {
    using T = decltype(zero);
    using V = vec::Vec<T>;
    const T* pg = gamma.defined() ? gamma.data<T>() : nullptr;
    const T *pmean = saved_mean.data<T>(), *pinv = saved_invstd.data<T>();
    parallel_for(blocks, kBlock * cols * 6, [&](int64_t b) {
      thread_local std::vector<T> dy_buf, x_buf, dx_buf;
      double* dgamma_b = columns ? partial.data() + b * 2 * cols : nullptr;
      double* dbeta_b = columns ? dgamma_b + cols : nullptr;
      for (int64_t r = b * kBlock; r < std::min(rows, (b + 1) * kBlock); ++r) {
        const T *dyr = row_in(dy, r, cols, dy_buf), *xr = row_in(x, r, cols, x_buf);
        T* dxr = dx.defined() ? row_scratch(dx, r, cols, dx_buf) : nullptr;
        const V mean = splat<V>(pmean[r]), invstd = splat<V>(pinv[r]);
        V g_mean = splat<V>(0), gx_mean = splat<V>(0);
        if (dxr) {
          vec::DoubleSum<V> g_sum, gx_sum;
          for (int64_t j = 0; j < cols; j += lanes<V>) {
            const int64_t k = std::min(lanes<V>, cols - j);
            const V g = load(dyr + j, k) * gamma_at<V>(pg, j, k), xhat = (load(xr + j, k) - mean) * invstd;
            g_sum.add(g);
            gx_sum.add(g * xhat);
          }
          g_mean = splat<V>(static_cast<T>(g_sum.value() / static_cast<double>(cols)));
          gx_mean = splat<V>(static_cast<T>(gx_sum.value() / static_cast<double>(cols)));
        }
        for (int64_t j = 0; j < cols; j += lanes<V>) {
          const int64_t k = std::min(lanes<V>, cols - j);
          const V dyj = load(dyr + j, k), xhat = (load(xr + j, k) - mean) * invstd;
          if (dxr) store(dxr + j, k, invstd * ((dyj * gamma_at<V>(pg, j, k) - g_mean) - xhat * gx_mean));
          if (columns) {
            vec::add_to(dgamma_b + j, k, dyj * xhat);
            vec::add_to(dbeta_b + j, k, dyj);
          }
        }
        if (dxr) row_out(dx, r, cols, dxr);
      }
    });
    if (!columns) return;
    for (int64_t j = 0; j < cols; ++j) {
      double g = 0, s = 0;
      for (int64_t b = 0; b < blocks; ++b) {
        g += partial[b * 2 * cols + j];
        s += partial[b * 2 * cols + cols + j];
      }
      if (dgamma.defined()) dgamma.data<T>()[j] = static_cast<T>(g);
      if (dbeta.defined()) dbeta.data<T>()[j] = static_cast<T>(s);
    }
  });
}

}  // namespace tg::cpu
