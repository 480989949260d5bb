// Differentiable linear algebra: batched matmul with transpose flags, and the linear layer.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/ops.h"

namespace tg {

namespace {

// dy as a GEMM operand beside operands of dtype `operands`: a bfloat16 GEMM's gradients are bfloat16
// GEMMs too (dy rounded to bf16, as autocast's bf16 output gradient is; a bf16 dy is itself).
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
// The gradients have the operands' dtype: bfloat16 operands (activations, as attention's) get
// bfloat16 gradients, each a bf16 GEMM rounded once, whatever the forward's output dtype was.
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
    auto mm = [&](const Tensor& x, const Tensor& y, bool tx, bool ty) { return tg::matmul(x, y, tx, ty, operands); };
    Tensor da, db;
    if (needs_input_grad(0)) da = !trans_a ? mm(dy, b, false, !trans_b) : mm(b, dy, trans_b, true);
    if (needs_input_grad(1)) {
      const bool fold = input_shapes[1].size() == 2 && a.dim() > 2 && !trans_a;
      if (fold) {
        Tensor a2 = a.reshape({-1, a.size(-1)}), dy2 = dy.reshape({-1, dy.size(-1)});
        db = !trans_b ? mm(a2, dy2, true, false) : mm(dy2, a2, true, false);
      } else {
        db = !trans_b ? mm(a, dy, !trans_a, false) : mm(dy, a, true, trans_a);
      }
    }
    return {da, db};
  }
};

// y = x @ w^T + b over the last axis of x [..., in]; w [out, in], b [out] or undefined.
// With x2 = x as [rows, in] and dy2 = dy as [rows, out]:
//   dx = dy @ w,   dw = dy2^T @ x2,   db = sum over rows of dy2.
// bfloat16 x and w (the bf16 policy): dy is rounded to bfloat16 for the GEMMs; dx is bfloat16 (x's
// dtype) and dw float32 (float32 accumulation, not rounded: a parameter's gradient); db sums dy in
// float32, a bf16 dy by a GEMM with a row of ones (exact products, float32 accumulation).
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
    if (needs_input_grad(0)) dx = tg::matmul(g, saved_w, false, false, operands).reshape(x_shape);
    if (needs_input_grad(1)) dw = tg::matmul(g, saved_x.reshape({dy2.size(0), in}), true, false);
    if (needs_input_grad(2)) {
      if (dy2.dtype() != DType::bf16) {
        db = tg::sum(dy2, {0});
      } else {
        const Tensor ones = Tensor::ones({1, dy2.size(0)}, DType::bf16, dy2.device());
        db = tg::matmul(ones, dy2).reshape({dy2.size(1)});
      }
    }
    return {dx, dw, db};
  }
};

}  // namespace

Variable matmul(const Variable& a, const Variable& b, bool trans_a, bool trans_b) {
  return matmul(a, b, trans_a, trans_b, a.dtype() == DType::bf16 ? DType::f32 : a.dtype());
}

Variable matmul(const Variable& a, const Variable& b, bool trans_a, bool trans_b, DType out) {
  Tensor y = tg::matmul(a.data(), b.data(), trans_a, trans_b, out);
  if (!needs_graph({&a, &b})) return Variable(std::move(y));
  return attach(std::make_shared<MatMul>(trans_a, trans_b, a, b), {a, b}, std::move(y));
}

Variable linear(const Variable& x, const Variable& w, const Variable& b) {
  return linear(x, w, b, x.dtype() == DType::bf16 ? DType::f32 : x.dtype());
}

Variable linear(const Variable& x, const Variable& w, const Variable& b, DType out) {
  const Tensor &xd = x.data(), &wd = w.data();
  TG_CHECK(xd.dim() >= 1 && wd.dim() == 2 && xd.size(-1) == wd.size(1), "linear: x ", xd.str(),
           " needs last dim = in of w [out, in] ", wd.str());
  TG_CHECK(!b.defined() || (b.dim() == 1 && b.size(0) == wd.size(0)), "linear: bias ", b.data().str(),
           " must be [out] for w ", wd.str());
  Shape out_shape = xd.shape();
  out_shape.back() = wd.size(0);
  const int64_t rows = numel(Shape(xd.shape().begin(), xd.shape().end() - 1));  // no -1: in may be 0
  Tensor y = tg::linear(xd.reshape({rows, xd.size(-1)}), wd, b.defined() ? b.data() : Tensor(), out).reshape(out_shape);
  if (!needs_graph({&x, &w, &b})) return Variable(std::move(y));
  auto fn = std::make_shared<Linear>(x, w);
  return b.defined() ? attach(std::move(fn), {x, w, b}, std::move(y)) : attach(std::move(fn), {x, w}, std::move(y));
}

}  // namespace tg
