// OpenMP helpers for the CPU kernels: parallel loops only when the work is worth a thread team.
#pragma once

#include <cstdint>

namespace tg::cpu {

constexpr int64_t kParallelGrain = 32768;  // elements below which a loop stays serial

// Calls f(i) for i in [0, n), in parallel when n * cost_per_item is large enough. Small work runs
// outside any OpenMP region: `omp parallel if (false)` would still set up a team of one per call.
template <class F>
void parallel_for(int64_t n, int64_t cost_per_item, F&& f) {
  if (n * cost_per_item < kParallelGrain) {
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) f(i);
}

}  // namespace tg::cpu
