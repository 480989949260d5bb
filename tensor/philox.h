// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a
// counter-based generator, so element i of any draw is a pure function of (seed, offset, i) and the
// CPU and the GPU produce the same numbers. Header-only, callable from host and device code.
#pragma once

#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define TG_HD __host__ __device__ __forceinline__
#else
#define TG_HD inline
#endif

namespace tg::philox {

struct U32x4 {
  uint32_t v[4];
};

TG_HD uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t* hi) {
  uint64_t p = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(p >> 32);
  return static_cast<uint32_t>(p);
}

// One Philox4x32-10 block: counter (4 words) and key (2 words) -> 4 random words.
TG_HD U32x4 block(uint64_t counter, uint64_t seed) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;  // multipliers
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;  // Weyl key increments
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, hi1;
    uint32_t lo0 = mulhilo(kM0, c0, &hi0);
    uint32_t lo1 = mulhilo(kM1, c2, &hi1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += kW0;
    k1 += kW1;
  }
  return {{c0, c1, c2, c3}};
}

// The 32-bit word for element i of a draw that starts at block `offset`.
TG_HD uint32_t word(uint64_t seed, uint64_t offset, uint64_t i) {
  return block(offset + i / 4, seed).v[i % 4];
}

// Uniform in [0, 1) with 24 random bits (exactly representable in float32 and float64).
TG_HD double to_unit(uint32_t w) { return static_cast<double>(w >> 8) * (1.0 / 16777216.0); }

// Element i of a uniform draw in [0, 1).
TG_HD double uniform(uint64_t seed, uint64_t offset, uint64_t i) { return to_unit(word(seed, offset, i)); }

// Element i of a standard normal draw (Box–Muller on words 2(i%2), 2(i%2)+1 of block offset + i/2).
TG_HD double normal(uint64_t seed, uint64_t offset, uint64_t i) {
  U32x4 b = block(offset + i / 2, seed);
  int j = static_cast<int>(i % 2) * 2;
  double u1 = 1.0 - to_unit(b.v[j]);  // (0, 1]: log stays finite
  double u2 = to_unit(b.v[j + 1]);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

// Blocks a draw of n elements consumes: the generator advances its offset by this much.
TG_HD uint64_t blocks_for_uniform(uint64_t n) { return (n + 3) / 4; }
TG_HD uint64_t blocks_for_normal(uint64_t n) { return (n + 1) / 2; }

}  // namespace tg::philox
