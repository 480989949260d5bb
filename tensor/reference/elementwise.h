// Reference elementwise kernels (float64, plain loops): the oracle for tensor/cpu/elementwise.cpp
// and tensor/cuda/elementwise.cu. Each backward returns dL/dx for L = <dy, y>.
#pragma once

#include "tensor/kernel_types.h"
#include "tensor/tensor.h"

namespace tg::reference {

Tensor unary(const Tensor& x, UnaryOp op);
Tensor unary_backward(const Tensor& dy, const Tensor& x, UnaryOp op);

Tensor affine(const Tensor& x, double scale, double shift);
// x rounded to the nearest bfloat16 (ties to even; past the largest finite bf16, infinity), as float64.
// The backward of a cast is the identity (its derivative is taken as 1), so it has no kernel here.
Tensor round_to_bf16(const Tensor& x);
Tensor pow_scalar(const Tensor& x, double p);
Tensor pow_scalar_backward(const Tensor& dy, const Tensor& x, double p);
Tensor clamp(const Tensor& x, double lo, double hi);
Tensor clamp_backward(const Tensor& dy, const Tensor& x, double lo, double hi);

struct BinaryGrads {
  Tensor da, db;  // in a's and b's shapes: broadcast dimensions summed
};
Tensor binary(const Tensor& a, const Tensor& b, BinaryOp op);  // broadcasting; comparisons give 0/1
BinaryGrads binary_backward(const Tensor& dy, const Tensor& a, const Tensor& b, BinaryOp op);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);  // cond uint8, broadcasting
BinaryGrads where_backward(const Tensor& dy, const Tensor& cond, const Tensor& a, const Tensor& b);

}  // namespace tg::reference
