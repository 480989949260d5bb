// Eigen cuts a GEMM's inner dimension into blocks sized from the CPU cache sizes it detects at run
// time, and the blocks set the order of the sums: two machines with other caches round differently.
// Every CPU GEMM (matmul, conv2d) calls fix_gemm_blocking() first, on the calling thread, so the
// blocks are the same everywhere (docs/TESTING.md, "Reproducibility").
#pragma once

#include <Eigen/Core>

namespace tg::cpu {

// What Eigen detects on the 2-core AMD EPYC VM (AVX2) this was written on: 32 KiB L1d, 512 KiB L2,
// and the 256 MiB L3 the VM reports. Any fixed values give reproducible bits; these keep its speed.
inline void fix_gemm_blocking() {
  constexpr std::ptrdiff_t l1 = 32 << 10, l2 = 512 << 10, l3 = 256 << 20;
  if (Eigen::l1CacheSize() != l1 || Eigen::l2CacheSize() != l2 || Eigen::l3CacheSize() != l3)
    Eigen::setCpuCacheSizes(l1, l2, l3);
}

}  // namespace tg::cpu
