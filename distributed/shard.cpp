#include "distributed/shard.h"

#include <algorithm>
#include <vector>

#include "tensor/ops.h"
#include "util/error.h"

namespace tg::distributed {

Shard shard_of(int64_t n, int64_t batch, int64_t rank, int64_t ranks) {
  TG_CHECK(n >= 0 && batch >= 1 && ranks >= 1 && rank >= 0 && rank < ranks, "shard_of: ", n, " rows in batches of ",
           batch, " for rank ", rank, " of ", ranks);
  const int64_t batches = (n + batch - 1) / batch, each = batches / ranks, extra = batches % ranks;
  const int64_t first = rank * each + std::min(rank, extra), count = each + (rank < extra ? 1 : 0);
  return {std::min(first * batch, n), std::min((first + count) * batch, n)};
}

Shard shard_of(int64_t n, int64_t batch, const Communicator& comm) {
  return shard_of(n, batch, comm.rank(), comm.size());
}

Tensor gather_shards(Communicator& comm, const Tensor& local, int64_t n, int64_t batch) {
  const int64_t ranks = comm.size();
  const Shard mine = shard_of(n, batch, comm);
  TG_CHECK(local.dim() >= 1 && local.size(0) == mine.size() && !local.is_cuda(), "gather_shards: rank ", comm.rank(),
           " holds ", local.str(), " for its shard of ", mine.size(), " rows [", mine.begin, ", ", mine.end,
           ") (host rows, one per sample)");
  if (ranks == 1) return local;
  // The communicator carries f32, f64 and i64: masks travel as i64. Shards are padded to the longest.
  const DType wire = local.dtype() == DType::f32 || local.dtype() == DType::f64 ? local.dtype() : DType::i64;
  int64_t longest = 0;
  for (int64_t r = 0; r < ranks; ++r) longest = std::max(longest, shard_of(n, batch, r, ranks).size());
  Shape pad_shape = local.shape();
  pad_shape[0] = longest - local.size(0);
  Tensor padded = local.to(wire);
  if (pad_shape[0] > 0) padded = concat({padded, Tensor::zeros(pad_shape, wire)}, 0);
  Shape flat = local.shape();
  flat[0] = ranks * longest;
  const Tensor all = comm.allgather(padded).reshape(flat);
  std::vector<Tensor> parts;
  for (int64_t r = 0; r < ranks; ++r)
    parts.push_back(all.slice_rows(r * longest, r * longest + shard_of(n, batch, r, ranks).size()));
  return concat(parts, 0).to(local.dtype());
}

}  // namespace tg::distributed
