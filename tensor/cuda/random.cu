// CUDA random kernels: element i of a draw is philox::uniform/normal(seed, offset, i), exactly as on
// the CPU (tensor/cpu/random.cpp), so a seed gives the same tensor on both devices. The Philox
// block and the float conversions are the shared header-only code of tensor/philox.h.
#include "tensor/cuda/common.cuh"
#include "tensor/philox.h"

namespace tg::cuda {

// kernels

namespace {

template <class T>
struct UniformFn {
  T* p;
  double lo, hi;
  PhiloxState s;
  __device__ void operator()(int64_t i) const {
    p[i] = static_cast<T>(lo + (hi - lo) * philox::uniform(s.seed, s.offset, static_cast<uint64_t>(i)));
  }
};

template <class T>
struct NormalFn {
  T* p;
  double mean, std;
  PhiloxState s;
  __device__ void operator()(int64_t i) const {
    p[i] = static_cast<T>(mean + std * philox::normal(s.seed, s.offset, static_cast<uint64_t>(i)));
  }
};

// Multiply-shift maps a 32-bit word onto [0, range) (Lemire), as the CPU.
template <class T>
struct IntegersFn {
  T* p;
  int64_t lo;
  uint64_t range;
  PhiloxState s;
  __device__ void operator()(int64_t i) const {
    const uint64_t w = philox::word(s.seed, s.offset, static_cast<uint64_t>(i));
    p[i] = static_cast<T>(lo + static_cast<int64_t>((w * range) >> 32));
  }
};

}  // namespace

// launchers

void random_uniform(Tensor& out, double lo, double hi, const PhiloxState& s) {
  visit_floating(out.dtype(), "random_uniform", [&](auto zero) {
    using T = decltype(zero);
    launch_map(out.numel(), UniformFn<T>{out.data<T>(), lo, hi, s}, "random_uniform", out.shape());
  });
}

void random_normal(Tensor& out, double mean, double std, const PhiloxState& s) {
  visit_floating(out.dtype(), "random_normal", [&](auto zero) {
    using T = decltype(zero);
    launch_map(out.numel(), NormalFn<T>{out.data<T>(), mean, std, s}, "random_normal", out.shape());
  });
}

void random_integers(Tensor& out, int64_t lo, int64_t hi, const PhiloxState& s) {
  const uint64_t range = static_cast<uint64_t>(hi - lo);
  visit_dtype(out.dtype(), [&](auto zero) {
    using T = decltype(zero);
    launch_map(out.numel(), IntegersFn<T>{out.data<T>(), lo, range, s}, "random_integers", out.shape());
  });
}

}  // namespace tg::cuda
