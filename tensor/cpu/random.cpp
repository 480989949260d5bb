// CPU random kernels: element i of a draw is philox::uniform/normal(seed, offset, i), exactly as on
// the GPU (tensor/cuda/random.cu), so a seed gives the same tensor on both devices.
#include <cmath>

#include "tensor/cpu/parallel.h"
#include "tensor/kernels.h"
#include "tensor/philox.h"

namespace tg::cpu {

void random_uniform(Tensor& out, double lo, double hi, const PhiloxState& s) {
  visit_floating(out.dtype(), "random_uniform", [&](auto zero) {
    using T = decltype(zero);
    T* p = out.data<T>();
    parallel_for(out.numel(), 16, [&](int64_t i) {
      p[i] = static_cast<T>(lo + (hi - lo) * philox::uniform(s.seed, s.offset, i));
    });
  });
}

void random_normal(Tensor& out, double mean, double std, const PhiloxState& s) {
  visit_floating(out.dtype(), "random_normal", [&](auto zero) {
    using T = decltype(zero);
    T* p = out.data<T>();
    parallel_for(out.numel(), 32, [&](int64_t i) {
      p[i] = static_cast<T>(mean + std * philox::normal(s.seed, s.offset, i));
    });
  });
}

void random_integers(Tensor& out, int64_t lo, int64_t hi, const PhiloxState& s) {
  const uint64_t range = static_cast<uint64_t>(hi - lo);
  visit_dtype(out.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* p = out.data<T>();
    // Multiply-shift maps a 32-bit word onto [0, range) (Lemire); bias < range / 2^32.
    parallel_for(out.numel(), 16, [&](int64_t i) {
      uint64_t w = philox::word(s.seed, s.offset, i);
      p[i] = static_cast<T>(lo + static_cast<int64_t>((w * range) >> 32));
    });
  });
}

}  // namespace tg::cpu
