// Deterministic sums for the CUDA kernels: two stages in a fixed order and no atomics, so a sum gives
// the same bits on every run (how a sum is split depends only on its shape, not on the GPU).
//
// Stage 1 splits the summed axis into chunks, one block per (chunk, output group); each block adds its
// chunk in a fixed order and hands the K sums of an output to `finish`. With more than one chunk,
// stage 1's finish writes partial sums, and stage 2 (one chunk) adds them in chunk order and calls the
// caller's finish. Two layouts:
//   column_sums: x viewed [outer, n, inner], summed over n. Blocks of 32 columns x 8 rows of threads:
//     neighbouring threads read neighbouring columns (coalesced); thread row r adds rows r, r + 8, ...
//     of its chunk, then thread row 0 adds the 8 partial sums in order. Linear bias gradients (50k rows
//     of 384..1536 columns in ViT-S), layer norm's dgamma/dbeta, sums over a leading axis.
//   segment_sums: S segments of n elements each, summed per segment. A block of 256 threads strides
//     along its chunk (thread t adds elements t, t + 256, ...), then block_sum (common.cuh: fixed
//     warp-shuffle order). Rows (inner == 1), whole-tensor sums, batch norm's per-channel sums
//     (C = 64 channels of 262k values at ResNet-50 CIFAR batch 256: 32 chunks x 64 = 2048 blocks).
//
// `term` adds an element's contribution to the K sums (so one pass can give sum dy and sum dy * xhat):
//   column: term(o, k, i, Sums&), segment: term(s, j, Sums&).
// `finish` receives each output's sums: column: finish(o, chunk, i, sums), segment: finish(s, chunk, sums).
#pragma once

#include <algorithm>

#include "tensor/cuda/common.cuh"

namespace tg::cuda {

template <class A, int K>
struct Sums {
  A v[K];
};

constexpr int kTileCols = 32, kTileRows = 8;  // column_sums: threads per block, 32 x 8
constexpr int kSegmentBlock = 256;            // segment_sums: threads per block
constexpr int64_t kColumnChunk = 512;         // rows per stage-1 block at least (64 per thread)
constexpr int64_t kSegmentChunk = 8192;       // elements per stage-1 block at least (32 per thread)
constexpr int64_t kMaxChunks = 1024;          // chunks per output at most: stage 2 adds at most 1024

// A summed axis of n elements in `count` chunks of `len` (n == 0: one empty chunk, so sums are 0).
struct Chunks {
  int64_t len, count;
};
inline Chunks split_axis(int64_t n, int64_t min_len) {
  const int64_t len = std::max(min_len, (n + kMaxChunks - 1) / kMaxChunks);
  return {len, std::max<int64_t>(1, (n + len - 1) / len)};
}

// kernels

template <class A, int K, class Term, class Finish>
__global__ void column_sums_kernel(int64_t outer, int64_t n, int64_t inner, int64_t len, Term term, Finish finish) {
  __shared__ A shared[K][kTileRows][kTileCols];
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kTileCols + threadIdx.x;
  const int64_t k0 = static_cast<int64_t>(blockIdx.y) * len, k1 = min(k0 + len, n);
  for (int64_t o = blockIdx.z; o < outer; o += gridDim.z) {
    Sums<A, K> s{};
    if (i < inner)
      for (int64_t k = k0 + threadIdx.y; k < k1; k += kTileRows) term(o, k, i, s);
    __syncthreads();  // row 0 has read the previous o's shared sums
    for (int c = 0; c < K; ++c) shared[c][threadIdx.y][threadIdx.x] = s.v[c];
    __syncthreads();
    if (threadIdx.y == 0 && i < inner) {
      for (int r = 1; r < kTileRows; ++r)
        for (int c = 0; c < K; ++c) s.v[c] += shared[c][r][threadIdx.x];
      finish(o, static_cast<int64_t>(blockIdx.y), i, s);
    }
  }
}

template <class A, int K, class Term, class Finish>
__global__ void segment_sums_kernel(int64_t segments, int64_t n, int64_t len, Term term, Finish finish) {
  __shared__ A shared[kWarp];
  const int64_t j0 = static_cast<int64_t>(blockIdx.x) * len, j1 = min(j0 + len, n);
  for (int64_t s = blockIdx.y; s < segments; s += gridDim.y) {
    Sums<A, K> acc{};
    for (int64_t j = j0 + threadIdx.x; j < j1; j += blockDim.x) term(s, j, acc);
    for (int c = 0; c < K; ++c) acc.v[c] = block_sum(acc.v[c], shared);
    if (threadIdx.x == 0) finish(s, static_cast<int64_t>(blockIdx.x), acc);
  }
}

// With several chunks: stage 1's finish writes partial sums laid out [outer, chunks, K, inner] (a
// segment is outer = S, inner = 1), and stage 2's term reads them, the chunk as its summed axis.
template <class A, int K>
struct Partials {
  A* p;
  int64_t chunks, inner;
  __device__ A& at(int64_t o, int64_t chunk, int c, int64_t i) const {
    return p[((o * chunks + chunk) * K + c) * inner + i];
  }
};
template <class A, int K>
struct WritePartials : Partials<A, K> {
  __device__ void operator()(int64_t o, int64_t chunk, int64_t i, const Sums<A, K>& s) const {
    for (int c = 0; c < K; ++c) this->at(o, chunk, c, i) = s.v[c];
  }
  __device__ void operator()(int64_t s, int64_t chunk, const Sums<A, K>& acc) const { (*this)(s, chunk, 0, acc); }
};
template <class A, int K>
struct ReadPartials : Partials<A, K> {
  __device__ void operator()(int64_t o, int64_t chunk, int64_t i, Sums<A, K>& s) const {
    for (int c = 0; c < K; ++c) s.v[c] += this->at(o, chunk, c, i);
  }
  __device__ void operator()(int64_t s, int64_t chunk, Sums<A, K>& acc) const { (*this)(s, chunk, 0, acc); }
};

// launchers

template <class A, int K, class Term, class Finish>
void launch_column_sums(int64_t outer, int64_t n, int64_t inner, int64_t len, const Term& term,
                        const Finish& finish, const char* what) {
  const dim3 grid(static_cast<unsigned>((inner + kTileCols - 1) / kTileCols),
                  static_cast<unsigned>(std::max<int64_t>(1, (n + len - 1) / len)),
                  static_cast<unsigned>(std::min<int64_t>(outer, 65535)));
  column_sums_kernel<A, K><<<grid, dim3(kTileCols, kTileRows), 0, stream()>>>(outer, n, inner, len, term, finish);
  TG_CUDA_LAUNCH_CHECK(what, " (column sums of [", outer, ", ", n, ", ", inner, "])");
}

template <class A, int K, class Term, class Finish>
void launch_segment_sums(int64_t segments, int64_t n, int64_t len, const Term& term, const Finish& finish,
                         const char* what) {
  const dim3 grid(static_cast<unsigned>(std::max<int64_t>(1, (n + len - 1) / len)),
                  static_cast<unsigned>(std::min<int64_t>(segments, 65535)));
  segment_sums_kernel<A, K><<<grid, kSegmentBlock, 0, stream()>>>(segments, n, len, term, finish);
  TG_CUDA_LAUNCH_CHECK(what, " (segment sums of ", segments, " x ", n, ")");
}

// Sums over n of x viewed [outer, n, inner] (outer, inner >= 1); `device` holds the partial sums.
template <class A, int K, class Term, class Finish>
void column_sums(int64_t outer, int64_t n, int64_t inner, const Term& term, const Finish& finish, Device device,
                 const char* what) {
  const Chunks ch = split_axis(n, kColumnChunk);
  if (ch.count == 1) return launch_column_sums<A, K>(outer, n, inner, ch.len, term, finish, what);
  Tensor buffer = Tensor::empty({outer, ch.count, K, inner}, dtype_of<A>(), device);
  const Partials<A, K> partials{buffer.data<A>(), ch.count, inner};
  launch_column_sums<A, K>(outer, n, inner, ch.len, term, WritePartials<A, K>{partials}, what);
  launch_column_sums<A, K>(outer, ch.count, inner, ch.count, ReadPartials<A, K>{partials}, finish, what);
}

// Sums of `segments` segments of n elements each (segments >= 1).
template <class A, int K, class Term, class Finish>
void segment_sums(int64_t segments, int64_t n, const Term& term, const Finish& finish, Device device,
                  const char* what) {
  const Chunks ch = split_axis(n, kSegmentChunk);
  if (ch.count == 1) return launch_segment_sums<A, K>(segments, n, ch.len, term, finish, what);
  Tensor buffer = Tensor::empty({segments, ch.count, K}, dtype_of<A>(), device);
  const Partials<A, K> partials{buffer.data<A>(), ch.count, 1};
  launch_segment_sums<A, K>(segments, n, ch.len, term, WritePartials<A, K>{partials}, what);
  launch_segment_sums<A, K>(segments, ch.count, ch.count, ReadPartials<A, K>{partials}, finish, what);
}

}  // namespace tg::cuda
