// Kernel launch counts: TG_DISPATCH (tensor/dispatch.h) counts every kernel call by the kernel's
// name, so a benchmark or a test can ask how many `fill`s a training step does. Each dispatch site
// owns one static counter that registers itself on first use; a launch costs one relaxed atomic add.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <string>

namespace tg {

struct KernelCounter {
  explicit KernelCounter(const char* kernel);  // registers this counter (thread-safe)
  const char* name;
  std::atomic<int64_t> count{0};
  KernelCounter* next = nullptr;
};

// Launches per kernel name since the start (or the last reset), all dispatch sites and threads summed.
std::map<std::string, int64_t> kernel_counts();
void reset_kernel_counts();

}  // namespace tg
