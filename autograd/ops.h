// The differentiable functions: what nn/, attacks/ and experiments/ build models and losses from.
// Each is defined in autograd/functions/<family>.cpp as a Node struct whose forward() stands directly
// above its backward(), with the math (and its source) above the backward.
#pragma once

#include <vector>

#include "autograd/variable.h"
#include "tensor/kernel_types.h"

namespace tg {

// ---- elementwise (functions/elementwise.cpp) ----
Variable add(const Variable& a, const Variable& b);  // broadcasting
Variable sub(const Variable& a, const Variable& b);
Variable mul(const Variable& a, const Variable& b);
Variable div(const Variable& a, const Variable& b);
Variable maximum(const Variable& a, const Variable& b);  // gradient to the larger (a on ties)
Variable minimum(const Variable& a, const Variable& b);
Variable add(const Variable& a, double s);
Variable mul(const Variable& a, double s);
Variable affine(const Variable& x, double scale, double shift);
// x converted to `dtype`; its gradient is dy converted back to x's dtype (rounding has derivative 1, as
// torch's .to() has it).
Variable cast(const Variable& x, DType dtype);
Variable pow(const Variable& x, double p);
Variable unary(UnaryOp op, const Variable& x);
Variable neg(const Variable& x);
Variable exp(const Variable& x);
Variable log(const Variable& x);
Variable sqrt(const Variable& x);
Variable abs(const Variable& x);
Variable relu(const Variable& x);
Variable gelu(const Variable& x);
Variable tanh(const Variable& x);
Variable sigmoid(const Variable& x);
Variable square(const Variable& x);
Variable clamp(const Variable& x, double lo, double hi);  // gradient 1 inside [lo, hi], 0 outside
Variable where(const Tensor& cond, const Variable& a, const Variable& b);

// ---- reductions (functions/reduce.cpp) ----  empty axes = all
Variable sum(const Variable& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
Variable mean(const Variable& x, const std::vector<int64_t>& axes = {}, bool keepdim = false);
Variable max(const Variable& x, int64_t axis, bool keepdim = false);  // gradient to the first argmax
Variable var(const Variable& x, const std::vector<int64_t>& axes, int64_t correction = 1, bool keepdim = false);

// ---- linear algebra (functions/matmul.cpp) ----
Variable matmul(const Variable& a, const Variable& b, bool trans_a = false, bool trans_b = false);
// bfloat16 operands: a float32 product by default, or the product rounded once to `out` = bfloat16.
Variable matmul(const Variable& a, const Variable& b, bool trans_a, bool trans_b, DType out);
Variable linear(const Variable& x, const Variable& w, const Variable& b);  // x @ w^T + b; b may be undefined
// bfloat16 x and w, float32 b: y in `out` (float32 or bfloat16); dx bfloat16, dw and db float32.
Variable linear(const Variable& x, const Variable& w, const Variable& b, DType out);

// ---- shape (functions/shape.cpp) ----
Variable reshape(const Variable& x, const Shape& shape);
Variable flatten(const Variable& x, int64_t start_dim = 1);  // [N, ...] -> [N, rest]
Variable permute(const Variable& x, const std::vector<int64_t>& perm);
Variable transpose(const Variable& x, int64_t a, int64_t b);
Variable slice(const Variable& x, int64_t dim, int64_t start, int64_t end);
Variable concat(const std::vector<Variable>& xs, int64_t dim);
Variable index_select(const Variable& x, int64_t dim, const Tensor& index);
Variable gather(const Variable& x, const Tensor& index);  // last axis; index [rows, K] int64

// ---- nn (functions/conv.cpp, functions/norm.cpp, functions/pool.cpp) ----
Variable conv2d(const Variable& x, const Variable& w, const Variable& b, const Conv2dParams& p);  // b may be undefined
// Training uses the batch statistics and updates the running ones in place; eval uses the running ones.
Variable batch_norm(const Variable& x, const Variable& gamma, const Variable& beta, Tensor& running_mean,
                    Tensor& running_var, bool training, double momentum = 0.1, double eps = 1e-5);
Variable layer_norm(const Variable& x, const Variable& gamma, const Variable& beta, double eps = 1e-5);  // last axis
// y in `out`: float32 and bfloat16 x and y mix, with float32 gamma and beta (tensor/ops.h).
Variable layer_norm(const Variable& x, const Variable& gamma, const Variable& beta, double eps, DType out);
Variable max_pool2d(const Variable& x, const Pool2dParams& p);
Variable avg_pool2d(const Variable& x, const Pool2dParams& p);
Variable adaptive_avg_pool2d(const Variable& x, int64_t out_h, int64_t out_w);
Variable dropout(const Variable& x, double p, bool training);  // inverted dropout, Philox mask

// ---- softmax and losses (functions/softmax.cpp) ----
Variable softmax(const Variable& x, int64_t axis = -1);
Variable log_softmax(const Variable& x, int64_t axis = -1);
// Tempered cross-entropy CE(z / tau, y), per sample [N]: one fused op (paper Eqs. 4-6),
// dL/dz = (softmax(z / tau) - onehot(y)) / tau. labels: int64 [N].
Variable cross_entropy_per_sample(const Variable& logits, const Tensor& labels, double tau = 1.0,
                                  double label_smoothing = 0.0);
// The mean over the batch: what training minimizes.
Variable cross_entropy(const Variable& logits, const Tensor& labels, double tau = 1.0, double label_smoothing = 0.0);

}  // namespace tg
