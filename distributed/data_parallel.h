// Data-parallel training of one model (DESIGN.md §2, distributed/; PyTorch DDP's scheme): every rank
// holds the same parameters, computes the loss and gradients of its contiguous slice of every global
// batch, and the gradients are averaged across ranks, so every rank applies the same optimizer step.
//
//   distributed::DataParallel dp(model, distributed::world());  // broadcasts rank 0's parameters and buffers
//   auto [begin, end] = dp.local_rows(x.size(0));              // this rank's rows of the global batch
//   Variable loss = mul(cross_entropy(model(x.slice_rows(begin, end)), ...), dp.loss_scale(x.size(0)));
//   opt.zero_grad(); loss.backward();                          // buckets are reduced as backward goes
//   dp.finish_gradients();                                     // waits; .grad = the global-batch mean's
//   opt.step();
//
// Buckets: the parameters in reverse order (about the order backward produces their gradients),
// grouped into buckets of about bucket_bytes. A grad-ready hook on each parameter (autograd/variable.h)
// counts the bucket's gradients; when all of a bucket's are there, and all earlier buckets have been
// started, its gradients are copied into one flat buffer and its allreduce starts (nonblocking:
// MPI_Iallreduce), while backward goes on with the earlier layers. Buckets start in index order on
// every rank, so collectives match across ranks. finish_gradients() starts any bucket with gradients
// that never came (parameters this step's graph does not reach: their .grad stays undefined, the
// bucket carries zeros for them), waits for all, and writes each gradient back as sum / size.
// A gradient is reduced exactly once per step: a second backward before finish_gradients() is an error.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "distributed/communicator.h"
#include "nn/module.h"

namespace tg::distributed {

struct DataParallelOptions {
  int64_t bucket_bytes = int64_t{1} << 20;  // a bucket closes once it holds this many bytes of gradients
};

class DataParallel {
 public:
  // Broadcasts rank 0's parameters and buffers to every rank, and installs the grad-ready hooks.
  DataParallel(nn::Module& model, Communicator& comm, DataParallelOptions options = {});
  ~DataParallel();  // removes the hooks, waits for collectives in flight
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  int64_t rank() const { return comm_.rank(); }
  int64_t size() const { return comm_.size(); }
  Communicator& communicator() { return comm_; }

  // This rank's rows [begin, end) of a global batch of n rows: contiguous slices in rank order, their
  // sizes differing by at most one when n is not a multiple of size().
  std::pair<int64_t, int64_t> local_rows(int64_t n) const;
  // The factor on this rank's mean loss that makes the average of the ranks' gradients the gradient of
  // the global batch's mean loss: size * local rows / n (exactly 1 when size divides n).
  double loss_scale(int64_t n) const;

  // Waits for every bucket's allreduce and sets each parameter's .grad to the mean over ranks.
  // Call after backward(), before gradient clipping and the optimizer step.
  void finish_gradients();

  // Rank 0's buffers (batch norm's running statistics) on every rank.
  void broadcast_buffers();
  // Throws unless every rank's parameters and buffers have the same checksum (one small allgather).
  void check_replicas(const char* when);

  // The buckets, as lists of indices into model.parameters() (reverse order), and the allreduce calls
  // made so far (one per bucket per step): what the tests check.
  std::vector<std::vector<size_t>> bucket_parameters() const;
  int64_t reductions() const { return reductions_; }

 private:
  struct Bucket {
    std::vector<size_t> params;   // indices into params_
    std::vector<int64_t> offset;  // of each parameter's gradient in flat
    int64_t numel = 0;
    int64_t pending = 0;          // gradients not ready yet this step
    Tensor flat;
    std::unique_ptr<Work> work;
  };

  void grad_ready(size_t param);
  void start(Bucket& b);
  void reset();

  nn::Module& model_;
  Communicator& comm_;
  std::vector<Variable> params_;
  std::vector<bool> ready_;             // per parameter, this step
  std::vector<size_t> bucket_of_;       // per parameter
  std::vector<Bucket> buckets_;
  size_t next_bucket_ = 0;              // the first bucket not started this step
  int64_t reductions_ = 0;
};

}  // namespace tg::distributed
