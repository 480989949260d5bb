// The bookkeeping of the CUDA caching allocator, in plain C++ so that the CPU build compiles and tests
// it: tensor/cuda/runtime.cu wraps it around cudaMalloc/cudaFree and events, and the tests drive it
// with a fake SegmentSource. The design follows PyTorch's CUDACachingAllocator in spirit:
//
// - Sizes are rounded up to 512-byte granules. Blocks of at most 1 MiB form the small pool, carved
//   from 2 MiB segments; larger ones the large pool, carved from 20 MiB segments when under 10 MiB,
//   else from a segment of their own size rounded to 2 MiB. A segment is one cudaMalloc.
// - A request takes the smallest free block of its pool and stream that fits (best fit, a set ordered
//   by (stream, size, address)); a block with a remainder worth keeping (small pool: at least 512 B;
//   large pool: more than 1 MiB) is split, and the remainder stays free.
// - A freed block merges with its free neighbours in the segment, so a segment whose blocks are all
//   free is one block again, which can be released.
// - Streams. A block belongs to the stream it was allocated on and is reused only on it: frees and
//   reuses are ordered by that stream, so the host may hand a freed block out again at once even while
//   queued kernels still read it. Work on another stream that touches a block must either be ordered
//   before later work of the owning stream (that stream waits on an event of the other: the prefetcher
//   does this, tensor/transfer.h) or be declared with record_stream(p, other): the free then records an
//   event on `other`, and the block returns to the pool only once that event has completed.
// - Pressure. When the source has no memory for a new segment, the allocator releases every cached
//   segment that is wholly free, after synchronizing only the streams those segments belong to and
//   the events of blocks still waiting, and asks again (a medium request then also for a segment of
//   its own size, when its 20 MiB one does not fit); when that fails too it throws a tg::Error that
//   says how much was requested, reserved, allocated and cached.
// Thread-safe: one mutex guards the state (the source is called under it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <set>
#include <unordered_map>
#include <vector>

namespace tg::memory {

using StreamId = std::uintptr_t;  // a cudaStream_t's value
using EventId = std::uintptr_t;   // a cudaEvent_t's value

constexpr size_t kGranule = 512;                   // sizes are rounded up to a multiple of this
constexpr size_t kSmallLimit = size_t(1) << 20;    // blocks up to this size are small
constexpr size_t kSmallSegment = size_t(2) << 20;  // the small pool's segment size
constexpr size_t kMediumLimit = size_t(10) << 20;  // large requests under this share ...
constexpr size_t kMediumSegment = size_t(20) << 20;  // ... segments of this size
constexpr size_t kLargeRound = size_t(2) << 20;    // larger requests get a segment rounded to this

size_t round_size(size_t bytes);    // a granule multiple, at least one granule
size_t segment_size(size_t rounded);  // the size of the segment a rounded request would get

// Where segments come from: cudaMalloc/cudaFree and CUDA events in tensor/cuda/runtime.cu, a fake in
// the tests. Called with the allocator's mutex held.
class SegmentSource {
 public:
  virtual ~SegmentSource() = default;
  virtual void* allocate(size_t bytes) = 0;  // a new segment, or nullptr when out of memory
  virtual void release(void* segment) = 0;   // gives a segment back
  virtual void synchronize(StreamId s) = 0;  // the host waits for the work queued on s
  virtual EventId record_event(StreamId s) = 0;
  virtual bool event_done(EventId e) = 0;       // polls, never waits
  virtual void synchronize_event(EventId e) = 0;  // the host waits for e
  virtual void destroy_event(EventId e) = 0;
};

struct AllocatorStats {
  size_t allocated_bytes = 0;       // in blocks handed out (rounded sizes)
  size_t reserved_bytes = 0;        // in segments
  size_t cached_bytes = 0;          // reserved and not handed out (free or waiting for an event)
  size_t releasable_bytes = 0;      // in wholly free segments: what empty_cache would give back
  size_t peak_allocated_bytes = 0;  // since construction or reset_peak()
  size_t peak_reserved_bytes = 0;
  size_t malloc_calls = 0;          // segments asked of the source (failed calls included)
  size_t segments_released = 0;
  size_t splits = 0;                // blocks split on allocation
  size_t cache_hits = 0;            // allocations served without a new segment
  size_t pressure_releases = 0;     // times the cache was released because the source was out of memory
};

class BlockAllocator {
 public:
  explicit BlockAllocator(SegmentSource& source) : source_(source) {}
  ~BlockAllocator();  // releases what it holds; blocks still handed out leak with their segments
  BlockAllocator(const BlockAllocator&) = delete;
  BlockAllocator& operator=(const BlockAllocator&) = delete;

  // A block of at least `bytes` for work on `stream`; throws tg::Error when the source has no memory.
  void* allocate(size_t bytes, StreamId stream);
  // Takes back a block from allocate; nullptr is ignored, an unknown pointer throws.
  void free(void* p);
  // p (handed out) is used by work on `stream` too: its free waits for that work (see above).
  void record_stream(void* p, StreamId stream);
  // Releases every wholly free segment (after the streams and events it needs are synchronized).
  void release_cached();

  AllocatorStats stats() const;
  void reset_peak();
  // The rounded size of a handed-out block (tests, diagnostics); throws for an unknown pointer.
  size_t block_size(void* p) const;
  // Checks the bookkeeping (blocks tile their segments, no two free neighbours, the pools and the
  // totals agree); throws tg::Error naming the first violation. For tests.
  void check_invariants() const;

 private:
  struct Block {
    char* ptr = nullptr;
    size_t size = 0;
    StreamId stream = 0;
    bool small = false;
    bool allocated = false;        // handed out, or waiting for events after its free
    Block* prev = nullptr;         // neighbours in the segment
    Block* next = nullptr;
    std::vector<StreamId> used_on;  // other streams given by record_stream
    std::vector<EventId> events;    // recorded at free; the block is free once all have completed
  };
  struct BySize {
    bool operator()(const Block* a, const Block* b) const;
  };
  using Pool = std::set<Block*, BySize>;

  Pool& pool_of(const Block* b) { return b->small ? small_ : large_; }
  Block* find_free_locked(size_t size, bool small, StreamId stream);
  Block* new_segment_locked(size_t bytes, bool small, StreamId stream);
  void split_locked(Block* b, size_t size);
  void return_block_locked(Block* b);  // into its pool, merged with free neighbours
  void process_events_locked(bool wait);
  void release_free_segments_locked();
  [[noreturn]] void out_of_memory_locked(size_t bytes, size_t rounded, StreamId stream);
  AllocatorStats stats_locked() const;

  SegmentSource& source_;
  mutable std::mutex mutex_;
  Pool small_, large_;
  std::unordered_map<void*, Block*> handed_out_;
  std::vector<Block*> waiting_;  // freed, with events still pending
  std::vector<Block*> segments_;  // the first block of every segment
  AllocatorStats stats_;
};

}  // namespace tg::memory
