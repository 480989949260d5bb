// Data-parallel training across real ranks, run by tests/experiments/test_data_parallel.cpp as
// `mpirun -np 2 taugrad_dp_check` (CPU tensors: MPI), and by tests/distributed/test_nccl.cpp as
// `mpirun -np 2 taugrad_dp_check cuda` (every tensor on the rank's GPU, rank_gpu(): NCCL; cuDNN's
// deterministic algorithms, the default, keep the bucket sizes' parameters bit for bit). In float64,
// against one process on the whole batch (which every rank also computes, on its own device, so each
// rank checks itself):
//   1. sync batch norm on each rank's slice = batch norm on the concatenated batch (output, running
//      statistics, dx; dgamma and dbeta summed over the ranks);
//   2. three SGD steps of DataParallel on the slices = three steps on the whole batch, for a model
//      without batch norm and one with sync batch norm, a batch that splits evenly and one that does
//      not (7 rows: 3 and 4, the loss scaled), and the parameters identical bit for bit whatever the
//      bucket size.
// Tolerance 1e-10 (absolute, on values of order 1): the ranks sum their halves and then each other's,
// one process sums in one pass, so they differ by float64 rounding, ~1e-16 per operation.
// Prints "rank R of N: dp ok" (with " (cuda)" for the second), or the first failure and exits 1.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "distributed/data_parallel.h"
#include "distributed/sync_batch_norm.h"
#include "nn/layers.h"
#include "optim/optimizer.h"
#include "tensor/ops.h"
#include "tensor/random.h"
#include "util/error.h"

using namespace tg;

namespace {

constexpr double kTolerance = 1e-10;

Tensor random64(const Shape& shape, uint64_t seed, Device device) {
  Generator g(seed);
  return uniform(shape, -1.0, 1.0, DType::f64, Device::cpu(), &g).to(device);
}

void expect_close(const Tensor& got, const Tensor& want, const std::string& what) {
  TG_CHECK(got.shape() == want.shape(), what, ": shape ", shape_str(got.shape()), " against ", shape_str(want.shape()));
  const double diff = max(abs(sub(got, want))).item();
  TG_CHECK(diff <= kTolerance, what, ": max |difference| ", diff, " > ", kTolerance);
}

// Rows [begin, end) of this rank's slice of n rows (DataParallel::local_rows).
std::pair<int64_t, int64_t> slice_of(int64_t n, distributed::Communicator& world) {
  return {n * world.rank() / world.size(), n * (world.rank() + 1) / world.size()};
}

void check_sync_batch_norm(distributed::Communicator& world, Device device) {
  const int64_t n = 3 * world.size();
  const Tensor x = random64({n, 3, 4, 4}, 1, device), dy = random64({n, 3, 4, 4}, 2, device);
  const Tensor gamma = add(random64({3}, 3, device), 2.0), beta = random64({3}, 4, device);
  Tensor rm_whole = Tensor::zeros({3}, DType::f64, device), rv_whole = Tensor::ones({3}, DType::f64, device);
  Tensor rm = rm_whole.clone(), rv = rv_whole.clone();
  Variable xw(x, true), gw(gamma, true), bw(beta, true);
  Variable whole = batch_norm(xw, gw, bw, rm_whole, rv_whole, true, 0.1, 1e-5);
  whole.backward(dy);
  const auto [begin, end] = slice_of(n, world);
  Variable xs(x.slice_rows(begin, end).clone(), true), gs(gamma, true), bs(beta, true);
  Variable synced = distributed::sync_batch_norm(xs, gs, bs, rm, rv, 0.1, 1e-5, world);
  synced.backward(dy.slice_rows(begin, end).clone());
  expect_close(world.allgather(synced.data()).reshape(x.shape()), whole.data(), "sync batch norm: y");
  expect_close(rm, rm_whole, "sync batch norm: running_mean");
  expect_close(rv, rv_whole, "sync batch norm: running_var");
  expect_close(world.allgather(xs.grad()).reshape(x.shape()), xw.grad(), "sync batch norm: dx");
  Tensor dgamma = gs.grad().clone(), dbeta = bs.grad().clone();
  world.allreduce_sum(dgamma);
  world.allreduce_sum(dbeta);
  expect_close(dgamma, gw.grad(), "sync batch norm: dgamma summed over ranks");
  expect_close(dbeta, bw.grad(), "sync batch norm: dbeta summed over ranks");
}

std::shared_ptr<nn::Sequential> make_model(bool with_bn, Device device) {
  Generator g(7);
  auto m = std::make_shared<nn::Sequential>();
  m->push_back(std::make_shared<nn::Conv2d>(2, 4, 3, 1, 1, true, &g));
  if (with_bn) m->push_back(std::make_shared<nn::BatchNorm2d>(4));
  m->push_back(std::make_shared<nn::ReLU>());
  m->push_back(std::make_shared<nn::Flatten>());
  m->push_back(std::make_shared<nn::Linear>(4 * 4 * 4, 3, true, &g));
  m->to(DType::f64);
  m->to(device);
  return m;
}

// Three SGD steps (momentum 0.9) on batches of n rows; data parallel over `world` when dp_bytes > 0
// (buckets of that many bytes), else one process on the whole batch. Returns the parameters.
std::vector<Tensor> train(bool with_bn, int64_t n, distributed::Communicator& world, int64_t dp_bytes, Device device) {
  auto model = make_model(with_bn, device);
  std::unique_ptr<distributed::DataParallel> dp;
  if (dp_bytes > 0) {
    if (with_bn) distributed::convert_sync_batch_norm(*model, world);
    dp = std::make_unique<distributed::DataParallel>(*model, world, distributed::DataParallelOptions{dp_bytes});
  }
  optim::SgdOptions o;
  o.lr = 0.1;
  o.momentum = 0.9;
  optim::SGD sgd(model->named_parameters(), o);
  for (uint64_t step = 0; step < 3; ++step) {
    Tensor x = random64({n, 2, 4, 4}, 100 + step, device);
    Tensor y = Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 2, 1, 0, 1, 2}, {8}).slice_rows(0, n).to(device);
    if (dp) {
      const auto [begin, end] = dp->local_rows(n);
      x = x.slice_rows(begin, end);
      y = y.slice_rows(begin, end);
    }
    Variable loss = cross_entropy((*model)(Variable(x)), y, 1.0);
    sgd.zero_grad();
    if (dp) {
      mul(loss, dp->loss_scale(n)).backward();
      dp->finish_gradients();
    } else {
      loss.backward();
    }
    sgd.step();
  }
  if (dp) dp->check_replicas("after three steps");
  std::vector<Tensor> params;
  for (const Variable& p : model->parameters()) params.push_back(p.data());
  return params;
}

void check_training(distributed::Communicator& world, Device device) {
  for (bool with_bn : {false, true}) {
    for (int64_t n : {8, 7}) {
      const std::string what = std::string(with_bn ? "sync-BN" : "no-BN") + " model, batch " + std::to_string(n);
      const std::vector<Tensor> alone = train(with_bn, n, world, 0, device);
      std::vector<Tensor> first;
      for (int64_t bucket_bytes : {int64_t{1}, int64_t{300}, int64_t{1} << 20}) {
        const std::vector<Tensor> ranks = train(with_bn, n, world, bucket_bytes, device);
        for (size_t i = 0; i < ranks.size(); ++i) {
          expect_close(ranks[i], alone[i], what + ": parameter " + std::to_string(i) + " against one process");
          if (!first.empty())
            TG_CHECK(ranks[i].cpu().to_vector<double>() == first[i].cpu().to_vector<double>(), what, ": parameter ", i,
                     " differs between bucket sizes");
        }
        if (first.empty()) first = ranks;
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  distributed::Communicator& world = distributed::world();
  const bool cuda = argc > 1 && std::string(argv[1]) == "cuda";
  try {
    // "MPI", or "MPI + NCCL" where the build has NCCL.
    TG_CHECK(world.backend().rfind("MPI", 0) == 0 && world.size() > 1, "run under mpirun -np 2 (the world is ",
             world.backend(), " of size ", world.size(), ")");
    const Device device = cuda ? distributed::rank_gpu() : Device::cpu();
    check_sync_batch_norm(world, device);
    check_training(world, device);
    std::printf("rank %lld of %lld: dp ok%s\n", static_cast<long long>(world.rank()), static_cast<long long>(world.size()),
                cuda ? " (cuda)" : "");
    return 0;
  } catch (const Error& e) {
    std::printf("rank %lld of %lld: %s\n", static_cast<long long>(world.rank()), static_cast<long long>(world.size()),
                e.what());
    return 1;
  }
}
