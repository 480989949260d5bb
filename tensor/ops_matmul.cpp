// Device-generic batched matmul: validates the operands, works out the batch broadcast, and folds a
// batch into the rows of one GEMM where the layout allows it ([..., m, k] @ [k, n] is one
// [B*m, k] @ [k, n] product: a linear layer over tokens). And the linear layer's product with its bias
// added inside the GEMM (C = the bias rows, beta = 1), so that a bfloat16 output is rounded once.
#include "tensor/dispatch.h"
#include "tensor/ops.h"

namespace tg {

namespace {

std::string operands_str(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  return detail::concat(dtype_name(a.dtype()), shape_str(a.shape()), trans_a ? "^T" : "", " @ ", dtype_name(b.dtype()),
                        shape_str(b.shape()), trans_b ? "^T" : "");
}

// The product's dtype: the operands' own, or for bfloat16 operands float32 or bfloat16 (`out`).
void check_out_dtype(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, DType out, const char* op) {
  TG_CHECK(out == a.dtype() || (a.dtype() == DType::bf16 && out == DType::f32), op, ": ",
           operands_str(a, b, trans_a, trans_b), " cannot give ", dtype_name(out),
           " (bfloat16 operands give float32 or bfloat16; other operands their own dtype)");
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  // bfloat16 operands give a float32 product by default (float32 accumulation, nothing rounded).
  return matmul(a, b, trans_a, trans_b, a.dtype() == DType::bf16 ? DType::f32 : a.dtype());
}

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, DType out) {
  Device d = common_device({&a, &b}, "matmul");
  TG_CHECK(a.dim() >= 2 && b.dim() >= 2, "matmul: operands need at least 2 dims (reshape vectors first): ",
           operands_str(a, b, trans_a, trans_b));
  check_same_dtype(a, b, "matmul");
  TG_CHECK(is_floating(a.dtype()), "matmul: expected float32, float64 or bfloat16 operands, got ",
           operands_str(a, b, trans_a, trans_b));
  check_out_dtype(a, b, trans_a, trans_b, out, "matmul");
  const int64_t m = trans_a ? a.size(-1) : a.size(-2), ka = trans_a ? a.size(-2) : a.size(-1);
  const int64_t kb = trans_b ? b.size(-1) : b.size(-2), n = trans_b ? b.size(-2) : b.size(-1);
  TG_CHECK(ka == kb, "matmul: inner sizes differ (", ka, " vs ", kb, "): ", operands_str(a, b, trans_a, trans_b));

  // Batch dims: equal, or one side has none (2-D) or only size-1 ones; that side is broadcast.
  const Shape batch_a(a.shape().begin(), a.shape().end() - 2), batch_b(b.shape().begin(), b.shape().end() - 2);
  const bool a_single = numel(batch_a) == 1, b_single = numel(batch_b) == 1;
  TG_CHECK(batch_a == batch_b || a_single || b_single, "matmul: batch dims ", shape_str(batch_a), " and ",
           shape_str(batch_b), " differ and neither is 1: ", operands_str(a, b, trans_a, trans_b));
  const Shape& batch = !a_single ? batch_a : !b_single ? batch_b : batch_a.size() >= batch_b.size() ? batch_a : batch_b;
  Shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  Tensor c = Tensor::empty(out_shape, out, d);

  if (b_single && !trans_a && numel(batch) > 1) {
    // Fold a's batch into its rows: one GEMM [B*m, k] @ op(b).
    Tensor c2 = c.reshape({numel(batch) * m, n});
    TG_DISPATCH(d, matmul, a.reshape({numel(batch) * m, ka}), b, c2, false, trans_b, 1.0, 0.0);
  } else {
    TG_DISPATCH(d, matmul, a, b, c, trans_a, trans_b, 1.0, 0.0);
  }
  return c;
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias, DType out) {
  Device d = common_device({&x, &w}, "linear");
  TG_CHECK(x.dim() == 2 && w.dim() == 2 && x.size(1) == w.size(1), "linear: x ", x.str(),
           " must be [rows, in] for w [out, in] ", w.str());
  if (!bias.defined()) return matmul(x, w, false, true, out);
  check_same_dtype(x, w, "linear");
  check_out_dtype(x, w, false, true, out, "linear");
  const DType bias_dtype = x.dtype() == DType::bf16 ? DType::f32 : x.dtype();
  TG_CHECK(bias.device() == d && bias.dtype() == bias_dtype && bias.shape() == Shape{w.size(0)}, "linear: bias ",
           bias.str(), " must be [", w.size(0), "] of ", dtype_name(bias_dtype), " on the device of x ", x.str());
  // C = the bias in every row, in the output's dtype (a bfloat16 output's bias is rounded to bfloat16,
  // as autocast rounds it; cuBLAS reads C in C's dtype); the GEMM adds the product to it (beta = 1).
  Tensor y = expand(cast(bias, out).reshape({1, w.size(0)}), {x.size(0), w.size(0)});
  TG_DISPATCH(d, matmul, x, w, y, false, true, 1.0, 1.0);
  return y;
}

}  // namespace tg
