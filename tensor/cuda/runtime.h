// The CUDA device context: device discovery, one stream, the cuBLAS and cuDNN handles (made once,
// lazily) and a caching allocator. The only global mutable state of the CUDA backend (DESIGN.md §3).
// cudart is linked statically, so a CUDA build runs on a machine without a driver and reports
// "no GPU" through device_count() == 0 and no_device_reason().
#pragma once

#include <cstddef>
#include <string>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

namespace tg::cuda {

int device_count();              // 0 when there is no driver or no GPU; never throws; cached
std::string no_device_reason();  // why device_count() is 0 (the CUDA error string), else ""

// Caching allocator: freed blocks go to free lists by rounded size and are reused, so a training
// step that repeats its shapes calls cudaMalloc only in its first iteration. Thread-safe.
void* allocate(size_t bytes);
void deallocate(void* p);
struct CacheStats {
  size_t in_use_bytes = 0;    // handed out and not yet freed
  size_t cached_bytes = 0;    // freed, kept for reuse
  size_t malloc_calls = 0;    // cudaMalloc calls so far
  size_t cache_hits = 0;      // allocations served from the cache
};
CacheStats cache_stats();
void empty_cache();  // cudaFree every cached (free) block

// Copies on the stream; a copy to the host synchronizes the stream before it returns.
void copy(void* dst, bool dst_cuda, const void* src, bool src_cuda, size_t bytes);

cudaStream_t stream();
cublasHandle_t cublas();
cudnnHandle_t cudnn();
void synchronize();  // waits for the stream; throws if a kernel failed

// TF32 for float32 GEMM and convolution (on by default, as in training); tests turn it off to
// compare with the CPU at float32 tolerance.
bool allow_tf32();
void set_allow_tf32(bool allow);

}  // namespace tg::cuda
