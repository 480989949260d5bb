// Differentiable linear algebra: batched matmul with transpose flags, and the linear layer.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/ops.h"

namespace tg {

namespace {

// Y = op(A) @ op(B), batched over leading dims, op = transpose when the flag is set.
// With L = <dY, Y>, the four cases (matrix calculus, e.g. Giles 2008, "Collected matrix derivative
// results", Sec. 2.2.2) and how each is one matmul with flags:
//   Y = A B       dA = dY B^T          dB = A^T dY
//   Y = A^T B     dA = B dY^T          dB = A dY
//   Y = A B^T     dA = dY B            dB = dY^T A
//   Y = A^T B^T   dA = B^T dY^T        dB = dY^T A^T
// A batch-broadcast operand gets the batched gradient and the engine sums it over the batch; when B is
// 2-D and A is not transposed the sum is folded into one GEMM instead (dB = A2^T dY2, or its
// transpose, with A2, dY2 the batches stacked as rows: what a linear layer over tokens needs).
struct MatMul : Node {
  bool trans_a, trans_b;
  Tensor saved_a, saved_b;
  MatMul(bool ta, bool tb) : trans_a(ta), trans_b(tb) {}
  const char* name() const override { return "matmul"; }
  Tensor forward(const Tensor& a, const Tensor& b) {
    saved_a = a;
    saved_b = b;
    return tg::matmul(a, b, trans_a, trans_b);
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    const Tensor &a = saved_a, &b = saved_b;
    Tensor da, db;
    if (needs_input_grad(0)) {
      da = !trans_a ? tg::matmul(dy, b, false, !trans_b) : tg::matmul(b, dy, trans_b, true);
    }
    if (needs_input_grad(1)) {
      const bool fold = b.dim() == 2 && a.dim() > 2 && !trans_a;
      if (fold) {
        Tensor a2 = a.reshape({-1, a.size(-1)}), dy2 = dy.reshape({-1, dy.size(-1)});
        db = !trans_b ? tg::matmul(a2, dy2, true, false) : tg::matmul(dy2, a2, true, false);
      } else {
        db = !trans_b ? tg::matmul(a, dy, !trans_a, false) : tg::matmul(dy, a, true, trans_a);
      }
    }
    return {da, db};
  }
};

// y = x @ w^T + b over the last axis of x [..., in]; w [out, in], b [out] or undefined.
// With x2 = x as [rows, in] and dy2 = dy as [rows, out]:
//   dx = dy @ w,   dw = dy2^T @ x2,   db = sum over rows of dy2.
struct Linear : Node {
  Tensor saved_x, saved_w;
  const char* name() const override { return "linear"; }
  Tensor forward(const Tensor& x, const Tensor& w, const Tensor& b) {
    TG_CHECK(x.dim() >= 1 && w.dim() == 2 && x.size(-1) == w.size(1), "linear: x ", x.str(),
             " needs last dim = in of w [out, in] ", w.str());
    TG_CHECK(!b.defined() || (b.dim() == 1 && b.size(0) == w.size(0)), "linear: bias ", b.str(),
             " must be [out] for w ", w.str());
    saved_x = x;
    saved_w = w;
    Shape out_shape = x.shape();
    out_shape.back() = w.size(0);
    Tensor y = tg::matmul(x.reshape({-1, x.size(-1)}), w, false, true);
    if (b.defined()) tg::add_(y, b);
    return y.reshape(out_shape);
  }
  std::vector<Tensor> backward(const Tensor& dy) override {
    const int64_t out = saved_w.size(0), in = saved_w.size(1);
    Tensor dy2 = dy.reshape({-1, out});
    Tensor dx, dw, db;
    if (needs_input_grad(0)) dx = tg::matmul(dy2, saved_w).reshape(saved_x.shape());
    if (needs_input_grad(1)) dw = tg::matmul(dy2, saved_x.reshape({-1, in}), true, false);
    if (needs_input_grad(2)) db = tg::sum(dy2, {0});
    return {dx, dw, db};
  }
};

}  // namespace

Variable matmul(const Variable& a, const Variable& b, bool trans_a, bool trans_b) {
  auto fn = std::make_shared<MatMul>(trans_a, trans_b);
  Tensor y = fn->forward(a.data(), b.data());
  return attach(std::move(fn), {a, b}, std::move(y));
}

Variable linear(const Variable& x, const Variable& w, const Variable& b) {
  auto fn = std::make_shared<Linear>();
  Tensor y = fn->forward(x.data(), w.data(), b.defined() ? b.data() : Tensor());
  if (!b.defined()) return attach(std::move(fn), {x, w}, std::move(y));
  return attach(std::move(fn), {x, w, b}, std::move(y));
}

}  // namespace tg
