// CUDA softmax, log-softmax and the fused tempered cross-entropy over rows x cols (the last axis),
// with the CPU's formulas (tensor/cpu/softmax.cpp; docs/derivations/tempered_cross_entropy.md): each
// row is computed in double with the max subtracted, and log(sum exp) = log1p(rest), where rest sums
// exp(u - max) over all but the (first) argmax, so that a dominant class keeps its precision; float32
// rounds once, on the way out. One warp per row (8 rows per block): the class counts of this study
// (10 to 1000) fit a warp's loop well. Labels outside [0, C) cannot throw on the device: their loss
// is NaN (the op validates on the host).
#include "tensor/cuda/common.cuh"

namespace tg::cuda {

// kernels

namespace {

constexpr int kRowsPerBlock = 8;

__device__ __forceinline__ int64_t warp_row() {
  return static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp;
}

// One row u = scale * x, by one warp (every lane gets the result): its max, the first index of the
// max, and rest = sum of exp(u - max) over the other entries.
struct RowExp {
  double max, rest;
  int64_t argmax;
  __device__ double log_sum() const { return log1p(rest); }
};

template <class T>
__device__ RowExp row_exp(const T* row, int64_t cols, double scale) {
  const int lane = threadIdx.x % kWarp;
  RowExp r{-INFINITY, 0.0, cols};
  for (int64_t j = lane; j < cols; j += kWarp) {
    const double u = scale * static_cast<double>(row[j]);
    if (u > r.max || r.argmax == cols) {
      r.max = u;
      r.argmax = j;
    }
  }
  for (int o = kWarp / 2; o > 0; o /= 2) {  // max with the lowest index among equals
    const double m = __shfl_xor_sync(0xffffffffu, r.max, o);
    const int64_t k = __shfl_xor_sync(0xffffffffu, r.argmax, o);
    if (m > r.max || (m == r.max && k < r.argmax)) {
      r.max = m;
      r.argmax = k;
    }
  }
  double rest = 0;
  for (int64_t j = lane; j < cols; j += kWarp)
    if (j != r.argmax) rest += exp(scale * static_cast<double>(row[j]) - r.max);
  r.rest = warp_sum(rest);
  return r;
}

// y = softmax(x) = exp(x - m) / sum exp(x - m), or log_softmax(x) = x - m - log sum exp(x - m).
template <class T>
__global__ void softmax_forward_kernel(const T* x, T* y, int64_t rows, int64_t cols, bool log) {
  const int64_t r = warp_row();
  if (r >= rows) return;  // whole warps leave together
  const T* xr = x + r * cols;
  T* yr = y + r * cols;
  const RowExp e = row_exp(xr, cols, 1.0);
  const double shift = e.max + e.log_sum(), inv_sum = 1.0 / (1.0 + e.rest);
  for (int64_t j = threadIdx.x % kWarp; j < cols; j += kWarp) {
    const double u = static_cast<double>(xr[j]);
    yr[j] = static_cast<T>(log ? u - shift : (j == e.argmax ? 1.0 : exp(u - e.max)) * inv_sum);
  }
}

// softmax: dx = y * (dy - <dy, y>); log_softmax: dx = dy - exp(y) * sum(dy) (in double).
template <class T>
__global__ void softmax_backward_kernel(const T* dy, const T* y, T* dx, int64_t rows, int64_t cols, bool log) {
  const int64_t r = warp_row();
  if (r >= rows) return;
  const int64_t off = r * cols;
  double dot = 0;
  for (int64_t j = threadIdx.x % kWarp; j < cols; j += kWarp)
    dot += log ? static_cast<double>(dy[off + j]) : static_cast<double>(dy[off + j]) * y[off + j];
  dot = warp_sum(dot);
  for (int64_t j = threadIdx.x % kWarp; j < cols; j += kWarp) {
    const double g = dy[off + j], yj = y[off + j];
    dx[off + j] = static_cast<T>(log ? g - exp(yj) * dot : yj * (g - dot));
  }
}

// u = logits / tau, target t = (1 - eps) onehot(y) + eps / C:
// loss = (1 - eps) (lse - u_y) + eps (lse - mean_j u_j), with lse - u_y = (max - u_y) + log1p(rest);
// probs = softmax(u).
template <class T>
__global__ void cross_entropy_forward_kernel(const T* logits, const int64_t* labels, int64_t rows, int64_t cols,
                                             double inv_tau, double smoothing, T* losses, T* probs, IndexError* err) {
  const int64_t r = warp_row();
  if (r >= rows) return;
  const T* zr = logits + r * cols;
  T* pr = probs + r * cols;
  const RowExp e = row_exp(zr, cols, inv_tau);
  const double inv_sum = 1.0 / (1.0 + e.rest);
  double usum = 0;
  for (int64_t j = threadIdx.x % kWarp; j < cols; j += kWarp) {
    const double u = static_cast<double>(zr[j]) * inv_tau;
    pr[j] = static_cast<T>((j == e.argmax ? 1.0 : exp(u - e.max)) * inv_sum);
    usum += u;
  }
  usum = warp_sum(usum);
  if (threadIdx.x % kWarp == 0) {
    const int64_t y = labels[r];
    if (y < 0 || y >= cols) {  // reported (runtime.h, IndexError); the loss is NaN
      report_index_error(err, IndexOp::cross_entropy, y, r, cols);
      losses[r] = static_cast<T>(NAN);
      return;
    }
    const double nll = (e.max - static_cast<double>(zr[y]) * inv_tau) + e.log_sum();
    const double smooth = smoothing == 0.0 ? 0.0 : smoothing * (e.max + e.log_sum() - usum / cols);
    losses[r] = static_cast<T>((1.0 - smoothing) * nll + smooth);
  }
}

// dlogits += dloss_i / tau * (probs - target), target = on at the label, off elsewhere (in T, as the CPU).
template <class T>
struct CrossEntropyBackwardFn {
  const T *dlosses, *probs;
  const int64_t* labels;
  T* dlogits;
  int64_t cols;
  double tau;
  T on, off;
  __device__ void operator()(int64_t i) const {
    const int64_t r = i / cols, j = i % cols;
    const T scale = static_cast<T>(static_cast<double>(dlosses[r]) / tau);
    dlogits[i] = scale * (probs[i] - (labels[r] == j ? on : off));
  }
};

}  // namespace

// launchers

namespace {
unsigned row_grid(int64_t rows) {
  const int64_t g = (rows + kRowsPerBlock - 1) / kRowsPerBlock;
  TG_CHECK(g <= 2147483647, "softmax: ", rows, " rows are too many for one launch");
  return static_cast<unsigned>(g);
}
}  // namespace

void softmax_forward(const Tensor& x, Tensor& y, bool log) {
  const int64_t cols = x.dim() ? x.size(-1) : 1, rows = cols ? x.numel() / cols : 0;
  if (rows == 0) return;
  visit_floating(x.dtype(), "softmax", [&](auto zero) {
    using T = decltype(zero);
    softmax_forward_kernel<T><<<row_grid(rows), kRowsPerBlock * kWarp, 0, stream()>>>(x.data<T>(), y.data<T>(),
                                                                                       rows, cols, log);
    TG_CUDA_LAUNCH_CHECK(log ? "log_softmax " : "softmax ", x.str());
  });
}

// Forward: y = softmax(x) (or log_softmax). Let L = <dy, y>. Writes dL/dx = y (dy - <dy, y>) for
// softmax, dy - softmax(x) sum(dy) for log-softmax, into dx (docs/derivations/softmax.md).
void softmax_backward(const Tensor& dy, const Tensor& y, Tensor& dx, bool log) {
  const int64_t cols = y.dim() ? y.size(-1) : 1, rows = cols ? y.numel() / cols : 0;
  if (rows == 0) return;
  visit_floating(y.dtype(), "softmax_backward", [&](auto zero) {
    using T = decltype(zero);
    softmax_backward_kernel<T><<<row_grid(rows), kRowsPerBlock * kWarp, 0, stream()>>>(
        dy.data<T>(), y.data<T>(), dx.data<T>(), rows, cols, log);
    TG_CUDA_LAUNCH_CHECK(log ? "log_softmax_backward " : "softmax_backward ", y.str());
  });
}

void cross_entropy_forward(const Tensor& logits, const Tensor& labels, Tensor& losses, Tensor& probs, double tau,
                           double label_smoothing) {
  const int64_t rows = logits.size(0), cols = logits.size(1);
  if (rows == 0) return;
  visit_floating(logits.dtype(), "cross_entropy", [&](auto zero) {
    using T = decltype(zero);
    cross_entropy_forward_kernel<T><<<row_grid(rows), kRowsPerBlock * kWarp, 0, stream()>>>(
        logits.data<T>(), labels.data<int64_t>(), rows, cols, 1.0 / tau, label_smoothing, losses.data<T>(),
        probs.data<T>(), index_error_record());
    TG_CUDA_LAUNCH_CHECK("cross_entropy_forward ", logits.str(), " tau ", tau);
  });
}

// Forward: loss_i = CE(z_i / tau, target_i). Let L = sum_i dlosses_i loss_i. Writes
// dL/dz = dlosses_i (softmax(z / tau) - target) / tau into dlogits (paper Eqs. 4-6).
void cross_entropy_backward(const Tensor& dlosses, const Tensor& probs, const Tensor& labels, Tensor& dlogits,
                            double tau, double label_smoothing) {
  const int64_t cols = probs.size(1);
  visit_floating(probs.dtype(), "cross_entropy_backward", [&](auto zero) {
    using T = decltype(zero);
    const T off = static_cast<T>(label_smoothing / static_cast<double>(cols));
    const T on = static_cast<T>(1.0 - label_smoothing) + off;
    launch_map(probs.numel(),
               CrossEntropyBackwardFn<T>{dlosses.data<T>(), probs.data<T>(), labels.data<int64_t>(),
                                         dlogits.data<T>(), cols, tau, on, off},
               "cross_entropy_backward", probs.shape());
  });
}

}  // namespace tg::cuda
