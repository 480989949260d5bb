// Device-generic softmax, log-softmax, the fused tempered cross-entropy and layer norm: validate,
// allocate, dispatch. The kernels work on the last axis; another axis is permuted there and back.
#include "tensor/dispatch.h"
#include "tensor/ops.h"

namespace tg {

namespace {

// The permutation that swaps `axis` with the last one (its own inverse).
std::vector<int64_t> swap_last(int64_t ndim, int64_t axis) {
  std::vector<int64_t> perm(ndim);
  for (int64_t i = 0; i < ndim; ++i) perm[i] = i;
  std::swap(perm[axis], perm[ndim - 1]);
  return perm;
}

Tensor softmax_along(const Tensor& x, int64_t axis, bool log, const char* op) {
  Device d = common_device({&x}, op);
  TG_CHECK(is_floating(x.dtype()), op, ": expected a float32 or float64 tensor, got ", x.str());
  if (x.dim() == 0) return softmax_along(x.reshape({1}), 0, log, op).reshape({});
  const int64_t a = wrap_axis(axis, x.dim(), op);
  if (a != x.dim() - 1) {
    const std::vector<int64_t> perm = swap_last(x.dim(), a);
    return permute(softmax_along(permute(x, perm), -1, log, op), perm);
  }
  Tensor y = Tensor::empty_like(x);
  TG_DISPATCH(d, softmax_forward, x, y, log);
  return y;
}

// Labels must lie in [0, classes). Checked here where they live on the host; on a GPU this check
// would cost a device-to-host copy every step (DESIGN.md §6), so the kernel reports a bad label and
// the next synchronization throws this same error (tensor/cuda/runtime.h, IndexError).
void check_labels(const Tensor& labels, int64_t classes, const char* op) {
  if (labels.is_cuda()) return;
  const int64_t* p = labels.data<int64_t>();
  for (int64_t i = 0; i < labels.numel(); ++i)
    TG_CHECK(p[i] >= 0 && p[i] < classes, op, ": label ", p[i], " at index ", i, " is out of range [0, ",
             classes, ") for ", labels.str());
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t axis) { return softmax_along(x, axis, false, "softmax"); }
Tensor log_softmax(const Tensor& x, int64_t axis) { return softmax_along(x, axis, true, "log_softmax"); }

Tensor softmax_backward(const Tensor& dy, const Tensor& y, bool log, int64_t axis) {
  const char* op = log ? "log_softmax_backward" : "softmax_backward";
  Device d = common_device({&dy, &y}, op);
  TG_CHECK(is_floating(y.dtype()) && dy.shape() == y.shape(), op, ": dy ", dy.str(),
           " must match the floating output ", y.str());
  check_same_dtype(dy, y, op);
  if (y.dim() == 0) return softmax_backward(dy.reshape({1}), y.reshape({1}), log, 0).reshape({});
  const int64_t a = wrap_axis(axis, y.dim(), op);
  if (a != y.dim() - 1) {
    const std::vector<int64_t> perm = swap_last(y.dim(), a);
    return permute(softmax_backward(permute(dy, perm), permute(y, perm), log, -1), perm);
  }
  Tensor dx = Tensor::empty_like(y);
  TG_DISPATCH(d, softmax_backward, dy, y, dx, log);
  return dx;
}

CrossEntropyOutput cross_entropy(const Tensor& logits, const Tensor& labels, double tau, double label_smoothing) {
  Device d = common_device({&logits, &labels}, "cross_entropy");
  TG_CHECK(logits.dim() == 2 && is_floating(logits.dtype()),
           "cross_entropy: logits must be float32 or float64 [N, C], got ", logits.str());
  TG_CHECK(labels.dtype() == DType::i64 && labels.dim() == 1 && labels.size(0) == logits.size(0),
           "cross_entropy: labels must be int64 [N] with N = ", logits.size(0), " (logits ", logits.str(),
           "), got ", labels.str());
  TG_CHECK(logits.size(1) > 0, "cross_entropy: no classes in logits ", logits.str());
  TG_CHECK(tau > 0, "cross_entropy: temperature tau must be > 0, got ", tau);
  TG_CHECK(label_smoothing >= 0 && label_smoothing <= 1, "cross_entropy: label_smoothing must be in [0, 1], got ",
           label_smoothing);
  check_labels(labels, logits.size(1), "cross_entropy");
  CrossEntropyOutput out{Tensor::empty({logits.size(0)}, logits.dtype(), d), Tensor::empty_like(logits)};
  TG_DISPATCH(d, cross_entropy_forward, logits, labels, out.losses, out.probs, tau, label_smoothing);
  return out;
}

Tensor cross_entropy_backward(const Tensor& dlosses, const Tensor& probs, const Tensor& labels, double tau,
                              double label_smoothing) {
  Device d = common_device({&dlosses, &probs, &labels}, "cross_entropy_backward");
  TG_CHECK(probs.dim() == 2 && is_floating(probs.dtype()) && dlosses.shape() == Shape{probs.size(0)},
           "cross_entropy_backward: probs must be floating [N, C] and dlosses [N], got probs ", probs.str(),
           " and dlosses ", dlosses.str());
  check_same_dtype(dlosses, probs, "cross_entropy_backward");
  TG_CHECK(labels.dtype() == DType::i64 && labels.shape() == dlosses.shape(),
           "cross_entropy_backward: labels must be int64 [", probs.size(0), "], got ", labels.str());
  TG_CHECK(tau > 0, "cross_entropy_backward: temperature tau must be > 0, got ", tau);
  Tensor dlogits = Tensor::empty_like(probs);
  TG_DISPATCH(d, cross_entropy_backward, dlosses, probs, labels, dlogits, tau, label_smoothing);
  return dlogits;
}

namespace {

// Layer norm's dtypes: x and y float32 or bfloat16 in any mix, with float32 gamma, beta and statistics
// (the parameter dtype returned), or all float64. `y` is the output's dtype (dy's in backward).
DType layer_norm_dtypes(const Tensor& x, DType y, const char* op) {
  TG_CHECK(x.dim() >= 1 && is_floating(x.dtype()), op, ": expected a float32, float64 or bfloat16 x of at least 1 ",
           "dim, got ", x.str());
  const DType param = x.dtype() == DType::bf16 ? DType::f32 : x.dtype();
  TG_CHECK(y == x.dtype() || (param == DType::f32 && (y == DType::f32 || y == DType::bf16)), op, ": x ", x.str(),
           " with a ", dtype_name(y), " y: float32 and bfloat16 x and y mix; float64 goes with float64 only");
  return param;
}

}  // namespace

LayerNormOutput layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps) {
  return layer_norm(x, gamma, beta, eps, x.dtype());
}

LayerNormOutput layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, DType out) {
  Device d = common_device({&x}, "layer_norm");
  const DType param = layer_norm_dtypes(x, out, "layer_norm");
  const int64_t cols = x.size(-1);
  for (const Tensor* p : {&gamma, &beta}) {
    if (!p->defined()) continue;
    TG_CHECK(p->device() == d && p->dtype() == param && p->shape() == Shape{cols}, "layer_norm: ",
             p == &gamma ? "gamma " : "beta ", p->str(), " must be [", cols, "] of ", dtype_name(param),
             " on x's device, x ", x.str());
  }
  TG_CHECK(eps >= 0, "layer_norm: eps must be >= 0, got ", eps);
  const Shape rows(x.shape().begin(), x.shape().end() - 1);
  LayerNormOutput y{Tensor::empty(x.shape(), out, d), Tensor::empty(rows, param, d), Tensor::empty(rows, param, d)};
  TG_DISPATCH(d, layer_norm_forward, x, gamma, beta, y.y, y.mean, y.invstd, eps);
  return y;
}

NormGrads layer_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                              const Tensor& invstd, NeedsGrads needs) {
  Device d = common_device({&dy, &x, &mean, &invstd}, "layer_norm_backward");
  const DType param = layer_norm_dtypes(x, dy.dtype(), "layer_norm_backward");
  TG_CHECK(dy.shape() == x.shape(), "layer_norm_backward: dy ", dy.str(), " must match the input ", x.str());
  const Shape rows(x.shape().begin(), x.shape().end() - 1);
  TG_CHECK(mean.shape() == rows && invstd.shape() == rows && mean.dtype() == param && invstd.dtype() == param,
           "layer_norm_backward: mean ", mean.str(), " and invstd ", invstd.str(), " must be ", shape_str(rows), " of ",
           dtype_name(param), " for x ", x.str());
  TG_CHECK(gamma.defined() || !needs[1], "layer_norm_backward: dgamma asked for without gamma");
  if (gamma.defined()) {
    common_device({&x, &gamma}, "layer_norm_backward");
    TG_CHECK(gamma.shape() == Shape{x.size(-1)} && gamma.dtype() == param, "layer_norm_backward: gamma ",
             gamma.str(), " must be [", x.size(-1), "] of ", dtype_name(param), " for x ", x.str());
  }
  NormGrads g;
  if (needs[0]) g.dx = Tensor::empty_like(x);
  if (needs[1]) g.dgamma = Tensor::empty({x.size(-1)}, param, d);
  if (needs[2]) g.dbeta = Tensor::empty({x.size(-1)}, param, d);
  TG_DISPATCH(d, layer_norm_backward, dy, x, gamma, mean, invstd, g.dx, g.dgamma, g.dbeta);
  return g;
}

}  // namespace tg
