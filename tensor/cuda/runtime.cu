// The CUDA device context: device discovery (never throws: a CUDA build must run where there is no
// driver or GPU), the stream, the cuBLAS/cuDNN handles, the caching allocator and copies.
// All state lives in leaked singletons, so tensors destroyed during static destruction still find it.
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

// ---- stream and library handles --------------------------------------------------------------

namespace {
struct Context {
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
  std::once_flag stream_once, cublas_once, cudnn_once;
  bool tf32 = true;
};
Context& context() {
  static Context* c = new Context();  // leaked on purpose: outlives static tensors
  return *c;
}
void require_device(const char* what) {
  TG_CHECK(device_count() > 0, what, ": no usable CUDA device (", no_device_reason(), ")");
}
}  // namespace

cudaStream_t stream() {
  Context& c = context();
  std::call_once(c.stream_once, [&] {
    require_device("cuda::stream");
    TG_CUDA_CHECK(cudaStreamCreateWithFlags(&c.stream, cudaStreamNonBlocking), "creating the CUDA stream");
  });
  return c.stream;
}

cublasHandle_t cublas() {
  Context& c = context();
  std::call_once(c.cublas_once, [&] {
    TG_CUBLAS_CHECK(cublasCreate(&c.cublas), "creating the cuBLAS handle");
    TG_CUBLAS_CHECK(cublasSetStream(c.cublas, stream()), "cublasSetStream");
  });
  return c.cublas;
}

cudnnHandle_t cudnn() {
  Context& c = context();
  std::call_once(c.cudnn_once, [&] {
    TG_CUDNN_CHECK(cudnnCreate(&c.cudnn), "creating the cuDNN handle");
    TG_CUDNN_CHECK(cudnnSetStream(c.cudnn, stream()), "cudnnSetStream");
  });
  return c.cudnn;
}

void synchronize() {
  TG_CUDA_CHECK(cudaStreamSynchronize(stream()), "synchronize (an earlier kernel may have failed)");
}

bool allow_tf32() { return context().tf32; }
void set_allow_tf32(bool allow) { context().tf32 = allow; }

// ---- caching allocator -----------------------------------------------------------------------
// Sizes are rounded up (512 B below 1 MiB, 2 MiB above) and freed blocks wait in a free list per
// rounded size. Blocks are reused in stream order: all kernels run on the one stream, so a block
// freed by the host may be handed out again at once. On out-of-memory the cache is released and
// the cudaMalloc retried once.

namespace {
struct Allocator {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_lists;  // rounded size -> free blocks
  std::unordered_map<void*, size_t> live;                      // handed-out block -> rounded size
  CacheStats stats;

  void release_cache_locked() {
    for (auto& [size, blocks] : free_lists)
      for (void* p : blocks) (void)cudaFree(p);  // best effort: a failed free leaves nothing to do
    free_lists.clear();
    stats.cached_bytes = 0;
  }
};
Allocator& allocator() {
  static Allocator* a = new Allocator();  // leaked on purpose: outlives static tensors
  return *a;
}

size_t round_size(size_t bytes) {
  constexpr size_t kSmall = 512, kLarge = size_t(2) << 20, kSmallLimit = size_t(1) << 20;
  if (bytes == 0) bytes = 1;
  return bytes < kSmallLimit ? (bytes + kSmall - 1) / kSmall * kSmall : (bytes + kLarge - 1) / kLarge * kLarge;
}
}  // namespace

void* allocate(size_t bytes) {
  require_device("cuda::allocate");
  const size_t size = round_size(bytes);
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  auto it = a.free_lists.find(size);
  if (it != a.free_lists.end() && !it->second.empty()) {
    void* p = it->second.back();
    it->second.pop_back();
    a.live[p] = size;
    a.stats.cached_bytes -= size;
    a.stats.in_use_bytes += size;
    ++a.stats.cache_hits;
    return p;
  }
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, size);
  if (err == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    a.release_cache_locked();
    err = cudaMalloc(&p, size);
  }
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    TG_FAIL("CUDA out of memory (or error) allocating ", bytes, " bytes: ", cudaGetErrorString(err),
            "; in use ", a.stats.in_use_bytes >> 20, " MiB by taugrad tensors. Reduce the batch size.");
  }
  ++a.stats.malloc_calls;
  a.live[p] = size;
  a.stats.in_use_bytes += size;
  return p;
}

void deallocate(void* p) {
  if (p == nullptr) return;
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  auto it = a.live.find(p);
  if (it == a.live.end()) return;  // not ours (cannot happen through Storage)
  const size_t size = it->second;
  a.live.erase(it);
  a.free_lists[size].push_back(p);
  a.stats.in_use_bytes -= size;
  a.stats.cached_bytes += size;
}

CacheStats cache_stats() {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  return a.stats;
}

void empty_cache() {
  if (device_count() == 0) return;
  synchronize();  // cached blocks may still be read by queued kernels
  Allocator& a = allocator();
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
  // The host reads dst after a copy to the host: wait for it. (Host -> device needs no wait: host
  // tensors are pageable memory, which cudaMemcpyAsync stages before it returns.)
  if (!dst_cuda) synchronize();
}

}  // namespace tg::cuda
