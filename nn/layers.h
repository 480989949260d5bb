// The layers models are built from, with torch's parameter names ("weight", "bias",
// "running_mean", ...) and torch's default initialization (models re-initialize as torchvision and
// timm do: see nn/models/). Every layer maps one Variable to one Variable.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "nn/module.h"
#include "tensor/random.h"

namespace tg::nn {

// y = x @ weight^T + bias over the last axis; weight [out, in], bias [out]. Any leading dims.
// Under Precision::bf16 the operands are bfloat16 and y is float32 (logits; a branch added to a
// float32 residual stream), or bfloat16 (rounded once, bias included) when bf16_output is set: an
// activation that the next bf16 kernel reads (ViT's qkv and fc1).
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true, Generator* gen = nullptr);
  Variable forward(const Variable& x) override;
  int64_t in_features, out_features;
  Variable weight, bias;  // bias undefined when disabled
  bool bf16_output = false;
};

// NCHW convolution, square kernel; weight [out, in, k, k], bias [out] (optional).
class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride = 1, int64_t padding = 0,
         bool bias = true, Generator* gen = nullptr);
  Variable forward(const Variable& x) override;
  int64_t in_channels, out_channels, kernel;
  Conv2dParams params;
  Variable weight, bias;
};

// Batch norm over N, H, W per channel. Buffers: running_mean (0), running_var (1) and
// num_batches_tracked (int64 scalar, +1 per training forward), as torch names them.
class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t channels, double eps = 1e-5, double momentum = 0.1);
  Variable forward(const Variable& x) override;
  int64_t channels;
  double eps, momentum;
  Variable weight, bias;
  Tensor running_mean, running_var, num_batches_tracked;
  // In training, when set, forward normalizes with synced(*this, x) instead of x's own batch
  // statistics: distributed::convert_sync_batch_norm sets it to batch norm over every rank's batch.
  std::function<Variable(BatchNorm2d&, const Variable&)> synced;
};

// Layer norm over the last axis (size dim); weight 1, bias 0. Statistics, weight and bias are float32
// under every policy; y has x's dtype, or under Precision::bf16 with bf16_output set, bfloat16 (the
// float32 result rounded once: the operand of the next bf16 GEMM, as ViT's norm1 and norm2 feed).
class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t dim, double eps = 1e-5);
  Variable forward(const Variable& x) override;
  int64_t dim;
  double eps;
  Variable weight, bias;
  bool bf16_output = false;
};

class ReLU : public Module {
 public:
  ReLU() : Module("ReLU") {}
  Variable forward(const Variable& x) override { return relu(x); }
};

// Exact (erf) GELU, as torch.nn.GELU() and timm's ViT use.
class GELU : public Module {
 public:
  GELU() : Module("GELU") {}
  Variable forward(const Variable& x) override { return gelu(x); }
};

class Identity : public Module {
 public:
  Identity() : Module("Identity") {}
  Variable forward(const Variable& x) override { return x; }
};

// Inverted dropout with probability p, active in training mode only.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5) : Module("Dropout"), p(p) {}
  Variable forward(const Variable& x) override { return dropout(x, p, is_training()); }
  double p;
};

class MaxPool2d : public Module {
 public:
  MaxPool2d(int64_t kernel, int64_t stride, int64_t padding = 0);
  Variable forward(const Variable& x) override { return max_pool2d(x, params); }
  Pool2dParams params;
};

class AvgPool2d : public Module {
 public:
  AvgPool2d(int64_t kernel, int64_t stride, int64_t padding = 0);
  Variable forward(const Variable& x) override { return avg_pool2d(x, params); }
  Pool2dParams params;
};

class AdaptiveAvgPool2d : public Module {
 public:
  AdaptiveAvgPool2d(int64_t out_h = 1, int64_t out_w = 1) : Module("AdaptiveAvgPool2d"), out_h(out_h), out_w(out_w) {}
  Variable forward(const Variable& x) override { return adaptive_avg_pool2d(x, out_h, out_w); }
  int64_t out_h, out_w;
};

// [N, d1, d2, ...] -> [N, d1 * d2 * ...] (from start_dim on).
class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1) : Module("Flatten"), start_dim(start_dim) {}
  Variable forward(const Variable& x) override { return flatten(x, start_dim); }
  int64_t start_dim;
};

// Per-dataset channel statistics of pixels in [0, 1].
struct DatasetStats {
  std::vector<double> mean, std;
};
// cifar10, cifar100, tinyimagenet, imagenet, fashion_mnist, mnist; throws on other names (and lists them).
DatasetStats dataset_stats(const std::string& dataset);

// y = (x - mean[c]) / std[c] for NCHW pixels in [0, 1]: the first layer of every model, so models
// (and attacks) work in pixel space. mean/std are NON-persistent buffers: they are not in
// state_dict, which therefore holds exactly torchvision's/timm's names (set them with the dataset
// when building the model). A single-value mean/std is repeated over any channel count.
class Normalize : public Module {
 public:
  Normalize(const DatasetStats& stats, int64_t channels);
  Variable forward(const Variable& x) override;
  Tensor mean, stdev;  // [1, C, 1, 1], registered as "mean" and "std"
};

// timm's Attention: qkv = Linear(dim, 3 dim) with bias, softmax(q k^T * head_dim^-0.5) v over heads,
// then proj = Linear(dim, dim). x [B, N, dim]. Under Precision::bf16: q, k, v and attn v bfloat16, the
// scores and their softmax float32, the output float32.
class MultiheadSelfAttention : public Module {
 public:
  MultiheadSelfAttention(int64_t dim, int64_t num_heads, bool qkv_bias = true, Generator* gen = nullptr);
  Variable forward(const Variable& x) override;
  int64_t dim, num_heads, head_dim;
  double scale;
  std::shared_ptr<Linear> qkv, proj;
};

// timm's PatchEmbed: proj = Conv2d(in, dim, patch, stride patch); [B, C, H, W] -> [B, N, dim] with
// N = (H / patch) * (W / patch), row-major over the grid, in the image's dtype (a bf16 policy's
// bfloat16 convolution output is cast back: the tokens start the float32 residual stream).
class PatchEmbed : public Module {
 public:
  PatchEmbed(int64_t in_channels, int64_t dim, int64_t patch, Generator* gen = nullptr);
  Variable forward(const Variable& x) override;
  int64_t patch;
  std::shared_ptr<Conv2d> proj;
};

}  // namespace tg::nn
