// The CUDA device context: device discovery, the compute stream (all kernels) and a copy stream (the
// prefetcher's host -> device copies), the cuBLAS and cuDNN handles (made once, lazily), a caching
// device allocator and a caching pinned host allocator. The only global mutable state of the CUDA
// backend (DESIGN.md §3).
// cudart is linked statically, so a CUDA build runs on a machine without a driver and reports
// "no GPU" through device_count() == 0 and no_device_reason().
#pragma once

#include <cstddef>
#include <string>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include "tensor/algorithm_choice.h"
#include "tensor/block_allocator.h"

namespace tg::cuda {

int device_count();              // 0 when there is no driver or no GPU; never throws; cached
std::string no_device_reason();  // why device_count() is 0 (the CUDA error string), else ""

// The GPU of this process. The first CUDA tensor (Storage calls use_device with its Device's index)
// chooses it, cuda:0 when a stream or handle is asked for first; everything in this file (streams,
// handles, allocators, copies, events) then lives on it, and every thread that calls in here is bound
// to it (cudaSetDevice) before its first CUDA call. One GPU per process: use_device with another index
// throws, naming both (run one process per GPU).
void use_device(int index);
int current_device();

// The caching device allocator (the bookkeeping: tensor/block_allocator.h). Sizes round to 512 B;
// small blocks come from 2 MiB segments, large ones from 20 MiB segments or their own; a free block is
// split to fit and merges with its free neighbours when freed; so a training step that repeats its
// shapes calls cudaMalloc only in its first iteration. Blocks are allocated on stream() and reused in
// its order (a block freed by the host may be handed out again while queued kernels still read it).
// On out-of-memory the wholly free cached segments are released (after synchronizing the streams
// that own them) and cudaMalloc retried once; then a tg::Error says what was requested, reserved,
// allocated and cached. Thread-safe.
void* allocate(size_t bytes);
void deallocate(void* p);
// Another stream's use of a block (rule: tensor/block_allocator.h, "Streams"). Work on `s` that
// touches p must either be ordered before later work of stream() (stream() waits on an event
// recorded on s after it, as the prefetcher does) or be declared here: deallocate(p) then records an
// event on s and reuses p only once it has completed.
void record_stream(void* p, cudaStream_t s);
memory::AllocatorStats cache_stats();  // allocated, reserved, peak, cudaMalloc calls, splits, hits
void reset_peak_memory();              // peaks restart from what is allocated and reserved now
void empty_cache();                    // cudaFree every wholly free cached segment

// Counts of the pinned cache (below).
struct CacheStats {
  size_t in_use_bytes = 0;    // handed out and not yet freed
  size_t cached_bytes = 0;    // freed, kept for reuse
  size_t malloc_calls = 0;    // cudaHostAlloc calls so far
  size_t cache_hits = 0;      // allocations served from the cache
};

// Page-locked (pinned) host memory, cached in free lists by rounded size: cudaHostAlloc is slow (it
// maps and locks pages), and the loader asks for the same batch sizes every step. Pinned memory lets a
// host -> device cudaMemcpyAsync run without staging, overlapping kernels. allocate_pinned returns
// nullptr (never throws) when there is no GPU or the driver refuses: the caller falls back to
// ordinary host memory. A block must not be freed while a copy from it may still be running (the
// caller waits on the copy's event first: tensor/transfer.h). Thread-safe.
void* allocate_pinned(size_t bytes);
void deallocate_pinned(void* p);
CacheStats pinned_cache_stats();  // malloc_calls counts cudaHostAlloc calls
void empty_pinned_cache();        // cudaFreeHost every cached (free) pinned block

// Copies on the stream; a copy to the host synchronizes the stream before it returns.
void copy(void* dst, bool dst_cuda, const void* src, bool src_cuda, size_t bytes);

// The second stream, for host -> device copies that overlap kernels on stream(). Work on it is
// ordered against stream() only through events: the caching allocator reuses blocks in the order
// of stream(), so the copy stream must wait on an event of stream() before it writes into a block
// it has just been handed (tensor/transfer.cpp does this).
cudaStream_t copy_stream();
// An event (no timing) recorded now on `s`; destroy it with destroy_event.
cudaEvent_t record_event(cudaStream_t s);
void destroy_event(cudaEvent_t e);
void wait_event(cudaStream_t s, cudaEvent_t e);  // work enqueued on s after this waits for e; no host wait
void synchronize_event(cudaEvent_t e);          // the host waits for e; throws if the work failed
// An asynchronous host -> device copy on `s` (from pinned memory it does not wait for the host).
void copy_to_device_async(void* dst, const void* src, size_t bytes, cudaStream_t s);

cudaStream_t stream();
cublasHandle_t cublas();
cudnnHandle_t cudnn();
void synchronize();  // waits for the stream; throws if a kernel failed or found a bad index

// Out-of-range labels and indices met by kernels (cross_entropy, index_select, index_add, gather,
// scatter_add, one_hot). The CPU checks them before it runs the op; on the GPU that check would copy
// the labels to the host and wait for them every training step (DESIGN.md §6). Instead a kernel that
// meets one skips that element (no out-of-bounds access) and records the first it meets in one
// IndexError in mapped pinned memory, which the GPU writes and the host reads without a copy. The
// next synchronize() (also inside every copy to the host, such as item()) then throws the CPU's error
// ("cross_entropy: label 12 at index 3 is out of range [0, 10)") and clears the record. So the
// error comes at the next sync point (in training: the loss read, at most a second later), the ops
// queued meanwhile have run with the element skipped, and no synchronization is added.
enum class IndexOp : int { none = 0, cross_entropy, index_select, index_add, gather, scatter_add, one_hot };
struct IndexError {
  int op;  // an IndexOp; none until a kernel records one
  long long value, position, bound;
};
IndexError* index_error_record();  // its device address, for kernels' functors
void check_index_error();          // throws (and clears) a recorded error; call after a synchronization

// TF32 for float32 GEMM and convolution (on by default, as in training); tests turn it off to
// compare with the CPU at float32 tolerance.
bool allow_tf32();
void set_allow_tf32(bool allow);

// The cuDNN convolution algorithm cache (tensor/cuda/conv2d.cu, choice: tensor/algorithm_choice.h):
// searches made, lookups served from it, and leaner algorithms taken when a workspace did not fit.
algorithm::CacheStats conv_algorithm_stats();

}  // namespace tg::cuda
