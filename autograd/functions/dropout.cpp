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
  explicit Dropout(Tensor mask) : saved_mask(std::move(mask)) {}
  const char* name() const override { return "dropout"; }
  std::vector<Tensor> backward(const Tensor& dy) override { return {tg::mul(dy, saved_mask)}; }
};

}  // namespace

Variable dropout(const Variable& x, double p, bool training) {
  TG_CHECK(p >= 0.0 && p <= 1.0, "dropout: p must be in [0, 1], got ", p);
  if (!training || p == 0.0) return x;
  const Tensor& xd = x.data();
  Tensor keep = tg::ge(rand(xd.shape(), xd.dtype(), xd.device()), Tensor::scalar(p, xd.dtype(), xd.device()));
  Tensor mask = tg::mul(keep.to(xd.dtype()), p < 1.0 ? 1.0 / (1.0 - p) : 0.0);
  Tensor y = tg::mul(xd, mask);
  if (!needs_graph({&x})) return Variable(std::move(y));
  return attach(std::make_shared<Dropout>(std::move(mask)), {x}, std::move(y));
}

}  // namespace tg
