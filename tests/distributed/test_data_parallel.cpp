// Data-parallel training (distributed/data_parallel.h) and synchronized batch norm
// (distributed/sync_batch_norm.h) in one process, on test communicators: the single process, and a
// "mirror" of N ranks whose peers hold the same tensors as this one (allreduce_sum multiplies by N),
// which makes every average exact and shows what crosses the wire. Two real ranks under mpirun:
// tests/distributed/dp_check.cpp and tests/experiments/test_data_parallel.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "autograd/ops.h"
#include "distributed/data_parallel.h"
#include "distributed/sync_batch_norm.h"
#include "nn/layers.h"
#include "support/gradcheck.h"
#include "tensor/ops.h"
#include "tensor/random.h"

using namespace tg;

namespace {

// Rank `r` of `n` ranks that all hold this rank's tensors. Records each allreduce: its size, and how
// many of `watched`'s parameters had a gradient then (to see a bucket leave during backward).
class Mirror final : public distributed::Communicator {
 public:
  explicit Mirror(int64_t n, int64_t r = 0) : n_(n), r_(r) {}
  int64_t rank() const override { return r_; }
  int64_t size() const override { return n_; }
  std::string backend() const override { return "mirror"; }
  void allreduce_sum(Tensor& t) override {
    reduced.push_back(t.numel());
    int64_t with_grad = 0;
    for (const Variable& p : watched) with_grad += p.grad().defined();
    grads_at_reduce.push_back(with_grad);
    if (n_ > 1) t.copy_(mul(t, static_cast<double>(n_)));
  }
  void broadcast(Tensor&, int64_t) override {}
  Tensor allgather(const Tensor& t) override {
    std::vector<Tensor> rows(static_cast<size_t>(n_), t.reshape(with_front(t.shape())));
    if (n_ > 1 && skew_peer) rows[1] = add(rows[1], 1e-3);
    return concat(rows, 0);
  }
  std::vector<int64_t> reduced, grads_at_reduce;
  std::vector<Variable> watched;
  bool skew_peer = false;  // rank 1's allgathered tensor differs

 private:
  static Shape with_front(Shape s) {
    s.insert(s.begin(), 1);
    return s;
  }
  int64_t n_, r_;
};

// conv -> BN -> ReLU -> Linear, and (first, so its bucket is the last) a layer the forward never uses.
class Net : public nn::Module {
 public:
  explicit Net(uint64_t seed) : nn::Module("Net") {
    Generator g(seed);
    unused = register_module("unused", std::make_shared<nn::Linear>(2, 2, true, &g));
    conv = register_module("conv", std::make_shared<nn::Conv2d>(2, 4, 3, 1, 1, true, &g));
    bn = register_module("bn", std::make_shared<nn::BatchNorm2d>(4));
    fc = register_module("fc", std::make_shared<nn::Linear>(4 * 4 * 4, 3, true, &g));
  }
  Variable forward(const Variable& x) override { return fc->forward(flatten(relu(bn->forward(conv->forward(x))))); }
  std::shared_ptr<nn::Conv2d> conv;
  std::shared_ptr<nn::BatchNorm2d> bn;
  std::shared_ptr<nn::Linear> fc, unused;
};

Variable net_loss(Net& net, const Tensor& x, const Tensor& y) { return cross_entropy(net(Variable(x)), y, 1.0); }

void check_same(const Tensor& a, const Tensor& b, double tolerance, const std::string& what) {
  REQUIRE(a.shape() == b.shape());
  const double diff = max(abs(sub(a.to(DType::f64), b.to(DType::f64)))).item();
  CHECK_MESSAGE(diff <= tolerance, what, ": max |difference| ", diff, " > ", tolerance);
}

}  // namespace

TEST_CASE("sync batch norm: with one rank it is batch norm (output, running statistics, gradients); gradcheck") {
  Mirror one(1);
  const Tensor x = testing::rand64({4, 3, 5, 5}, 1, -2, 2), gamma = testing::rand64({3}, 2, 0.5, 1.5),
               beta = testing::rand64({3}, 3), dy = testing::rand64({4, 3, 5, 5}, 4);
  Tensor rm_plain = Tensor::zeros({3}, DType::f64), rv_plain = Tensor::ones({3}, DType::f64);
  Tensor rm_sync = rm_plain.clone(), rv_sync = rv_plain.clone();
  Variable xp(x, true), gp(gamma, true), bp(beta, true), xs(x, true), gs(gamma, true), bs(beta, true);
  Variable plain = batch_norm(xp, gp, bp, rm_plain, rv_plain, true, 0.1, 1e-5);
  Variable synced = distributed::sync_batch_norm(xs, gs, bs, rm_sync, rv_sync, 0.1, 1e-5, one);
  check_same(synced.data(), plain.data(), 1e-12, "y");
  check_same(rm_sync, rm_plain, 1e-14, "running_mean");
  check_same(rv_sync, rv_plain, 1e-14, "running_var");
  plain.backward(dy);
  synced.backward(dy);
  check_same(xs.grad(), xp.grad(), 1e-12, "dx");
  check_same(gs.grad(), gp.grad(), 1e-12, "dgamma");
  check_same(bs.grad(), bp.grad(), 1e-12, "dbeta");
  CHECK(one.reduced == std::vector<int64_t>{4, 3, 6});  // forward: sums + count, squares; backward: 2 C sums

  Tensor rm = Tensor::zeros({2}, DType::f64), rv = Tensor::ones({2}, DType::f64);
  testing::gradcheck("sync_batch_norm",
                     [&](const std::vector<Variable>& v) {
                       return distributed::sync_batch_norm(v[0], v[1], v[2], rm, rv, 0.1, 1e-5, one);
                     },
                     {testing::rand64({3, 2, 2, 2}, 5, -2, 2), gamma.slice_rows(0, 2).clone(), beta.slice_rows(0, 2).clone()});
}

TEST_CASE("sync batch norm: two ranks with the same slice normalize as batch norm over both slices") {
  // The peer holds the same x and dy, so the global batch is [x; x]: the same mean and (biased)
  // variance, but twice the count, which the unbiased running variance shows.
  Mirror two(2);
  const Tensor x = testing::rand64({3, 2, 4, 4}, 6, -1, 3), gamma = testing::rand64({2}, 7, 0.5, 1.5),
               beta = testing::rand64({2}, 8), dy = testing::rand64({3, 2, 4, 4}, 9);
  Tensor rm_whole = Tensor::zeros({2}, DType::f64), rv_whole = Tensor::ones({2}, DType::f64);
  Tensor rm_sync = rm_whole.clone(), rv_sync = rv_whole.clone();
  Variable xw(concat({x, x}, 0), true), gw(gamma, true), bw(beta, true), xs(x, true), gs(gamma, true), bs(beta, true);
  Variable whole = batch_norm(xw, gw, bw, rm_whole, rv_whole, true, 0.1, 1e-5);
  Variable synced = distributed::sync_batch_norm(xs, gs, bs, rm_sync, rv_sync, 0.1, 1e-5, two);
  check_same(synced.data(), whole.data().slice_rows(0, 3), 1e-12, "y");
  check_same(rm_sync, rm_whole, 1e-14, "running_mean");
  check_same(rv_sync, rv_whole, 1e-14, "running_var");
  whole.backward(concat({dy, dy}, 0));
  synced.backward(dy);
  check_same(xs.grad(), xw.grad().slice_rows(0, 3), 1e-12, "dx");
  check_same(mul(gs.grad(), 2.0), gw.grad(), 1e-12, "dgamma (this rank's half)");
  check_same(mul(bs.grad(), 2.0), bw.grad(), 1e-12, "dbeta (this rank's half)");
}

TEST_CASE("sync batch norm: convert_sync_batch_norm routes a model's BatchNorm2d through it in training only") {
  Mirror one(1);
  Net net(1);
  distributed::convert_sync_batch_norm(net, one);
  const Tensor x = testing::rand64({2, 2, 4, 4}, 10).to(DType::f32);
  net(Variable(x));
  CHECK(one.reduced.size() == 2);  // the forward's two allreduces
  net.eval();
  net(Variable(x));
  CHECK(one.reduced.size() == 2);  // eval: the running statistics, no communication
}

TEST_CASE("data parallel: each bucket is reduced once per step, whatever the bucket size, and the gradients are the mean") {
  const Tensor x = testing::rand64({6, 2, 4, 4}, 11).to(DType::f32);
  const Tensor y = Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 0, 1, 2}, {6});
  Net reference(3);
  net_loss(reference, x, y).backward();
  const auto ref = reference.named_parameters();
  std::vector<std::vector<float>> first_grads;
  for (int64_t bucket_bytes : {int64_t{1}, int64_t{300}, int64_t{1000}, int64_t{1} << 20}) {
    CAPTURE(bucket_bytes);
    Net net(3);
    Mirror two(2);
    two.watched = net.parameters();
    distributed::DataParallel dp(net, two, {bucket_bytes});
    // The buckets cover every parameter exactly once, in reverse order.
    std::vector<size_t> order;
    for (const auto& bucket : dp.bucket_parameters()) order.insert(order.end(), bucket.begin(), bucket.end());
    std::vector<size_t> reverse(net.parameters().size());
    for (size_t i = 0; i < reverse.size(); ++i) reverse[i] = reverse.size() - 1 - i;
    CHECK(order == reverse);
    const int64_t buckets = static_cast<int64_t>(dp.bucket_parameters().size());
    if (bucket_bytes == 1) CHECK(buckets == static_cast<int64_t>(reverse.size()));
    if (bucket_bytes == int64_t{1} << 20) CHECK(buckets == 1);

    for (int step = 1; step <= 2; ++step) {
      net.zero_grad();
      two.reduced.clear();
      two.grads_at_reduce.clear();
      net_loss(net, x, y).backward();
      dp.finish_gradients();
      CHECK(dp.reductions() == step * buckets);
      int64_t total = 0;
      for (int64_t n : two.reduced) total += n;
      CHECK(total == net.num_parameters());  // every element once
    }
    // One bucket per parameter: the first leaves during backward, before the earlier layers' gradients exist.
    if (bucket_bytes == 1) CHECK(two.grads_at_reduce.front() < static_cast<int64_t>(reverse.size()) - 2);
    const auto got = net.named_parameters();
    for (size_t i = 0; i < got.size(); ++i) {
      CAPTURE(got[i].first);
      if (got[i].first.rfind("unused.", 0) == 0) {
        CHECK(!got[i].second.grad().defined());  // no gradient came: none is made up
        continue;
      }
      REQUIRE(got[i].second.grad().defined());
      CHECK(got[i].second.grad().to_vector<float>() == ref[i].second.grad().to_vector<float>());  // (2 g) / 2 = g
    }
    // A second backward before finish_gradients would reduce a gradient twice: refused.
    net_loss(net, x, y).backward();
    CHECK_THROWS_WITH_AS(net_loss(net, x, y).backward(), doctest::Contains("finish_gradients"), Error);
  }
}

TEST_CASE("data parallel: contiguous slices of the global batch, the loss scale, replica checks") {
  Net net(4);
  Mirror rank1(3, 1), rank2(3, 2);
  distributed::DataParallel dp1(net, rank1), dp2(net, rank2);
  CHECK(dp1.local_rows(6) == std::pair<int64_t, int64_t>{2, 4});
  CHECK(dp1.loss_scale(6) == 1.0);
  CHECK(dp1.local_rows(7) == std::pair<int64_t, int64_t>{2, 4});  // ranks take 2, 2, 3 rows
  CHECK(dp2.local_rows(7) == std::pair<int64_t, int64_t>{4, 7});
  CHECK(dp1.loss_scale(7) == doctest::Approx(6.0 / 7));
  CHECK(dp2.loss_scale(7) == doctest::Approx(9.0 / 7));
  CHECK_THROWS_WITH_AS(dp1.loss_scale(1), doctest::Contains("without any"), Error);
  dp1.check_replicas("in a test");
  rank1.skew_peer = true;
  CHECK_THROWS_WITH_AS(dp1.check_replicas("in a test"), doctest::Contains("rank 1's model differs"), Error);
}
