// Device-generic nn ops: convolution, batch norm and pooling. Each validates shapes (errors name the
// op and the shapes), allocates its outputs and dispatches to the kernels (tensor/kernels.inc).
#include "tensor/dispatch.h"
#include "tensor/ops.h"

namespace tg {

namespace {

void check_floating(const Tensor& t, const char* op) {
  TG_CHECK(is_floating(t.dtype()), op, ": expected float32, float64 or bfloat16, got ", t.str());
}

void check_nchw(const Shape& x, const char* op) {
  TG_CHECK(x.size() == 4, op, ": input must be 4-D [N, C, H, W], got ", shape_str(x));
}

// dy must be floating and have the shape `expected` (the forward's output shape).
void check_dy(const Tensor& dy, const Shape& expected, const Shape& x_shape, const char* op) {
  check_floating(dy, op);
  TG_CHECK(dy.shape() == expected, op, ": dy ", shape_str(dy.shape()), " does not match the output ",
           shape_str(expected), " of input ", shape_str(x_shape));
}

// Batch norm's per-channel tensors (gamma, beta, running and saved statistics, their gradients) have
// x's dtype, or float32 for bfloat16 activations: mixed precision keeps parameters and statistics in
// float32 (docs/ARCHITECTURE.md, "Mixed precision").
DType per_channel_dtype(DType x) { return x == DType::bf16 ? DType::f32 : x; }

// x is a floating [N, C, ...] input; each named tensor is [C] of per_channel_dtype(x).
void check_per_channel(const Tensor& x, std::initializer_list<std::pair<const char*, const Tensor*>> named,
                       const char* op) {
  check_floating(x, op);
  const DType want = per_channel_dtype(x.dtype());
  for (const auto& [name, t] : named) {
    TG_CHECK(t->dtype() == want, op, ": ", name, " must be ", dtype_name(want), " for input ", x.str(), ", got ",
             t->str(), x.dtype() == DType::bf16 ? " (bfloat16 activations keep float32 parameters and statistics)"
                                                : "");
    TG_CHECK(t->shape() == Shape{x.size(1)}, op, ": per-channel tensors must be [", x.size(1), "] for input ",
             shape_str(x.shape()), ", got ", name, " ", shape_str(t->shape()));
  }
}

// (in + 2 pad - kernel) / stride + 1, after checking that the window fits the padded input.
int64_t window_count(int64_t in, int64_t kernel, int64_t stride, int64_t pad) {
  return (in + 2 * pad - kernel) / stride + 1;
}

}  // namespace

// ---- convolution ----

Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& p) {
  check_nchw(x, "conv2d");
  TG_CHECK(w.size() == 4, "conv2d: weight must be 4-D [K, C, R, S], got ", shape_str(w));
  TG_CHECK(x[1] == w[1], "conv2d: input has ", x[1], " channels but the weight expects ", w[1],
           ": input ", shape_str(x), ", weight ", shape_str(w));
  TG_CHECK(p.stride_h >= 1 && p.stride_w >= 1 && p.pad_h >= 0 && p.pad_w >= 0, "conv2d: stride (", p.stride_h,
           ", ", p.stride_w, ") must be >= 1 and padding (", p.pad_h, ", ", p.pad_w, ") >= 0");
  TG_CHECK(w[0] >= 1 && w[2] >= 1 && w[3] >= 1, "conv2d: empty weight ", shape_str(w));
  const int64_t hp = x[2] + 2 * p.pad_h, wp = x[3] + 2 * p.pad_w;
  TG_CHECK(w[2] <= hp && w[3] <= wp, "conv2d: kernel ", w[2], "x", w[3], " is larger than the padded input ", hp,
           "x", wp, ": input ", shape_str(x), ", weight ", shape_str(w), ", padding (", p.pad_h, ", ", p.pad_w,
           ")");
  return {x[0], w[0], window_count(x[2], w[2], p.stride_h, p.pad_h), window_count(x[3], w[3], p.stride_w, p.pad_w)};
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  Device d = common_device({&x, &w}, "conv2d");
  check_same_dtype(x, w, "conv2d");
  check_floating(x, "conv2d");
  Tensor y = Tensor::empty(conv2d_output_shape(x.shape(), w.shape(), p), x.dtype(), d);
  TG_DISPATCH(d, conv2d_forward, x, w, y, p);
  return y;
}

Tensor conv2d_backward_data(const Tensor& dy, const Tensor& w, const Shape& x_shape, const Conv2dParams& p) {
  Device d = common_device({&dy, &w}, "conv2d_backward_data");
  check_same_dtype(dy, w, "conv2d_backward_data");
  check_floating(dy, "conv2d_backward_data");
  Shape y_shape = conv2d_output_shape(x_shape, w.shape(), p);
  TG_CHECK(dy.shape() == y_shape, "conv2d_backward_data: dy ", shape_str(dy.shape()), " does not match the output ",
           shape_str(y_shape), " of input ", shape_str(x_shape), " and weight ", shape_str(w.shape()));
  Tensor dx = Tensor::empty(x_shape, dy.dtype(), d);
  TG_DISPATCH(d, conv2d_backward_data, dy, w, dx, p);
  return dx;
}

Tensor conv2d_backward_filter(const Tensor& dy, const Tensor& x, const Shape& w_shape, const Conv2dParams& p) {
  Device d = common_device({&dy, &x}, "conv2d_backward_filter");
  check_same_dtype(dy, x, "conv2d_backward_filter");
  check_floating(dy, "conv2d_backward_filter");
  Shape y_shape = conv2d_output_shape(x.shape(), w_shape, p);
  TG_CHECK(dy.shape() == y_shape, "conv2d_backward_filter: dy ", shape_str(dy.shape()),
           " does not match the output ", shape_str(y_shape), " of input ", shape_str(x.shape()), " and weight ",
           shape_str(w_shape));
  Tensor dw = Tensor::empty(w_shape, dy.dtype(), d);
  TG_DISPATCH(d, conv2d_backward_filter, dy, x, dw, p);
  return dw;
}

// ---- batch norm ----

BatchNormOutput batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                           Tensor& running_var, bool training, double momentum, double eps) {
  Device d = common_device({&x, &gamma, &beta, &running_mean, &running_var}, "batch_norm");
  check_nchw(x.shape(), "batch_norm");
  check_per_channel(x, {{"gamma", &gamma}, {"beta", &beta}, {"running_mean", &running_mean},
                        {"running_var", &running_var}}, "batch_norm");
  const int64_t c = x.size(1);
  const DType stats = per_channel_dtype(x.dtype());
  TG_CHECK(eps > 0, "batch_norm: eps must be > 0, got ", eps);
  BatchNormOutput out;
  out.y = Tensor::empty_like(x);
  if (training) {
    TG_CHECK(x.numel() / c > 1, "batch_norm: training needs more than one value per channel, got input ",
             shape_str(x.shape()));
    out.mean = Tensor::empty({c}, stats, d);
    out.invstd = Tensor::empty({c}, stats, d);
    TG_DISPATCH(d, batch_norm_forward_train, x, gamma, beta, running_mean, running_var, out.y, out.mean, out.invstd,
                momentum, eps);
  } else {
    TG_DISPATCH(d, batch_norm_forward_eval, x, gamma, beta, running_mean, running_var, out.y, eps);
    out.mean = running_mean.clone();  // a copy: the running statistics change in the next training step
    out.invstd = unary(UnaryOp::rsqrt, add(running_var, eps));
  }
  return out;
}

// Let L = <dy, y>; writes the gradients `needs` asks for (kernel: tensor/cpu/batch_norm.cpp).
NormGrads batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                              const Tensor& invstd, bool batch_stats, NeedsGrads needs) {
  Device d = common_device({&dy, &x, &gamma, &mean, &invstd}, "batch_norm_backward");
  check_nchw(x.shape(), "batch_norm_backward");
  check_dy(dy, x.shape(), x.shape(), "batch_norm_backward");
  check_same_dtype(x, dy, "batch_norm_backward");
  check_per_channel(x, {{"gamma", &gamma}, {"mean", &mean}, {"invstd", &invstd}}, "batch_norm_backward");
  NormGrads g;
  if (needs[0]) g.dx = Tensor::empty_like(x);
  if (needs[1]) g.dgamma = Tensor::empty_like(gamma);
  if (needs[2]) g.dbeta = Tensor::empty_like(gamma);
  TG_DISPATCH(d, batch_norm_backward, dy, x, gamma, mean, invstd, g.dx, g.dgamma, g.dbeta, batch_stats);
  return g;
}

// ---- pooling ----

Shape pool2d_output_shape(const Shape& x, const Pool2dParams& p) {
  check_nchw(x, "pool2d");
  TG_CHECK(p.kernel_h >= 1 && p.kernel_w >= 1 && p.stride_h >= 1 && p.stride_w >= 1, "pool2d: kernel (",
           p.kernel_h, ", ", p.kernel_w, ") and stride (", p.stride_h, ", ", p.stride_w, ") must be >= 1");
  TG_CHECK(p.pad_h >= 0 && p.pad_w >= 0 && 2 * p.pad_h <= p.kernel_h && 2 * p.pad_w <= p.kernel_w,
           "pool2d: padding (", p.pad_h, ", ", p.pad_w, ") must be >= 0 and at most half the kernel (", p.kernel_h,
           ", ", p.kernel_w, ")");
  const int64_t hp = x[2] + 2 * p.pad_h, wp = x[3] + 2 * p.pad_w;
  TG_CHECK(p.kernel_h <= hp && p.kernel_w <= wp, "pool2d: kernel ", p.kernel_h, "x", p.kernel_w,
           " is larger than the padded input ", hp, "x", wp, ": input ", shape_str(x));
  return {x[0], x[1], window_count(x[2], p.kernel_h, p.stride_h, p.pad_h),
          window_count(x[3], p.kernel_w, p.stride_w, p.pad_w)};
}

std::pair<Tensor, Tensor> max_pool2d(const Tensor& x, const Pool2dParams& p) {
  Device d = common_device({&x}, "max_pool2d");
  check_floating(x, "max_pool2d");
  Shape out_shape = pool2d_output_shape(x.shape(), p);
  Tensor y = Tensor::empty(out_shape, x.dtype(), d);
  Tensor indices = Tensor::empty(out_shape, DType::i64, d);
  TG_DISPATCH(d, max_pool2d_forward, x, y, indices, p);
  return {y, indices};
}

Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p) {
  Device d = common_device({&x}, "avg_pool2d");
  check_floating(x, "avg_pool2d");
  Tensor y = Tensor::empty(pool2d_output_shape(x.shape(), p), x.dtype(), d);
  TG_DISPATCH(d, avg_pool2d_forward, x, y, p);
  return y;
}

Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w) {
  Device d = common_device({&x}, "adaptive_avg_pool2d");
  check_nchw(x.shape(), "adaptive_avg_pool2d");
  check_floating(x, "adaptive_avg_pool2d");
  TG_CHECK(out_h >= 1 && out_w >= 1 && x.size(2) >= 1 && x.size(3) >= 1, "adaptive_avg_pool2d: output size (",
           out_h, ", ", out_w, ") and input ", shape_str(x.shape()), " must have positive sizes");
  Tensor y = Tensor::empty({x.size(0), x.size(1), out_h, out_w}, x.dtype(), d);
  TG_DISPATCH(d, adaptive_avg_pool2d_forward, x, y);
  return y;
}

Tensor max_pool2d_backward(const Tensor& dy, const Tensor& indices, const Shape& x_shape, const Pool2dParams& p) {
  Device d = common_device({&dy, &indices}, "max_pool2d_backward");
  check_dy(dy, pool2d_output_shape(x_shape, p), x_shape, "max_pool2d_backward");
  TG_CHECK(indices.dtype() == DType::i64 && indices.shape() == dy.shape(), "max_pool2d_backward: indices ",
           indices.str(), " must be int64 and shaped as dy ", dy.str(), " (max_pool2d's indices)");
  Tensor dx = Tensor::empty(x_shape, dy.dtype(), d);
  TG_DISPATCH(d, max_pool2d_backward, dy, indices, dx, p);
  return dx;
}

Tensor avg_pool2d_backward(const Tensor& dy, const Shape& x_shape, const Pool2dParams& p) {
  Device d = common_device({&dy}, "avg_pool2d_backward");
  check_dy(dy, pool2d_output_shape(x_shape, p), x_shape, "avg_pool2d_backward");
  Tensor dx = Tensor::empty(x_shape, dy.dtype(), d);
  TG_DISPATCH(d, avg_pool2d_backward, dy, dx, p);
  return dx;
}

Tensor adaptive_avg_pool2d_backward(const Tensor& dy, const Shape& x_shape) {
  Device d = common_device({&dy}, "adaptive_avg_pool2d_backward");
  check_nchw(x_shape, "adaptive_avg_pool2d_backward");
  TG_CHECK(dy.dim() == 4, "adaptive_avg_pool2d_backward: dy must be 4-D, got ", dy.str());
  check_dy(dy, {x_shape[0], x_shape[1], dy.size(2), dy.size(3)}, x_shape, "adaptive_avg_pool2d_backward");
  Tensor dx = Tensor::empty(x_shape, dy.dtype(), d);
  TG_DISPATCH(d, adaptive_avg_pool2d_backward, dy, dx);
  return dx;
}

}  // namespace tg
