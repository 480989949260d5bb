// Random tensors from one seeded generator (Philox): the same seed gives the same numbers on the CPU
// and the GPU, so initialization, shuffling, augmentation and attack starts reproduce across devices.
#pragma once

#include <cstdint>

#include "tensor/kernel_types.h"
#include "tensor/tensor.h"

namespace tg {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) { seed_ = seed; offset_ = offset; }
  // Reserves `blocks` Philox blocks and returns the state that the draw starts from.
  PhiloxState take(uint64_t blocks) {
    PhiloxState s{seed_, offset_};
    offset_ += blocks;
    return s;
  }

 private:
  uint64_t seed_ = 0;
  uint64_t offset_ = 0;
};

Generator& default_generator();
void manual_seed(uint64_t seed);

// nullptr means the default generator.
Tensor rand(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu(),
            Generator* gen = nullptr);  // uniform [0, 1)
Tensor uniform(const Shape& shape, double lo, double hi, DType dtype = DType::f32,
               Device device = Device::cpu(), Generator* gen = nullptr);
Tensor randn(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu(),
             Generator* gen = nullptr);
Tensor normal(const Shape& shape, double mean, double std, DType dtype = DType::f32,
              Device device = Device::cpu(), Generator* gen = nullptr);
Tensor randint(const Shape& shape, int64_t lo, int64_t hi, DType dtype = DType::i64,
               Device device = Device::cpu(), Generator* gen = nullptr);  // [lo, hi)
// A permutation of 0..n-1 (int64), made on the host from Philox keys, so both devices agree.
Tensor randperm(int64_t n, Device device = Device::cpu(), Generator* gen = nullptr);

}  // namespace tg
