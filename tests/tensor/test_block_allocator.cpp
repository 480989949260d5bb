// The CUDA caching allocator's bookkeeping (tensor/block_allocator.h) on the CPU, driven by a fake
// segment source: rounding and pools, best fit, splitting and coalescing, streams and events, the
// out-of-memory path, statistics, and a ResNet-50 training step's allocation pattern replayed.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <vector>

#include "autograd/ops.h"
#include "nn/models/factory.h"
#include "optim/optimizer.h"
#include "tensor/block_allocator.h"
#include "tensor/random.h"
#include "tensor/storage_observer.h"
#include "tensor/tensor.h"

using namespace tg;
using namespace tg::memory;

namespace {

constexpr size_t KiB = 1024, MiB = 1024 * 1024;
constexpr StreamId s1 = 0x100, s2 = 0x200;

// Segments are fake addresses (never dereferenced) from a device of `capacity` bytes. Events complete
// when the test says so, or when the allocator waits for them.
struct FakeSource : SegmentSource {
  size_t capacity = size_t(1) << 40, used = 0;
  uintptr_t next_address = 0x1000000;
  std::map<void*, size_t> live;
  std::vector<StreamId> synchronized;
  std::map<EventId, bool> events;  // id -> completed
  std::map<EventId, StreamId> event_stream;
  EventId next_event = 1;
  size_t released = 0;

  void* allocate(size_t bytes) override {
    if (used + bytes > capacity) return nullptr;
    void* p = reinterpret_cast<void*>(next_address);
    next_address += bytes + 4096;  // a gap: segments are never contiguous
    live[p] = bytes;
    used += bytes;
    return p;
  }
  void release(void* segment) override {
    REQUIRE(live.count(segment) == 1);
    used -= live[segment];
    live.erase(segment);
    ++released;
  }
  void synchronize(StreamId s) override { synchronized.push_back(s); }
  EventId record_event(StreamId s) override {
    events[next_event] = false;
    event_stream[next_event] = s;
    return next_event++;
  }
  bool event_done(EventId e) override { return events.at(e); }
  void synchronize_event(EventId e) override { events.at(e) = true; }
  void destroy_event(EventId e) override { events.erase(e); }
  void complete_events() {
    for (auto& [e, done] : events) done = true;
  }
};

char* at(void* p) { return static_cast<char*>(p); }

}  // namespace

TEST_CASE("block allocator: sizes round to 512-byte granules; small requests share 2 MiB segments") {
  CHECK(round_size(0) == 512);
  CHECK(round_size(1) == 512);
  CHECK(round_size(512) == 512);
  CHECK(round_size(513) == 1024);
  CHECK(segment_size(round_size(1 * MiB)) == 2 * MiB);        // the largest small block
  CHECK(segment_size(round_size(1 * MiB + 1)) == 20 * MiB);   // medium: a shared 20 MiB segment
  CHECK(segment_size(round_size(10 * MiB)) == 10 * MiB);      // large: its own, rounded to 2 MiB
  CHECK(segment_size(round_size(11 * MiB)) == 12 * MiB);

  FakeSource src;
  BlockAllocator a(src);
  void* p = a.allocate(1000, s1);
  void* q = a.allocate(3000, s1);
  CHECK(src.live.size() == 1);            // one 2 MiB segment ...
  CHECK(src.live.begin()->second == 2 * MiB);
  CHECK(at(q) == at(p) + 1024);            // ... carved front to back
  CHECK(a.block_size(p) == 1024);
  CHECK(a.block_size(q) == 3072);
  const AllocatorStats s = a.stats();
  CHECK(s.malloc_calls == 1);
  CHECK(s.cache_hits == 1);
  CHECK(s.splits == 2);
  CHECK(s.allocated_bytes == 4096);
  CHECK(s.reserved_bytes == 2 * MiB);
  CHECK(s.cached_bytes == 2 * MiB - 4096);
  CHECK(s.releasable_bytes == 0);  // the segment is in use
  a.check_invariants();
  a.free(p);
  a.free(q);
  a.check_invariants();
}

TEST_CASE("block allocator: best fit takes the smallest free block that fits") {
  FakeSource src;
  BlockAllocator a(src);
  void* big = a.allocate(4 * KiB, s1);
  void* x1 = a.allocate(512, s1);
  void* mid = a.allocate(2 * KiB, s1);
  void* x2 = a.allocate(512, s1);
  void* fit = a.allocate(3 * KiB, s1);
  void* x3 = a.allocate(512, s1);
  for (void* p : {big, mid, fit}) a.free(p);
  a.check_invariants();
  CHECK(a.allocate(2560, s1) == fit);  // 4 KiB, 2 KiB and 3 KiB free (and the segment's tail): 3 KiB fits best
  CHECK(a.allocate(2 * KiB, s1) == mid);
  CHECK(a.allocate(1 * KiB, s1) == big);  // split: the other 3 KiB stays free
  CHECK(a.allocate(3 * KiB, s1) == at(big) + KiB);
  CHECK(src.live.size() == 1);
  a.check_invariants();
  (void)x1, (void)x2, (void)x3;
}

TEST_CASE("block allocator: freed neighbours coalesce, and a wholly free segment is released") {
  FakeSource src;
  BlockAllocator a(src);
  void* p = a.allocate(100 * KiB, s1);
  void* q = a.allocate(200 * KiB, s1);
  void* r = a.allocate(300 * KiB, s1);
  a.free(q);
  a.check_invariants();
  a.free(p);  // merges with q's block
  a.check_invariants();
  CHECK(a.allocate(300 * KiB, s1) == p);  // the merged 300 KiB at the front is the best fit
  a.free(p);
  a.free(r);  // everything free again: one block, the whole segment
  a.check_invariants();
  const AllocatorStats s = a.stats();
  CHECK(s.allocated_bytes == 0);
  CHECK(s.releasable_bytes == 2 * MiB);
  void* large = a.allocate(2 * MiB - 512, s1);  // not small: the large pool, a segment of its own
  CHECK(src.live.size() == 2);
  a.release_cached();  // the small segment goes; the large one is in use
  CHECK(src.released == 1);
  CHECK(src.synchronized == std::vector<StreamId>{s1});  // its stream first: queued kernels may read it
  CHECK(a.stats().reserved_bytes == 20 * MiB);
  a.free(large);
  a.check_invariants();
}

TEST_CASE("block allocator: large requests split big segments only when the rest is over 1 MiB") {
  FakeSource src;
  BlockAllocator a(src);
  void* p = a.allocate(3 * MiB, s1);  // a 20 MiB segment, split: 17 MiB stays free
  CHECK(src.live.begin()->second == 20 * MiB);
  CHECK(a.block_size(p) == 3 * MiB);
  void* q = a.allocate(16 * MiB + 512 * KiB, s1);  // the 17 MiB rest: 512 KiB left, not worth a block
  CHECK(at(q) == at(p) + 3 * MiB);
  CHECK(a.block_size(q) == 17 * MiB);
  CHECK(src.live.size() == 1);
  void* r = a.allocate(11 * MiB, s1);  // its own segment, rounded to 12 MiB
  CHECK(src.live.size() == 2);
  CHECK(a.block_size(r) == 12 * MiB);
  CHECK(a.stats().splits == 1);
  for (void* x : {p, q, r}) a.free(x);
  a.check_invariants();
  CHECK(a.stats().releasable_bytes == 32 * MiB);
}

TEST_CASE("block allocator: a block freed on one stream is reused only on that stream") {
  for (const auto& [first, second] : {std::pair{s1, s2}, std::pair{s2, s1}}) {
    FakeSource src;
    BlockAllocator a(src);
    void* p = a.allocate(4 * MiB, first);
    a.free(p);
    void* q = a.allocate(4 * MiB, second);
    CHECK(q != p);
    CHECK(src.live.size() == 2);  // the second stream got its own segment
    a.free(q);
    CHECK(a.allocate(4 * MiB, first) == p);
    CHECK(a.allocate(4 * MiB, second) == q);
    a.check_invariants();
  }
}

TEST_CASE("block allocator: record_stream holds a freed block until the other stream's event completes") {
  FakeSource src;
  BlockAllocator a(src);
  void* p = a.allocate(64 * KiB, s1);
  a.record_stream(p, s2);
  a.record_stream(p, s1);  // its own stream: nothing to record
  a.free(p);
  REQUIRE(src.events.size() == 1);
  CHECK(src.event_stream.begin()->second == s2);
  CHECK(a.stats().cached_bytes == 2 * MiB);  // reserved, not handed out, not yet reusable
  void* q = a.allocate(64 * KiB, s1);
  CHECK(q != p);  // s2 may still be using p
  a.check_invariants();
  src.complete_events();
  a.free(q);
  CHECK(a.allocate(64 * KiB, s1) == p);  // the event has completed: p is back, merged with its neighbours
  CHECK(src.events.empty());               // and its event destroyed
  a.check_invariants();
  CHECK_THROWS_WITH_AS(a.record_stream(at(p) + 1, s2), doctest::Contains("not handed out"), Error);
  CHECK_THROWS_WITH_AS(a.free(at(p) + 1), doctest::Contains("did not hand out"), Error);
}

TEST_CASE("block allocator: out of memory releases wholly free segments of the streams that own them, then throws") {
  FakeSource src;
  src.capacity = 24 * MiB;
  BlockAllocator a(src);
  void* small = a.allocate(1000, s2);  // a 2 MiB segment of s2, kept in use
  void* p = a.allocate(3 * MiB, s1);   // a 20 MiB segment of s1
  a.free(p);                           // cached, wholly free
  src.synchronized.clear();
  void* q = a.allocate(12 * MiB, s2);  // s2 cannot reuse s1's block; 2 + 20 + 12 > 24: release and retry
  CHECK(q != nullptr);
  CHECK(src.synchronized == std::vector<StreamId>{s1});  // only the stream whose segment went
  AllocatorStats s = a.stats();
  CHECK(s.pressure_releases == 1);
  CHECK(s.segments_released == 1);
  CHECK(s.reserved_bytes == 14 * MiB);
  CHECK(s.malloc_calls == 4);  // small, p, q (failed), q
  a.check_invariants();

  // Nothing left to release: the error says what was asked and what is held.
  try {
    a.allocate(30 * MiB, s1);
    FAIL("expected out of memory");
  } catch (const Error& e) {
    const std::string m = e.what();
    CHECK(m.find("31457280 bytes requested") != std::string::npos);
    CHECK(m.find("14.0 MiB reserved") != std::string::npos);
    CHECK(m.find("12.0 MiB allocated") != std::string::npos);
    CHECK(m.find("cached") != std::string::npos);
    CHECK(m.find("batch size") != std::string::npos);
  }
  CHECK(a.stats().pressure_releases == 2);
  a.check_invariants();
  a.free(small);
  a.free(q);
}

TEST_CASE("block allocator: near the limit, a medium request gets a segment of its own size") {
  FakeSource src;
  src.capacity = 16 * MiB;
  BlockAllocator a(src);
  void* p = a.allocate(3 * MiB, s1);  // a 20 MiB segment does not fit: 4 MiB of its own
  CHECK(src.live.begin()->second == 4 * MiB);
  CHECK(a.block_size(p) == 4 * MiB);  // the rest, 1 MiB, is not worth a block
  CHECK(a.stats().malloc_calls == 3);  // 20 MiB, 20 MiB after releasing the cache, then 4 MiB
  a.check_invariants();
}

TEST_CASE("block allocator: pending events are waited for before segments go under pressure") {
  FakeSource src;
  src.capacity = 20 * MiB;
  BlockAllocator a(src);
  void* p = a.allocate(3 * MiB, s1);
  a.record_stream(p, s2);
  a.free(p);  // waits for an event of s2
  void* q = a.allocate(18 * MiB, s2);  // needs s1's segment back: wait for the event, release, retry
  CHECK(q != nullptr);
  CHECK(src.events.empty());
  CHECK(a.stats().segments_released == 1);
  a.check_invariants();
}

TEST_CASE("block allocator: statistics count peaks, hits and reserved memory") {
  FakeSource src;
  BlockAllocator a(src);
  void* p = a.allocate(5 * MiB, s1);
  void* q = a.allocate(5 * MiB, s1);
  a.free(p);
  a.free(q);
  AllocatorStats s = a.stats();
  CHECK(s.peak_allocated_bytes == 10 * MiB);
  CHECK(s.peak_reserved_bytes == 20 * MiB);
  CHECK(s.allocated_bytes == 0);
  CHECK(s.malloc_calls == 1);
  CHECK(s.cache_hits == 1);
  a.reset_peak();
  a.allocate(1 * MiB, s1);
  CHECK(a.stats().peak_allocated_bytes == 1 * MiB);
}

TEST_CASE("block allocator: random allocations and frees keep the invariants, and all of it is released at the end") {
  FakeSource src;
  BlockAllocator a(src);
  std::mt19937_64 rng(7);
  std::vector<void*> live;
  for (int i = 0; i < 3000; ++i) {
    if (live.empty() || rng() % 5 < 3) {
      // Sizes from 1 byte to 30 MiB, log-uniform: both pools, all three segment kinds.
      const double log_size = std::uniform_real_distribution<double>(0, 24.9)(rng);
      live.push_back(a.allocate(static_cast<size_t>(std::exp2(log_size)), rng() % 4 ? s1 : s2));
    } else {
      const size_t k = rng() % live.size();
      a.free(live[k]);
      live[k] = live.back();
      live.pop_back();
    }
    if (i % 100 == 0) a.check_invariants();
  }
  for (void* p : live) a.free(p);
  a.check_invariants();
  const AllocatorStats s = a.stats();
  CHECK(s.allocated_bytes == 0);
  CHECK(s.releasable_bytes == s.reserved_bytes);  // every segment coalesced back into one block
  a.release_cached();
  CHECK(src.live.empty());
  CHECK(a.stats().reserved_bytes == 0);
}

TEST_CASE("block allocator: steps of shrinking batch sizes reuse the largest step's segments") {
  // Activations of a 5-layer net per image, and a batch size that varies from step to step (a last,
  // partial batch; a shrinking evaluation batch): exact-size free lists would cudaMalloc every new size.
  FakeSource src;
  BlockAllocator a(src);
  const std::vector<size_t> per_image = {3 * 32 * 32 * 4, 64 * 32 * 32 * 4, 128 * 16 * 16 * 4, 256 * 8 * 8 * 4, 40};
  size_t after_first = 0;
  for (int step = 0; step < 40; ++step) {
    const size_t batch = 64 - static_cast<size_t>(step * 7 % 61);
    std::vector<void*> live;
    for (size_t bytes : per_image) live.push_back(a.allocate(batch * bytes, s1));
    for (auto it = live.rbegin(); it != live.rend(); ++it) a.free(*it);
    if (step == 0) after_first = a.stats().malloc_calls;
  }
  a.check_invariants();
  CHECK(a.stats().malloc_calls == after_first);
  CHECK(a.stats().releasable_bytes == a.stats().reserved_bytes);
}

// ---- a ResNet-50 training step's allocation pattern -------------------------------------------------

namespace {
// Every Storage allocation and free of CPU training steps, in order (tensor/storage_observer.h); an
// entry with a null storage marks the end of a step.
struct Event {
  const void* storage;
  size_t bytes;
  bool allocated;
};
std::vector<Event>* g_trace = nullptr;
void record(const void* storage, size_t bytes, bool allocated) { g_trace->push_back({storage, bytes, allocated}); }

// `steps` SGD steps of ResNet-50 (CIFAR stem) at `batch` on the CPU: the sequence a GPU step makes too
// (the same autograd frees the same tensors in the same order), but for cuDNN's workspaces.
std::vector<Event> resnet50_trace(int64_t batch, int steps) {
  manual_seed(3);
  auto model = nn::create_model("resnet50_cifar", 10, 3, 32);
  optim::SgdOptions so;
  so.lr = 0.01;
  so.momentum = 0.9;
  optim::SGD opt(model->named_parameters(), so);
  const Tensor x = rand({batch, 3, 32, 32});
  const Tensor y = randint({batch}, 0, 10);
  std::vector<Event> trace;
  g_trace = &trace;
  detail::set_storage_observer(record);
  for (int s = 0; s < steps; ++s) {
    {
      Variable loss = cross_entropy((*model)(Variable(x)), y, 1.0);
      opt.zero_grad();
      loss.backward();
      opt.step();
    }
    trace.push_back({nullptr, 0, false});
  }
  detail::set_storage_observer(nullptr);
  g_trace = nullptr;
  return trace;
}

// Replays a trace on one stream; returns the allocator's malloc calls at the end of each step.
std::vector<size_t> replay(BlockAllocator& a, const std::vector<Event>& trace) {
  std::vector<size_t> mallocs;
  std::map<const void*, void*> blocks;
  for (const Event& e : trace) {
    if (!e.storage) {
      mallocs.push_back(a.stats().malloc_calls);
    } else if (e.allocated) {
      blocks[e.storage] = a.allocate(e.bytes, s1);
    } else if (auto it = blocks.find(e.storage); it != blocks.end()) {  // else: made before the trace
      a.free(it->second);
      blocks.erase(it);
    }
  }
  for (auto& [storage, block] : blocks) a.free(block);
  return mallocs;
}
}  // namespace

TEST_CASE("block allocator: a ResNet-50 training step's allocations, replayed, reach a steady state with little waste") {
  const std::vector<Event> trace = resnet50_trace(4, 3);
  const auto allocations = std::count_if(trace.begin(), trace.end(), [](const Event& e) { return e.allocated; });
  REQUIRE(allocations > 3 * 500);
  FakeSource src;
  BlockAllocator a(src);
  const std::vector<size_t> mallocs = replay(a, trace);
  a.check_invariants();
  const AllocatorStats s = a.stats();
  MESSAGE("ResNet-50 (CIFAR) SGD steps at batch 4: ", allocations / 3, " allocations a step; segments after each "
          "step ", mallocs[0], ", ", mallocs[1], ", ", mallocs[2], "; peak ", s.peak_allocated_bytes / double(MiB),
          " MiB allocated, ", s.peak_reserved_bytes / double(MiB), " MiB reserved; ", s.splits, " splits, ",
          s.cache_hits, " cache hits");
  CHECK(mallocs[1] >= mallocs[0]);  // the second step adds the momentum buffers ...
  CHECK(mallocs[2] == mallocs[1]);  // ... and the third needs no new segment
  CHECK(mallocs[0] < static_cast<size_t>(allocations) / 3 / 10);
  // Reserved memory stays within 1.5x the peak of live tensors (the exact-size free lists this replaced
  // kept every distinct size forever).
  CHECK(s.peak_reserved_bytes <= s.peak_allocated_bytes * 3 / 2);
}
