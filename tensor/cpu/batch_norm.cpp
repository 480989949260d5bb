// CPU batch norm 2d over x [N, C, H, W], one channel per task (OpenMP over channels). A channel's
// values are N planes of H*W contiguous elements; each plane is summed in the lanes of a vector (in a
// fixed order), the plane sums in double.
// x, y, dy, dx are float32, float64 or bfloat16 (storage T); the arithmetic and the per-channel tensors
// (gamma, beta, running and saved statistics, dgamma, dbeta) are C = compute_t<T>: float for
// bfloat16, which is widened to float on load and rounded once on store. So on the same values the
// bfloat16 kernels give the float32 kernels' bits, y and dx rounded to bfloat16
// (tests/tensor/test_bf16_batch_norm.cpp).
// Math and sources: docs/derivations/batch_norm.md.
#include <array>
#include <bit>
#include <cmath>
#include <cstring>

#include "tensor/cpu/parallel.h"
#include "tensor/kernels.h"

// The helpers below return 32-byte vectors by value. Built without AVX (-Disa=x86-64-v2), GCC warns
// that such a return differs from AVX builds: that concerns calls between objects built both ways,
// and these are internal (and inlined).
#pragma GCC diagnostic ignored "-Wpsabi"

namespace tg::cpu {

namespace {

// A plane's sums run in the lanes of 32-byte GCC vectors of the compute type (8 floats or 4 doubles;
// one AVX2 register in the default build): element j adds into lane j % lanes of one of two
// accumulators (plane_sums), and the lanes are added in lane order at the end. The order is fixed by
// the code, not by the compiler's choice of vector width, so a bfloat16 plane, widened to float, sums
// to the same bits as the float32 plane of the same values.
template <class C>
struct LanesOf {
  typedef C type __attribute__((vector_size(32)));
  static constexpr int64_t count = 32 / sizeof(C);
};
template <class C>
using Lanes = typename LanesOf<C>::type;
typedef uint16_t Bits16 __attribute__((vector_size(16)));  // 8 bfloat16
typedef uint16_t Halves __attribute__((vector_size(32)));  // 8 floats as 16 halves (little-endian)
typedef uint32_t Bits32 __attribute__((vector_size(32)));  // 8 floats' bits

// The lanes of compute_t<T> from p[0 ..]. A bfloat16 widens exactly to the float whose high half it
// is: interleaved with zeros (one unpack each half).
template <class T>
Lanes<compute_t<T>> load_lanes(const T* p) {
  if constexpr (std::is_same_v<T, bf16>) {
    Bits16 h;
    std::memcpy(&h, p, sizeof h);
    return std::bit_cast<Lanes<float>>(
        Halves(__builtin_shufflevector(Bits16{}, h, 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15)));
  } else {
    Lanes<T> v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
}

// Stores lanes into p[0 ..]: bfloat16 rounded as bf16::from_float does (to nearest even; NaN stays a
// quiet NaN), written on the lanes so that it vectorizes.
template <class T>
void store_lanes(T* p, const Lanes<compute_t<T>>& v) {
  if constexpr (std::is_same_v<T, bf16>) {
    const Bits32 u = std::bit_cast<Bits32>(v);
    const Bits32 nearest = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16, nan = (u >> 16) | 0x0040u;
    const Bits16 h = __builtin_convertvector((u & 0x7fffffffu) > 0x7f800000u ? nan : nearest, Bits16);
    std::memcpy(static_cast<void*>(p), &h, sizeof h);
  } else {
    std::memcpy(p, &v, sizeof v);
  }
}

// out_j = f(a_j, b_j) for j in [0, n), rounded once to T; f takes lanes and single values alike.
template <class T, class F>
void plane_map(const T* a, const T* b, T* out, int64_t n, F f) {
  using C = compute_t<T>;
  constexpr int64_t count = LanesOf<C>::count;
  const int64_t whole = n - n % count;
  for (int64_t j = 0; j < whole; j += count) store_lanes(out + j, f(load_lanes(a + j), load_lanes(b + j)));
  for (int64_t j = whole; j < n; ++j) out[j] = convert<T>(f(convert<C>(a[j]), convert<C>(b[j])));
}

// The K sums over j in [0, n) of term(a_j, b_j), which returns K values (and takes lanes and single
// values alike), in lanes as above. Rows of lanes alternate between two accumulators (two chains of
// vector adds run at once), which are added lane by lane before the lanes are.
template <int K, class T, class Term>
std::array<compute_t<T>, K> plane_sums(const T* a, const T* b, int64_t n, Term term) {
  using C = compute_t<T>;
  constexpr int64_t count = LanesOf<C>::count;
  std::array<Lanes<C>, K> even{}, odd{};
  const auto add_row = [&](int64_t j, std::array<Lanes<C>, K>& to) {
    const auto t = term(load_lanes(a + j), load_lanes(b + j));
    for (int k = 0; k < K; ++k) to[k] += t[k];
  };
  int64_t j = 0;
  for (; j + 2 * count <= n; j += 2 * count) {
    add_row(j, even);
    add_row(j + count, odd);
  }
  if (j + count <= n) {
    add_row(j, even);
    j += count;
  }
  for (int64_t l = 0; j < n; ++j, ++l) {
    const auto t = term(convert<C>(a[j]), convert<C>(b[j]));
    for (int k = 0; k < K; ++k) even[k][l] += t[k];
  }
  std::array<C, K> sums{};
  for (int k = 0; k < K; ++k) {
    const Lanes<C> lanes = even[k] + odd[k];
    for (int64_t l = 0; l < count; ++l) sums[k] += lanes[l];
  }
  return sums;
}

}  // namespace

// mean_c = sum x / M, var_c = sum (x - mean_c)^2 / M (M = N*H*W), invstd_c = 1 / sqrt(var_c + eps),
// y = gamma_c (x - mean_c) invstd_c + beta_c. Running statistics (torch semantics):
// running = (1 - momentum) running + momentum * batch, with the unbiased variance var_c * M / (M - 1).
void batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                              Tensor& running_var, Tensor& y, Tensor& saved_mean, Tensor& saved_invstd,
                              double momentum, double eps) {
  visit_floating_or_bf16(x.dtype(), "batch_norm", [&](auto zero) {
    using T = decltype(zero);
    using C = compute_t<T>;
    const int64_t n = x.size(0), cc = x.size(1), hw = x.size(2) * x.size(3), m = n * hw;
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const C *g = gamma.data<C>(), *b = beta.data<C>();
    C *rm = running_mean.data<C>(), *rv = running_var.data<C>();
    C *sm = saved_mean.data<C>(), *si = saved_invstd.data<C>();
    parallel_for(cc, 3 * m, [&](int64_t c) {
      double sum = 0, sq = 0;  // two passes: the variance without cancellation
      for (int64_t i = 0; i < n; ++i) {
        const T* p = px + (i * cc + c) * hw;
        sum += plane_sums<1>(p, p, hw, [](const auto& v, const auto&) { return std::array{v}; })[0];
      }
      const double mean = sum / m;
      const C tm = static_cast<C>(mean);
      for (int64_t i = 0; i < n; ++i) {
        const T* p = px + (i * cc + c) * hw;
        sq += plane_sums<1>(p, p, hw, [&](const auto& v, const auto&) { return std::array{(v - tm) * (v - tm)}; })[0];
      }
      const double var = sq / m, invstd = 1.0 / std::sqrt(var + eps);
      const C scale = static_cast<C>(g[c] * invstd), shift = b[c];
      for (int64_t i = 0; i < n; ++i) {
        const T* p = px + (i * cc + c) * hw;
        plane_map(p, p, py + (i * cc + c) * hw, hw, [&](const auto& v, const auto&) { return (v - tm) * scale + shift; });
      }
      sm[c] = static_cast<C>(mean);
      si[c] = static_cast<C>(invstd);
      rm[c] = static_cast<C>((1 - momentum) * rm[c] + momentum * mean);
      rv[c] = static_cast<C>((1 - momentum) * rv[c] + momentum * var * m / (m - 1));
    });
  });
}

// y = gamma_c (x - running_mean_c) / sqrt(running_var_c + eps) + beta_c.
void batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                             const Tensor& running_var, Tensor& y, double eps) {
  visit_floating_or_bf16(x.dtype(), "batch_norm", [&](auto zero) {
    using T = decltype(zero);
    using C = compute_t<T>;
    const int64_t n = x.size(0), cc = x.size(1), hw = x.size(2) * x.size(3);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const C *g = gamma.data<C>(), *b = beta.data<C>();
    const C *rm = running_mean.data<C>(), *rv = running_var.data<C>();
    parallel_for(n * cc, hw, [&](int64_t plane) {
      const int64_t c = plane % cc;
      const double invstd = 1.0 / std::sqrt(static_cast<double>(rv[c]) + eps);
      const C tm = rm[c], scale = static_cast<C>(g[c] * invstd), shift = b[c];
      const T* p = px + plane * hw;
      plane_map(p, p, py + plane * hw, hw, [&](const auto& v, const auto&) { return (v - tm) * scale + shift; });
    });
  });
}

// Let L = <dy, y>, xhat = (x - mean) invstd, y = gamma xhat + beta, M = N*H*W. Writes
//   dbeta_c  = sum dy,   dgamma_c = sum dy xhat,
//   dx = gamma invstd (dy - dbeta_c / M - xhat dgamma_c / M)   with batch statistics
//        (Ioffe & Szegedy 2015, Sec. 3, the backward equations; docs/derivations/batch_norm.md),
//   dx = gamma invstd dy                                        with constant (running) statistics.
void batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                         const Tensor& invstd, Tensor& dx, Tensor& dgamma, Tensor& dbeta, bool batch_stats) {
  visit_floating_or_bf16(x.dtype(), "batch_norm_backward", [&](auto zero) {
    using T = decltype(zero);
    using C = compute_t<T>;
    const int64_t n = x.size(0), cc = x.size(1), hw = x.size(2) * x.size(3), m = n * hw;
    const T *px = x.data<T>(), *pdy = dy.data<T>();
    const C *g = gamma.data<C>(), *mu = mean.data<C>(), *is = invstd.data<C>();
    T* pdx = dx.defined() ? dx.data<T>() : nullptr;
    C* pdg = dgamma.defined() ? dgamma.data<C>() : nullptr;
    C* pdb = dbeta.defined() ? dbeta.data<C>() : nullptr;
    const bool need_sums = pdg || pdb || (pdx && batch_stats);
    parallel_for(cc, 4 * m, [&](int64_t c) {
      const double mc = mu[c], ic = is[c];
      const C tm = static_cast<C>(mc);
      double sum_dy = 0, sum_dy_xhat = 0;
      if (need_sums) {
        for (int64_t i = 0; i < n; ++i) {
          const T *p = px + (i * cc + c) * hw, *d = pdy + (i * cc + c) * hw;
          const auto s = plane_sums<2>(d, p, hw, [&](const auto& dj, const auto& xj) { return std::array{dj, dj * (xj - tm)}; });
          sum_dy += s[0];
          sum_dy_xhat += s[1];
        }
        sum_dy_xhat *= ic;
      }
      if (pdg) pdg[c] = static_cast<C>(sum_dy_xhat);
      if (pdb) pdb[c] = static_cast<C>(sum_dy);
      if (!pdx) return;
      // dx = a dy + b (x - mean) + k with per-channel constants a, b, k.
      const double a = g[c] * ic;
      const C ta = static_cast<C>(a);
      const C tb = static_cast<C>(batch_stats ? -a * ic * sum_dy_xhat / m : 0.0);
      const C tk = static_cast<C>(batch_stats ? -a * sum_dy / m : 0.0);
      for (int64_t i = 0; i < n; ++i) {
        const int64_t at = (i * cc + c) * hw;
        plane_map(pdy + at, px + at, pdx + at, hw, [&](const auto& d, const auto& v) { return ta * d + tb * (v - tm) + tk; });
      }
    });
  });
}

}  // namespace tg::cpu
