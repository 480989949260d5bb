// The CUDA device context: device discovery (never throws: a CUDA build must run where there is no
// driver or GPU), the compute and copy streams, the cuBLAS/cuDNN handles, the caching device and
// pinned host allocators, copies and events.
// All state lives in leaked singletons, so tensors destroyed during static destruction still find it.
#include <atomic>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "tensor/cuda/common.cuh"

namespace tg::cuda {

// ---- devices ---------------------------------------------------------------------------------

namespace {
struct DeviceInfo {
  int count = 0;
  std::string reason;
};

const DeviceInfo& device_info() {
  static const DeviceInfo info = [] {
    DeviceInfo d;
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
      const std::string detail = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
      d.reason = err == cudaErrorInsufficientDriver ? "no NVIDIA driver, or one older than this CUDA runtime; " + detail
                 : err == cudaErrorNoDevice         ? "no CUDA-capable device; " + detail
                                                    : detail;
      (void)cudaGetLastError();  // clear the error so later calls do not see it
      return d;
    }
    if (n == 0) d.reason = "the CUDA driver reports no device";
    d.count = n;
    return d;
  }();
  return info;
}
}  // namespace

int device_count() { return device_info().count; }
std::string no_device_reason() { return device_info().reason; }

namespace {
std::atomic<int> g_device{-1};      // the process's GPU; -1 until chosen
thread_local int t_bound_device = -1;  // the device this thread has been cudaSetDevice'd to

void require_device(const char* what) {
  TG_CHECK(device_count() > 0, what, ": no usable CUDA device (", no_device_reason(), ")");
}

// Chooses `index` as the process's GPU, or checks that it is the one chosen.
void choose_device(int index) {
  int chosen = -1;
  if (g_device.compare_exchange_strong(chosen, index) || chosen == index) return;
  TG_FAIL("cuda:", index, " was asked for, but this process already uses cuda:", chosen,
          "; taugrad runs one GPU per process: start one process per GPU (--device cuda:N in each)");
}

// Makes the process's GPU current on the calling thread (choosing cuda:0 if none was chosen yet).
void bind_thread(const char* what) {
  int d = g_device.load();
  if (d < 0) {
    require_device(what);
    choose_device(0);
    d = g_device.load();
  }
  if (t_bound_device == d) return;
  TG_CUDA_CHECK(cudaSetDevice(d), what, ": cudaSetDevice(", d, ")");
  t_bound_device = d;
}
}  // namespace

void use_device(int index) {
  require_device("cuda::use_device");
  TG_CHECK(index >= 0 && index < device_count(), "cuda:", index, " was asked for, but this machine has ",
           device_count(), " CUDA device(s): cuda:0 to cuda:", device_count() - 1);
  choose_device(index);
  bind_thread("cuda::use_device");
}

int current_device() {
  const int d = g_device.load();
  return d < 0 ? 0 : d;
}

// ---- stream and library handles --------------------------------------------------------------

namespace {
struct Context {
  cudaStream_t stream = nullptr, copy_stream = nullptr;
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
  std::once_flag stream_once, copy_stream_once, cublas_once, cudnn_once;
  bool tf32 = true;
};
Context& context() {
  static Context* c = new Context();  // leaked on purpose: outlives static tensors
  return *c;
}
// The context of the process's GPU, with the calling thread bound to that GPU.
Context& bound_context(const char* what) {
  bind_thread(what);
  return context();
}
}  // namespace

cudaStream_t stream() {
  Context& c = bound_context("cuda::stream");
  std::call_once(c.stream_once, [&] {
    TG_CUDA_CHECK(cudaStreamCreateWithFlags(&c.stream, cudaStreamNonBlocking), "creating the CUDA stream");
  });
  return c.stream;
}

cudaStream_t copy_stream() {
  Context& c = bound_context("cuda::copy_stream");
  std::call_once(c.copy_stream_once, [&] {
    TG_CUDA_CHECK(cudaStreamCreateWithFlags(&c.copy_stream, cudaStreamNonBlocking), "creating the CUDA copy stream");
  });
  return c.copy_stream;
}

cublasHandle_t cublas() {
  Context& c = bound_context("cuda::cublas");
  std::call_once(c.cublas_once, [&] {
    TG_CUBLAS_CHECK(cublasCreate(&c.cublas), "creating the cuBLAS handle");
    TG_CUBLAS_CHECK(cublasSetStream(c.cublas, stream()), "cublasSetStream");
  });
  return c.cublas;
}

cudnnHandle_t cudnn() {
  Context& c = bound_context("cuda::cudnn");
  std::call_once(c.cudnn_once, [&] {
    TG_CUDNN_CHECK(cudnnCreate(&c.cudnn), "creating the cuDNN handle");
    TG_CUDNN_CHECK(cudnnSetStream(c.cudnn, stream()), "cudnnSetStream");
  });
  return c.cudnn;
}

void synchronize() {
  TG_CUDA_CHECK(cudaStreamSynchronize(stream()), "synchronize (an earlier kernel may have failed)");
  check_index_error();
}

// ---- out-of-range indices found on the GPU -------------------------------------------------------

namespace {
IndexError* g_index_error = nullptr;  // mapped pinned memory: the host and device address (UVA)
std::once_flag g_index_error_once;
}  // namespace

IndexError* index_error_record() {
  std::call_once(g_index_error_once, [] {
    bind_thread("cuda::index_error_record");
    void* p = nullptr;
    TG_CUDA_CHECK(cudaHostAlloc(&p, sizeof(IndexError), cudaHostAllocMapped | cudaHostAllocPortable),
                  "allocating the index error record");
    g_index_error = static_cast<IndexError*>(p);
    *g_index_error = IndexError{};
  });
  return g_index_error;
}

void check_index_error() {
  IndexError* e = g_index_error;
  if (e == nullptr || e->op == 0) return;
  const IndexError found = *e;
  e->op = 0;
  static const char* const what[] = {"", "cross_entropy: label", "index_select: index", "index_add: index",
                                     "gather: index", "scatter_add: index", "one_hot: label"};
  const bool label = found.op == static_cast<int>(IndexOp::cross_entropy);
  TG_FAIL(what[found.op], " ", found.value, label ? " at index " : " at position ", found.position,
          " is out of range [0, ", found.bound, ") (found on the GPU, reported at this synchronization; the ",
          "element was skipped)");
}

bool allow_tf32() { return context().tf32; }
void set_allow_tf32(bool allow) { context().tf32 = allow; }

// ---- caching allocator -----------------------------------------------------------------------
// The bookkeeping is memory::BlockAllocator (tensor/block_allocator.h: pools, best fit, splitting,
// coalescing, streams, out-of-memory retry, statistics); this is its source of segments and events.
// Every Storage is allocated on the compute stream.

namespace {
cudaStream_t as_stream(memory::StreamId s) { return reinterpret_cast<cudaStream_t>(s); }
cudaEvent_t as_event(memory::EventId e) { return reinterpret_cast<cudaEvent_t>(e); }

struct CudaSegments final : memory::SegmentSource {
  void* allocate(size_t bytes) override {
    void* p = nullptr;
    const cudaError_t err = cudaMalloc(&p, bytes);
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();  // not sticky: clear it, the allocator releases its cache and retries
      return nullptr;
    }
    TG_CUDA_CHECK(err, "cudaMalloc of ", bytes, " bytes");
    return p;
  }
  void release(void* segment) override { TG_CUDA_CHECK(cudaFree(segment), "cudaFree of a cached segment"); }
  void synchronize(memory::StreamId s) override {
    TG_CUDA_CHECK(cudaStreamSynchronize(as_stream(s)), "synchronizing a stream before releasing cached memory");
  }
  memory::EventId record_event(memory::StreamId s) override {
    return reinterpret_cast<memory::EventId>(cuda::record_event(as_stream(s)));
  }
  bool event_done(memory::EventId e) override {
    const cudaError_t err = cudaEventQuery(as_event(e));
    if (err == cudaErrorNotReady) {
      (void)cudaGetLastError();  // "not ready" is an answer, not an error
      return false;
    }
    TG_CUDA_CHECK(err, "querying an event of a freed block (an earlier kernel may have failed)");
    return true;
  }
  void synchronize_event(memory::EventId e) override { cuda::synchronize_event(as_event(e)); }
  void destroy_event(memory::EventId e) override { cuda::destroy_event(as_event(e)); }
};

memory::BlockAllocator& device_allocator() {
  static auto* a = new memory::BlockAllocator(*new CudaSegments());  // leaked on purpose: outlives static tensors
  return *a;
}
memory::StreamId stream_id(cudaStream_t s) { return reinterpret_cast<memory::StreamId>(s); }
}  // namespace

void* allocate(size_t bytes) {
  bind_thread("cuda::allocate");
  return device_allocator().allocate(bytes, stream_id(stream()));
}

void deallocate(void* p) { device_allocator().free(p); }

void record_stream(void* p, cudaStream_t s) { device_allocator().record_stream(p, stream_id(s)); }

memory::AllocatorStats cache_stats() { return device_allocator().stats(); }

void reset_peak_memory() { device_allocator().reset_peak(); }

void empty_cache() {
  if (device_count() == 0) return;
  bind_thread("cuda::empty_cache");
  device_allocator().release_cached();
}

// ---- pinned host memory ----------------------------------------------------------------------
// Sizes are rounded (512 B below 1 MiB, 2 MiB above) and freed blocks wait in a free list per rounded
// size. Up to kMaxPinnedCached bytes are kept; beyond that a freed block goes back (cudaFreeHost).

namespace {
// Free lists by rounded size (no splitting: the loader asks for a few batch sizes, again and again);
// callers hold `mutex`.
struct PinnedCache {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_lists;  // rounded size -> free blocks
  std::unordered_map<void*, size_t> live;                      // handed-out block -> rounded size
  CacheStats stats;

  // A cached block of the rounded `size`, handed out; nullptr when none waits.
  void* reuse_locked(size_t size) {
    auto it = free_lists.find(size);
    if (it == free_lists.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    live[p] = size;
    stats.cached_bytes -= size;
    stats.in_use_bytes += size;
    ++stats.cache_hits;
    return p;
  }
  // A freshly allocated block, handed out.
  void* track_locked(void* p, size_t size) {
    ++stats.malloc_calls;
    live[p] = size;
    stats.in_use_bytes += size;
    return p;
  }
  // Takes back a handed-out block; returns its rounded size (0: not ours, which Storage never does).
  size_t take_back_locked(void* p) {
    auto it = live.find(p);
    if (it == live.end()) return 0;
    const size_t size = it->second;
    live.erase(it);
    stats.in_use_bytes -= size;
    return size;
  }
  void cache_locked(void* p, size_t size) {
    free_lists[size].push_back(p);
    stats.cached_bytes += size;
  }
  void release_cache_locked() {
    for (auto& [size, blocks] : free_lists)
      for (void* p : blocks) (void)cudaFreeHost(p);  // best effort: a failed free leaves nothing to do
    free_lists.clear();
    stats.cached_bytes = 0;
  }
};

constexpr size_t kMaxPinnedCached = size_t(2) << 30;

PinnedCache& pinned_allocator() {
  static auto* a = new PinnedCache();  // leaked on purpose: outlives static tensors
  return *a;
}

size_t round_pinned(size_t bytes) {
  constexpr size_t kSmall = 512, kLarge = size_t(2) << 20, kSmallLimit = size_t(1) << 20;
  if (bytes == 0) bytes = 1;
  return bytes < kSmallLimit ? (bytes + kSmall - 1) / kSmall * kSmall : (bytes + kLarge - 1) / kLarge * kLarge;
}
}  // namespace

void* allocate_pinned(size_t bytes) {
  if (device_count() == 0) return nullptr;
  try {
    bind_thread("cuda::allocate_pinned");  // the loader's worker threads pin on the process's GPU too
  } catch (const Error&) {
    return nullptr;
  }
  const size_t size = round_pinned(bytes);
  PinnedCache& a = pinned_allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  if (void* cached = a.reuse_locked(size)) return cached;
  void* p = nullptr;
  cudaError_t err = cudaHostAlloc(&p, size, cudaHostAllocDefault);
  if (err != cudaSuccess) {  // give the cache back and try once more; else the caller uses pageable memory
    (void)cudaGetLastError();
    a.release_cache_locked();
    err = cudaHostAlloc(&p, size, cudaHostAllocDefault);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      return nullptr;
    }
  }
  return a.track_locked(p, size);
}

void deallocate_pinned(void* p) {
  if (p == nullptr) return;
  PinnedCache& a = pinned_allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  const size_t size = a.take_back_locked(p);
  if (size == 0) return;
  if (a.stats.cached_bytes + size > kMaxPinnedCached) {
    (void)cudaFreeHost(p);
    return;
  }
  a.cache_locked(p, size);
}

CacheStats pinned_cache_stats() {
  PinnedCache& a = pinned_allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  return a.stats;
}

void empty_pinned_cache() {
  PinnedCache& a = pinned_allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  a.release_cache_locked();
}

// ---- copies ----------------------------------------------------------------------------------

void copy(void* dst, bool dst_cuda, const void* src, bool src_cuda, size_t bytes) {
  if (bytes == 0) return;
  const cudaMemcpyKind kind = dst_cuda ? (src_cuda ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                       : (src_cuda ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  TG_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, stream()), "copy of ", bytes, " bytes (",
                src_cuda ? "cuda" : "cpu", " -> ", dst_cuda ? "cuda" : "cpu", ")");
  // The host reads dst after a copy to the host: wait for it. A copy from pageable host memory needs
  // no wait (cudaMemcpyAsync stages it before it returns), but one from pinned memory runs later, and
  // the caller may free or refill the source once copy() returns: wait for those too. (Overlapping
  // copies go through copy_to_device_async and events instead: tensor/transfer.h.)
  if (!dst_cuda) {
    synchronize();
  } else if (!src_cuda) {
    cudaPointerAttributes attr{};
    if (cudaPointerGetAttributes(&attr, src) != cudaSuccess)
      (void)cudaGetLastError();  // not known to CUDA: pageable
    else if (attr.type == cudaMemoryTypeHost)
      synchronize();
  }
}

// ---- events and asynchronous copies ------------------------------------------------------------

cudaEvent_t record_event(cudaStream_t s) {
  bind_thread("cuda::record_event");
  cudaEvent_t e = nullptr;
  TG_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "creating an event");
  TG_CUDA_CHECK(cudaEventRecord(e, s), "recording an event");
  return e;
}

void destroy_event(cudaEvent_t e) {
  if (e != nullptr) (void)cudaEventDestroy(e);  // safe while pending: resources go when it completes
}

void wait_event(cudaStream_t s, cudaEvent_t e) { TG_CUDA_CHECK(cudaStreamWaitEvent(s, e, 0), "cudaStreamWaitEvent"); }

void synchronize_event(cudaEvent_t e) {
  TG_CUDA_CHECK(cudaEventSynchronize(e), "waiting for an event (an earlier copy or kernel may have failed)");
}

void copy_to_device_async(void* dst, const void* src, size_t bytes, cudaStream_t s) {
  if (bytes == 0) return;
  TG_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s), "asynchronous copy of ", bytes,
                " bytes (cpu -> cuda)");
}

}  // namespace tg::cuda
