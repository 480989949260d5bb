// Element types. float32 trains on both devices; float64 exists for gradient checks and precision
// audits; bfloat16 is the operand type of mixed-precision GEMMs and convolutions (docs/ARCHITECTURE.md,
// "Mixed precision"); integers hold labels, indices and images.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "util/error.h"

#ifndef TG_HD  // also in tensor/philox.h, identically
#ifdef __CUDACC__
#define TG_HD __host__ __device__ __forceinline__
#else
#define TG_HD inline
#endif
#endif

namespace tg {

enum class DType : uint8_t { f32, f64, i32, i64, u8, bf16 };

// bfloat16: float32's sign, 8 exponent bits and the top 7 mantissa bits (the same bits as CUDA's
// __nv_bfloat16). Conversion to float is exact; from float and double it rounds to nearest, ties to
// even, keeps infinities, and keeps NaNs NaN (quiet, sign kept). No arithmetic: kernels compute in float.
struct bf16 {
  uint16_t bits = 0;

  static TG_HD bf16 from_bits(uint16_t b) {
    bf16 h;
    h.bits = b;
    return h;
  }
  static TG_HD bf16 from_float(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return from_bits(static_cast<uint16_t>((u >> 16) | 0x0040u));  // NaN
    u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even on the 16 bits dropped
    return from_bits(static_cast<uint16_t>(u >> 16));
  }
  // Rounds once: double -> float rounding to odd (toward zero, then the last bit set when inexact)
  // keeps enough information for the second rounding to bf16 to be the correct one.
  static TG_HD bf16 from_double(double d) {
    float f = static_cast<float>(d);
    if (d == d && static_cast<double>(f) != d) {
      uint32_t u;
      memcpy(&u, &f, 4);
      const double af = f < 0 ? -static_cast<double>(f) : static_cast<double>(f), ad = d < 0 ? -d : d;
      if (af > ad) --u;  // rounded away from zero (sign-magnitude: one step toward zero)
      u |= 1u;
      memcpy(&f, &u, 4);
    }
    return from_float(f);
  }
  TG_HD float to_float() const {
    const uint32_t u = static_cast<uint32_t>(bits) << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
  }
};

constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i32: return 4;
    case DType::i64: return 8;
    case DType::u8: return 1;
    case DType::bf16: return 2;
  }
  return 0;
}

constexpr const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::f64: return "float64";
    case DType::i32: return "int32";
    case DType::i64: return "int64";
    case DType::u8: return "uint8";
    case DType::bf16: return "bfloat16";
  }
  return "?";
}

constexpr bool is_floating(DType t) { return t == DType::f32 || t == DType::f64 || t == DType::bf16; }

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<int32_t>() { return DType::i32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::i64; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::u8; }
template <> constexpr DType dtype_of<bf16>() { return DType::bf16; }

// The error of a kernel that does not take bfloat16. Those that do: cast, fill and the copies; matmul
// and conv2d (tensor-core operands); and the kernels of a bf16 network's activations (elementwise,
// reductions, batch norm, pooling), which load bfloat16, compute in float and round once on store.
[[noreturn]] inline void fail_bf16(const char* op) {
  TG_FAIL(op, ": bfloat16 tensors are not supported here; cast to float32 first (tg::cast(x, DType::f32))");
}

// The arithmetic type of a storage type: float for bfloat16 (which has no arithmetic), T otherwise.
// A kernel over T computes in compute_t<T>: convert<compute_t<T>>(x) to load, convert<T>(v) to store.
template <class T> struct compute_type { using type = T; };
template <> struct compute_type<bf16> { using type = float; };
template <class T> using compute_t = typename compute_type<T>::type;

// Calls f(T{}) with T the C++ type of `t`: TG_... kernels use it to instantiate per dtype. bfloat16
// is left out (it has no arithmetic): `op` names the caller in that error.
template <class F>
decltype(auto) visit_dtype(DType t, F&& f, const char* op = "this kernel") {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::i32: return f(int32_t{});
    case DType::i64: return f(int64_t{});
    case DType::u8: return f(uint8_t{});
    case DType::bf16: fail_bf16(op);
  }
  TG_FAIL("visit_dtype: unknown dtype");
}

// visit_dtype with bfloat16 too: for kernels that only move or convert elements (cast, fill).
template <class F>
decltype(auto) visit_dtype_or_bf16(DType t, F&& f) {
  if (t == DType::bf16) return f(bf16{});
  return visit_dtype(t, std::forward<F>(f));
}

// One element of cast: C++'s conversions between the arithmetic types, bf16's rounding to and from it.
template <class Y, class X>
TG_HD Y convert(X x) {
  if constexpr (std::is_same_v<X, bf16> && std::is_same_v<Y, bf16>) {
    return x;
  } else if constexpr (std::is_same_v<X, bf16>) {
    return static_cast<Y>(x.to_float());
  } else if constexpr (std::is_same_v<Y, bf16> && std::is_same_v<X, float>) {
    return bf16::from_float(x);
  } else if constexpr (std::is_same_v<Y, bf16>) {
    return bf16::from_double(static_cast<double>(x));
  } else {
    return static_cast<Y>(x);
  }
}

// The same, for the floating types only; `op` names the caller in the error.
template <class F>
decltype(auto) visit_floating(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::bf16: fail_bf16(op);
    default: TG_FAIL(op, ": expected a floating dtype (float32 or float64), got ", dtype_name(t));
  }
}

// visit_floating with bfloat16 too, for kernels that store bf16 and compute in compute_t<T> (float).
template <class F>
decltype(auto) visit_floating_or_bf16(DType t, const char* op, F&& f) {
  if (t == DType::bf16) return f(bf16{});
  return visit_floating(t, op, std::forward<F>(f));
}

}  // namespace tg
