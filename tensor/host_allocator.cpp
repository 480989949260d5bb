#include "tensor/host_allocator.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include "tensor/error.h"

namespace tg::host {

namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kCachedFrom = 64 << 10;       // smaller blocks: malloc's own bins
constexpr size_t kPage = 4096;
constexpr size_t kMaxCached = size_t{4} << 30;  // beyond this, freed blocks go back to the system

struct Cache {
  std::mutex mutex;
  std::map<size_t, std::vector<void*>> free;  // exact rounded size -> blocks
  size_t bytes = 0;
  ~Cache() { drop(); }
  void drop() {
    for (auto& [size, blocks] : free)
      for (void* p : blocks) std::free(p);
    free.clear();
    bytes = 0;
  }
};

Cache& cache() {
  static Cache c;
  return c;
}

size_t rounded(size_t bytes) {
  size_t unit = bytes >= kCachedFrom ? kPage : kAlignment;
  return bytes == 0 ? kAlignment : (bytes + unit - 1) / unit * unit;
}

}  // namespace

void* allocate(size_t bytes) {
  const size_t size = rounded(bytes);
  if (size >= kCachedFrom) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.free.find(size);
    if (it != c.free.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.bytes -= size;
      return p;
    }
  }
  void* p = std::aligned_alloc(kAlignment, size);
  if (!p && size >= kCachedFrom) {  // out of memory: give the cache back and try once more
    release_cache();
    p = std::aligned_alloc(kAlignment, size);
  }
  TG_CHECK(p != nullptr, "out of host memory allocating ", bytes, " bytes");
  return p;
}

void deallocate(void* p, size_t bytes) {
  const size_t size = rounded(bytes);
  if (size >= kCachedFrom) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    if (c.bytes + size <= kMaxCached) {
      c.free[size].push_back(p);
      c.bytes += size;
      return;
    }
  }
  std::free(p);
}

size_t cached_bytes() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.bytes;
}

void release_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.drop();
}

}  // namespace tg::host
