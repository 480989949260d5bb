// Sharding a set of n samples over the ranks of a communicator, and gathering per-sample results back
// in set order (sharded evaluation, issue 14).
//
// The set is cut into batches of `batch` rows (the last one shorter) and each rank takes a contiguous
// run of whole batches: with B = ceil(n / batch) batches and N ranks, rank r takes B / N batches, and one
// more when r < B mod N, after those of the ranks before it. Every batch a rank evaluates is therefore a
// batch the single process evaluates (the same rows, so the same bits from the same kernels), and the
// shards in rank order are the set in order. Ranks beyond the batches get an empty shard.
#pragma once

#include <cstdint>

#include "distributed/communicator.h"
#include "tensor/tensor.h"

namespace tg::distributed {

struct Shard {
  int64_t begin = 0, end = 0;  // rows [begin, end) of the set
  int64_t size() const { return end - begin; }
};

// Rank `rank` of `ranks`' rows of a set of n rows, in batches of `batch`.
Shard shard_of(int64_t n, int64_t batch, int64_t rank, int64_t ranks);
// This process's shard in comm.
Shard shard_of(int64_t n, int64_t batch, const Communicator& comm);

// Every rank's per-sample rows, in set order, on every rank: `local` holds this rank's rows of
// shard_of(n, batch, comm) ([shard size, ...] on the host; u8, i64, f32 or f64; the same trailing shape
// and dtype on every rank, also for an empty shard); returns [n, ...]. A collective: every rank calls it.
Tensor gather_shards(Communicator& comm, const Tensor& local, int64_t n, int64_t batch);

}  // namespace tg::distributed
