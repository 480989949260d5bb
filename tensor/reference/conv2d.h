// Reference 2-D convolution (float64, plain loops): the oracle for tensor/cpu/conv2d.cpp and
// tensor/cuda/conv2d.cu. x [N, C, H, W], w [K, C, R, S], y [N, K, P, Q]; stride and zero padding
// as Conv2dParams (no dilation, no groups: the kernels have neither).
#pragma once

#include "tensor/kernel_types.h"
#include "tensor/tensor.h"

namespace tg::reference {

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Conv2dParams& p);
Tensor conv2d_backward_data(const Tensor& dy, const Tensor& w, const Shape& x_shape, const Conv2dParams& p);
Tensor conv2d_backward_filter(const Tensor& dy, const Tensor& x, const Shape& w_shape, const Conv2dParams& p);

}  // namespace tg::reference
