// Reference batched matrix product (float64, plain loops): the oracle for tensor/cpu/matmul.cpp and
// tensor/cuda/matmul.cu.
#pragma once

#include "tensor/tensor.h"

namespace tg::reference {

struct MatmulGrads {
  Tensor da, db;
};
// a [Ba, ra, ca] (or 2-D: Ba = 1), b [Bb, rb, cb] likewise; Ba and Bb are B or 1. Returns c [B, m, n].
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b);
MatmulGrads matmul_backward(const Tensor& dc, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b);

}  // namespace tg::reference
