// Device-generic tensor ops (no autograd): each validates its operands, allocates its output on the
// operands' device and dispatches to the kernel (tensor/dispatch.h). Errors name the op and shapes.
// Implemented by family in tensor/ops_<family>.cpp, beside the kernels they call. They are the only
// route to a kernel: autograd nodes and optimizers call them. A backward op is named after its
// kernel and returns fresh gradients (written by the kernel, never zero-filled first, except the
// scatter-adds: slice_backward, index_select_backward, gather_backward).
#pragma once

#include <array>
#include <vector>

#include "tensor/kernel_types.h"
#include "tensor/tensor.h"

namespace tg {

// Asserts that all tensors are defined and on one device; returns it.
Device common_device(std::initializer_list<const Tensor*> ts, const char* op);
void check_same_dtype(const Tensor& a, const Tensor& b, const char* op);

// ---- elementwise (ops_elementwise.cpp) ----
Tensor unary(UnaryOp op, const Tensor& x);
Tensor unary_backward(UnaryOp op, const Tensor& dy, const Tensor& x, const Tensor& y);  // fresh dx
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor sign(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor gelu(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor square(const Tensor& x);
Tensor pow(const Tensor& x, double p);
Tensor clamp(const Tensor& x, double lo, double hi);
Tensor affine(const Tensor& x, double scale, double shift);  // scale * x + shift
// x converted to `dtype` (x itself when it has it): C++'s conversions, bfloat16 rounded to nearest even.
Tensor cast(const Tensor& x, DType dtype);

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);  // broadcasting
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double s);
Tensor mul(const Tensor& a, double s);
Tensor eq(const Tensor& a, const Tensor& b);  // comparisons give uint8
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor expand(const Tensor& x, const Shape& shape);  // x broadcast to `shape`, copied
void add_(Tensor& a, const Tensor& b);          // a += b (same shape, or b broadcast to a)
void add_scaled_(Tensor& a, const Tensor& b, double s);  // a += s * b (same shape)

// ---- reductions (ops_reduce.cpp) ----  axes may be negative; empty axes = all
Tensor sum(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
Tensor max(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
Tensor min(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
Tensor var(const Tensor& x, const std::vector<int64_t>& axes = {}, int64_t correction = 1,
           bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t axis, bool keepdim = false);  // int64
Tensor argmin(const Tensor& x, int64_t axis, bool keepdim = false);
// Sums x down to `shape` (undoes broadcasting): the engine calls it once for every gradient.
Tensor sum_to(const Tensor& x, const Shape& shape);

// ---- matmul (ops_matmul.cpp) ----
// Batched: a [..., m, k] @ b [..., k, n] (after the transposes); batch dims broadcast when one side
// has none (2-D) or they are equal. 1-D operands are not accepted (reshape first).
// bfloat16 operands give a float32 product, or with `out` = bfloat16 the product rounded once (float32
// accumulation); other operands give their own dtype.
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, DType out);
// x [rows, in] @ w [out, in]^T + bias [out] (undefined: none), the bias added before the product's one
// rounding. bias has x's dtype, float32 for bfloat16 x (rounded to bfloat16 for a bfloat16 output).
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias, DType out);

// ---- nn kernels (ops_nn.cpp) ----
Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& p);
Tensor conv2d(const Tensor& x, const Tensor& w, const Conv2dParams& p);
Tensor conv2d_backward_data(const Tensor& dy, const Tensor& w, const Shape& x_shape, const Conv2dParams& p);
Tensor conv2d_backward_filter(const Tensor& dy, const Tensor& x, const Shape& w_shape, const Conv2dParams& p);

// The gradients of a normalization: dx, dgamma, dbeta, each undefined unless `needs` asks for it.
struct NormGrads {
  Tensor dx, dgamma, dbeta;
};
using NeedsGrads = std::array<bool, 3>;  // {dx, dgamma, dbeta}

struct BatchNormOutput {
  Tensor y, mean, invstd;  // mean/invstd: the statistics used (batch's in training, running in eval)
};
BatchNormOutput batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                           Tensor& running_var, bool training, double momentum, double eps);
// batch_stats: mean/invstd were the batch's (training), so dx includes their gradient.
NormGrads batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                              const Tensor& invstd, bool batch_stats, NeedsGrads needs);

Shape pool2d_output_shape(const Shape& x, const Pool2dParams& p);
std::pair<Tensor, Tensor> max_pool2d(const Tensor& x, const Pool2dParams& p);  // values, indices
Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p);
Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w);
Tensor max_pool2d_backward(const Tensor& dy, const Tensor& indices, const Shape& x_shape, const Pool2dParams& p);
Tensor avg_pool2d_backward(const Tensor& dy, const Shape& x_shape, const Pool2dParams& p);
Tensor adaptive_avg_pool2d_backward(const Tensor& dy, const Shape& x_shape);

Tensor softmax(const Tensor& x, int64_t axis = -1);
Tensor log_softmax(const Tensor& x, int64_t axis = -1);
Tensor softmax_backward(const Tensor& dy, const Tensor& y, bool log, int64_t axis = -1);  // y: forward output
struct CrossEntropyOutput {
  Tensor losses, probs;  // per-sample losses [N]; probs = softmax(logits / tau)
};
CrossEntropyOutput cross_entropy(const Tensor& logits, const Tensor& labels, double tau,
                                 double label_smoothing = 0.0);
Tensor cross_entropy_backward(const Tensor& dlosses, const Tensor& probs, const Tensor& labels, double tau,
                              double label_smoothing = 0.0);  // dlogits

struct LayerNormOutput {
  Tensor y, mean, invstd;
};
LayerNormOutput layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps);  // last axis
// y in dtype `out`: x and y float32 or bfloat16 in any mix, with float32 gamma, beta and statistics
// (the float32 kernel's arithmetic, y rounded once), or all float64.
LayerNormOutput layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, DType out);
// gamma may be undefined (then needs[1] must be false). dy has y's dtype; dx gets x's.
NormGrads layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                              const Tensor& invstd, NeedsGrads needs);

// ---- shape and indexing (ops_shape.cpp) ----
Tensor permute(const Tensor& x, const std::vector<int64_t>& perm);
Tensor transpose(const Tensor& x, int64_t a, int64_t b);
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end);
Tensor concat(const std::vector<Tensor>& xs, int64_t dim);
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor gather(const Tensor& x, const Tensor& index);  // last axis
Tensor one_hot(const Tensor& labels, int64_t num_classes, DType dtype = DType::f32);
// The scatter-adds: zeros of x's shape with dy added where the forward took its elements from.
Tensor slice_backward(const Tensor& dy, int64_t dim, int64_t start, const Shape& x_shape);
Tensor index_select_backward(const Tensor& dy, int64_t dim, const Tensor& index, const Shape& x_shape);
Tensor gather_backward(const Tensor& dy, const Tensor& index, const Shape& x_shape);

// ---- optimizer updates (ops_optim.cpp), in place, torch.optim semantics ----
// momentum_buf may be undefined when p.momentum == 0; with p.first_step it is written, not read.
void sgd_step_(Tensor& param, const Tensor& grad, Tensor& momentum_buf, const SgdParams& p);
void adam_step_(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, const AdamParams& p);

}  // namespace tg
