// oneDNN's float32 convolutions behind cpu::conv2d_* (tensor/cpu/conv2d_dnnl.cpp). Each function
// runs the kernel of the same name in tensor/cpu/conv2d.cpp and returns true, or returns false
// (having done nothing) when it does not apply: a float64 tensor, fewer than 8 input or output
// channels, a build without oneDNN (-Ddnnl=disabled or libdnnl-dev absent), or a thread whose mode
// is DnnlConv2d::off. The kernels WRITE y, dx and dw.
#pragma once

#include <cstddef>

#include "tensor/kernel_types.h"
#include "tensor/tensor.h"

namespace tg::cpu {

// How this thread's float32 conv2d kernels run. blocked: oneDNN picks the layouts of the activations
// and weights (format_tag::any), and the NCHW tensors are reordered into them around the call;
// nchw: oneDNN computes on the NCHW tensors directly; off: the im2col + Eigen path.
enum class DnnlConv2d { blocked, nchw, off };

inline thread_local DnnlConv2d dnnl_conv2d_mode = DnnlConv2d::blocked;

// Sets this thread's mode for its lifetime (tests and bench/ compare the paths).
class ScopedDnnlConv2d {
 public:
  explicit ScopedDnnlConv2d(DnnlConv2d mode) : saved_(dnnl_conv2d_mode) { dnnl_conv2d_mode = mode; }
  ~ScopedDnnlConv2d() { dnnl_conv2d_mode = saved_; }
  ScopedDnnlConv2d(const ScopedDnnlConv2d&) = delete;
  ScopedDnnlConv2d& operator=(const ScopedDnnlConv2d&) = delete;

 private:
  DnnlConv2d saved_;
};

// Whether this build has oneDNN (libdnnl-dev found, -Ddnnl not disabled).
bool dnnl_conv2d_available();
bool dnnl_conv2d_forward(const Tensor& x, const Tensor& w, Tensor& y, const Conv2dParams& p);
bool dnnl_conv2d_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx, const Conv2dParams& p);
bool dnnl_conv2d_backward_filter(const Tensor& dy, const Tensor& x, Tensor& dw, const Conv2dParams& p);
// The number of primitives created so far (one per shape, parameters, direction, mode and thread count).
size_t dnnl_conv2d_cached_primitives();

}  // namespace tg::cpu
