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
  TG_DISPATCH(d, cross_entropy_forward, logits, labels, tau, label_smoothing, out.losses, out.probs);
  return out;
}

LayerNormOutput layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps) {
  Device d = common_device({&x}, "layer_norm");
  TG_CHECK(x.dim() >= 1 && is_floating(x.dtype()), "layer_norm: expected a float32 or float64 tensor of at ",
           "least 1 dim, got ", x.str());
  const int64_t cols = x.size(-1);
  for (const Tensor* p : {&gamma, &beta}) {
    if (!p->defined()) continue;
    TG_CHECK(p->device() == d && p->dtype() == x.dtype() && p->shape() == Shape{cols}, "layer_norm: ",
             p == &gamma ? "gamma " : "beta ", p->str(), " must be [", cols, "] of x's dtype and device, x ",
             x.str());
  }
  TG_CHECK(eps >= 0, "layer_norm: eps must be >= 0, got ", eps);
  const Shape rows(x.shape().begin(), x.shape().end() - 1);
  LayerNormOutput out{Tensor::empty_like(x), Tensor::empty(rows, x.dtype(), d), Tensor::empty(rows, x.dtype(), d)};
  TG_DISPATCH(d, layer_norm_forward, x, gamma, beta, eps, out.y, out.mean, out.invstd);
  return out;
}

}  // namespace tg
