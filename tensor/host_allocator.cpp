#include "tensor/host_allocator.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include "util/error.h"

// Under AddressSanitizer (scripts/test --sanitize) a block waiting on a free list is poisoned, and so
// is the rounding slack past the bytes asked for, so the cache hides neither a use after free nor an
// overflow from ASan. Elsewhere the macros do nothing.
#if __has_include(<sanitizer/asan_interface.h>)
#include <sanitizer/asan_interface.h>
#else
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#endif

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
      ASAN_UNPOISON_MEMORY_REGION(p, bytes);
      return p;
    }
  }
  void* p = std::aligned_alloc(kAlignment, size);
  if (!p && size >= kCachedFrom) {  // out of memory: give the cache back and try once more
    release_cache();
    p = std::aligned_alloc(kAlignment, size);
  }
  TG_CHECK(p != nullptr, "out of host memory allocating ", bytes, " bytes");
  ASAN_POISON_MEMORY_REGION(static_cast<char*>(p) + bytes, size - bytes);
  return p;
}

void deallocate(void* p, size_t bytes) {
  const size_t size = rounded(bytes);
  if (size >= kCachedFrom) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    if (c.bytes + size <= kMaxCached) {
      ASAN_POISON_MEMORY_REGION(p, size);
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
