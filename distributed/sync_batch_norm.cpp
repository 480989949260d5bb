#include "distributed/sync_batch_norm.h"

#include "autograd/node.h"
#include "autograd/ops.h"
#include "nn/layers.h"
#include "tensor/ops.h"
#include "util/error.h"

namespace tg::distributed {

namespace {

// [C] -> [1, C, 1, 1], to broadcast over x.
Tensor per_channel(const Tensor& t) { return t.reshape({1, t.numel(), 1, 1}); }

// t, summed over every rank.
Tensor allreduced(Tensor t, Communicator& comm) {
  comm.allreduce_sum(t);
  return t;
}

struct SyncBatchNorm : Node {
  Communicator& comm;
  Tensor saved_centered, saved_gamma, saved_invstd;  // x - mean, gamma [C], invstd [C]
  double count;                                      // M, over every rank
  SyncBatchNorm(Communicator& c, Tensor centered, Tensor gamma, Tensor invstd, double m)
      : comm(c), saved_centered(std::move(centered)), saved_gamma(std::move(gamma)), saved_invstd(std::move(invstd)),
        count(m) {}
  const char* name() const override { return "sync_batch_norm"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    const Tensor xhat = mul(saved_centered, per_channel(saved_invstd));
    const Tensor sum_dy = sum(dy, {0, 2, 3}), sum_dyxhat = sum(mul(dy, xhat), {0, 2, 3});
    std::vector<Tensor> g{Tensor(), sum_dyxhat, sum_dy};  // this rank's dgamma, dbeta
    if (needs_input_grad(0)) {
      const int64_t c = sum_dy.numel();
      const Tensor both = mul(allreduced(concat({sum_dy, sum_dyxhat}, 0), comm), 1 / count);  // means over M
      const Tensor inner = sub(sub(dy, per_channel(both.slice_rows(0, c))), mul(xhat, per_channel(both.slice_rows(c, 2 * c))));
      g[0] = mul(inner, per_channel(mul(saved_gamma, saved_invstd)));
    }
    return g;
  }
};

}  // namespace

Variable sync_batch_norm(const Variable& x, const Variable& gamma, const Variable& beta, Tensor& running_mean,
                         Tensor& running_var, double momentum, double eps, Communicator& comm) {
  const Tensor& xd = x.data();
  TG_CHECK(xd.dim() == 4, "sync_batch_norm: input must be 4-D [N, C, H, W], got ", shape_str(xd.shape()));
  const int64_t c = xd.size(1);
  TG_CHECK(gamma.numel() == c && beta.numel() == c, "sync_batch_norm: gamma and beta must be [", c, "]");
  // bfloat16 activations (--precision bf16): the float32 computation on the widened values (exact), so
  // the statistics, their allreduces and the parameter gradients are float32; the casts round y and dx
  // once each.
  if (xd.dtype() == DType::bf16)
    return cast(sync_batch_norm(cast(x, DType::f32), gamma, beta, running_mean, running_var, momentum, eps, comm),
                DType::bf16);
  // The per-channel sums with this rank's count appended: [C + 1], summed over the ranks.
  const Tensor count = Tensor::full({1}, static_cast<double>(xd.numel() / c), xd.dtype(), xd.device());
  const Tensor sums = allreduced(concat({sum(xd, {0, 2, 3}), count}, 0), comm);
  const double m = sums.slice_rows(c, c + 1).item();  // an integer: exact in f32 up to 2^24
  TG_CHECK(m > 1, "sync_batch_norm: ", m, " value(s) per channel over every rank; batch norm in training needs ",
           "more than one (a larger batch)");
  const Tensor mean = mul(sums.slice_rows(0, c), 1 / m);
  const Tensor centered = sub(xd, per_channel(mean));
  const Tensor var = mul(allreduced(sum(square(centered), {0, 2, 3}), comm), 1 / m);
  const Tensor invstd = div(Tensor::full(var.shape(), 1.0, var.dtype(), var.device()), sqrt(add(var, eps)));
  Tensor y = add(mul(centered, per_channel(mul(gamma.data(), invstd))), per_channel(beta.data()));
  running_mean.copy_(add(mul(running_mean, 1 - momentum), mul(mean, momentum)));
  running_var.copy_(add(mul(running_var, 1 - momentum), mul(var, momentum * m / (m - 1))));
  return attach(std::make_shared<SyncBatchNorm>(comm, centered, gamma.data(), invstd, m), {x, gamma, beta},
                std::move(y));
}

void convert_sync_batch_norm(nn::Module& model, Communicator& comm) {
  model.apply([&comm](nn::Module& m) {
    if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(&m))
      bn->synced = [&comm](nn::BatchNorm2d& b, const Variable& x) {
        return sync_batch_norm(x, b.weight, b.bias, b.running_mean, b.running_var, b.momentum, b.eps, comm);
      };
  });
}

}  // namespace tg::distributed
