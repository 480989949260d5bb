// The host caching allocator: blocks of 64 KiB and more are kept on free lists by exact (page-rounded)
// size and handed out again, because a training step allocates the same shapes every step and a fresh
// mmap of a large block costs its page faults each time (measured: ~6 ms for 8 MB on a VM). Small
// blocks go straight to malloc, which caches them itself. Thread-safe (loader threads allocate).
#pragma once

#include <cstddef>

namespace tg::host {

void* allocate(size_t bytes);      // 64-byte aligned; never nullptr (throws)
void deallocate(void* p, size_t bytes);
size_t cached_bytes();             // held on the free lists now
void release_cache();              // returns every cached block to the system

}  // namespace tg::host
