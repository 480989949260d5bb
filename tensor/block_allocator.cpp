#include "tensor/block_allocator.h"

#include <algorithm>
#include <cstdio>
#include <tuple>

#include "util/error.h"

namespace tg::memory {

size_t round_size(size_t bytes) {
  return bytes <= kGranule ? kGranule : (bytes + kGranule - 1) / kGranule * kGranule;
}

namespace {
size_t own_segment(size_t rounded) { return (rounded + kLargeRound - 1) / kLargeRound * kLargeRound; }
}  // namespace

size_t segment_size(size_t rounded) {
  if (rounded <= kSmallLimit) return kSmallSegment;
  if (rounded < kMediumLimit) return kMediumSegment;
  return own_segment(rounded);
}

namespace {
// A free block is split when what is left is worth keeping: any granule in the small pool, more than
// a small block's worth in the large pool (smaller remainders would only fragment it).
bool worth_splitting(size_t block, size_t size, bool small) {
  const size_t rest = block - size;
  return small ? rest >= kGranule : rest > kSmallLimit;
}

std::string mib(size_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / double(1 << 20));
  return text;
}
}  // namespace

bool BlockAllocator::BySize::operator()(const Block* a, const Block* b) const {
  return std::tie(a->stream, a->size, a->ptr) < std::tie(b->stream, b->size, b->ptr);
}

BlockAllocator::~BlockAllocator() {
  try {
    release_cached();
  } catch (...) {  // at exit a failed release leaves nothing to do
  }
}

void* BlockAllocator::allocate(size_t bytes, StreamId stream) {
  const size_t size = round_size(bytes);
  const bool small = size <= kSmallLimit;
  std::lock_guard<std::mutex> lock(mutex_);
  process_events_locked(false);
  Block* b = find_free_locked(size, small, stream);
  if (b) {
    ++stats_.cache_hits;
  } else {
    b = new_segment_locked(segment_size(size), small, stream);
    if (!b) {  // out of memory: give back what is cached and try once more
      ++stats_.pressure_releases;
      process_events_locked(true);
      release_free_segments_locked();
      b = new_segment_locked(segment_size(size), small, stream);
      // A medium request whose shared 20 MiB segment no longer fits: a segment of its own size.
      if (!b && !small && own_segment(size) < segment_size(size))
        b = new_segment_locked(own_segment(size), small, stream);
      if (!b) out_of_memory_locked(bytes, size, stream);
    }
  }
  b->allocated = true;  // before the split, so that the remainder does not merge back into it
  if (worth_splitting(b->size, size, small)) split_locked(b, size);
  handed_out_[b->ptr] = b;
  stats_.allocated_bytes += b->size;
  stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
  return b->ptr;
}

void BlockAllocator::free(void* p) {
  if (p == nullptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = handed_out_.find(p);
  TG_CHECK(it != handed_out_.end(), "caching allocator: free of ", p, ", which it did not hand out (or freed twice)");
  Block* b = it->second;
  handed_out_.erase(it);
  stats_.allocated_bytes -= b->size;
  if (b->used_on.empty()) {
    return_block_locked(b);
    return;
  }
  for (StreamId s : b->used_on) b->events.push_back(source_.record_event(s));
  b->used_on.clear();
  waiting_.push_back(b);  // still `allocated` until its events complete
}

void BlockAllocator::record_stream(void* p, StreamId stream) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = handed_out_.find(p);
  TG_CHECK(it != handed_out_.end(), "caching allocator: record_stream of ", p, ", which is not handed out");
  Block* b = it->second;
  if (stream != b->stream && std::find(b->used_on.begin(), b->used_on.end(), stream) == b->used_on.end())
    b->used_on.push_back(stream);
}

void BlockAllocator::release_cached() {
  std::lock_guard<std::mutex> lock(mutex_);
  process_events_locked(true);
  release_free_segments_locked();
}

AllocatorStats BlockAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_locked();
}

void BlockAllocator::reset_peak() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.peak_allocated_bytes = stats_.allocated_bytes;
  stats_.peak_reserved_bytes = stats_.reserved_bytes;
}

size_t BlockAllocator::block_size(void* p) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = handed_out_.find(p);
  TG_CHECK(it != handed_out_.end(), "caching allocator: ", p, " is not handed out");
  return it->second->size;
}

// ---- the pools -------------------------------------------------------------------------------------

BlockAllocator::Block* BlockAllocator::find_free_locked(size_t size, bool small, StreamId stream) {
  Pool& pool = small ? small_ : large_;
  Block key;
  key.stream = stream;
  key.size = size;
  auto it = pool.lower_bound(&key);  // the smallest block of this stream that fits
  if (it == pool.end() || (*it)->stream != stream) return nullptr;
  Block* b = *it;
  pool.erase(it);
  return b;
}

BlockAllocator::Block* BlockAllocator::new_segment_locked(size_t bytes, bool small, StreamId stream) {
  ++stats_.malloc_calls;
  void* p = source_.allocate(bytes);
  if (!p) return nullptr;
  Block* b = new Block;
  b->ptr = static_cast<char*>(p);
  b->size = bytes;
  b->stream = stream;
  b->small = small;
  segments_.push_back(b);
  stats_.reserved_bytes += bytes;
  stats_.peak_reserved_bytes = std::max(stats_.peak_reserved_bytes, stats_.reserved_bytes);
  return b;
}

// Cuts b to `size`; the rest becomes a free block after it (merged with a free successor).
void BlockAllocator::split_locked(Block* b, size_t size) {
  Block* rest = new Block;
  rest->ptr = b->ptr + size;
  rest->size = b->size - size;
  rest->stream = b->stream;
  rest->small = b->small;
  rest->prev = b;
  rest->next = b->next;
  if (b->next) b->next->prev = rest;
  b->next = rest;
  b->size = size;
  ++stats_.splits;
  return_block_locked(rest);
}

void BlockAllocator::return_block_locked(Block* b) {
  b->allocated = false;
  Pool& pool = pool_of(b);
  if (Block* n = b->next; n && !n->allocated) {  // absorb the free successor
    pool.erase(n);
    b->size += n->size;
    b->next = n->next;
    if (n->next) n->next->prev = b;
    delete n;
  }
  if (Block* p = b->prev; p && !p->allocated) {  // be absorbed by the free predecessor
    pool.erase(p);
    p->size += b->size;
    p->next = b->next;
    if (b->next) b->next->prev = p;
    delete b;
    b = p;
  }
  pool.insert(b);
}

// Returns blocks whose events have all completed to their pools; with `wait`, waits for every event.
void BlockAllocator::process_events_locked(bool wait) {
  auto done = [&](Block* b) {
    for (EventId e : b->events) {
      if (wait) source_.synchronize_event(e);
      else if (!source_.event_done(e)) return false;
    }
    for (EventId e : b->events) source_.destroy_event(e);
    b->events.clear();
    return_block_locked(b);
    return true;
  };
  waiting_.erase(std::remove_if(waiting_.begin(), waiting_.end(), done), waiting_.end());
}

// Releases the wholly free segments. Their blocks may still be read by kernels queued on their stream
// before the host freed them, so each stream that owns one is synchronized first (and only those).
void BlockAllocator::release_free_segments_locked() {
  std::vector<Block*> whole;
  std::vector<StreamId> streams;
  for (Block* s : segments_) {
    if (s->allocated || s->next) continue;
    whole.push_back(s);
    if (std::find(streams.begin(), streams.end(), s->stream) == streams.end()) streams.push_back(s->stream);
  }
  if (whole.empty()) return;
  for (StreamId s : streams) source_.synchronize(s);
  for (Block* s : whole) {
    pool_of(s).erase(s);
    segments_.erase(std::find(segments_.begin(), segments_.end(), s));
    stats_.reserved_bytes -= s->size;
    ++stats_.segments_released;
    source_.release(s->ptr);
    delete s;
  }
}

void BlockAllocator::out_of_memory_locked(size_t bytes, size_t rounded, StreamId stream) {
  const AllocatorStats s = stats_locked();
  TG_FAIL("CUDA out of memory: ", bytes, " bytes requested (a segment of ", mib(segment_size(rounded)),
          " on stream ", stream, "); taugrad has ", mib(s.reserved_bytes), " reserved, ", mib(s.allocated_bytes),
          " allocated to tensors and ", mib(s.cached_bytes),
          " cached in partly used segments (wholly free ones were released and the request retried). Reduce "
          "the batch size (--batch-size, --eval-batch-size), or free other processes' memory on this GPU");
}

AllocatorStats BlockAllocator::stats_locked() const {
  AllocatorStats s = stats_;
  s.cached_bytes = s.reserved_bytes - s.allocated_bytes;
  for (const Block* b : segments_)
    if (!b->allocated && !b->next) s.releasable_bytes += b->size;
  return s;
}

// ---- invariants ----------------------------------------------------------------------------------

void BlockAllocator::check_invariants() const {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t reserved = 0, allocated = 0, free_blocks = 0;
  for (const Block* s : segments_) {
    TG_CHECK(s->prev == nullptr, "allocator: a segment's first block has a predecessor");
    for (const Block* b = s; b; b = b->next) {
      if (b->next) {
        TG_CHECK(b->next->prev == b, "allocator: broken neighbour links at ", static_cast<void*>(b->ptr));
        TG_CHECK(b->ptr + b->size == b->next->ptr, "allocator: blocks do not tile their segment at ",
                 static_cast<void*>(b->ptr));
        TG_CHECK(b->allocated || b->next->allocated, "allocator: two free neighbours at ", static_cast<void*>(b->ptr));
        TG_CHECK(b->next->stream == b->stream && b->next->small == b->small, "allocator: a segment mixes streams or pools");
      }
      TG_CHECK(b->size % kGranule == 0 && b->size > 0, "allocator: block size ", b->size, " is not a granule multiple");
      reserved += b->size;
      const bool handed = handed_out_.count(b->ptr) && handed_out_.at(b->ptr) == b;
      const bool waiting = std::find(waiting_.begin(), waiting_.end(), b) != waiting_.end();
      const bool pooled = (b->small ? small_ : large_).count(const_cast<Block*>(b)) == 1;
      TG_CHECK(int(handed) + int(waiting) + int(pooled) == 1, "allocator: block at ", static_cast<void*>(b->ptr),
               " is in ", int(handed) + int(waiting) + int(pooled), " of (handed out, waiting, pool)");
      TG_CHECK(b->allocated == (handed || waiting), "allocator: block at ", static_cast<void*>(b->ptr),
               " has a wrong allocated flag");
      if (handed) allocated += b->size;
      if (pooled) ++free_blocks;
    }
  }
  TG_CHECK(free_blocks == small_.size() + large_.size(), "allocator: the pools hold blocks of no segment");
  TG_CHECK(reserved == stats_.reserved_bytes, "allocator: segments hold ", reserved, " bytes, stats say ",
           stats_.reserved_bytes);
  TG_CHECK(allocated == stats_.allocated_bytes, "allocator: handed-out blocks hold ", allocated, " bytes, stats say ",
           stats_.allocated_bytes);
}

}  // namespace tg::memory
