#include "tensor/random.h"

#include <algorithm>
#include <numeric>

#include "tensor/dispatch.h"
#include "tensor/philox.h"

namespace tg {

Generator& default_generator() {
  static Generator gen(0);
  return gen;
}

void manual_seed(uint64_t seed) { default_generator().set_state(seed, 0); }

namespace {
Generator& pick(Generator* gen) { return gen ? *gen : default_generator(); }
}  // namespace

Tensor rand(const Shape& shape, DType dtype, Device device, Generator* gen) {
  return uniform(shape, 0.0, 1.0, dtype, device, gen);
}

Tensor uniform(const Shape& shape, double lo, double hi, DType dtype, Device device, Generator* gen) {
  Tensor t = Tensor::empty(shape, dtype, device);
  PhiloxState s = pick(gen).take(philox::blocks_for_uniform(t.numel()));
  TG_DISPATCH(device, random_uniform, t, lo, hi, s);
  return t;
}

Tensor randn(const Shape& shape, DType dtype, Device device, Generator* gen) {
  return normal(shape, 0.0, 1.0, dtype, device, gen);
}

Tensor normal(const Shape& shape, double mean, double std, DType dtype, Device device, Generator* gen) {
  Tensor t = Tensor::empty(shape, dtype, device);
  PhiloxState s = pick(gen).take(philox::blocks_for_normal(t.numel()));
  TG_DISPATCH(device, random_normal, t, mean, std, s);
  return t;
}

Tensor randint(const Shape& shape, int64_t lo, int64_t hi, DType dtype, Device device, Generator* gen) {
  TG_CHECK(lo < hi, "randint: empty range [", lo, ", ", hi, ")");
  Tensor t = Tensor::empty(shape, dtype, device);
  PhiloxState s = pick(gen).take(philox::blocks_for_uniform(t.numel()));
  TG_DISPATCH(device, random_integers, t, lo, hi, s);
  return t;
}

Tensor randperm(int64_t n, Device device, Generator* gen) {
  // Sort indices by random 64-bit keys (two words each); ties broken by index, so it is a
  // permutation whatever the keys.
  PhiloxState s = pick(gen).take(philox::blocks_for_uniform(static_cast<uint64_t>(2 * n)));
  std::vector<uint64_t> keys(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    uint64_t hi = philox::word(s.seed, s.offset, 2 * i), lo = philox::word(s.seed, s.offset, 2 * i + 1);
    keys[i] = hi << 32 | lo;
  }
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) { return keys[a] < keys[b]; });
  return Tensor::from_vector(perm, {n}, device);
}

}  // namespace tg
