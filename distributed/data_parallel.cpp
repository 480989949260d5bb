#include "distributed/data_parallel.h"

#include "tensor/ops.h"
#include "util/error.h"

namespace tg::distributed {

DataParallel::DataParallel(nn::Module& model, Communicator& comm, DataParallelOptions options)
    : model_(model), comm_(comm), params_(model.parameters()) {
  TG_CHECK(options.bucket_bytes > 0, "DataParallel: bucket_bytes must be > 0, got ", options.bucket_bytes);
  for (const Variable& p : params_)
    TG_CHECK(p.device() == params_[0].device() && p.dtype() == params_[0].dtype(),
             "DataParallel: the model's parameters are on several devices or dtypes (", p.data().str(), " and ",
             params_[0].data().str(), "); move the model to one with to()");
  // Reverse order: about the order backward produces the gradients.
  for (size_t i = params_.size(); i-- > 0;) {
    if (buckets_.empty() || buckets_.back().numel * static_cast<int64_t>(dtype_size(params_[i].dtype())) >=
                                options.bucket_bytes)
      buckets_.emplace_back();
    Bucket& b = buckets_.back();
    b.params.push_back(i);
    b.offset.push_back(b.numel);
    b.numel += params_[i].numel();
  }
  bucket_of_.resize(params_.size());
  for (size_t k = 0; k < buckets_.size(); ++k)
    for (size_t i : buckets_[k].params) bucket_of_[i] = k;
  reset();

  for (Variable& p : params_) comm_.broadcast(p.data(), 0);
  broadcast_buffers();
  for (size_t i = 0; i < params_.size(); ++i) params_[i].set_grad_ready_hook([this, i] { grad_ready(i); });
}

DataParallel::~DataParallel() {
  for (Variable& p : params_) p.set_grad_ready_hook({});
  for (Bucket& b : buckets_) b.work.reset();  // waits for what is in flight
}

std::pair<int64_t, int64_t> DataParallel::local_rows(int64_t n) const {
  return {n * rank() / size(), n * (rank() + 1) / size()};
}

double DataParallel::loss_scale(int64_t n) const {
  const auto [begin, end] = local_rows(n);
  TG_CHECK(end > begin, "DataParallel: a batch of ", n, " rows leaves rank ", rank(), " of ", size(),
           " without any; give every rank at least one row (a larger batch or training set, or fewer ranks)");
  return static_cast<double>(size() * (end - begin)) / static_cast<double>(n);
}

void DataParallel::reset() {
  ready_.assign(params_.size(), false);
  for (Bucket& b : buckets_) b.pending = static_cast<int64_t>(b.params.size());
  next_bucket_ = 0;
}

void DataParallel::grad_ready(size_t param) {
  TG_CHECK(!ready_[param], "DataParallel: a second backward() reached parameter ", param, " before ",
           "finish_gradients(); call finish_gradients() after each backward (gradient accumulation across ",
           "backwards is not supported)");
  ready_[param] = true;
  --buckets_[bucket_of_[param]].pending;
  // Buckets start in index order, so every rank starts the same collectives in the same order.
  while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].pending == 0) start(buckets_[next_bucket_++]);
}

void DataParallel::start(Bucket& b) {
  const Variable& first = params_[b.params[0]];
  b.flat = Tensor::zeros({b.numel}, first.dtype(), first.device());
  for (size_t k = 0; k < b.params.size(); ++k) {
    const Variable& p = params_[b.params[k]];
    if (ready_[b.params[k]] && p.grad().defined())
      b.flat.slice_rows(b.offset[k], b.offset[k] + p.numel()).copy_(p.grad().flatten());
  }
  b.work = comm_.allreduce_sum_async(b.flat);
  ++reductions_;
}

void DataParallel::finish_gradients() {
  while (next_bucket_ < buckets_.size()) start(buckets_[next_bucket_++]);  // gradients that never came
  const double inverse = 1.0 / static_cast<double>(size());
  for (Bucket& b : buckets_) {
    b.work->wait();
    b.work.reset();
    const Tensor mean = size() == 1 ? b.flat : mul(b.flat, inverse);
    for (size_t k = 0; k < b.params.size(); ++k) {
      Variable& p = params_[b.params[k]];
      if (ready_[b.params[k]] && p.grad().defined())
        p.set_grad(mean.slice_rows(b.offset[k], b.offset[k] + p.numel()).reshape(p.shape()));
    }
    b.flat = Tensor();
  }
  reset();
}

void DataParallel::broadcast_buffers() {
  for (auto& [name, buffer] : model_.named_buffers()) {
    Tensor b = buffer;  // shares the module's storage
    comm_.broadcast(b, 0);
  }
}

void DataParallel::check_replicas(const char* when) {
  std::vector<double> sums;
  for (const Variable& p : params_) sums.push_back(sum(p.data().to(DType::f64)).item());
  for (auto& [name, buffer] : model_.named_buffers()) sums.push_back(sum(buffer.to(DType::f64)).item());
  const Tensor all = comm_.allgather(Tensor::from_vector(sums, {static_cast<int64_t>(sums.size())}));
  const std::vector<double> v = all.to_vector<double>();
  for (int64_t r = 1; r < size(); ++r)
    for (size_t i = 0; i < sums.size(); ++i)
      TG_CHECK(v[r * sums.size() + i] == v[i], "DataParallel: ", when, ": rank ", r, "'s model differs from rank 0's "
               "(tensor ", i, " of its parameters and buffers: checksum ", v[r * sums.size() + i], " against ", v[i],
               "); the ranks no longer train one model");
}

std::vector<std::vector<size_t>> DataParallel::bucket_parameters() const {
  std::vector<std::vector<size_t>> out;
  for (const Bucket& b : buckets_) out.push_back(b.params);
  return out;
}

}  // namespace tg::distributed
