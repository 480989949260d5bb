#include "tensor/kernel_counts.h"

#include <mutex>

namespace tg {

namespace {

std::mutex g_mutex;
KernelCounter* g_head = nullptr;  // the registered counters, newest first

}  // namespace

KernelCounter::KernelCounter(const char* kernel) : name(kernel) {
  std::lock_guard<std::mutex> lock(g_mutex);
  next = g_head;
  g_head = this;
}

std::map<std::string, int64_t> kernel_counts() {
  std::lock_guard<std::mutex> lock(g_mutex);
  std::map<std::string, int64_t> counts;
  for (KernelCounter* c = g_head; c; c = c->next) counts[c->name] += c->count.load(std::memory_order_relaxed);
  return counts;
}

void reset_kernel_counts() {
  std::lock_guard<std::mutex> lock(g_mutex);
  for (KernelCounter* c = g_head; c; c = c->next) c->count.store(0, std::memory_order_relaxed);
}

}  // namespace tg
