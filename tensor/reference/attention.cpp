// Reference attention (Vaswani et al. 2017, Eq. 1, with scale = 1 / sqrt(D)):
//   s = scale q k^T,   p = softmax(s) over the keys,   out = p v.
// Backward, each line the backward of one line above, in reverse:
//   dp = dout v^T,   dv = p^T dout,   ds = softmax_backward(dp, p),   dq = scale ds k,   dk = scale ds^T q.
#include "tensor/reference/attention.h"

#include "tensor/reference/elementwise.h"
#include "tensor/reference/matmul.h"
#include "tensor/reference/softmax.h"

namespace tg::reference {

namespace {

// A [B, T, S] tensor as the [rows, cols] view that the softmax kernels take.
Tensor rows_of(const Tensor& t) { return t.reshape({-1, t.size(-1)}); }

}  // namespace

AttentionOutput attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, double scale) {
  Tensor s = affine(matmul(q, k, false, true), scale, 0.0);
  Tensor p = softmax_forward(rows_of(s), false).reshape(s.shape());
  return {matmul(p, v, false, false), p};
}

AttentionGrads attention_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                                  const Tensor& probs, double scale) {
  Tensor dp = matmul(dout, v, false, true);
  Tensor dv = matmul(probs, dout, true, false);
  Tensor ds = affine(softmax_backward(rows_of(dp), rows_of(probs), false).reshape(dp.shape()), scale, 0.0);
  return {matmul(ds, k, false, false), matmul(ds, q, true, false), dv};
}

}  // namespace tg::reference
