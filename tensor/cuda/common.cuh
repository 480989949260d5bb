// Shared by the CUDA kernel files: error checks that name the op and the shapes, launch geometry
// (grid-stride loops with int64 indices), block and warp reductions, and small device helpers.
#pragma once

#include <cstdint>
#include <limits>
#include <string>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "tensor/cuda/runtime.h"
#include "tensor/kernels.h"
#include "tensor/shape.h"
#include "util/error.h"

// TG_CUDA_CHECK(cudaMemsetAsync(...), "conv2d_forward ", shape_str(x.shape())): the message is built
// only on failure.
#define TG_CUDA_CHECK(call, ...)                                                              \
  do {                                                                                        \
    cudaError_t tg_err_ = (call);                                                             \
    if (tg_err_ != cudaSuccess)                                                               \
      TG_FAIL("CUDA error in ", ::tg::detail::concat(__VA_ARGS__), ": ", cudaGetErrorName(tg_err_), \
              " (", cudaGetErrorString(tg_err_), ") at ", __FILE__, ":", __LINE__);          \
  } while (0)

#define TG_CUBLAS_CHECK(call, ...)                                                            \
  do {                                                                                        \
    cublasStatus_t tg_st_ = (call);                                                           \
    if (tg_st_ != CUBLAS_STATUS_SUCCESS)                                                      \
      TG_FAIL("cuBLAS error in ", ::tg::detail::concat(__VA_ARGS__), ": ",                    \
              cublasGetStatusName(tg_st_), " (", cublasGetStatusString(tg_st_), ") at ",      \
              __FILE__, ":", __LINE__);                                                       \
  } while (0)

#define TG_CUDNN_CHECK(call, ...)                                                             \
  do {                                                                                        \
    cudnnStatus_t tg_st_ = (call);                                                            \
    if (tg_st_ != CUDNN_STATUS_SUCCESS)                                                       \
      TG_FAIL("cuDNN error in ", ::tg::detail::concat(__VA_ARGS__), ": ",                     \
              cudnnGetErrorString(tg_st_), " at ", __FILE__, ":", __LINE__);                  \
  } while (0)

// After every kernel launch: catches bad launch configurations (and earlier asynchronous faults).
#define TG_CUDA_LAUNCH_CHECK(...) TG_CUDA_CHECK(cudaGetLastError(), __VA_ARGS__)

namespace tg::cuda {

constexpr int kBlock = 256;          // threads per block of the elementwise kernels
constexpr int kWarp = 32;
constexpr int64_t kMaxGrid = 65535L * 32;  // grid-stride loops cover the rest

// Blocks for n elements at `block` threads each, capped (kernels loop with a grid stride).
inline unsigned grid_for(int64_t n, int block = kBlock) {
  int64_t g = (n + block - 1) / block;
  if (g < 1) g = 1;
  return static_cast<unsigned>(g < kMaxGrid ? g : kMaxGrid);
}

// for (int64_t i : grid-stride range [0, n))
#define TG_GRID_LOOP(i, n)                                                                    \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n);      \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

// Maps a functor over [0, n): f(i) for each i. The common shape of elementwise kernels.
template <class F>
__global__ void map_kernel(int64_t n, F f) {
  TG_GRID_LOOP(i, n) f(i);
}

template <class F>
void launch_map(int64_t n, const F& f, const char* op, const Shape& shape) {
  if (n <= 0) return;
  map_kernel<<<grid_for(n), kBlock, 0, stream()>>>(n, f);
  TG_CUDA_LAUNCH_CHECK(op, " ", shape_str(shape));
}

// Accumulator type of a reduction: double for floating types (as the CPU), int64 for integers.
template <class T>
using acc_t = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
template <class T>
__device__ __forceinline__ T warp_max(T v) {
  for (int o = kWarp / 2; o > 0; o /= 2) {
    T w = __shfl_xor_sync(0xffffffffu, v, o);
    v = w > v ? w : v;
  }
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
// `shared` holds 32 values. Call from all threads of the block.
template <class T>
__device__ T block_sum(T v, T* shared) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, warps = blockDim.x / kWarp;
  v = warp_sum(v);
  __syncthreads();  // `shared` may still be read from a previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < warps ? shared[lane] : T(0);
  return warp_sum(v);
}

// Records the first out-of-range index a kernel meets (runtime.h, IndexError); the caller skips it.
__device__ inline void report_index_error(IndexError* e, IndexOp op, int64_t value, int64_t position, int64_t bound) {
  if (atomicCAS(&e->op, 0, static_cast<int>(op)) != 0) return;
  e->value = value;
  e->position = position;
  e->bound = bound;
}

// Raw device pointer of a tensor, or nullptr when it is undefined (optional operands).
template <class T>
T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// Up to 8 dims of sizes and strides, passed to kernels by value.
constexpr int kMaxDims = 8;
struct Dims {
  int nd = 0;
  int64_t size[kMaxDims] = {};
  int64_t stride[3][kMaxDims] = {};  // up to three operands' strides per dim
};

}  // namespace tg::cuda
