// The small types that kernel signatures share: op codes and parameter structs.
#pragma once

#include <cstdint>

namespace tg {

enum class UnaryOp : uint8_t {
  neg, exp, log, sqrt, rsqrt, abs, sign, relu, gelu, tanh, sigmoid, square, reciprocal
};
const char* unary_name(UnaryOp op);

enum class BinaryOp : uint8_t {
  add, sub, mul, div, pow, maximum, minimum,
  eq, ne, lt, le, gt, ge  // comparisons: output uint8 (0 or 1)
};
const char* binary_name(BinaryOp op);
constexpr bool is_comparison(BinaryOp op) { return op >= BinaryOp::eq; }

enum class ReduceOp : uint8_t { sum, mean, max, min, argmax, argmin };

// Convolution and pooling geometry (NCHW). Output size: (H + 2*pad - kernel) / stride + 1.
struct Conv2dParams {
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
};
struct Pool2dParams {
  int64_t kernel_h = 2, kernel_w = 2;
  int64_t stride_h = 2, stride_w = 2;
  int64_t pad_h = 0, pad_w = 0;
};

// Counter-based RNG state: a key (the seed) and a 64-bit counter offset, in Philox blocks of four
// 32-bit outputs. Element i of a draw uses block (offset + i / 4), word i % 4 — on either device.
struct PhiloxState {
  uint64_t seed = 0;
  uint64_t offset = 0;
};

// Optimizer hyper-parameters for the fused update kernels (torch.optim semantics).
struct SgdParams {
  double lr = 0.1, momentum = 0.0, dampening = 0.0, weight_decay = 0.0;
  bool nesterov = false;
  bool first_step = false;  // the momentum buffer starts as the gradient
};
struct AdamParams {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  bool decoupled = false;  // AdamW
  int64_t step = 1;        // 1-based, for bias correction
};

}  // namespace tg
