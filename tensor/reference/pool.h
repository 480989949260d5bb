// Reference 2-D pooling over NCHW (float64, plain loops): the oracle for tensor/cpu/pool.cpp and
// tensor/cuda/pool.cu.
#pragma once

#include "tensor/kernel_types.h"
#include "tensor/tensor.h"

namespace tg::reference {

struct MaxPoolOutput {
  Tensor y, indices;  // indices: int64, ih * W + iw of the first maximum in each window
};
MaxPoolOutput max_pool2d_forward(const Tensor& x, const Pool2dParams& p);
Tensor max_pool2d_backward(const Tensor& dy, const Tensor& indices, const Shape& x_shape);
Tensor avg_pool2d_forward(const Tensor& x, const Pool2dParams& p);
Tensor avg_pool2d_backward(const Tensor& dy, const Shape& x_shape, const Pool2dParams& p);
Tensor adaptive_avg_pool2d_forward(const Tensor& x, int64_t out_h, int64_t out_w);
Tensor adaptive_avg_pool2d_backward(const Tensor& dy, const Shape& x_shape);

}  // namespace tg::reference
