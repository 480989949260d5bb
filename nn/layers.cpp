#include "nn/layers.h"

#include <cmath>

#include "nn/init.h"
#include "tensor/ops.h"

namespace tg::nn {

namespace {

// A GEMM or convolution operand under precision p: cast to bfloat16 under bf16 (its gradient comes
// back as float32), itself otherwise.
Variable operand(const Variable& v, Precision p) { return p == Precision::bf16 ? cast(v, DType::bf16) : v; }

}  // namespace

// ---- Linear ----

Linear::Linear(int64_t in_features, int64_t out_features, bool has_bias, Generator* gen)
    : Module("Linear"), in_features(in_features), out_features(out_features) {
  TG_CHECK(in_features > 0 && out_features > 0, "Linear: sizes must be positive, got ", in_features, " -> ",
           out_features);
  weight = Variable(Tensor::empty({out_features, in_features}));
  if (has_bias) bias = Variable(Tensor::empty({out_features}));
  init::torch_default_(weight.data(), has_bias ? &bias.data() : nullptr, gen);
  register_parameter("weight", &weight);
  if (has_bias) register_parameter("bias", &bias);
}

Variable Linear::forward(const Variable& x) {
  TG_CHECK(x.dim() >= 1 && x.size(-1) == in_features, "Linear(", in_features, " -> ", out_features,
           "): input ", shape_str(x.shape()), " does not end in ", in_features);
  const Precision p = precision();
  const DType out = p != Precision::bf16 ? x.dtype() : bf16_output ? DType::bf16 : DType::f32;
  return linear(operand(x, p), operand(weight, p), bias, out);
}

// ---- Conv2d ----

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel, int64_t stride, int64_t padding,
               bool has_bias, Generator* gen)
    : Module("Conv2d"), in_channels(in_channels), out_channels(out_channels), kernel(kernel) {
  TG_CHECK(in_channels > 0 && out_channels > 0 && kernel > 0 && stride > 0 && padding >= 0,
           "Conv2d: bad geometry in=", in_channels, " out=", out_channels, " kernel=", kernel, " stride=", stride,
           " padding=", padding);
  params.stride_h = params.stride_w = stride;
  params.pad_h = params.pad_w = padding;
  weight = Variable(Tensor::empty({out_channels, in_channels, kernel, kernel}));
  if (has_bias) bias = Variable(Tensor::empty({out_channels}));
  init::torch_default_(weight.data(), has_bias ? &bias.data() : nullptr, gen);
  register_parameter("weight", &weight);
  if (has_bias) register_parameter("bias", &bias);
}

// Under bf16 the convolution takes and gives bfloat16 (cuDNN's bf16 output, float32 accumulation):
// the activations of a convolutional network stay bf16 through batch norm, ReLU, the residual adds and
// the pools, and the classifier head gives float32 logits. A bias is cast to bf16 and added to the
// rounded output (a second rounding, as autocast without a fused epilogue).
Variable Conv2d::forward(const Variable& x) {
  if (precision() != Precision::bf16) return conv2d(x, weight, bias, params);
  Variable y = conv2d(operand(x, precision()), operand(weight, precision()), Variable(), params);
  return bias.defined() ? add(y, reshape(operand(bias, precision()), {1, out_channels, 1, 1})) : y;
}

// ---- normalization ----

BatchNorm2d::BatchNorm2d(int64_t channels, double eps, double momentum)
    : Module("BatchNorm2d"), channels(channels), eps(eps), momentum(momentum) {
  weight = Variable(Tensor::ones({channels}));
  bias = Variable(Tensor::zeros({channels}));
  running_mean = Tensor::zeros({channels});
  running_var = Tensor::ones({channels});
  num_batches_tracked = Tensor::scalar(0, DType::i64);
  register_parameter("weight", &weight);
  register_parameter("bias", &bias);
  register_buffer("running_mean", &running_mean);
  register_buffer("running_var", &running_var);
  register_buffer("num_batches_tracked", &num_batches_tracked);
}

Variable BatchNorm2d::forward(const Variable& x) {
  TG_CHECK(x.dim() == 4 && x.size(1) == channels, "BatchNorm2d(", channels, "): expected [N, ", channels,
           ", H, W], got ", shape_str(x.shape()));
  if (is_training()) add_(num_batches_tracked, Tensor::scalar(1, DType::i64, num_batches_tracked.device()));
  if (is_training() && synced) return synced(*this, x);
  return batch_norm(x, weight, bias, running_mean, running_var, is_training(), momentum, eps);
}

LayerNorm::LayerNorm(int64_t dim, double eps) : Module("LayerNorm"), dim(dim), eps(eps) {
  weight = Variable(Tensor::ones({dim}));
  bias = Variable(Tensor::zeros({dim}));
  register_parameter("weight", &weight);
  register_parameter("bias", &bias);
}

Variable LayerNorm::forward(const Variable& x) {
  TG_CHECK(x.dim() >= 1 && x.size(-1) == dim, "LayerNorm(", dim, "): input ", shape_str(x.shape()),
           " does not end in ", dim);
  const DType out = precision() == Precision::bf16 && bf16_output ? DType::bf16 : x.dtype();
  return layer_norm(x, weight, bias, eps, out);  // over the last axis, any leading dims
}

// ---- pooling ----

MaxPool2d::MaxPool2d(int64_t kernel, int64_t stride, int64_t padding) : Module("MaxPool2d") {
  params = {kernel, kernel, stride, stride, padding, padding};
}

AvgPool2d::AvgPool2d(int64_t kernel, int64_t stride, int64_t padding) : Module("AvgPool2d") {
  params = {kernel, kernel, stride, stride, padding, padding};
}

// ---- Normalize ----

DatasetStats dataset_stats(const std::string& dataset) {
  // Channel means and standard deviations of the training sets' pixels in [0, 1].
  if (dataset == "cifar10") return {{0.4914, 0.4822, 0.4465}, {0.2470, 0.2435, 0.2616}};
  if (dataset == "cifar100") return {{0.5071, 0.4865, 0.4409}, {0.2673, 0.2564, 0.2762}};
  if (dataset == "tinyimagenet") return {{0.4802, 0.4481, 0.3975}, {0.2302, 0.2265, 0.2262}};
  if (dataset == "imagenet") return {{0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}};
  if (dataset == "fashion_mnist") return {{0.2860}, {0.3530}};
  if (dataset == "mnist") return {{0.1307}, {0.3081}};
  TG_FAIL("dataset_stats: unknown dataset '", dataset,
          "' (known: cifar10, cifar100, tinyimagenet, imagenet, fashion_mnist, mnist)");
}

Normalize::Normalize(const DatasetStats& stats, int64_t channels) : Module("Normalize") {
  const size_t n = stats.mean.size();
  TG_CHECK(n == stats.std.size() && (n == 1 || static_cast<int64_t>(n) == channels),
           "Normalize: ", n, " means and ", stats.std.size(), " stds for ", channels, " channels");
  std::vector<float> m(channels), s(channels);
  for (int64_t c = 0; c < channels; ++c) {
    m[c] = static_cast<float>(stats.mean[n == 1 ? 0 : c]);
    s[c] = static_cast<float>(stats.std[n == 1 ? 0 : c]);
    TG_CHECK(s[c] > 0, "Normalize: std of channel ", c, " is ", s[c]);
  }
  mean = Tensor::from_vector(m, {1, channels, 1, 1});
  stdev = Tensor::from_vector(s, {1, channels, 1, 1});
  register_buffer("mean", &mean, /*persistent=*/false);
  register_buffer("std", &stdev, /*persistent=*/false);
}

Variable Normalize::forward(const Variable& x) {
  TG_CHECK(x.dim() == 4 && x.size(1) == mean.size(1), "Normalize: expected [N, ", mean.size(1),
           ", H, W] pixels, got ", shape_str(x.shape()));
  return div(sub(x, Variable(mean)), Variable(stdev));
}

// ---- attention and patches (ViT) ----

MultiheadSelfAttention::MultiheadSelfAttention(int64_t dim, int64_t num_heads, bool qkv_bias, Generator* gen)
    : Module("Attention"), dim(dim), num_heads(num_heads), head_dim(dim / num_heads) {
  TG_CHECK(num_heads > 0 && dim % num_heads == 0, "Attention: dim ", dim, " is not divisible by ", num_heads,
           " heads");
  scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  qkv = register_module("qkv", std::make_shared<Linear>(dim, 3 * dim, qkv_bias, gen));
  qkv->bf16_output = true;
  proj = register_module("proj", std::make_shared<Linear>(dim, dim, true, gen));
}

// x [B, N, D] -> qkv [B, N, 3, H, d] -> [3, B, H, N, d]; attn = softmax(q k^T * scale) [B, H, N, N];
// out = attn v [B, H, N, d] -> [B, N, H, d] -> [B, N, D] -> proj. Under bf16, qkv gives bfloat16 q, k,
// v; q k^T gives float32 scores (autocast's float32 softmax reads them); attn is cast to bfloat16 for
// attn v, whose output stays bfloat16 (proj's operand).
Variable MultiheadSelfAttention::forward(const Variable& x) {
  TG_CHECK(x.dim() == 3 && x.size(2) == dim, "Attention(", dim, "): expected [B, N, ", dim, "], got ",
           shape_str(x.shape()));
  const int64_t B = x.size(0), N = x.size(1);
  Variable t = permute(reshape(qkv->forward(x), {B, N, 3, num_heads, head_dim}), {2, 0, 3, 1, 4});
  auto part = [&](int64_t i) { return reshape(slice(t, 0, i, i + 1), {B, num_heads, N, head_dim}); };
  const Precision p = precision();
  Variable q = operand(part(0), p), k = operand(part(1), p), v = operand(part(2), p);
  Variable attn = softmax(mul(matmul(q, k, false, true), scale), -1);
  Variable out = permute(matmul(operand(attn, p), v, false, false, v.dtype()), {0, 2, 1, 3});
  return proj->forward(reshape(out, {B, N, dim}));
}

PatchEmbed::PatchEmbed(int64_t in_channels, int64_t dim, int64_t patch, Generator* gen)
    : Module("PatchEmbed"), patch(patch) {
  proj = register_module("proj", std::make_shared<Conv2d>(in_channels, dim, patch, patch, 0, true, gen));
}

Variable PatchEmbed::forward(const Variable& x) {
  TG_CHECK(x.dim() == 4 && x.size(2) % patch == 0 && x.size(3) % patch == 0, "PatchEmbed: image ",
           shape_str(x.shape()), " is not a whole number of ", patch, "x", patch, " patches");
  Variable y = cast(proj->forward(x), x.dtype());  // [B, D, gh, gw]
  const int64_t B = y.size(0), D = y.size(1);
  return transpose(reshape(y, {B, D, -1}), 1, 2);  // [B, N, D]
}

}  // namespace tg::nn
