// Differentiable inverted dropout (Srivastava et al. 2014, with the scaling moved to training time).
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/ops.h"
#include "tensor/random.h"

namespace tg {

namespace {

// y = x * mask, mask_i = keep_i / (1 - p) with keep_i = [u_i >= p], u_i ~ U[0, 1) from the default
// generator (Philox: seeded, the same on both devices), so E[y] = x. dx = dy * mask.
struct Dropout : Node {
  Tensor saved_mask;  // keep / (1 - p), x's dtype
  const char* name() const override { return "dropout"; }
  Tensor forward(const Tensor& x, double p) {
    Tensor keep = tg::ge(rand(x.shape(), x.dtype(), x.device()), Tensor::scalar(p, x.dtype(), x.device()));
    saved_mask = tg::mul(keep.to(x.dtype()), p < 1.0 ? 1.0 / (1.0 - p) : 0.0);
    return tg::mul(x, saved_mask);
  }
  std::vector<Tensor> backward(const Tensor& dy) override { return {tg::mul(dy, saved_mask)}; }
};

}  // namespace

Variable dropout(const Variable& x, double p, bool training) {
  TG_CHECK(p >= 0.0 && p <= 1.0, "dropout: p must be in [0, 1], got ", p);
  if (!training || p == 0.0) return x;
  auto fn = std::make_shared<Dropout>();
  Tensor y = fn->forward(x.data(), p);
  return attach(std::move(fn), {x}, std::move(y));
}

}  // namespace tg
