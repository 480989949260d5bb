// Reference indexing kernels (float64 values, int64 indices, plain loops): the oracle for
// tensor/cpu/shape.cpp and tensor/cuda/shape.cu. (permute, slice and concat only copy.)
#pragma once

#include "tensor/tensor.h"

namespace tg::reference {

Tensor index_select(const Tensor& x, const Tensor& index, int64_t dim);
Tensor index_add(const Tensor& dy, const Tensor& index, const Shape& x_shape, int64_t dim);  // its backward
Tensor gather(const Tensor& x, const Tensor& index);                                      // last axis
Tensor scatter_add(const Tensor& dy, const Tensor& index, const Shape& x_shape);          // its backward

}  // namespace tg::reference
