// Differentiable linear algebra: batched matmul with transpose flags, and the linear layer.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/ops.h"

namespace tg {

namespace {

// dy as a GEMM operand beside operands of dtype `operands`: a bfloat16 GEMM's gradients are bfloat16
// GEMMs too (dy rounded to bf16, as autocast's bf16 output gradient is), with float32 products, so
// the gradients of bf16 operands are float32 (their cast's backward keeps them so).
Tensor as_operand(const Tensor& dy, DType operands) {
  return operands == DType::bf16 ? tg::cast(dy, DType::bf16) : dy;
}

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
// reference::matmul (tensor/reference/matmul.cpp)
struct MatMul : Node {
  bool trans_a, trans_b;
  DType operands;
  Tensor saved_a, saved_b;  // each factor only when the other one's gradient can be asked for
  MatMul(bool ta, bool tb, const Variable& a, const Variable& b) : trans_a(ta), trans_b(tb), operands(a.dtype()) {
    if (b.requires_grad()) saved_a = a.data();
    if (a.requires_grad()) saved_b = b.data();
  }
  const char* name() const override { return "matmul"; }
  std::vector<Tensor> backward(const Tensor& dy_out) override {
    const Tensor &a = saved_a, &b = saved_b, dy = as_operand(dy_out, operands);
    Tensor da, db;
    if (needs_input_grad(0)) {
      da = !trans_a ? tg::matmul(dy, b, false, !trans_b) : tg::matmul(b, dy, trans_b, true);
    }
    if (needs_input_grad(1)) {
      const bool fold = input_shapes[1].size() == 2 && a.dim() > 2 && !trans_a;
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
  Shape x_shape;
  int64_t in;
  DType operands;
  Tensor saved_x, saved_w;  // x only when w's gradient can be asked for, w only when x's can
  Linear(const Variable& x, const Variable& w) : x_shape(x.shape()), in(w.size(1)), operands(w.dtype()) {
    if (w.requires_grad()) saved_x = x.data();
    if (x.requires_grad()) saved_w = w.data();
  }
  const char* name() const override { return "linear"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dy2 = dy.reshape({-1, dy.size(-1)}), g = as_operand(dy2, operands);
    Tensor dx, dw, db;
    if (needs_input_grad(0)) dx = tg::matmul(g, saved_w).reshape(x_shape);
    if (needs_input_grad(1)) dw = tg::matmul(g, saved_x.reshape({dy2.size(0), in}), true, false);
    if (needs_input_grad(2)) db = tg::sum(dy2, {0});
    return {dx, dw, db};
  }
};

}  // namespace

Variable matmul(const Variable& a, const Variable& b, bool trans_a, bool trans_b) {
  Tensor y = tg::matmul(a.data(), b.data(), trans_a, trans_b);
  if (!needs_graph({&a, &b})) return Variable(std::move(y));
  return attach(std::make_shared<MatMul>(trans_a, trans_b, a, b), {a, b}, std::move(y));
}

Variable linear(const Variable& x, const Variable& w, const Variable& b) {
  const Tensor &xd = x.data(), &wd = w.data();
  TG_CHECK(xd.dim() >= 1 && wd.dim() == 2 && xd.size(-1) == wd.size(1), "linear: x ", xd.str(),
           " needs last dim = in of w [out, in] ", wd.str());
  TG_CHECK(!b.defined() || (b.dim() == 1 && b.size(0) == wd.size(0)), "linear: bias ", b.data().str(),
           " must be [out] for w ", wd.str());
  Shape out_shape = xd.shape();
  out_shape.back() = wd.size(0);
  const int64_t rows = numel(Shape(xd.shape().begin(), xd.shape().end() - 1));  // no -1: in may be 0
  Tensor y = tg::matmul(xd.reshape({rows, xd.size(-1)}), wd, false, true);
  if (b.defined()) tg::add_(y, b.data());
  y = y.reshape(out_shape);
  if (!needs_graph({&x, &w, &b})) return Variable(std::move(y));
  auto fn = std::make_shared<Linear>(x, w);
  return b.defined() ? attach(std::move(fn), {x, w, b}, std::move(y)) : attach(std::move(fn), {x, w}, std::move(y));
}

}  // namespace tg
