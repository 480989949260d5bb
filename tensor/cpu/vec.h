// Vectors for the CPU row kernels (softmax.cpp, layer_norm.cpp) and GELU (elementwise.cpp), and an
// accurate vectorized exp and erf.
//
// Vec<T> is 8 floats (Float8, an __m256) for float32 where the build targets AVX2 + FMA (the default
// -march=x86-64-v3), and one scalar otherwise (float32 elsewhere, and always float64: its kernels
// serve gradient checks and precision audits, not speed). A row loop steps by lanes<V> and loads
// and stores the first k lanes of its last step, so one loop serves every row length:
//
//   for (int64_t j = 0; j < n; j += lanes<V>) { const int64_t k = std::min(lanes<V>, n - j); ... }
//
// exp(hi, lo) is e^(hi + lo) for a float argument carried in two floats; for float32 its error is
// below 0.7 ulp, and below 1 ulp for subnormal results (tests/tensor/test_row_ops.cpp). erf(x), for
// GELU, is below 1.2 ulp (tests/tensor/test_gelu.cpp).
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define TG_VEC_AVX2 1
#endif

namespace tg::cpu::vec {

// ---- scalars: one lane ----

template <class V>
constexpr int64_t lanes = 1;

template <class T>
T load(const T* p, int64_t /*k*/, T /*fill*/ = 0) {
  return *p;
}
template <class T>
void store(T* p, int64_t /*k*/, T v) {
  *p = v;
}
inline float fma(float a, float b, float c) { return std::fma(a, b, c); }
inline double fma(double a, double b, double c) { return std::fma(a, b, c); }
// max and min that keep a NaN in `a` (the row's NaN must reach its outputs).
template <class T>
T max(T a, T b) {
  return a < b ? b : a;
}
template <class T>
T min(T a, T b) {
  return b < a ? b : a;
}
// v where x != m, else 0; and 1 where x == m, else 0.
template <class T>
T where_not_equal(T x, T m, T v) {
  return x == m ? T(0) : v;
}
template <class T>
T one_where_equal(T x, T m) {
  return x == m ? T(1) : T(0);
}
// 0 where x < limit (NaN compares false), else v.
template <class T>
T zero_below(T x, T limit, T v) {
  return x < limit ? T(0) : v;
}
// a where x > limit, else b (b where x is NaN).
template <class T>
T select_greater(T x, T limit, T a, T b) {
  return x > limit ? a : b;
}
inline float abs(float a) { return std::fabs(a); }
inline float copy_sign(float magnitude, float sign) { return std::copysign(magnitude, sign); }
template <class T>
T reduce_max(T v) {
  return v;
}
template <class T>
double reduce_add(T v) {
  return v;
}
// p 2^n, where k = n + kRound is the float the exp's range reduction rounded to the integer n.
inline constexpr float kRound = 0x1.8p23f;  // 1.5 * 2^23: adding it rounds |x| < 2^22 to an integer
inline float pow2(int32_t n) { return std::bit_cast<float>(static_cast<uint32_t>(n + 127) << 23); }
inline float scale_pow2(float p, float k) {
  // Two factors 2^n1 2^n2, each a normal float: the product rounds once, into the subnormals if it must.
  const int32_t n = static_cast<int32_t>(std::bit_cast<uint32_t>(k) - std::bit_cast<uint32_t>(kRound)), n1 = n >> 1;
  return p * pow2(n1) * pow2(n - n1);
}
// Sums float lanes in double; the scalar version of the vector accumulator below.
template <class T>
struct DoubleSum {
  double sum = 0;
  void add(T v) { sum += static_cast<double>(v); }
  double value() const { return sum; }
};
// acc[i] += v's lane i, i < k, in double.
template <class T>
void add_to(double* acc, int64_t /*k*/, T v) {
  *acc += static_cast<double>(v);
}

// ---- AVX2 + FMA: 8 floats ----

#if TG_VEC_AVX2
// 8 floats. A struct, not __m256 itself: __m256's attributes would be dropped as a template argument.
struct Float8 {
  __m256 v;
};
inline Float8 operator+(Float8 a, Float8 b) { return {_mm256_add_ps(a.v, b.v)}; }
inline Float8 operator-(Float8 a, Float8 b) { return {_mm256_sub_ps(a.v, b.v)}; }
inline Float8 operator*(Float8 a, Float8 b) { return {_mm256_mul_ps(a.v, b.v)}; }
inline Float8 operator-(Float8 a) { return {_mm256_xor_ps(a.v, _mm256_set1_ps(-0.0f))}; }

template <>
inline constexpr int64_t lanes<Float8> = 8;

inline __m256i first_lanes(int64_t k) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(k)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
// The first k lanes (1 <= k <= 8) from p, the others `fill`.
inline Float8 load(const float* p, int64_t k, float fill = 0) {
  if (k == 8) return {_mm256_loadu_ps(p)};
  const __m256i m = first_lanes(k);
  return {_mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m))};
}
inline void store(float* p, int64_t k, Float8 a) {
  if (k == 8) {
    _mm256_storeu_ps(p, a.v);
  } else {
    _mm256_maskstore_ps(p, first_lanes(k), a.v);
  }
}
inline Float8 fma(Float8 a, Float8 b, Float8 c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
// _mm256_max_ps(x, y) returns y where either is NaN: y = a keeps a's NaN.
inline Float8 max(Float8 a, Float8 b) { return {_mm256_max_ps(b.v, a.v)}; }
inline Float8 min(Float8 a, Float8 b) { return {_mm256_min_ps(b.v, a.v)}; }
inline Float8 where_not_equal(Float8 x, Float8 m, Float8 a) {
  return {_mm256_andnot_ps(_mm256_cmp_ps(x.v, m.v, _CMP_EQ_OQ), a.v)};
}
inline Float8 one_where_equal(Float8 x, Float8 m) {
  return {_mm256_and_ps(_mm256_cmp_ps(x.v, m.v, _CMP_EQ_OQ), _mm256_set1_ps(1.0f))};
}
inline Float8 zero_below(Float8 x, Float8 limit, Float8 a) {
  return {_mm256_andnot_ps(_mm256_cmp_ps(x.v, limit.v, _CMP_LT_OQ), a.v)};
}
inline Float8 select_greater(Float8 x, Float8 limit, Float8 a, Float8 b) {
  return {_mm256_blendv_ps(b.v, a.v, _mm256_cmp_ps(x.v, limit.v, _CMP_GT_OQ))};
}
inline Float8 abs(Float8 a) { return {_mm256_andnot_ps(_mm256_set1_ps(-0.0f), a.v)}; }
inline Float8 copy_sign(Float8 magnitude, Float8 sign) {
  const __m256 sign_bit = _mm256_set1_ps(-0.0f);
  return {_mm256_or_ps(_mm256_andnot_ps(sign_bit, magnitude.v), _mm256_and_ps(sign_bit, sign.v))};
}
inline float reduce_max(Float8 a) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(a.v), _mm256_extractf128_ps(a.v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}
inline __m256d low_half(Float8 a) { return _mm256_cvtps_pd(_mm256_castps256_ps128(a.v)); }
inline __m256d high_half(Float8 a) { return _mm256_cvtps_pd(_mm256_extractf128_ps(a.v, 1)); }
inline double reduce_add(__m256d a) {
  const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
inline double reduce_add(Float8 a) { return reduce_add(_mm256_add_pd(low_half(a), high_half(a))); }
inline __m256 pow2(__m256i n) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23));
}
inline Float8 scale_pow2(Float8 p, Float8 k) {
  const __m256i n = _mm256_sub_epi32(_mm256_castps_si256(k.v), _mm256_castps_si256(_mm256_set1_ps(kRound)));
  const __m256i n1 = _mm256_srai_epi32(n, 1);
  return {_mm256_mul_ps(_mm256_mul_ps(p.v, pow2(n1)), pow2(_mm256_sub_epi32(n, n1)))};
}
template <>
struct DoubleSum<Float8> {
  __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
  void add(Float8 a) {
    lo = _mm256_add_pd(lo, low_half(a));
    hi = _mm256_add_pd(hi, high_half(a));
  }
  double value() const { return reduce_add(_mm256_add_pd(lo, hi)); }
};
inline void add_to(double* acc, int64_t k, Float8 a) {
  if (k < 8) {
    alignas(32) float lane[8];
    _mm256_store_ps(lane, a.v);
    for (int64_t i = 0; i < k; ++i) acc[i] += lane[i];
    return;
  }
  _mm256_storeu_pd(acc, _mm256_add_pd(_mm256_loadu_pd(acc), low_half(a)));
  _mm256_storeu_pd(acc + 4, _mm256_add_pd(_mm256_loadu_pd(acc + 4), high_half(a)));
}
#endif

// The vector type for T: 8 floats with AVX2 + FMA, else one T.
#if TG_VEC_AVX2
template <class T>
using Vec = std::conditional_t<std::is_same_v<T, float>, Float8, T>;
#else
template <class T>
using Vec = T;
#endif

// a in every lane (a float for Float8: callers pass floats).
template <class V>
V splat(double a) {
  return static_cast<V>(a);
}
#if TG_VEC_AVX2
template <>
inline Float8 splat<Float8>(double a) {
  return {_mm256_set1_ps(static_cast<float>(a))};
}
#endif

// ---- exp ----

// e^(hi + lo), where lo (|lo| <= ulp(hi)) carries bits of the argument that one float cannot hold.
// Range reduction hi + lo = n ln 2 + r, |r| <= ln(2) / 2, with ln 2 in two parts (Cody & Waite,
// "Software Manual for the Elementary Functions", 1980; n ln2_hi and hi - n ln2_hi are exact), then
// e^r = 1 + r + r^2 q(r): q is the degree-5 Chebyshev fit of (e^r - 1 - r) / r^2 on [-ln2/2, ln2/2]
// (mpmath.chebyfit, rounded to float; relative error of the sum 7e-10). r's rounding error and
// that of 1 + r are carried (Fast2Sum; Muller et al., "Handbook of Floating-Point Arithmetic", 2nd
// ed., Sec. 4.3) into the small part, so that the result rounds once, at the end: 0.5 ulp, plus
// below 0.2 ulp from the rest (0.653 measured, over 2^26 arguments).
// Last, 2^n in two factors, so results down to 2^-149 round once too. NaN stays NaN; beyond +88.73
// the result is inf, below -103.97 it is 0, e^-inf = 0.
template <class V>
V exp(V hi, V lo) {
  const V h = min(max(hi, splat<V>(-160.0f)), splat<V>(100.0f));  // keeps n an int; the result is 0 or inf there
  const V k = fma(h, splat<V>(1.44269504f), splat<V>(kRound));     // kRound + n, n = round(h / ln 2)
  const V n = k - splat<V>(kRound);
  const V r_hi = fma(-n, splat<V>(0.693359375f), h), r_lo = fma(-n, splat<V>(-2.12194440e-4f), lo);
  const V r = r_hi + r_lo, r_err = (r_hi - r) + r_lo;
  V q = splat<V>(1.9890981e-4f);
  q = fma(q, r, splat<V>(1.3933642e-3f));
  q = fma(q, r, splat<V>(8.3333105e-3f));
  q = fma(q, r, splat<V>(4.1666467e-2f));
  q = fma(q, r, splat<V>(1.6666667e-1f));
  q = fma(q, r, splat<V>(0.5f));
  const V one_r = splat<V>(1.0f) + r, one_r_err = (splat<V>(1.0f) - one_r) + r;  // 1 + r, exactly
  const V p = one_r + fma(r * r, q, one_r_err + r_err);
  return zero_below(hi, splat<V>(-160.0f), scale_pow2(p, k));  // e^-inf: lo is NaN there (inf - inf)
}
inline double exp(double hi, double lo) { return std::exp(hi + lo); }

// e^((x - m) s) with s = s_hi + s_lo, for x <= m (a row's entry and its max): x - m and the
// product are carried exactly in two floats (TwoSum and the FMA product; Muller et al., "Handbook of
// Floating-Point Arithmetic", 2nd ed., Sec. 4.3 and 4.4), so that only the exp rounds. Rounded to
// one float, x - m = -20.3 would be off by up to 1e-6, and e^(x - m) by as much relatively.
template <class V>
V exp_difference(V x, V m) {
  const V d = x - m, x_part = d + m, m_part = d - x_part;
  return exp(d, (x - x_part) - (m + m_part));
}
template <class V>
V exp_difference(V x, V m, V s_hi, V s_lo) {
  const V d = x - m, x_part = d + m, m_part = d - x_part, d_lo = (x - x_part) - (m + m_part);
  const V u = d * s_hi;
  return exp(u, fma(d, s_hi, -u) + fma(d, s_lo, d_lo * s_hi));
}
inline double exp_difference(double x, double m) { return std::exp(x - m); }
inline double exp_difference(double x, double m, double s, double /*s_lo*/) { return std::exp((x - m) * s); }

// ---- erf ----

// erf(x) for float32 (GELU's, tensor/cpu/elementwise.cpp), in two ranges split at |x| = 0.9277
// (the split of N. Juffa's erff; the polynomials here are refitted):
//   |x| <= 0.9277:  erf(x) = x + x q(x^2), q of degree 5 (relative error of the fit 1.7e-8);
//   beyond:         erf(x) = sign(x) (1 - e^p(|x|)), p of degree 6 fitted to log erfc on [0.9277, 4]
//                   (its error times erfc below 0.03 ulp of the result); from |x| = 3.92 on,
//                   erfc < 2^-25 and the result rounds to +-1, so |x| is clamped at 4.
// Both fits are minimax by Lawson's reweighted least squares in double, rounded to float
// (tools/fit_erf.py prints them). Error against the double erf: below 1.2 ulp of the result (1.197
// at 0.96, from 1 - e^p's rounding, e^p's 0.16 ulp and p's, and the coefficients' rounding to float;
// tests/tensor/test_gelu.cpp). Both ranges are computed and blended: NaN stays NaN, erf(+-inf) = +-1,
// tiny x give 1.128 x rounded once.
template <class V>
V erf(V x) {
  const V s = x * x;
  V q = splat<V>(-5.964033e-4f);
  q = fma(q, s, splat<V>(4.987961e-3f));
  q = fma(q, s, splat<V>(-2.6763095e-2f));
  q = fma(q, s, splat<V>(1.12817205e-1f));
  q = fma(q, s, splat<V>(-3.7612486e-1f));
  q = fma(q, s, splat<V>(1.2837915e-1f));  // 2/sqrt(pi) - 1
  const V near = fma(q, x, x);
  const V t = abs(x), u = min(t, splat<V>(4.0f));
  V p = splat<V>(1.9407048e-4f);
  p = fma(p, u, splat<V>(-3.0250454e-3f));
  p = fma(p, u, splat<V>(2.215509e-2f));
  p = fma(p, u, splat<V>(-1.0378394e-1f));
  p = fma(p, u, splat<V>(-6.3734883e-1f));
  p = fma(p, u, splat<V>(-1.1275777f));
  p = fma(p, u, splat<V>(-2.1912181e-4f));
  const V far = copy_sign(splat<V>(1.0f) - exp(p, splat<V>(0.0f)), x);
  return select_greater(t, splat<V>(0.927734375f), far, near);
}

}  // namespace tg::cpu::vec
