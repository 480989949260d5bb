// Accuracy sweeps of the float32 vector math (tensor/cpu/vec.h): apply a lane function over a vector
// of floats as the kernels do, and measure errors in ulps of float32 at the double result.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "tensor/cpu/vec.h"

namespace tg::test {

using VecF = cpu::vec::Vec<float>;

// f over x, the vector's lanes at a time (with a partial last step), as the kernels call it.
template <class F>
std::vector<float> apply_lanes(const std::vector<float>& x, F f) {
  namespace vec = cpu::vec;
  std::vector<float> y(x.size());
  const auto n = static_cast<int64_t>(x.size());
  for (int64_t j = 0; j < n; j += vec::lanes<VecF>) {
    const int64_t k = std::min(vec::lanes<VecF>, n - j);
    vec::store(y.data() + j, k, f(vec::load(x.data() + j, k)));
  }
  return y;
}

// float32's spacing at |want| (2^-149 among the subnormals).
inline double float_ulp(double want) { return std::ldexp(1.0, std::max(std::ilogb(std::fabs(want)), -126) - 23); }

// |got - want| in units of float32's spacing at want.
inline double ulps(float got, double want) { return std::fabs(static_cast<double>(got) - want) / float_ulp(want); }

}  // namespace tg::test
